"""Writes small files in exactly the published DDFF 12-Scene layouts (keys, dtypes, axis order, a zero padding
sample, invalid depths), so that readers and the builder run end to end without the 13 GB download.

    python -m ddff_jax.ddff12scene.make_dummy_data <folder>
"""
from __future__ import annotations

import os
import sys

import numpy as np


def write_h5_files(folder, *, num_train: int = 5, num_val: int = 3, patch: int = 32, test_size=(40, 56),
                   num_slices: int = 10, test_per_scene: int = 1, seed: int = 0) -> None:
  """`ddff-dataset-trainval.h5` (stack_train/disp_train/stack_val/disp_val; sample 0 of train all zero) and
  `ddff-dataset-test.h5` (stack_test, `test_per_scene` per test scene, in the published scene order)."""
  import h5py
  rng = np.random.default_rng(seed)
  os.makedirs(folder, exist_ok=True)

  def stacks(n, h, w):
    return rng.integers(0, 256, (n, num_slices, h, w, 3), dtype=np.uint8)

  def disps(n, h, w):
    d = rng.uniform(0.0202, 0.2825, (n, h, w)).astype(np.float32)
    d[rng.random(d.shape) < 0.1] = 0.0  # invalid pixels
    return d

  with h5py.File(os.path.join(folder, 'ddff-dataset-trainval.h5'), 'w') as f:
    train_stack, train_disp = stacks(num_train, patch, patch), disps(num_train, patch, patch)
    train_stack[0], train_disp[0] = 0, 0  # the packed files may begin with an empty sample
    f.create_dataset('stack_train', data=train_stack)
    f.create_dataset('disp_train', data=train_disp)
    f.create_dataset('stack_val', data=stacks(num_val, patch, patch))
    f.create_dataset('disp_val', data=disps(num_val, patch, patch))
  with h5py.File(os.path.join(folder, 'ddff-dataset-test.h5'), 'w') as f:
    f.create_dataset('stack_test', data=stacks(6 * test_per_scene, *test_size))


def write_raw_light_fields(folder, scenes, *, per_scene: int = 2, size=(40, 56), grid: int = 9,
                           seed: int = 0) -> None:
  """`<scene>/LF_XXXX.npy` (grid, grid, H, W, 3) uint8 and `DEPTH_XXXX.png` uint16 mm with missing (0) and
  out-of-range depths."""
  from PIL import Image
  rng = np.random.default_rng(seed)
  for scene in scenes:
    os.makedirs(os.path.join(folder, scene), exist_ok=True)
    for i in range(1, per_scene + 1):
      np.save(os.path.join(folder, scene, f'LF_{i:04d}.npy'),
              rng.integers(0, 256, (grid, grid) + tuple(size) + (3,), dtype=np.uint8))
      depth = rng.integers(600, 6500, size).astype(np.uint16)
      depth[:2] = 0  # missing
      depth[-1, :5] = 9000  # beyond 7 m: invalid after conversion
      Image.fromarray(depth).save(os.path.join(folder, scene, f'DEPTH_{i:04d}.png'))


if __name__ == '__main__':
  out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'dummy_data')
  write_h5_files(out, num_train=3, num_val=2, patch=16, test_size=(20, 28), num_slices=5)
  write_raw_light_fields(out, ('glassroom', 'lockeroom'), per_scene=1, size=(20, 28), grid=3)
  print(f'dummy data written to {out}')
