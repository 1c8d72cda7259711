"""Readers of the DDFF 12-Scene dataset (Hazirbas et al., ACCV 2018), in both published forms.

1. The published HDF5 files: `ddff-dataset-trainval.h5` with keys `stack_train`, `disp_train`, `stack_val`,
   `disp_val` (stacks (N, 10, H, W, 3) RGB 0–255, disparities (N, H, W) px, 0 = invalid), and `ddff-dataset-test.h5`
   with `stack_test` (120, 10, 383, 552, 3), no ground truth, scenes in `TEST_SCENES` order, 20 each.
2. Raw light fields `LF_XXXX.npy` (9, 9, 383, 552, 3) uint8 with depth maps `DEPTH_XXXX.png` (uint16 mm, 0 = missing).
"""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from ddff_jax import errors
from ddff_jax.optics.camera import DDFF_CAMERA, LightFieldCamera

TRAIN_SCENES = ('glassroom', 'office41', 'socialcorner', 'studentlab', 'seminaroom', 'kitchen')
TEST_SCENES = ('lockeroom', 'cafeteria', 'library', 'spencerlab', 'office44', 'magistrale')
TEST_IMAGES_PER_SCENE = 20
H5_KEYS = {'train': ('stack_train', 'disp_train'), 'validation': ('stack_val', 'disp_val'), 'test': ('stack_test', None)}
TRAINVAL_FILE = 'ddff-dataset-trainval.h5'
TEST_FILE = 'ddff-dataset-test.h5'


def test_scene_of(index: int, total: int = len(TEST_SCENES) * TEST_IMAGES_PER_SCENE) -> tuple[str, int]:
  """(scene name, 1-based image number) of test sample `index`: the file holds `total` stacks (120), the six test
  scenes in order, equally many each."""
  if total % len(TEST_SCENES):
    raise errors.UserError(f'a DDFF test file holds an equal number of stacks per scene (6 scenes); got {total} '
                           'stacks.')
  per_scene = total // len(TEST_SCENES)
  return TEST_SCENES[index // per_scene], index % per_scene + 1


def depth_png_to_disparity(depth_mm, camera: LightFieldCamera = DDFF_CAMERA) -> np.ndarray:
  """uint16 millimetres -> disparity px (d = B·f / Z); missing (0) and depths outside near..far -> 0 (invalid)."""
  depth_m = np.asarray(depth_mm, np.float64) / 1000.0
  with np.errstate(divide='ignore'):
    disparity = np.where(depth_m > 0, camera.baseline_focal_px_m / np.where(depth_m > 0, depth_m, 1.0), 0.0)
  lo, hi = camera.disparity_range
  return np.where((disparity >= lo) & (disparity <= hi), disparity, 0.0).astype(np.float32)


def read_raw_light_field(path) -> np.ndarray:
  """`LF_XXXX.npy` -> (9, 9, H, W, 3) uint8, checked."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise errors.InputNotFound(f'light field not found: {path} (expected LF_XXXX.npy, 9×9×383×552×3 uint8).')
  lf = np.load(path, mmap_mode='r')
  if lf.ndim != 5 or lf.shape[-1] != 3:
    raise errors.UserError(f'{path}: a DDFF light field is (U, V, H, W, 3), got shape {lf.shape}.')
  if lf.dtype != np.uint8:
    raise errors.UserError(f'{path}: a DDFF light field is uint8, got {lf.dtype}.')
  return np.asarray(lf)


def raw_pairs(folder) -> list[tuple[str, str]]:
  """(LF_XXXX.npy, DEPTH_XXXX.png) pairs of a scene folder, by number; raises naming what is missing."""
  folder = os.fspath(folder)
  lfs = sorted(glob.glob(os.path.join(folder, 'LF_*.npy')))
  if not lfs:
    raise errors.InputNotFound(f'no LF_XXXX.npy light fields in {folder}.')
  pairs = []
  for lf in lfs:
    number = re.search(r'LF_(\d+)\.npy$', lf).group(1)
    depth = os.path.join(folder, f'DEPTH_{number}.png')
    if not os.path.isfile(depth):
      raise errors.InputNotFound(f'{lf} has no depth map {depth}.')
    pairs.append((lf, depth))
  return pairs


class DDFFH5:
  """Random access to one split of a published DDFF h5 file. Items: {'stack': (S, H, W, 3) uint8,
  'disparity': (H, W) float32 (not for 'test'), 'index': int}. All-zero (padding) samples are skipped."""

  def __init__(self, path, split: str):
    import h5py
    if split not in H5_KEYS:
      raise errors.UserError(f'split must be one of {sorted(H5_KEYS)}, got {split!r}.')
    path = os.fspath(path)
    if not os.path.isfile(path):
      expected = TEST_FILE if split == 'test' else TRAINVAL_FILE
      raise errors.InputNotFound(f'DDFF h5 file not found: {path} (the {split} split lives in {expected}).')
    self.path, self.split = path, split
    self.file = h5py.File(path, 'r')
    stack_key, disp_key = H5_KEYS[split]
    present = sorted(self.file.keys())
    for key in (stack_key, disp_key):
      if key is not None and key not in present:
        raise errors.MissingKey(f'{path} has no dataset {key!r} for the {split} split; it holds {present}. Expected '
                 f'{list(k for k in H5_KEYS[split] if k)} (note: "stack_train", not "stacks_train").')
    self.stacks = self.file[stack_key]
    self.disps = self.file[disp_key] if disp_key else None
    if self.stacks.ndim != 5 or self.stacks.shape[-1] != 3:
      raise errors.UserError(f'{path}:{stack_key} must be (N, S, H, W, 3), got {self.stacks.shape}.')
    if self.disps is not None and (self.disps.shape[0] != self.stacks.shape[0]
                                   or self.disps.shape[1:] != self.stacks.shape[2:4]):
      raise errors.UserError(f'{path}: {disp_key} {self.disps.shape} does not match {stack_key} {self.stacks.shape}.')
    self.indices = self._non_empty()

  def _non_empty(self) -> np.ndarray:
    n = self.stacks.shape[0]
    if self.disps is not None:  # an all-zero disparity marks a padding sample; scanning disparities is cheap
      keep = [i for start in range(0, n, 256)
              for i, d in enumerate(np.asarray(self.disps[start:start + 256]), start) if np.any(d > 0)]
    else:
      keep = [i for i in range(n) if np.any(np.asarray(self.stacks[i]))]
    return np.asarray(keep, np.int64)

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, i):
    index = int(self.indices[i])
    stack = np.asarray(self.stacks[index])
    if stack.dtype != np.uint8:
      stack = np.clip(np.round(stack), 0, 255).astype(np.uint8)
    item = {'stack': stack, 'index': index}
    if self.disps is not None:
      item['disparity'] = np.asarray(self.disps[index], np.float32)
    return item

  def close(self):
    self.file.close()
