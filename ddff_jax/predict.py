"""python -m ddff_jax.predict --input=<stack or light field> [--workdir=DIR | --method=classical] --output_dir=DIR

Inputs: a folder of focal-slice images (file-name order, nearest focus first), a `.npy`/`.npz` focal stack, an HCI
scene folder or DDFF `LF_XXXX.npy` light field (refocused to --disparities first), or a published DDFF `.h5` file
(--h5_split, --h5_index). Writes `disparity.npy` (px), `depth.npy` (m, for the DDFF camera; 0 = invalid) and a
colour-mapped `disparity.png`.

--submission=DIR with the DDFF test h5 writes the benchmark's submission layout: <scene>/DISP_0001.npy …
DISP_0020.npy (383×552 float disparity) and runtime.txt (`<scene>/DISP_XXXX <seconds>` per stack).
"""
from __future__ import annotations

import os
import time

from absl import app
from absl import flags

from ddff_jax import inference


def define_flags():
  """Command-line flags; defined only when run as a program, so that the module imports cleanly beside the
  other entry points (absl flags are global)."""
  flags.DEFINE_string('input', None, 'Focal stack / light field / DDFF h5 file.', required=True)
  inference.define_method_flags()
  flags.DEFINE_string('disparities', None, "Focus disparities of the stack: 'ddff:10', 'linspace:LO,HI,S' or a list.")
  flags.DEFINE_enum('h5_split', 'test', ['train', 'validation', 'test'], 'Split of an h5 input.')
  flags.DEFINE_integer('h5_index', 0, 'Sample of an h5 input.')
  flags.DEFINE_string('output_dir', 'prediction', 'Where the outputs go.')
  flags.DEFINE_string('submission', None, 'Write the DDFF 12-Scene test submission for the whole h5 test split here.')


FLAGS = flags.FLAGS


def predict_one(predictor, input_path, disparities, output_dir, h5_split='test', h5_index=0) -> dict:
  import numpy as np
  from ddff_jax import optics, visualize
  from ddff_jax.data import formats
  stack, focus, gt = inference.load_stack(input_path, disparities, h5_split=h5_split, h5_index=h5_index)
  disparity = predictor(stack, focus)
  os.makedirs(output_dir, exist_ok=True)
  _save_npy(os.path.join(output_dir, 'disparity.npy'), disparity.astype(np.float32))
  _save_npy(os.path.join(output_dir, 'depth.npy'), np.asarray(optics.DDFF_CAMERA.disparity_to_depth(disparity)))
  formats.write_png(os.path.join(output_dir, 'disparity.png'), visualize.colorize(disparity))
  if gt is not None:
    # DDFF ground truth marks missing pixels with 0 and is never negative; light-field benchmarks (HCI) are signed.
    visualize.save_prediction_panel(os.path.join(output_dir, 'panel.png'), stack, gt, disparity,
                                    title=predictor.name, signed=bool(np.nanmin(gt) < 0))
  print(f'{predictor.name}: disparity {disparity.shape} in [{disparity.min():.4g}, {disparity.max():.4g}] px '
        f'-> {output_dir}')
  return {'disparity': disparity, 'ground_truth': gt}


def write_submission(predictor, h5_path, output_dir) -> None:
  import numpy as np
  from ddff_jax import checkpoints, optics
  from ddff_jax.data import ddff as ddff_data
  reader = ddff_data.DDFFH5(h5_path, 'test')
  focus = optics.DDFF_CAMERA.focal_stack_disparities(reader.stacks.shape[1])
  lines = []
  if len(reader):
    predictor(reader[0]['stack'].astype(np.float32) / 255.0, focus)  # compile once; not counted as runtime
  for i in range(len(reader)):
    item = reader[i]
    stack = item['stack'].astype(np.float32) / 255.0
    start = time.perf_counter()
    disparity = predictor(stack, focus)
    seconds = time.perf_counter() - start
    scene, number = ddff_data.test_scene_of(item['index'], reader.stacks.shape[0])
    os.makedirs(os.path.join(output_dir, scene), exist_ok=True)
    _save_npy(os.path.join(output_dir, scene, f'DISP_{number:04d}.npy'), disparity.astype(np.float32))
    lines.append(f'{scene}/DISP_{number:04d} {seconds:.6f}\n')
  checkpoints.write_text_atomic(os.path.join(output_dir, 'runtime.txt'), ''.join(lines))
  print(f'submission with {len(lines)} disparity maps written to {output_dir}')


def _save_npy(path, array):
  import numpy as np
  tmp = path + '.tmp.npy'
  np.save(tmp, array)
  os.replace(tmp, path)


@inference.one_line_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  predictor = inference.predictor_from_flags(FLAGS)
  if FLAGS.submission:
    write_submission(predictor, FLAGS.input, FLAGS.submission)
  else:
    predict_one(predictor, FLAGS.input, FLAGS.disparities, FLAGS.output_dir, FLAGS.h5_split, FLAGS.h5_index)


if __name__ == '__main__':
  define_flags()
  app.run(main)
