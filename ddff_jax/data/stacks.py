"""Loading a focal stack or light field from whatever a user has on disk (used by predict/refocus/evaluate)."""
from __future__ import annotations

import glob
import os

import numpy as np

from ddff_jax import errors
from ddff_jax.data import formats

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff')


def read_stack_folder(folder) -> np.ndarray:
  """A folder of focal-slice images, in file-name order (slice 0 = nearest focus) -> (S, H, W, 3) uint8."""
  files = sorted(f for f in glob.glob(os.path.join(os.fspath(folder), '*')) if f.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise errors.InputNotFound(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {folder}.')
  images = [formats.read_image(f) for f in files]
  images = [np.repeat(im[..., None], 3, -1) if im.ndim == 2 else im for im in images]
  if len({im.shape for im in images}) != 1:
    raise errors.UserError(f'focal slices in {folder} differ in size: {sorted({im.shape for im in images})}.')
  return np.stack(images)


def read_stack_array(path) -> np.ndarray:
  """`.npy` (S, H, W, 3) or `.npz` with a 'stack' array -> the stack as stored (uint8 0–255 or float 0–1)."""
  path = os.fspath(path)
  data = np.load(path)
  if isinstance(data, np.lib.npyio.NpzFile):
    if 'stack' not in data:
      raise errors.MissingKey(f'{path} holds {sorted(data.keys())}; expected an array named "stack" (S, H, W, 3).')
    data = data['stack']
  if data.ndim != 4 or data.shape[-1] != 3:
    raise errors.UserError(f'{path}: a focal stack is (S, H, W, 3), got shape {data.shape}.')
  return data
