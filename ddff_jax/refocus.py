"""python -m ddff_jax.refocus --input=<HCI folder | LF_XXXX.npy> --disparities=<spec> --output_dir=DIR

Writes one PNG per focal slice (`slice_00.png`, nearest focus first) and `stack.npz` (stack uint8 (S, H, W, 3),
disparities (S,)). Disparity specs: 'ddff:10', 'linspace:-2.5,2.5,10' or '0.1,0.2,0.3'.
"""
from __future__ import annotations

import os

from ddff_jax import cli


def define_flags():
  from absl import flags
  flags.DEFINE_string('input', None, 'HCI scene folder or DDFF LF_XXXX.npy light field.', required=True)
  flags.DEFINE_string('disparities', 'ddff:10', 'Focus disparities (px between adjacent views).')
  flags.DEFINE_enum('mode', 'linear', ['linear', 'toolbox'], 'Refocusing mode (toolbox = per-view magnitude+clip).')
  flags.DEFINE_string('output_dir', 'refocused', 'Where the slices go.')


def run(input_path: str, disparities_spec: str, mode: str, output_dir: str) -> str:
  import numpy as np
  from ddff_jax import files, optics
  from ddff_jax.data import formats, inputs
  lf, _ = inputs.load_light_field(input_path)
  disparities = inputs.parse_disparities(disparities_spec)
  stack = np.asarray(optics.to_uint8(optics.refocus(lf, disparities, mode=mode), 'round'))
  os.makedirs(output_dir, exist_ok=True)
  for i, image in enumerate(stack):
    formats.write_png(os.path.join(output_dir, f'slice_{i:02d}.png'), image)
  files.save_npz(os.path.join(output_dir, 'stack.npz'), stack=stack, disparities=disparities)
  print(f'{len(stack)} slices ({stack.shape[1]}x{stack.shape[2]}) written to {output_dir}')
  return output_dir


def main(argv):
  from absl import flags
  values = flags.FLAGS
  run(values.input, values.disparities, values.mode, values.output_dir)


if __name__ == '__main__':
  cli.run(main, define_flags)
