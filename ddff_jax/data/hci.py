"""Reader for scenes of the HCI 4D light-field benchmark (Honauer et al., ACCV 2016) and folders in its layout.

A scene folder holds `input_Cam000.png … input_Cam{N²−1}.png` (view index = N·row + column, row = u, column = v),
optionally `gt_disp_lowres.pfm` (disparity in px between adjacent views, PFM rows bottom-up) and
`parameters.cfg` (INI).
"""
from __future__ import annotations

import configparser
import dataclasses
import glob
import math
import os

import numpy as np

from ddff_jax import errors
from ddff_jax.data import formats


@dataclasses.dataclass
class HCIScene:
  """A loaded scene: `light_field` (U, V, H, W, 3) uint8, `disparity` (H, W) float32 or None, `parameters`."""
  name: str
  light_field: np.ndarray
  disparity: np.ndarray | None
  parameters: dict[str, dict[str, float | str]]

  @property
  def disparity_range(self) -> tuple[float, float] | None:
    """(disp_min, disp_max) from parameters.cfg, when present."""
    meta = self.parameters.get('meta', {})
    if 'disp_min' in meta and 'disp_max' in meta:
      return float(meta['disp_min']), float(meta['disp_max'])
    return None


def read_parameters(path) -> dict[str, dict[str, float | str]]:
  """parameters.cfg -> {section: {key: float or str}}."""
  parser = configparser.ConfigParser()
  if not parser.read(path):
    raise errors.InputNotFound(f'parameters file not found: {path}')
  out = {}
  for section in parser.sections():
    out[section] = {}
    for key, value in parser.items(section):
      try:
        out[section][key] = float(value)
      except ValueError:
        out[section][key] = value
  return out


def read_hci_scene(folder, *, ground_truth: str = 'gt_disp_lowres.pfm') -> HCIScene:
  """Loads an HCI-layout scene folder.

  Raises:
    FileNotFoundError: no folder, or no `input_CamXXX.png` views in it.
    ValueError: the number of views is not a square, or views differ in size.
  """
  folder = os.fspath(folder)
  if not os.path.isdir(folder):
    raise errors.InputNotFound(f'HCI scene folder not found: {folder}')
  views = sorted(glob.glob(os.path.join(folder, 'input_Cam*.png')))
  if not views:
    raise errors.InputNotFound(f'no views in {folder}: expected input_Cam000.png … input_Cam080.png (HCI layout).')
  n = math.isqrt(len(views))
  if n * n != len(views):
    raise errors.UserError(f'{folder} holds {len(views)} input_Cam*.png views; an N×N grid (e.g. 81) is expected.')
  expected = [os.path.join(folder, f'input_Cam{i:03d}.png') for i in range(n * n)]
  missing = sorted(set(expected) - set(views))
  if missing:
    raise errors.InputNotFound(f'{folder} lacks views {", ".join(os.path.basename(m) for m in missing[:5])}.')
  images = [formats.read_image(p) for p in expected]
  shapes = {im.shape for im in images}
  if len(shapes) != 1:
    raise errors.UserError(f'views in {folder} differ in size: {sorted(shapes)}.')
  if images[0].ndim != 3 or images[0].shape[2] != 3:
    raise errors.UserError(f'views in {folder} must be RGB images, got shape {images[0].shape}.')
  light_field = np.stack(images).reshape((n, n) + images[0].shape)
  gt_path = os.path.join(folder, ground_truth)
  disparity = formats.read_pfm(gt_path) if os.path.isfile(gt_path) else None
  cfg = os.path.join(folder, 'parameters.cfg')
  parameters = read_parameters(cfg) if os.path.isfile(cfg) else {}
  return HCIScene(os.path.basename(os.path.normpath(folder)), light_field, disparity, parameters)
