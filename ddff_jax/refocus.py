"""python -m ddff_jax.refocus --input=<HCI folder | LF_XXXX.npy> --disparities=<spec> --output_dir=DIR

Writes one PNG per focal slice (`slice_00.png`, nearest focus first) and `stack.npz` (stack uint8 (S, H, W, 3),
disparities (S,)). Disparity specs: 'ddff:10', 'linspace:-2.5,2.5,10' or '0.1,0.2,0.3'.
"""
from __future__ import annotations

import os

from absl import app
from absl import flags

from ddff_jax import inference


def define_flags():
  """Command-line flags; defined only when run as a program, so that the module imports cleanly beside the
  other entry points (absl flags are global)."""
  flags.DEFINE_string('input', None, 'HCI scene folder or DDFF LF_XXXX.npy light field.', required=True)
  flags.DEFINE_string('disparities', 'ddff:10', 'Focus disparities (px between adjacent views).')
  flags.DEFINE_enum('mode', 'linear', ['linear', 'toolbox'], 'Refocusing mode (toolbox = per-view magnitude+clip).')
  flags.DEFINE_string('output_dir', 'refocused', 'Where the slices go.')


FLAGS = flags.FLAGS


def run(input_path: str, disparities_spec: str, mode: str, output_dir: str) -> str:
  import numpy as np
  from ddff_jax import optics
  from ddff_jax.data import formats
  lf, _ = inference.load_light_field(input_path)
  disparities = inference.parse_disparities(disparities_spec)
  stack = np.asarray(optics.to_uint8(optics.refocus(lf, disparities, mode=mode), 'round'))
  os.makedirs(output_dir, exist_ok=True)
  for i, image in enumerate(stack):
    formats.write_png(os.path.join(output_dir, f'slice_{i:02d}.png'), image)
  tmp = os.path.join(output_dir, 'stack.tmp.npz')
  np.savez_compressed(tmp, stack=stack, disparities=disparities)
  os.replace(tmp, os.path.join(output_dir, 'stack.npz'))
  print(f'{len(stack)} slices ({stack.shape[1]}x{stack.shape[2]}) written to {output_dir}')
  return output_dir


@inference.one_line_errors
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  run(FLAGS.input, FLAGS.disparities, FLAGS.mode, FLAGS.output_dir)


if __name__ == '__main__':
  define_flags()
  app.run(main)
