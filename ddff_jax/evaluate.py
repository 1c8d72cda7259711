"""python -m ddff_jax.evaluate [--workdir=DIR | --method=classical] --dataset=<spec> --output_dir=DIR

Datasets:
  synthetic          the validation set of the workdir's config (or of the default config); for a thin-lens depth
                     run (DDFS or DDFFNet on `synthetic_thin_lens`) the DDFS metrics in metres, with
                     --method=checkpoint or --method=classical
  h5:<trainval.h5>   the validation split of the published DDFF file (DDFF protocol, DESIGN §5)
  hci:<folder>       an HCI light-field scene, refocused to --disparities (default linspace:-2.5,2.5,10); signed
                     disparities, so MSE/RMS/BadPix/Bumpiness over every pixel
Protocol: reflect-pad to multiples of 32, predict, crop back (inside the model); clip the ground truth to
[0.0202, 0.2825] px (DDFF data) or to the synthetic camera's disparity range; metrics per image, then averaged.
Writes metrics.json (means and per image), metrics.csv (per image), badpix_curve.png and colour-mapped
prediction/ground-truth/error panels.
"""
from __future__ import annotations

import csv
import os

from absl import app
from absl import flags

from ddff_jax import inference


def define_flags():
  """Command-line flags; defined only when run as a program, so that the module imports cleanly beside the
  other entry points (absl flags are global)."""
  inference.define_method_flags()
  flags.DEFINE_string('dataset', 'synthetic', "'synthetic', 'h5:<path>' or 'hci:<folder>'.")
  flags.DEFINE_string('disparities', None, 'Focus disparities for light-field inputs.')
  flags.DEFINE_string('output_dir', None, 'Where results go (default: <workdir>/eval or runs/eval_<method>).')
  flags.DEFINE_integer('num_panels', 4, 'How many prediction panels to draw.')
  flags.DEFINE_bool('reference_compat', False, "Treat non-positive predictions as the released DDFF code does.")


FLAGS = flags.FLAGS

BADPIX_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(1, 31))


def iterate_dataset(spec: str, workdir: str | None, disparities: str | None):
  """Yields (stack float (S, H, W, 3), focus disparities, ground truth (H, W)); returns the metric valid range."""
  import numpy as np
  from ddff_jax import checkpoints, metrics, optics
  from ddff_jax.data import ddff as ddff_data, sources
  if spec == 'synthetic':
    if workdir:
      config = checkpoints.load_config(workdir)
    else:
      from ddff_jax.configs import default
      config = default.get_config()
    _, val, info = sources.build_sources(config.data, config.seed)
    return info['disparity_range'], (
        (val[i]['stack'], info['focus_disparities'], val[i]['disparity']) for i in range(len(val)))
  if spec.startswith('h5:'):
    reader = ddff_data.DDFFH5(spec[3:], 'validation')
    focus = optics.DDFF_CAMERA.focal_stack_disparities(reader.stacks.shape[1])
    return metrics.DDFF_DISPARITY_RANGE, (
        (reader[i]['stack'].astype(np.float32) / 255.0, focus, reader[i]['disparity']) for i in range(len(reader)))
  if spec.startswith('hci:'):
    stack, focus, gt = inference.load_stack(spec[4:], disparities or 'linspace:-2.5,2.5,10')
    if gt is None:
      raise FileNotFoundError(f'{spec[4:]} has no gt_disp_lowres.pfm ground truth to evaluate against.')
    return None, iter([(stack, focus, gt)])
  raise ValueError(f"--dataset must be 'synthetic', 'h5:<path>' or 'hci:<folder>', got {spec!r}.")


def evaluate(predictor, spec, workdir, disparities, output_dir, num_panels=4, reference_compat=False) -> dict:
  import numpy as np
  from ddff_jax import checkpoints, metrics, visualize
  valid_range, samples = iterate_dataset(spec, workdir, disparities)
  per_image, curves = [], []
  os.makedirs(output_dir, exist_ok=True)
  for i, (stack, focus, gt) in enumerate(samples):
    pred = predictor(stack, focus)
    m = {k: float(v) for k, v in metrics.ddff_image_metrics(pred, gt, valid_range=valid_range,
                                                             reference_compat=reference_compat).items()}
    per_image.append(m)
    curves.append(np.asarray(metrics.badpix_curve(pred, gt, BADPIX_THRESHOLDS, valid_range=valid_range)))
    if i < num_panels:
      visualize.save_prediction_panel(os.path.join(output_dir, f'panel_{i:03d}.png'), stack, gt, pred,
                                      title=f'{predictor.name} — image {i}: MSE {m["mse"]:.3g}',
                                      signed=valid_range is None)
  if not per_image:
    raise ValueError(f'dataset {spec} is empty.')
  summary = metrics.mean_over_images(per_image)
  curve = np.nanmean(np.stack(curves), axis=0)
  report = {'method': predictor.name, 'dataset': spec, 'metrics': summary,
            'badpix_curve': {'thresholds': list(BADPIX_THRESHOLDS), 'percent': curve.tolist()},
            'per_image': per_image}
  checkpoints.write_json_atomic(os.path.join(output_dir, 'metrics.json'), report)
  tmp = os.path.join(output_dir, 'metrics.csv.tmp')
  with open(tmp, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=['image'] + list(per_image[0]))
    writer.writeheader()
    for i, m in enumerate(per_image):
      writer.writerow({'image': i, **m})
  os.replace(tmp, os.path.join(output_dir, 'metrics.csv'))
  visualize.save_badpix_curve(os.path.join(output_dir, 'badpix_curve.png'), BADPIX_THRESHOLDS,
                              {predictor.name: curve})
  print(f'{predictor.name} on {spec} ({summary["num_images"]} images): ' +
        ', '.join(f'{k} {summary[k]:.4g}' for k in metrics.DDFF_METRICS if np.isfinite(summary[k])) +
        f'  -> {output_dir}')
  return report


def evaluate_depth(method: str, workdir: str, which: str, output_dir: str, num_panels: int = 4) -> dict:
  """DDFS metrics (MAE, RMSE, AbsRel, scale-invariant) of a thin-lens depth run (`synthetic_thin_lens` config) or
  of the classical DFF on its validation set, with colour-mapped panels."""
  import numpy as np
  from ddff_jax import checkpoints, metrics, tasks, visualize
  from ddff_jax.data import sources
  config = checkpoints.load_config(workdir)
  _, val, info = sources.build_sources(config.data, config.seed)
  task = tasks.DepthTask(config, info['camera'], info['focus_distances_m'])
  if method == 'checkpoint':
    import jax
    model, _, step = checkpoints.load_model(workdir, which)
    name = f'{config.model.name} ({workdir}, step {step})'
    forward = jax.jit(lambda s: task.predict(model, {'stack': s}))
    predict = lambda stack: np.asarray(forward(stack[None]))[0]
  else:
    name, predict = 'classical DFF (modified Laplacian, dioptres)', lambda stack: np.asarray(task.classical(stack))
  os.makedirs(output_dir, exist_ok=True)
  per_image = []
  for i in range(len(val)):
    example = val[i]
    pred = predict(example['stack'])
    per_image.append({k: float(v) for k, v in task.image_metrics(pred, example['depth']).items()})
    if i < num_panels:
      visualize.save_comparison_panel(os.path.join(output_dir, f'panel_{i:03d}.png'), example['stack'][-1],
                                      example['depth'], {name: pred}, title=f'{name} — image {i}')
  summary = metrics.mean_over_images(per_image)
  report = {'method': name, 'dataset': 'synthetic_thin_lens validation', 'metrics': summary, 'per_image': per_image}
  checkpoints.write_json_atomic(os.path.join(output_dir, 'metrics.json'), report)
  print(f'{name} ({summary["num_images"]} images): ' + ', '.join(f'{k} {summary[k]:.4g}' for k in task.metric_names)
        + f'  -> {output_dir}')
  return report


def is_depth_run(workdir: str | None) -> bool:
  from ddff_jax import checkpoints
  return bool(workdir) and checkpoints.load_config(workdir).data.source == 'synthetic_thin_lens'


@inference.one_line_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if FLAGS.dataset == 'synthetic' and is_depth_run(FLAGS.workdir):
    evaluate_depth(FLAGS.method, FLAGS.workdir, FLAGS.which, FLAGS.output_dir or os.path.join(FLAGS.workdir, 'eval'),
                   FLAGS.num_panels)
    return
  predictor = inference.predictor_from_flags(FLAGS)
  output_dir = FLAGS.output_dir or (os.path.join(FLAGS.workdir, 'eval') if FLAGS.workdir
                                    else os.path.join('runs', f'eval_{FLAGS.method}'))
  evaluate(predictor, FLAGS.dataset, FLAGS.workdir, FLAGS.disparities, output_dir, FLAGS.num_panels,
           FLAGS.reference_compat)


if __name__ == '__main__':
  define_flags()
  app.run(main)
