"""python -m ddff_jax.evaluate [--workdir=DIR | --method=classical | --method=weights] --dataset=<spec> --output_dir=DIR

Datasets:
  synthetic          the validation split of the workdir's config (or of the default config): disparity data
                     (`synthetic_lf`) with the DDFF metrics, or thin-lens depth data (`synthetic_thin_lens`, DDFS or
                     DDFFNet runs) with the DDFS metrics in metres
  h5:<trainval.h5>   the validation split of the published DDFF file (DDFF 12-Scene protocol)
  hci:<folder>       an HCI light-field scene, refocused to --disparities (default: the model's own focus
                     disparities, or linspace:-2.5,2.5,10); signed disparities, so metrics over every pixel
  rgbd[:<camera>:<focus set>[:<noise σ>]]
                     the real RGB-D scenes rendered with a thin-lens camera at a focus set
                     (`configs/rgbd_render.py`), metric depth with the DDFS metrics
Disparity protocol: reflect-pad to multiples of 32, predict, crop back (inside the model); clip the ground truth to
the data's valid range; metrics per image, then averaged. Writes metrics.json (means and per image), metrics.csv
(per image), for disparity data badpix_curve.png, and colour-mapped prediction/ground-truth/error panels.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from typing import Iterator

from ddff_jax import cli
from ddff_jax import errors

BADPIX_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(1, 31))
HCI_DEFAULT_DISPARITIES = 'linspace:-2.5,2.5,10'


def define_flags():
  from absl import flags
  cli.define_method_flags()
  flags.DEFINE_string('dataset', 'synthetic', "'synthetic', 'h5:<path>', 'hci:<folder>' or "
                      "'rgbd[:<camera>:<focus set>[:<noise σ>]]'.")
  flags.DEFINE_string('disparities', None, 'Focus disparities for light-field inputs.')
  flags.DEFINE_string('output_dir', None, 'Where results go (default: <workdir>/eval or runs/eval_<method>).')
  flags.DEFINE_integer('num_panels', 4, 'How many prediction panels to draw.')
  flags.DEFINE_bool('reference_compat', False, "Treat non-positive predictions as the released DDFF code does.")


@dataclasses.dataclass
class Dataset:
  """spec: the data's description (target, focus, valid range, camera); examples: (stack (S, H, W, 3) in
  [0, 1], focus (S,), ground truth (H, W)) one by one."""
  name: str
  spec: object
  size: int
  examples: Iterator


def open_dataset(name: str, workdir: str | None = None, disparities=None) -> Dataset:
  """--dataset: 'synthetic' (the validation split of the workdir's or the default config), 'h5:<path>',
  'hci:<folder>' (refocused to `disparities`, (S,) px)."""
  from ddff_jax import checkpoints, metrics, optics
  from ddff_jax.data import ddff as ddff_data, inputs, sources
  from ddff_jax.data.spec import FocalStackSpec
  if name == 'synthetic':
    if workdir:
      config = checkpoints.load_config(workdir)
    else:
      from ddff_jax.configs import default
      config = default.get_config()
    spec = sources.data_spec(config.data)
    val = sources.build_split(config.data, config.seed, 'validation')

    def synthetic_examples():
      for i in range(len(val)):
        example = val[i]
        yield example['stack'], example.get('focus', spec.focus_array), example[spec.target]
    return Dataset(f'{config.data.source} validation', spec, len(val), synthetic_examples())
  if name.startswith('h5:'):
    reader = ddff_data.DDFFH5(name[3:], 'validation')
    focus = optics.DDFF_CAMERA.focal_stack_disparities(reader.stacks.shape[1])
    spec = FocalStackSpec('disparity', focus, metrics.DDFF_DISPARITY_RANGE)
    examples = ((optics.to_unit_float(reader[i]['stack']), focus, reader[i]['disparity']) for i in range(len(reader)))
    return Dataset(name, spec, len(reader), examples)
  if name.startswith('hci:'):
    if disparities is None:
      disparities = inputs.parse_disparities(HCI_DEFAULT_DISPARITIES)
    loaded = inputs.load_stack(name[4:], disparities)
    if loaded.ground_truth is None:
      raise errors.InputNotFound(f'{name[4:]} has no gt_disp_lowres.pfm ground truth to evaluate against.')
    spec = FocalStackSpec('disparity', loaded.focus, None)
    return Dataset(name, spec, 1, iter([(loaded.stack, loaded.focus, loaded.ground_truth)]))
  if name == 'rgbd' or name.startswith('rgbd:'):
    from ddff_jax.configs import rgbd_render
    data = rgbd_render.get_config(name[5:] or None).data
    spec = sources.data_spec(data)
    stacks, depths = sources.rgbd_render_arrays(data)
    examples = ((stack, spec.focus_array, depth) for stack, depth in zip(stacks, depths))
    return Dataset(f'{name} (RGB-D renders)', spec, len(stacks), examples)
  raise errors.UserError(f"--dataset must be 'synthetic', 'h5:<path>', 'hci:<folder>' or "
                         f"'rgbd[:<camera>:<focus set>[:<noise σ>]]', got {name!r}.")


def evaluate(method, dataset: Dataset, output_dir: str, num_panels: int = 4, reference_compat: bool = False,
             progress: bool = True) -> dict:
  """Per-image metrics of `method` on `dataset` (the task of the data's target), their means, panels."""
  import numpy as np
  from tqdm import tqdm
  from ddff_jax import files, metrics, tasks, visualize
  spec = dataset.spec
  if method.target != spec.target:
    raise errors.UserError(f'{method.name} predicts {method.target}, but {dataset.name} holds {spec.target}.')
  task = tasks.build_task(spec)
  compat = {'reference_compat': reference_compat} if spec.target == 'disparity' else {}
  per_image, curves = [], []
  for i, (stack, focus, gt) in enumerate(tqdm(dataset.examples, total=dataset.size, desc='evaluate',
                                              disable=not progress, dynamic_ncols=True)):
    pred = method(stack, focus, spec.camera)
    m = {k: float(v) for k, v in task.image_metrics(pred, gt, **compat).items()}
    per_image.append(m)
    if spec.target == 'disparity':
      curves.append(np.asarray(metrics.badpix_curve(pred, gt, BADPIX_THRESHOLDS, valid_range=spec.valid_range)))
    if i < num_panels:
      name = task.selection_metric
      visualize.save_prediction_panel(os.path.join(output_dir, f'panel_{i:03d}.png'), stack, gt, pred,
                                      title=f'{method.name} — image {i}: {name.upper()} {m[name]:.3g}',
                                      value_name=task.value_name, signed=spec.valid_range is None)
  if not per_image:
    raise errors.UserError(f'dataset {dataset.name} is empty.')
  summary = metrics.mean_over_images(per_image)
  report = {'method': method.name, 'dataset': dataset.name, 'target': spec.target, 'metrics': summary,
            'per_image': per_image}
  if curves:
    curve = np.nanmean(np.stack(curves), axis=0)
    report['badpix_curve'] = {'thresholds': list(BADPIX_THRESHOLDS), 'percent': curve.tolist()}
    visualize.save_badpix_curve(os.path.join(output_dir, 'badpix_curve.png'), BADPIX_THRESHOLDS,
                                {method.name: curve})
  files.write_json(os.path.join(output_dir, 'metrics.json'), report)
  with files.atomic_path(os.path.join(output_dir, 'metrics.csv')) as tmp, open(tmp, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=['image'] + list(per_image[0]))
    writer.writeheader()
    for i, m in enumerate(per_image):
      writer.writerow({'image': i, **m})
  print(f'{method.name} on {dataset.name} ({summary["num_images"]} images): ' +
        ', '.join(f'{k} {summary[k]:.4g}' for k in task.metric_names if np.isfinite(summary[k])) +
        f'  -> {output_dir}', flush=True)
  return report


def main(argv):
  from absl import flags
  from ddff_jax import methods
  from ddff_jax.data import inputs
  values = flags.FLAGS
  # The classical DFF predicts whatever the dataset holds, so it is built once the dataset is known.
  method = None if values.method == 'classical' else cli.method_from_flags(values)
  disparities = inputs.parse_disparities(values.disparities) if values.disparities else (
      method.default_disparities if method is not None and values.dataset.startswith('hci:') else None)
  dataset = open_dataset(values.dataset, values.workdir, disparities)
  method = method or methods.classical(dataset.spec.target)
  output_dir = values.output_dir or (os.path.join(values.workdir, 'eval') if values.workdir
                                     else os.path.join('runs', f'eval_{values.method}'))
  evaluate(method, dataset, output_dir, values.num_panels, values.reference_compat)


if __name__ == '__main__':
  cli.run(main, define_flags)
