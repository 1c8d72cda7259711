"""python -m ddff_jax.camera_invariance [--config=ddff_jax/configs/camera_invariance.py] [--workdir=DIR]

The camera-setting invariance experiment: trains DDFSNet and DDFFNet on synthetic thin-lens focal stacks focused at
one set of distances, and a second DDFSNet on a random focus set per training example (resuming whatever is already
trained in <workdir>/ddfs, ddffnet, ddfs_varied), then measures them and the classical focus-measure DFF on the same
test scenes rendered with

  1. the training settings,
  2. other focus distances (config.test.other_focus_m),
  3. another camera (config.test.other_camera: focal length and f-number) at the training focus distances.

DDFS is told each stack's camera and focus distances (its cost volume is built from them); DDFFNet only sees
images. DDFFNet has one input slot per training focus distance, so a stack with other focus distances is fed by
giving every slot the test image focused nearest to it in dioptres (the best any fixed-slot network can do).
The classical DFF interpolates between the focus distances it is given, in dioptres; "cost-volume argmin" is the
hypothesis of lowest raw DDFS cost per pixel (the cue DDFS starts from, without a network).

Writes <workdir>/results.json, results.md (the table) and pictures/<setting>.png.
"""
from __future__ import annotations

import functools
import os

from ddff_jax import cli
from ddff_jax import errors

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'camera_invariance.py')
METRICS = ('mae', 'rmse', 'abs_rel', 'scale_invariant')
METHODS = ('DDFS', 'DDFS, varied focus', 'DDFFNet', 'classical DFF', 'cost-volume argmin')


def define_flags():
  from absl import flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', _DEFAULT_CONFIG, 'Experiment config (camera_invariance.py, no argument).')
  flags.DEFINE_string('workdir', 'runs/camera_invariance', 'Where both training runs and the results go.')
  flags.DEFINE_bool('progress', True, 'Show progress bars while training.')


def test_settings(config):
  """[(key, description, camera, focus distances (K,))] of the experiment."""
  import numpy as np
  from ddff_jax.data import sources
  base = sources.thin_lens_camera(config.ddfs.data.camera)
  other = sources.thin_lens_camera(config.test.other_camera)
  train_focus = np.asarray(config.ddfs.data.focus_distances_m, np.float32)
  other_focus = np.asarray(config.test.other_focus_m, np.float32)
  fmt = lambda f: '{' + ', '.join(f'{x:g}' for x in f) + '} m'
  cam = lambda c: f'f = {c.focal_length_m * 1e3:g} mm, N = {c.f_number:g}'
  settings = [
      ('training_settings', f'training settings ({cam(base)}, focus {fmt(train_focus)})', base, train_focus),
      ('other_focus', f'other focus distances ({cam(base)}, focus {fmt(other_focus)})', base, other_focus),
      ('other_camera', f'other camera ({cam(other)}, focus {fmt(train_focus)})', other, train_focus),
  ]
  for focus in config.test.get('more_focus_m', ()):  # further focus sets, to see which change matters
    focus = np.asarray(focus, np.float32)
    settings.append(('focus_' + '_'.join(f'{x:g}' for x in focus), f'focus {fmt(focus)} ({cam(base)})', base, focus))
  return settings


def nearest_slots(train_focus_m, test_focus_m):
  """For each training focus distance, the index of the test image focused nearest to it in dioptres."""
  import numpy as np
  train, test = 1.0 / np.asarray(train_focus_m, np.float64), 1.0 / np.asarray(test_focus_m, np.float64)
  return np.argmin(np.abs(train[:, None] - test[None, :]), axis=1)


def cost_argmin(stack, focus, camera, ddfs):
  """The depth hypothesis of lowest raw cost per pixel, over the hypotheses of the DDFS model `ddfs`: what its cost
  volume alone says, without the network."""
  import numpy as np
  from ddff_jax import optics
  cost = optics.defocus_cost_volume(stack, focus, camera, ddfs.hypotheses, balance=ddfs.wiener_balance,
                                    max_radius_px=ddfs.max_radius_px, criterion=ddfs.cost_criterion)
  return ddfs.hypotheses[np.argmin(np.asarray(cost), axis=0)]


def predict_in_batches(fn, stacks, batch_size: int = 8):
  import numpy as np
  return np.concatenate([np.asarray(fn(stacks[i:i + batch_size])) for i in range(0, len(stacks), batch_size)])


def compiled_predictor(task, model):
  """(stack (B, K, H, W, 3), focus (K,), camera) -> (B, H, W), compiled once per input shape and camera for every
  model of `model`'s structure (the weights are an argument, not constants of the program)."""
  import jax
  from flax import nnx
  from ddff_jax import compiler
  graphdef, _ = nnx.split(model)

  @functools.partial(jax.jit, static_argnums=3, compiler_options=compiler.options())
  def forward(state, stack, focus, camera):
    return task.predict(nnx.merge(graphdef, state), stack, focus, camera)

  return lambda m: (lambda stack, focus, camera: forward(nnx.state(m), stack, focus, camera))


def run_experiment(config, workdir: str, progress: bool = True) -> dict:
  import numpy as np
  from ddff_jax import checkpoints, files, metrics, tasks, train, visualize
  from ddff_jax.data import sources, synthetic

  for name in ('ddfs', 'ddffnet', 'ddfs_varied'):
    print(f'— training {name} in {workdir}/{name}', flush=True)
    train.train_and_evaluate(config[name], os.path.join(workdir, name), progress)

  data = config.ddfs.data
  scene = synthetic.SceneConfig(height=data.height, width=data.width, num_objects=data.num_objects)
  ddfs, ddffnet, varied = (checkpoints.load(os.path.join(workdir, name), 'best')
                           for name in ('ddfs', 'ddffnet', 'ddfs_varied'))
  task = tasks.build_task(ddfs.spec)  # all three trained on the same depth data
  train_focus = np.asarray(data.focus_distances_m, np.float32)

  ddfs_predictor = compiled_predictor(task, ddfs.model)  # both DDFS runs share one program per setting shape
  predictors = {'DDFS': ddfs_predictor(ddfs.model), 'DDFS, varied focus': ddfs_predictor(varied.model),
                'DDFFNet': compiled_predictor(task, ddffnet.model)(ddffnet.model)}
  results = {'checkpoints': {'DDFS': ddfs.step, 'DDFS, varied focus': varied.step, 'DDFFNet': ddffnet.step},
             'settings': {}}
  for key, description, camera, focus in test_settings(config):
    stacks, depths = sources.synthetic_thin_lens_arrays(config.test.num_images, config.test.seed, scene, camera,
                                                        focus, data.depth_range_m, data.max_radius_px)
    slots = nearest_slots(train_focus, focus)
    predictions = {name: predict_in_batches(lambda s, p=predictors[name]: p(s, focus, camera), stacks)
                   for name in ('DDFS', 'DDFS, varied focus')}
    # DDFFNet sees neither focus settings nor camera: its slots get the test images focused nearest to its own.
    predictions['DDFFNet'] = predict_in_batches(lambda s: predictors['DDFFNet'](s, train_focus, None),
                                                stacks[:, slots])
    predictions.update({'classical DFF': np.stack([np.asarray(task.classical(s, focus)) for s in stacks]),
                        'cost-volume argmin': np.stack([cost_argmin(s, focus, camera, ddfs.model) for s in stacks])})
    table = {m: metrics.mean_over_images([task.image_metrics(p, g) for p, g in zip(predictions[m], depths)])
             for m in METHODS}
    results['settings'][key] = {'description': description, 'focus_distances_m': focus.tolist(),
                                'ddffnet_slots': slots.tolist(), 'metrics': table}
    visualize.save_comparison_panel(os.path.join(workdir, 'pictures', f'{key}.png'), stacks[0][-1], depths[0],
                                    {m: predictions[m][0] for m in METHODS}, title=description)
    print(f'{description}: ' + '; '.join(f'{m} MAE {table[m]["mae"]:.4f}' for m in METHODS), flush=True)

  results['markdown'] = markdown_table(results)
  files.write_json(os.path.join(workdir, 'results.json'), results)
  files.write_text(os.path.join(workdir, 'results.md'), results['markdown'])
  print(results['markdown'])
  return results


def markdown_table(results) -> str:
  lines = ['| test setting | method | MAE (m) | RMSE (m) | AbsRel | scale-inv. |', '|---|---|---|---|---|---|']
  for setting in results['settings'].values():
    for method in METHODS:
      m = setting['metrics'][method]
      lines.append(f'| {setting["description"]} | {method} | ' + ' | '.join(f'{m[k]:.4f}' for k in METRICS) + ' |')
  return '\n'.join(lines) + '\n'


def main(argv):
  from absl import flags
  values = flags.FLAGS
  if 'ddfs' not in cli.loaded_config(values.config):
    raise errors.UserError('--config must be the experiment config (camera_invariance.py without a :model suffix).')
  run_experiment(values.config, values.workdir, values.progress)


if __name__ == '__main__':
  cli.run(main, define_flags)
