"""python -m ddff_jax.rgbd_defocus [--config=ddff_jax/configs/rgbd_defocus.py] [--workdir=DIR]

Defocus on real images: trains (or resumes, in <workdir>/ddfs and <workdir>/ddffnet) DDFSNet on natural-texture
thin-lens scenes with a random camera and focus set per example, and DDFFNet on the same scenes at one camera and
focus set, then measures both, the classical DFF and the raw cost-volume argmin on the real RGB-D scenes rendered
with the thin-lens renderer for every test setting of the config ('<camera>:<focus set>[:<noise σ>]' of
`configs/rgbd_render.py`). DDFS is told each setting's camera and focus distances; DDFFNet gets, in each input slot,
the image focused nearest in dioptres to its own (`camera_invariance.nearest_slots`); the classical DFF interpolates
between the given focus distances in dioptres.

Writes <workdir>/results.json, results.md (per setting and method: MAE, RMSE, AbsRel, scale-invariant error, over
the scenes' known pixels; then DDFS's MAE under each noise-free setting relative to the training setting) and
pictures/<setting>.png (one scene: input, ground truth, every method and its error).
"""
from __future__ import annotations

import os

from ddff_jax import cli
from ddff_jax import errors
from ddff_jax.camera_invariance import METRICS  # the DDFS metrics, in the same table columns

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'rgbd_defocus.py')
METHODS = ('DDFS', 'DDFFNet', 'classical DFF', 'cost-volume argmin')
FOLD_METHOD = 'DDFS + RGB-D renders (2-fold)'
PICTURE_SCENE = 'teddy'


def define_flags():
  from absl import flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', _DEFAULT_CONFIG, 'Experiment config (rgbd_defocus.py, no argument).')
  flags.DEFINE_string('workdir', 'runs/rgbd_defocus', 'Where both training runs and the results go.')
  flags.DEFINE_bool('progress', True, 'Show progress bars while training.')


def describe(setting: str) -> str:
  """'phone:unseen' -> 'phone (f = 4.3 mm, N = 1.9), focus {0.15, 0.7, 2} m'; a noise σ adds ', noise σ = …'."""
  from ddff_jax.configs import rgbd_render
  camera, focus, sigma = rgbd_render.parse_setting(setting)
  c = rgbd_render.CAMERAS[camera]
  return (f'{camera} (f = {c["focal_length_mm"]:g} mm, N = {c["f_number"]:g}), focus '
          '{' + ', '.join(f'{x:g}' for x in rgbd_render.FOCUS_SETS[focus]) + '} m'
          + (f', noise σ = {sigma:g}' if sigma else ''))


def evaluate_setting(setting: str, test_config, ddfs, ddffnet, task, ddfs_predict, ddffnet_predict,
                     fold_predicts=()) -> dict:
  """Every method's per-scene predictions and mean metrics on the RGB-D scenes (`test_config.scenes` at
  `test_config.size` px) rendered for `setting`. `fold_predicts` (one DDFS predictor per `test_config.rgbd_folds`
  fold, trained without that fold's scenes) give FOLD_METHOD: each scene predicted by the model that never saw it."""
  import numpy as np
  from ddff_jax import camera_invariance, metrics
  from ddff_jax.configs import rgbd_render
  from ddff_jax.data import sources
  data = rgbd_render.get_config(setting).data
  data.update(scenes=tuple(test_config.scenes), size=test_config.size)
  stacks, depths = sources.rgbd_render_arrays(data)
  camera = sources.thin_lens_camera(data.camera)
  focus = np.asarray(data.focus_distances_m, np.float32)
  slots = camera_invariance.nearest_slots(ddffnet.spec.focus_array, focus)
  predictions = {
      'DDFS': camera_invariance.predict_in_batches(lambda s: ddfs_predict(s, focus, camera), stacks, 2),
      'DDFFNet': camera_invariance.predict_in_batches(lambda s: ddffnet_predict(s, None, None), stacks[:, slots], 2),
      'classical DFF': np.stack([np.asarray(task.classical(s, focus)) for s in stacks]),
      'cost-volume argmin': np.stack([camera_invariance.cost_argmin(s, focus, camera, ddfs.model) for s in stacks])}
  if fold_predicts:
    scenes = list(data.scenes)
    fold_of = {scene: k for k, fold in enumerate(test_config.rgbd_folds) for scene in fold}
    predictions[FOLD_METHOD] = np.stack([
        np.asarray(fold_predicts[fold_of[scene]](stacks[i:i + 1], focus, camera))[0]
        for i, scene in enumerate(scenes)])
  table = {m: metrics.mean_over_images([task.image_metrics(p, g) for p, g in zip(predictions[m], depths)])
           for m in predictions}
  return {'stacks': stacks, 'depths': depths, 'predictions': predictions, 'metrics': table, 'scenes': list(data.scenes),
          'focus_distances_m': focus.tolist(), 'camera': dict(data.camera), 'ddffnet_slots': slots.tolist()}


def run_experiment(config, workdir: str, progress: bool = True) -> dict:
  from ddff_jax import camera_invariance, checkpoints, files, tasks, train, visualize
  from ddff_jax.configs import rgbd_render
  for name in ('ddfs', 'ddffnet'):
    print(f'— training {name} in {workdir}/{name}', flush=True)
    train.train_and_evaluate(config[name], os.path.join(workdir, name), progress)
  ddfs, ddffnet = (checkpoints.load(os.path.join(workdir, name), 'best') for name in ('ddfs', 'ddffnet'))
  task = tasks.build_task(ddfs.spec)
  ddfs_compiled = camera_invariance.compiled_predictor(task, ddfs.model)  # shared by every DDFS of this structure
  ddfs_predict = ddfs_compiled(ddfs.model)
  ddffnet_predict = camera_invariance.compiled_predictor(task, ddffnet.model)(ddffnet.model)
  results = {'checkpoints': {'DDFS': ddfs.step, 'DDFFNet': ddffnet.step},
             'training_setting': config.test.training_setting, 'settings': {}}
  fold_predicts = []
  for k, fold in enumerate(config.test.get('rgbd_folds', ())):
    fold_config = fold_training_config(config, fold)
    fold_dir = os.path.join(workdir, f'ddfs_rgbd_fold{k}')
    print(f'— training DDFS with the RGB-D scenes {list(fold_config.data.rgbd_scenes)} in {fold_dir}', flush=True)
    train.train_and_evaluate(fold_config, fold_dir, progress)
    fold_model = checkpoints.load(fold_dir, 'best')
    fold_predicts.append(ddfs_compiled(fold_model.model))
    results['checkpoints'][f'{FOLD_METHOD}, fold {k}'] = fold_model.step
  for setting in config.test.settings:
    out = evaluate_setting(setting, config.test, ddfs, ddffnet, task, ddfs_predict, ddffnet_predict, fold_predicts)
    description = describe(setting)
    results['settings'][setting] = {'description': description, **{k: out[k] for k in (
        'metrics', 'scenes', 'focus_distances_m', 'camera', 'ddffnet_slots')}}
    i = out['scenes'].index(PICTURE_SCENE) if PICTURE_SCENE in out['scenes'] else 0
    visualize.save_comparison_panel(os.path.join(workdir, 'pictures', f'{setting.replace(":", "_")}.png'),
                                    out['stacks'][i][-1], out['depths'][i],
                                    {m: p[i] for m, p in out['predictions'].items()},
                                    title=f'{out["scenes"][i]}: {description}')
    print(f'{description}: ' + '; '.join(f'{m} MAE {v["mae"]:.4f}' for m, v in out['metrics'].items()), flush=True)
  base = results['settings'].get(config.test.training_setting)
  if base is None:
    raise errors.UserError(f'test.training_setting {config.test.training_setting!r} is not among test.settings.')
  results['ddfs_mae_relative_to_training'] = {  # camera and focus settings; sensor noise is another question
      s: r['metrics']['DDFS']['mae'] / base['metrics']['DDFS']['mae'] for s, r in results['settings'].items()
      if not rgbd_render.parse_setting(s)[2]}
  results['markdown'] = markdown_table(results)
  files.write_json(os.path.join(workdir, 'results.json'), results)
  files.write_text(os.path.join(workdir, 'results.md'), results['markdown'])
  print(results['markdown'])
  return results


def fold_training_config(config, fold):
  """The DDFS training config for one cross-validation fold: also trained on renders of the test scenes outside
  `fold`."""
  unknown = set(fold) - set(config.test.scenes)
  if unknown:
    raise errors.UserError(f'test.rgbd_folds names scenes {sorted(unknown)} that are not among test.scenes.')
  fold_config = config.ddfs.copy_and_resolve_references()
  fold_config.unlock()  # a --config from the command line is locked; the fold's data section gains fields
  fold_config.data.update(rgbd_scenes=tuple(s for s in config.test.scenes if s not in fold),
                          **config.test.rgbd_training)
  fold_config.train.num_steps = config.test.rgbd_fold_steps
  return fold_config


def markdown_table(results) -> str:
  lines = ['| test setting | method | MAE (m) | RMSE (m) | AbsRel | scale-inv. |', '|---|---|---|---|---|---|']
  for setting in results['settings'].values():
    best = {k: min(m[k] for m in setting['metrics'].values()) for k in METRICS}
    for method in setting['metrics']:
      m = setting['metrics'][method]
      cells = [f'**{m[k]:.4f}**' if m[k] == best[k] else f'{m[k]:.4f}' for k in METRICS]
      lines.append(f'| {setting["description"]} | {method} | ' + ' | '.join(cells) + ' |')
  lines += ['', f'DDFS MAE relative to the training setting ({results["training_setting"]}):', '',
            '| test setting | DDFS MAE / training-setting MAE |', '|---|---|']
  for key, ratio in results['ddfs_mae_relative_to_training'].items():
    lines.append(f'| {results["settings"][key]["description"]} | {ratio:.3f} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  from absl import flags
  values = flags.FLAGS
  if 'ddfs' not in cli.loaded_config(values.config):
    raise errors.UserError('--config must be the experiment config (rgbd_defocus.py without a :model suffix).')
  run_experiment(values.config, values.workdir, values.progress)


if __name__ == '__main__':
  cli.run(main, define_flags)
