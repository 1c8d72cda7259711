"""python -m ddff_jax.leave_one_out [--config=ddff_jax/configs/hci.py] --root=runs/hci_loo --output_dir=DIR

The real-light-field protocol: for every real scene X of the config, a DDFFNet is trained without X (natural-texture
light fields plus the other real scenes; `<root>/holdout_<X>`, resumed or reused when already trained) and then
evaluated on X at full size, beside the classical DFF on the same stack. Both see X's light field refocused to the
config's focus disparities (10 slices over −2.5 … 2.5 px); metrics over every pixel (signed disparity): MSE, RMS,
BadPix(0.07) and the HCI Bumpiness. The model evaluated is the run's last checkpoint: X's validation figures during
training are watched, never used to pick a checkpoint.

Writes DIR/table.md (with the DDFF supplement's published figures beside, then each method's errors by ground-truth
disparity band and the slope of prediction against truth: where a model hedges), DIR/results.json, and per scene
DIR/<X>_ddffnet.png and DIR/<X>_classical.png (middle slice, ground truth, prediction, error).
"""
from __future__ import annotations

import os

from ddff_jax import cli

_HCI_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'hci.py')
# DDFF supplement, on the four HCI "training" scenes (not the shared ones): MSE, RMS, Bumpiness.
PUBLISHED = (('VDFF (published)', 1.30, 1.15, None), ('DDFFNet-CC3 fine-tuned on HCI (published)', 0.19, 0.42, 1.92),
             ('AiFDepthNet (published)', 0.047, 0.20, 1.58))
FIGURES = ('mse', 'rms', 'badpix', 'bumpiness')
# Ground-truth bands (px) of the breakdown: beyond the stack's −2.5 … 2.5 px on each side, and 1 px bands inside.
BAND_EDGES = (-float('inf'), -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, float('inf'))


def define_flags():
  from absl import flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', _HCI_CONFIG, 'Training config of every fold (data.source hci_mix).')
  flags.DEFINE_string('root', 'runs/hci_loo', 'Where the folds train: <root>/holdout_<scene>.')
  flags.DEFINE_string('output_dir', 'runs/hci_loo/report', 'Where the table and pictures go.')
  flags.DEFINE_bool('progress', True, 'Show progress bars.')


def fold_workdir(root: str, scene: str) -> str:
  return os.path.join(root, f'holdout_{os.path.basename(os.path.normpath(scene))}')


def evaluate_fold(workdir: str, scene_folder: str, output_dir: str) -> dict:
  """The fold's model (last checkpoint) and the classical DFF on the held-out scene: {method: figures}."""
  from ddff_jax import methods, metrics, tasks, visualize
  from ddff_jax.data import inputs
  from ddff_jax.data.spec import FocalStackSpec
  model = methods.trained(workdir, 'latest')
  loaded = inputs.load_stack(scene_folder, model.default_disparities)
  task = tasks.build_task(FocalStackSpec('disparity', loaded.focus, None))
  name = os.path.basename(os.path.normpath(scene_folder))
  out = {}
  for key, method in (('ddffnet', model), ('classical', methods.classical())):
    prediction = method(loaded.stack, loaded.focus)
    figures = {k: float(v) for k, v in task.image_metrics(prediction, loaded.ground_truth).items() if k in FIGURES}
    figures['slope'] = metrics.fit_slope(prediction, loaded.ground_truth)
    figures['bands'] = metrics.errors_by_band(prediction, loaded.ground_truth, BAND_EDGES)
    out[key] = figures
    visualize.save_prediction_panel(os.path.join(output_dir, f'{name}_{key}.png'), loaded.stack,
                                    loaded.ground_truth, prediction, signed=True,
                                    title=f'{name} held out — {method.name}: MSE {figures["mse"]:.3g} px²')
  return out


def model_label(config) -> str:
  """'DDFFNet-CC3', or e.g. 'DDFFNet-CC1-unpool, local soft-argmax scorer (mode ± 2), end hypotheses, local mass
  0.8': the variant the folds train."""
  m = config.model
  parts = [sk.upper() for sk in m.skips] + ([] if m.upsample == 'upconv' else [m.upsample])
  name = '-'.join(['DDFFNet'] + parts)
  scorer = m.get('scorer', 'linear')
  if scorer == 'linear':
    return name
  label = f"{name}, {scorer.replace('_', ' ').replace('softargmax', 'soft-argmax')} scorer"
  if scorer == 'local_softargmax':
    label += f" (mode ± {m.get('local_radius', 1)})"
  if m.get('end_hypotheses', False):
    label += ', end hypotheses'
  if m.get('local_mass', 0.0):
    label += f', local mass {m.local_mass:g}'
  return label


def table(results: dict, label: str = 'DDFFNet-CC3') -> str:
  """Markdown: per held-out scene, the learned model (`label`) and the classical DFF; then the published figures,
  then the errors by ground-truth band."""
  fmt = lambda v, digits: '–' if v is None else f'{v:.{digits}f}'
  rows = ['| held-out scene | method | MSE (px²) | RMS (px) | BadPix(0.07) % | Bumpiness |',
          '| --- | --- | --- | --- | --- | --- |']
  for scene, by_method in results.items():
    for key, name in (('ddffnet', f'{label} (trained without it)'), ('classical', 'classical DFF')):
      f = by_method[key]
      rows.append(f'| {scene} | {name} | {fmt(f["mse"], 4)} | {fmt(f["rms"], 3)} | {fmt(f["badpix"], 1)} | '
                  f'{fmt(f["bumpiness"], 2)} |')
  for name, mse, rms, bump in PUBLISHED:
    rows.append(f'| 4 HCI training scenes | {name} | {fmt(mse, 3)} | {fmt(rms, 2)} | – | {fmt(bump, 2)} |')
  rows += ['', 'By ground-truth disparity band (median error = prediction − truth; slope of the least-squares line '
           'prediction ≈ a · truth + b: 1 unbiased, 0 a constant):', '',
           '| held-out scene | method | slope | band (px) | share of pixels | MSE (px²) | median error (px) | BadPix % |',
           '| --- | --- | --- | --- | --- | --- | --- | --- |']
  for scene, by_method in results.items():
    for key, name in (('ddffnet', label), ('classical', 'classical DFF')):
      f = by_method[key]
      for band in f['bands']:
        lo, hi = band['band']
        span = f'below {hi:g}' if lo is None else (f'above {lo:g}' if hi is None else f'{lo:g} … {hi:g}')
        rows.append(f'| {scene} | {name} | {f["slope"]:.2f} | {span} | {100 * band["share"]:.1f} % | '
                    f'{band["mse"]:.3f} | {band["median_error"]:+.2f} | {band["badpix"]:.1f} |')
  return '\n'.join(rows) + '\n'


def run(config, root: str, output_dir: str, progress: bool = True) -> dict:
  from ddff_jax import errors, files, train
  if config.data.source != 'hci_mix':
    raise errors.UserError(f"leave-one-out needs a config with data.source='hci_mix', got {config.data.source!r}.")
  results = {}
  for scene in config.data.scenes:
    fold = config.copy_and_resolve_references()
    fold.data.held_out = scene
    workdir = fold_workdir(root, scene)
    print(f'fold: {scene} held out -> {workdir}', flush=True)
    train.train_and_evaluate(fold, workdir, progress)
    results[os.path.basename(os.path.normpath(scene))] = evaluate_fold(
        workdir, os.path.join(config.data.hci_root, scene), output_dir)
  files.write_json(os.path.join(output_dir, 'results.json'), results)
  text = table(results, model_label(config))
  files.write_text(os.path.join(output_dir, 'table.md'), text)
  print(text, flush=True)
  return results


def main(argv):
  from absl import flags
  values = flags.FLAGS
  run(cli.loaded_config(values.config), values.root, values.output_dir, values.progress)


if __name__ == '__main__':
  cli.run(main, define_flags)
