"""Workdir layout and orbax checkpoints (latest + best), shared by the entry points.

    <workdir>/config.json         the config the workdir was created with (model, data and optimiser sections)
    <workdir>/checkpoints/<step>  latest checkpoints (orbax writes to a temporary folder and renames: atomic)
    <workdir>/best/<step>         the checkpoint with the lowest validation error (the task's selection metric)
    <workdir>/metrics.jsonl       one JSON record per log/eval event

Every checkpoint holds the items 'model' and 'optimizer' (NNX states; with `train.ema_decay` also 'ema', the
averaged model), 'config' (the run's config) and 'data' (the `FocalStackSpec` of its training data), so that one
step describes itself: `load` rebuilds the model from the step's own config (the averaged one where there is one).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os

import jax
import ml_collections
import orbax.checkpoint as ocp
from flax import nnx

from ddff_jax import errors
from ddff_jax import files
from ddff_jax.data.spec import FocalStackSpec
from ddff_jax.models.registry import build_model



class _QuietPartialRestore(logging.Filter):
  """Restoring some items of a checkpoint (the model without its optimizer; arrays without the JSON items) is
  intended here; orbax warns about every item left out."""

  def filter(self, record):
    return 'could not be restored' not in record.getMessage()


logging.getLogger('absl').addFilter(_QuietPartialRestore())

# Sections whose change makes existing checkpoints meaningless for the run.
COMPATIBILITY_KEYS = ('model', 'data', 'seed', 'train.batch_size', 'train.optimizer', 'train.ema_decay')
# Fields added after runs were written, with the value those runs had: their absence is not a difference.
MODEL_FIELD_DEFAULTS = {'dtype': 'float32', 'param_dtype': 'float32', 'hypothesis_spacing': 'depth',
                        'end_hypotheses': False, 'local_mass': 0.0, 'local_radius': 1,
                        'cost_criterion': 'variance', 'tile_px': 0}
# Data fields added later, with the behaviour runs had before them (natural.SceneConfig's texture defaults).
DATA_FIELD_DEFAULTS = {'textureless_prob': 0.15, 'contrast_range': [0.3, 1.3], 'texture_scale_range': [0.5, 2.0],
                       'stretch_depth': False}
FIELD_DEFAULTS = {'train.ema_decay': 0.0}  # outside the model and data sections, by dotted key


def _lookup(config_dict, dotted):
  out = config_dict
  for part in dotted.split('.'):
    out = out.get(part) if isinstance(out, dict) else None
  return FIELD_DEFAULTS.get(dotted) if out is None else out


def config_to_json(config) -> dict:
  return json.loads(config.to_json_best_effort()) if hasattr(config, 'to_json_best_effort') else dict(config)


def prepare_workdir(workdir: str, config) -> None:
  """Creates the workdir and its config.json, or refuses one written by an incompatible config."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise errors.UserError(f'--workdir {workdir} is a file, not a directory.')
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, 'config.json')
  new = config_to_json(config)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    old, new_filled = ({**c, 'model': {**MODEL_FIELD_DEFAULTS, **c.get('model', {})},
                        'data': {**DATA_FIELD_DEFAULTS, **c.get('data', {})}} for c in (old, new))
    diffs = [k for k in COMPATIBILITY_KEYS if _lookup(old, k) != _lookup(new_filled, k)]
    if diffs:
      raise errors.UserError(f'{workdir} was written by an incompatible config (differs in {", ".join(diffs)}); '
                                   'use a new --workdir, or the original config.')
  if jax.process_index() == 0:
    files.write_json(path, new)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise errors.InputNotFound(f'{workdir} holds no config.json: not a ddff_jax training workdir.')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def managers(workdir: str, keep: int = 2):
  latest = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, 'checkpoints')),
                                 options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
  best = ocp.CheckpointManager(os.path.abspath(os.path.join(workdir, 'best')),
                               options=ocp.CheckpointManagerOptions(max_to_keep=1, best_fn=lambda m: m['selection'],
                                                                    best_mode='min', create=True))
  return latest, best


def save(manager, step: int, state, config, spec: FocalStackSpec, metrics: dict | None = None) -> None:
  """One self-describing checkpoint: `state` {'model', 'optimizer'[, 'ema']} (NNX states), the config and the data
  spec."""
  args = {k: ocp.args.StandardSave(to_saveable(v)) for k, v in state.items()}
  args['config'] = ocp.args.JsonSave(config_to_json(config))
  args['data'] = ocp.args.JsonSave(spec.to_json())
  manager.save(step, args=ocp.args.Composite(**args), metrics=metrics)


def _is_key(x) -> bool:
  return hasattr(x, 'dtype') and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def to_saveable(tree):
  """Typed PRNG keys (dropout streams) -> their raw uint32 data, which orbax can store."""
  return jax.tree.map(lambda x: jax.random.key_data(x) if _is_key(x) else x, tree)


def from_saveable(tree, like):
  """Inverse of `to_saveable`, re-wrapping raw key data where `like` holds typed keys (an abstract key from
  `nnx.eval_shape` was made with the default PRNG implementation, which is what `impl=None` re-wraps with)."""
  def wrap(x, ref):
    if not _is_key(ref):
      return x
    return jax.random.wrap_key_data(x, impl=jax.random.key_impl(ref) if isinstance(ref, jax.Array) else None)

  return jax.tree.map(wrap, tree, like)


def abstract_like(state):
  """Restore target: shapes, dtypes and shardings of `state` (concrete arrays or `nnx.eval_shape` structs; those
  without a sharding are restored onto the first local device)."""
  default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

  def struct(x):
    sharding = getattr(x, 'sharding', None) or default
    if _is_key(x):  # a typed key: its raw data is what was saved
      x = jax.eval_shape(jax.random.key_data, x)
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

  return jax.tree.map(struct, state)


class CheckpointMismatch(errors.UserError):
  """A readable checkpoint whose arrays do not fit the model being restored (another config or code version)."""


def _stored_layout(manager, step: int, item: str) -> dict | None:
  """{path: shape} of an item as the checkpoint's metadata records it; None when the metadata is unreadable."""
  try:
    metadata = manager.item_metadata(step)[item]
  except Exception:  # noqa: BLE001  unreadable metadata is what damage looks like
    return None
  if metadata is None:
    return None
  leaves = jax.tree_util.tree_leaves_with_path(metadata, is_leaf=lambda x: hasattr(x, 'shape'))
  return {_path_key(p): tuple(v.shape) for p, v in leaves if hasattr(v, 'shape')}


def _path_key(path) -> str:
  return '/'.join(str(getattr(k, 'key', getattr(k, 'idx', getattr(k, 'name', k)))) for k in path)


def _check_layout(manager, step: int, item: str, like) -> None:
  """Raises CheckpointMismatch when the step's recorded layout of `item` differs from `like`'s."""
  stored = _stored_layout(manager, step, item)
  if stored is None:
    return
  saved = jax.eval_shape(to_saveable, like)  # works for concrete and abstract (eval_shape) states alike
  wanted = {_path_key(p): tuple(v.shape) for p, v in jax.tree_util.tree_leaves_with_path(saved)}
  if stored != wanted:
    missing = sorted(set(wanted) - set(stored))[:3]
    extra = sorted(set(stored) - set(wanted))[:3]
    shaped = sorted(k for k in set(stored) & set(wanted) if stored[k] != wanted[k])[:3]
    raise CheckpointMismatch(
        f'checkpoint {step} in {manager.directory} does not fit this {item} (written by another config or code '
        f'version): missing {missing}, unexpected {extra}, other shapes {shaped}. Use a new --workdir, or the '
        'code and config that wrote it.')


def restore_newest_readable(manager, like: dict):
  """(step, {item: pytree}) of the newest readable checkpoint, restored into the structure of `like` (concrete
  pytrees or abstract structs giving shapes, dtypes and shardings). A damaged checkpoint (unreadable files) is
  reported and skipped; one that is readable but does not fit `like` raises CheckpointMismatch. (None, None) if
  there is none."""
  for step in sorted(manager.all_steps(), reverse=True):
    for item, tree in like.items():
      _check_layout(manager, step, item, tree)
    try:
      restored = manager.restore(step, args=ocp.args.Composite(
          **{k: ocp.args.StandardRestore(abstract_like(v)) for k, v in like.items()}))
    except (OSError, ValueError, KeyError, EOFError) as e:  # unreadable or truncated files: damage
      logging.warning('checkpoint %d in %s cannot be read (%s: %s); trying an older one.', step,
                      manager.directory, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else '')
      continue
    return step, {k: from_saveable(restored[k], like[k]) for k in like}
  return None, None


def _read_json_item(manager, step: int, item: str):
  """A JSON item ('config', 'data') of a step, or None when it is missing or unreadable."""
  from etils import epath
  try:
    return ocp.JsonCheckpointHandler().restore(epath.Path(manager.directory) / str(step) / item,
                                                args=ocp.args.JsonRestore())
  except (OSError, ValueError, KeyError):
    return None


@dataclasses.dataclass
class Restored:
  model: nnx.Module
  config: ml_collections.ConfigDict
  spec: FocalStackSpec
  step: int


def load(workdir: str, which: str = 'best') -> Restored:
  """The trained model of a workdir (eval mode) with the config and data spec of its checkpoint. `which`: 'best'
  or 'latest' ('best' falls back to 'latest' when no validation ran)."""
  if which not in ('best', 'latest'):
    raise errors.UserError(f"which must be 'best' or 'latest', got {which!r}.")
  if not os.path.isdir(workdir):
    raise errors.InputNotFound(f'--workdir {workdir} does not exist.')
  latest, best = managers(workdir)
  for manager in ((best, latest) if which == 'best' else (latest,)):
    for step in sorted(manager.all_steps(), reverse=True):
      config = _read_json_item(manager, step, 'config')
      spec = _read_json_item(manager, step, 'data')
      if config is None or spec is None:
        continue  # damaged: the older step may be whole
      config = ml_collections.ConfigDict(config)
      # Shapes only: every value comes from the checkpoint, so the initialisers would be compiled for nothing.
      model = nnx.eval_shape(lambda: build_model(config.model, config.seed))
      item = 'ema' if config.get('train', {}).get('ema_decay') else 'model'
      restored_step, items = restore_newest_readable(_OneStep(manager, step), {item: nnx.state(model)})
      if items is None:
        continue
      nnx.update(model, items[item])
      model.eval()
      return Restored(model, config, FocalStackSpec.from_json(spec), restored_step)
  raise errors.InputNotFound(f'no readable checkpoint in {workdir}/checkpoints or {workdir}/best.')


class _OneStep:
  """A view of a checkpoint manager that holds only `step` (so `load` reads each step with its own config)."""

  def __init__(self, manager, step: int):
    self._manager, self._step = manager, step
    self.directory = manager.directory

  def all_steps(self):
    return [self._step]

  def item_metadata(self, step):
    return self._manager.item_metadata(step)

  def restore(self, step, args):
    return self._manager.restore(step, args=args)
