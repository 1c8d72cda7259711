"""python -m ddff_jax.predict --input=<stack or light field> [--workdir=DIR | --method=classical|pretrained] --output_dir=DIR

--method=pretrained runs the DDFFNet shipped with the package (trained for real light fields; see
docs/real_light_fields.md) with no training and no further flags. --align registers the slices first (focus
breathing, hand-held stacks). A depth model (DDFS) takes the stack's --focus_distances_m and --camera
(focal_length_mm=…,f_number=…,pixel_pitch_um=…); without them, the settings it was trained on.

Inputs: a folder of focal-slice images (file-name order, nearest focus first), a `.npy`/`.npz` focal stack, an HCI
scene folder or DDFF `LF_XXXX.npy` light field (refocused to --disparities, by default to the focus disparities
the model was trained on), or a published DDFF `.h5` file (--h5_split, --h5_index).

Writes the map the method predicts with a colour-mapped picture and its scale: `disparity.npy` (px) and
`disparity.png`, or for a depth model (DDFS) `depth.npy` (m) and `depth.png`; for input from the DDFF 12-Scene
camera also `depth.npy` converted from disparity (m, 0 = invalid); and `panel.png` (slice, ground truth,
prediction, error) when the input has ground truth.

--submission=DIR with the DDFF test h5 writes the benchmark's submission layout: <scene>/DISP_0001.npy …
DISP_0020.npy (383×552 float disparity) and runtime.txt (`<scene>/DISP_XXXX <seconds>` per stack).
"""
from __future__ import annotations

import os
import time

from ddff_jax import cli
from ddff_jax import errors


def define_flags():
  from absl import flags
  flags.DEFINE_string('input', None, 'Focal stack / light field / DDFF h5 file.', required=True)
  cli.define_method_flags()
  flags.DEFINE_string('disparities', None, 'Focus disparities of the stack (default: the model\'s own): '
                      "'ddff:10', 'linspace:LO,HI,S' or a list.")
  flags.DEFINE_string('focus_distances_m', None, 'For a depth model (DDFS): the focus distance of every slice in '
                      'metres, nearest first, e.g. 0.1,0.3,1.5 (default: the settings it was trained on).')
  flags.DEFINE_string('camera', None, 'For a depth model (DDFS): the camera, '
                      'focal_length_mm=2.9,f_number=1.0,pixel_pitch_um=5.6 (default: the one it was trained on).')
  flags.DEFINE_enum('h5_split', 'test', ['train', 'validation', 'test'], 'Split of an h5 input.')
  flags.DEFINE_integer('h5_index', 0, 'Sample of an h5 input.')
  flags.DEFINE_string('output_dir', 'prediction', 'Where the outputs go.')
  flags.DEFINE_bool('align', False, 'Register the slices first (scale and shift: focus breathing, hand-held '
                    'stacks), to the least magnified slice.')
  flags.DEFINE_string('submission', None, 'Write the DDFF 12-Scene test submission for the whole h5 test split here.')


def predict_one(method, input_path, disparities=None, output_dir='prediction', h5_split='test', h5_index=0,
                align: bool = False, focus_distances_m=None, camera=None) -> dict:
  """Predicts one input with `method` and writes the outputs; `disparities` (S,) px or None (the method's own);
  `align` registers the slices first (`optics.registration.register_stack`); a depth method takes the stack's
  `focus_distances_m` (S,) and thin-lens `camera` (each None: the method's own)."""
  import numpy as np
  from ddff_jax import files, optics, visualize
  from ddff_jax.data import inputs
  if disparities is None:
    disparities = method.default_disparities
  loaded = inputs.load_stack(input_path, disparities, h5_split=h5_split, h5_index=h5_index)
  if align:
    from ddff_jax.optics import registration
    aligned, scales, shifts = registration.register_stack(loaded.stack)
    loaded.stack = np.asarray(aligned)
    print(f'aligned {len(scales)} slices: magnification {float(scales.min()):.4f} … {float(scales.max()):.4f}, '
          f'shift up to {float(np.abs(shifts).max()):.2f} px')
  if method.target == 'depth':
    prediction = method(loaded.stack, focus_distances_m, camera).astype(np.float32)
  else:
    if focus_distances_m is not None or camera is not None:
      raise errors.UserError(f'{method.name} predicts disparity from focus disparities; --focus_distances_m and '
                             '--camera are for depth models (DDFS).')
    prediction = method(loaded.stack, loaded.focus).astype(np.float32)
  unit = 'px' if method.target == 'disparity' else 'm'
  files.save_npy(os.path.join(output_dir, f'{method.target}.npy'), prediction)
  visualize.save_map(os.path.join(output_dir, f'{method.target}.png'), prediction, f'{method.target} ({unit})',
                     title=method.name)
  if method.target == 'disparity' and loaded.from_ddff_camera:
    files.save_npy(os.path.join(output_dir, 'depth.npy'),
                   np.asarray(optics.DDFF_CAMERA.disparity_to_depth(prediction)))
  if loaded.ground_truth is not None and method.target == 'disparity':
    # DDFF ground truth marks missing pixels with 0 and is never negative; light-field benchmarks (HCI) are signed.
    visualize.save_prediction_panel(os.path.join(output_dir, 'panel.png'), loaded.stack, loaded.ground_truth,
                                    prediction, title=method.name, signed=loaded.kind == 'hci')
  print(f'{method.name}: {method.target} {prediction.shape} in [{prediction.min():.4g}, {prediction.max():.4g}] '
        f'{unit} -> {output_dir}')
  return {method.target: prediction, 'ground_truth': loaded.ground_truth}


def write_submission(method, h5_path, output_dir) -> None:
  """Every stack of a DDFF test h5 predicted and written in the benchmark's submission layout."""
  from ddff_jax import files, optics
  from ddff_jax.data import ddff as ddff_data
  if method.target != 'disparity':
    raise errors.UserError(f'the DDFF submission holds disparities; {method.name} predicts {method.target}.')
  reader = ddff_data.DDFFH5(h5_path, 'test')
  focus = optics.DDFF_CAMERA.focal_stack_disparities(reader.stacks.shape[1])
  lines = []
  if len(reader):
    method(optics.to_unit_float(reader[0]['stack']), focus)  # compile once; not counted as runtime
  for i in range(len(reader)):
    item = reader[i]
    stack = optics.to_unit_float(item['stack'])
    start = time.perf_counter()
    disparity = method(stack, focus)
    seconds = time.perf_counter() - start
    scene, number = ddff_data.test_scene_of(item['index'], reader.stacks.shape[0])
    files.save_npy(os.path.join(output_dir, scene, f'DISP_{number:04d}.npy'), disparity.astype('float32'))
    lines.append(f'{scene}/DISP_{number:04d} {seconds:.6f}\n')
  files.write_text(os.path.join(output_dir, 'runtime.txt'), ''.join(lines))
  print(f'submission with {len(lines)} disparity maps written to {output_dir}')


def main(argv):
  from absl import flags
  from ddff_jax.data import inputs
  values = flags.FLAGS
  method = cli.method_from_flags(values)
  if values.submission:
    write_submission(method, values.input, values.submission)
  else:
    disparities = inputs.parse_disparities(values.disparities) if values.disparities else None
    focus = inputs.parse_focus_distances(values.focus_distances_m) if values.focus_distances_m else None
    camera = inputs.parse_camera(values.camera) if values.camera else None
    predict_one(method, values.input, disparities, values.output_dir, values.h5_split, values.h5_index,
                values.align, focus, camera)


if __name__ == '__main__':
  cli.run(main, define_flags)
