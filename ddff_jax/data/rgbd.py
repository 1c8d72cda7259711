"""Real photographs with ground-truth stereo disparity (Middlebury, ETH3D; `../shared/data/rgbd/<scene>/`).

A scene folder holds `image.png` (the left view, all in focus), `disparity.pfm` (px between the stereo pair, PFM
rows bottom-up, NaN = unknown) and `info.json`. Stereo disparity is proportional to inverse depth, so a scene's
disparity maps affinely to inverse depth over any chosen metric range: that is how defocus is rendered from RGB-D
data (`depth_from_disparity`, then `optics.render_focal_stack`).
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from ddff_jax import errors
from ddff_jax.data import formats


@dataclasses.dataclass
class RGBDScene:
  """image (H, W, 3) uint8; disparity (H, W) float32 px, NaN = unknown; info: the folder's info.json."""
  name: str
  image: np.ndarray
  disparity: np.ndarray
  info: dict

  @property
  def valid(self) -> np.ndarray:
    return np.isfinite(self.disparity) & (self.disparity > 0)


def read_rgbd_scene(folder) -> RGBDScene:
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    raise errors.InputNotFound(f'RGB-D scene folder not found: {folder}')
  paths = {name: os.path.join(folder, name) for name in ('image.png', 'disparity.pfm')}
  for name, path in paths.items():
    if not os.path.isfile(path):
      raise errors.InputNotFound(f'{folder} lacks {name} (an RGB-D scene holds image.png and disparity.pfm).')
  image = formats.read_image(paths['image.png'])
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  image = image[..., :3]
  disparity = formats.read_pfm(paths['disparity.pfm']).astype(np.float32)
  if disparity.shape != image.shape[:2]:
    raise errors.UserError(f'{folder}: disparity {disparity.shape} and image {image.shape[:2]} differ in size.')
  info_path = os.path.join(folder, 'info.json')
  info = json.load(open(info_path)) if os.path.isfile(info_path) else {}
  return RGBDScene(os.path.basename(os.path.normpath(folder)), image, disparity, info)


def depth_from_disparity(disparity, depth_range_m, disparity_range=None) -> np.ndarray:
  """Metric depth (m) whose inverse is affine in disparity: the scene's `disparity_range` (default: its finite
  minimum and maximum) maps to (far, near) = (depth_range_m[1], depth_range_m[0]); unknown pixels stay NaN.

      1/z = 1/far + (d − d_min)/(d_max − d_min) · (1/near − 1/far)
  """
  near, far = (float(v) for v in depth_range_m)
  if not 0 < near < far:
    raise errors.UserError(f'depth_range_m must be (near, far) with 0 < near < far, got {tuple(depth_range_m)}.')
  disparity = np.asarray(disparity, np.float64)
  finite = np.isfinite(disparity)
  if not finite.any():
    raise errors.UserError('the disparity map has no known pixel.')
  lo, hi = (float(disparity[finite].min()), float(disparity[finite].max())) if disparity_range is None \
      else (float(v) for v in disparity_range)
  if not hi > lo:
    raise errors.UserError(f'a depth range needs a disparity span, got {lo} … {hi} px.')
  t = np.clip((disparity - lo) / (hi - lo), 0.0, 1.0)
  inverse = 1.0 / far + t * (1.0 / near - 1.0 / far)
  return np.where(finite, 1.0 / inverse, np.nan).astype(np.float32)


def fill_unknown(depth) -> np.ndarray:
  """Unknown (NaN) pixels given the depth of the nearest known pixel (for rendering only; metrics skip them)."""
  from scipy import ndimage
  depth = np.asarray(depth, np.float32)
  unknown = ~np.isfinite(depth)
  if not unknown.any():
    return depth
  index = ndimage.distance_transform_edt(unknown, return_distances=False, return_indices=True)
  return depth[tuple(index)]
