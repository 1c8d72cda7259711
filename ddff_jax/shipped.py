"""Models shipped inside the package: trained with this library, used by name without training.

    python -m ddff_jax.predict --method=pretrained --input=<HCI folder | LF_XXXX.npy | slice folder> --output_dir=DIR

A shipped file (`ddff_jax/weights/<name>.npz`) holds the model's parameters and BatchNorm statistics, and in
`__meta__` (JSON) its model config, its data spec (target, focus settings, camera), where it came from, and the
figures it scored when it was exported, measured on the exported file itself so that a test can reproduce them.

    python -m ddff_jax.shipped --workdir=runs/hci_all --name=ddffnet_hci \
        --record=../shared/data/hci/stratified/backgammon,../shared/data/hci/additional/antinous
    python -m ddff_jax.shipped --workdir=runs/rgbd_defocus/ddfs --which=best --name=ddfs_natural \
        --record=phone:unseen/teddy,defocusnet:train/teddy

A disparity model records its figures on HCI-layout scene folders; a depth model (DDFS) on real RGB-D scenes
rendered for a setting of `configs/rgbd_render.py`, '<camera>:<focus set>/<scene>'.
"""
from __future__ import annotations

import dataclasses
import json
import os

from ddff_jax import cli
from ddff_jax import errors

WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), 'weights')
# --method name -> shipped file stem.
METHODS = {'pretrained': 'ddffnet_hci', 'pretrained_ddfs': 'ddfs_natural'}


@dataclasses.dataclass
class Shipped:
  model: object  # nnx.Module in eval mode
  spec: object  # FocalStackSpec
  meta: dict


def path_of(name: str) -> str:
  path = os.path.join(WEIGHTS_DIR, f'{name}.npz')
  if not os.path.isfile(path):
    known = sorted(f[:-4] for f in os.listdir(WEIGHTS_DIR) if f.endswith('.npz')) if os.path.isdir(WEIGHTS_DIR) else []
    raise errors.InputNotFound(f'no shipped model {name!r} ({path}); shipped: {known or "none"}.')
  return path


def _state(model):
  from flax import nnx
  return nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))


def _concrete_rng(leaf):
  """A ShapeDtypeStruct of an RNG stream -> a fixed array of its kind (a key of seed 0, or a zero counter)."""
  import jax
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    return jax.random.key(0)
  return jax.numpy.zeros(leaf.shape, leaf.dtype)


def _leaves(tree, prefix=()):
  """(path, leaf) of a nested dict (a pure dict of an nnx state), depth first."""
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from _leaves(value, prefix + (key,))
    else:
      yield prefix + (key,), value


def _key(path) -> str:
  return '/'.join(str(k) for k in path)


def write(path: str, model, config, spec, source: dict, recorded: dict | None = None) -> None:
  """The model's arrays and its description, written atomically to one .npz."""
  import numpy as np
  from ddff_jax import files
  from flax import nnx
  arrays = {_key(path): np.asarray(leaf, np.float32) for path, leaf in _leaves(nnx.to_pure_dict(_state(model)))}
  meta = {'model': config.model.to_dict(), 'seed': int(config.seed), 'spec': spec.to_json(), 'source': source,
          'recorded': recorded or {}}
  files.save_npz(path, __meta__=np.asarray(json.dumps(meta)), **arrays)


def load_file(path: str) -> Shipped:
  """A shipped .npz -> the model (eval mode), its spec and its metadata."""
  import jax
  import ml_collections
  import numpy as np
  from flax import nnx
  from ddff_jax.data.spec import FocalStackSpec
  from ddff_jax.models.registry import build_model
  with np.load(path) as data:
    if '__meta__' not in data:
      raise errors.MissingKey(f'{path} is not a shipped ddff_jax model (no __meta__ entry).')
    meta = json.loads(str(data['__meta__']))
    arrays = {k: data[k] for k in data.files if k != '__meta__'}
  model = nnx.eval_shape(lambda: build_model(ml_collections.ConfigDict(meta['model']), meta['seed']))
  state = _state(model)
  pure = nnx.to_pure_dict(state)
  leaves = dict(_leaves(pure))
  wanted = {_key(p): p for p in leaves}
  if set(wanted) != set(arrays):
    missing, extra = sorted(set(wanted) - set(arrays)), sorted(set(arrays) - set(wanted))
    raise errors.MissingKey(f'{path} does not match its model: missing {missing[:3]}, unexpected {extra[:3]}.')
  for key, tree_path in wanted.items():
    if tuple(leaves[tree_path].shape) != arrays[key].shape:
      raise errors.UserError(f'{path}: {key} has shape {arrays[key].shape}, the model expects '
                             f'{tuple(leaves[tree_path].shape)}.')
    node = pure
    for k in tree_path[:-1]:
      node = node[k]
    node[tree_path[-1]] = arrays[key]
  nnx.replace_by_pure_dict(state, pure)
  nnx.update(model, state)
  # The shape-only build left the dropout streams abstract; eval mode never draws from them, but nnx.jit needs arrays.
  nnx.update(model, jax.tree.map(_concrete_rng, nnx.state(model, nnx.RngState)))
  model.eval()
  return Shipped(model, FocalStackSpec.from_json(meta['spec']), meta)


def load(name: str) -> Shipped:
  return load_file(path_of(name))


def method(method_name: str):
  """--method=pretrained | pretrained_ddfs (the names in METHODS) as a `methods.Method`."""
  from ddff_jax import methods
  if method_name not in METHODS:
    raise errors.UserError(f'no shipped model for --method={method_name}; shipped: {sorted(METHODS)}.')
  shipped = load(METHODS[method_name])
  return methods.from_model(shipped.model, shipped.spec, f'{METHODS[method_name]} (shipped)')


def scene_figures(method, folder: str) -> dict:
  """The method's metrics on an HCI-layout scene refocused to its own focus disparities (signed, every pixel)."""
  from ddff_jax import tasks
  from ddff_jax.data import inputs
  from ddff_jax.data.spec import FocalStackSpec
  loaded = inputs.load_stack(folder, method.default_disparities)
  if loaded.ground_truth is None:
    raise errors.InputNotFound(f'{folder} has no gt_disp_lowres.pfm to record figures on.')
  task = tasks.build_task(FocalStackSpec('disparity', loaded.focus, None))
  return {k: float(v) for k, v in task.image_metrics(method(loaded.stack), loaded.ground_truth).items()
          if k in ('mse', 'rms', 'badpix', 'bumpiness')}


def rgbd_figures(method, setting_and_scene: str, rgbd_root: str | None = None) -> dict:
  """A depth method's metrics on one real RGB-D scene rendered for a test setting: '<camera>:<focus set>/<scene>'
  (`configs/rgbd_render.py`), given the setting's focus distances and camera."""
  import numpy as np
  from ddff_jax import tasks
  from ddff_jax.configs import rgbd_render
  from ddff_jax.data import sources
  setting, _, scene = setting_and_scene.partition('/')
  data = rgbd_render.get_config(setting).data
  if scene not in data.scenes:
    raise errors.UserError(f'{setting_and_scene!r}: expected <camera>:<focus set>/<scene> with scene one of '
                           f'{list(data.scenes)}.')
  data.scenes = (scene,)
  if rgbd_root:
    data.rgbd_root = rgbd_root
  stacks, depths = sources.rgbd_render_arrays(data)
  camera = sources.thin_lens_camera(data.camera)
  prediction = method(stacks[0], np.asarray(data.focus_distances_m, np.float32), camera)
  task = tasks.build_task(method.spec)
  return {k: float(v) for k, v in task.image_metrics(prediction, depths[0]).items()}


def record_figures(method, record: str) -> dict:
  """`scene_figures` (disparity models, an HCI folder) or `rgbd_figures` (depth models, a rendered RGB-D scene)."""
  return scene_figures(method, record) if method.target == 'disparity' else rgbd_figures(method, record)


def record_key(record: str) -> str:
  return os.path.basename(os.path.normpath(record)) if os.path.isdir(record) else record


def export(workdir: str, name: str, which: str = 'latest', record=(), weights_dir: str = WEIGHTS_DIR) -> dict:
  """A training run's model written as a shipped file, then read back and scored on the `record` scenes."""
  from ddff_jax import checkpoints, methods
  restored = checkpoints.load(workdir, which)
  path = os.path.join(weights_dir, f'{name}.npz')
  source = {'workdir': os.path.normpath(workdir), 'checkpoint': which, 'step': restored.step,
            'data': restored.config.data.to_dict()}
  write(path, restored.model, restored.config, restored.spec, source)
  shipped = load_file(path)
  method = methods.from_model(shipped.model, shipped.spec, name)
  recorded = {record_key(r): record_figures(method, r) for r in record}
  write(path, shipped.model, restored.config, restored.spec, source, recorded)
  print(f'{name}: {path} ({os.path.getsize(path) / 1e6:.2f} MB)')
  for scene, figures in recorded.items():
    print(f'  {scene}: ' + ', '.join(f'{k} {v:.4g}' for k, v in figures.items()))
  return recorded


def define_flags():
  from absl import flags
  flags.DEFINE_string('workdir', None, 'Training workdir whose model is shipped.', required=True)
  flags.DEFINE_string('name', None, 'File stem under ddff_jax/weights/.', required=True)
  flags.DEFINE_enum('which', 'latest', ['best', 'latest'], 'Which checkpoint of the workdir.')
  flags.DEFINE_list('record', [], 'Where the file\'s figures are measured and recorded: HCI-layout scene folders '
                    '(disparity models) or <camera>:<focus set>/<scene> RGB-D renders (depth models).')
  flags.DEFINE_string('weights_dir', WEIGHTS_DIR, 'Where the file goes.')


def main(argv):
  from absl import flags
  values = flags.FLAGS
  export(values.workdir, values.name, values.which, values.record, values.weights_dir)


if __name__ == '__main__':
  cli.run(main, define_flags)
