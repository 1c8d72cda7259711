"""Camera models: the DDFF 12-Scene Lytro ILLUM light-field camera and a thin-lens camera.

Units: metres for lengths, pixels (px) for disparities and blur sizes.
"""
from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.optics import _validate

# Micro-lens intrinsics of the DDFF 12-Scene Lytro ILLUM: (K1, K2, fx, fy, cx, cy, k1, k2).
LYTRO_ILLUM_INTRINSICS = (-2.76801, 1982.02508, 7299.67269, 7317.02064, 3991.59556, 2629.55412, 0.388046,
                          -0.0361191)
LYTRO_ILLUM_SUBAPERTURE_FOCAL_PX = 521.4052


@dataclasses.dataclass(frozen=True)
class LightFieldCamera:
  """A plenoptic camera described by its sub-aperture baseline and focal length.

  Disparity (px between adjacent sub-aperture views) and depth Z (m) are related by d = B·f / Z.
  """
  intrinsics: tuple[float, ...] = LYTRO_ILLUM_INTRINSICS
  focal_length_px: float = LYTRO_ILLUM_SUBAPERTURE_FOCAL_PX
  near_m: float = 0.5  # nearest focus of the DDFF focal stacks
  far_m: float = 7.0  # farthest focus

  def __post_init__(self):
    if len(self.intrinsics) != 8:
      raise errors.UserError(f'intrinsics must hold 8 values (K1, K2, fx, fy, cx, cy, k1, k2), got '
                             f'{len(self.intrinsics)}.')
    if not self.focal_length_px > 0:
      raise errors.UserError(f'focal_length_px must be > 0, got {self.focal_length_px}.')
    if not 0 < self.near_m < self.far_m:
      raise errors.UserError(f'need 0 < near_m < far_m, got near_m={self.near_m}, far_m={self.far_m}.')

  @property
  def baseline_m(self) -> float:
    """Baseline between adjacent sub-apertures: K2 / max(fx, fy) · 1e-3 m."""
    _, k2, fx, fy = self.intrinsics[:4]
    return k2 / max(fx, fy) * 1e-3

  @property
  def baseline_focal_px_m(self) -> float:
    """B·f in m·px (0.1412376 for the DDFF camera)."""
    return self.baseline_m * self.focal_length_px

  @property
  def disparity_range(self) -> tuple[float, float]:
    """Valid disparity interval (px) of the DDFF protocol: depths near_m..far_m."""
    return self.baseline_focal_px_m / self.far_m, self.baseline_focal_px_m / self.near_m

  def depth_to_disparity(self, depth_m):
    """Metric depth (m) -> disparity (px); depth <= 0 (missing) -> 0."""
    depth_m = jnp.asarray(depth_m, jnp.float32)
    valid = depth_m > 0
    return jnp.where(valid, self.baseline_focal_px_m / jnp.where(valid, depth_m, 1.0), 0.0)

  def disparity_to_depth(self, disparity_px):
    """Disparity (px) -> metric depth (m); disparity <= 0 (invalid) -> 0."""
    disparity_px = jnp.asarray(disparity_px, jnp.float32)
    valid = disparity_px > 0
    return jnp.where(valid, self.baseline_focal_px_m / jnp.where(valid, disparity_px, 1.0), 0.0)

  def focal_stack_disparities(self, num_slices: int) -> np.ndarray:
    """Focus disparities of an S-slice stack: linspace(B·f/near, B·f/far, S); slice 0 is the nearest focus."""
    if int(num_slices) < 1:
      raise errors.UserError(f'num_slices must be >= 1, got {num_slices}.')
    bf = self.baseline_focal_px_m
    return np.linspace(bf / self.near_m, bf / self.far_m, int(num_slices))


DDFF_CAMERA = LightFieldCamera()


@dataclasses.dataclass(frozen=True)
class ThinLensCamera:
  """A thin lens: focal length (m), f-number, pixel pitch (m per px).

  Circle of confusion diameter in pixels for an object at depth d focused at d_f:
      c(d) = b · f² · |d − d_f| / (d · N · (d_f − f)),   b = 1 / pixel_pitch.
  """
  focal_length_m: float
  f_number: float
  pixel_pitch_m: float

  def __post_init__(self):
    for field in ('focal_length_m', 'f_number', 'pixel_pitch_m'):
      value = getattr(self, field)
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise errors.UserError(f'{field} must be a positive finite number, got {value!r}.')

  @property
  def pixels_per_metre(self) -> float:
    return 1.0 / self.pixel_pitch_m

  def check_focus_distances(self, focus_distances_m) -> None:
    """Every focus distance must lie beyond the focal length (a real image must form)."""
    if _validate.is_concrete(focus_distances_m):
      fd = np.atleast_1d(np.asarray(focus_distances_m, np.float64))
      if not np.all(np.isfinite(fd)):
        raise errors.UserError(f'focus distances must be finite, got {fd.tolist()}.')
      if np.any(fd <= self.focal_length_m):
        raise errors.UserError(f'every focus distance must exceed the focal length {self.focal_length_m} m; '
                               f'got {fd.tolist()}.')

  @property
  def params(self) -> np.ndarray:
    """(3,) float32 [focal length (m), f-number, pixel pitch (m)]: the camera as an array, so that compiled kernels
    take it as an argument (one program for every camera) and batches carry one camera per example."""
    return np.asarray([self.focal_length_m, self.f_number, self.pixel_pitch_m], np.float32)

  def coc_diameter_px(self, depth_m, focus_distance_m):
    """Circle-of-confusion diameter (px); broadcasts depth against focus distance."""
    self.check_focus_distances(focus_distance_m)
    return coc_diameter_px(self.params, depth_m, focus_distance_m)

  def psf_radius_px(self, depth_m, focus_distance_m, max_radius_px: float = 10.0):
    """Disk PSF radius = CoC / 2, clipped to `max_radius_px`."""
    self.check_focus_distances(focus_distance_m)
    return psf_radius_px(self.params, depth_m, focus_distance_m, max_radius_px)

  def scaled(self, sigma: float) -> 'ThinLensCamera':
    """The camera for depths and focus distances scaled by `sigma` that renders identical blur.

    Focal length ×σ and pixel density ×1/σ: c(σd; σd_f) of the scaled camera equals c(d; d_f) of this one
    (DDFS depth-scale augmentation).
    """
    if not sigma > 0:
      raise errors.UserError(f'sigma must be > 0, got {sigma}.')
    return dataclasses.replace(self, focal_length_m=self.focal_length_m * sigma,
                               pixel_pitch_m=self.pixel_pitch_m * sigma)


def coc_diameter_px(params, depth_m, focus_distance_m):
  """The thin-lens CoC diameter (px) of a camera given as `params` (..., 3) [focal length m, f-number, pixel pitch m]
  (`ThinLensCamera.params`; traceable, so cameras can vary per example): b·f²·|d − d_f| / (d·N·(d_f − f)),
  b = 1/pitch. Broadcasts params[..., i] against depth and focus distance."""
  params = jnp.asarray(params, jnp.float32)
  f, n, pitch = params[..., 0], params[..., 1], params[..., 2]
  d = jnp.asarray(depth_m, jnp.float32)
  df = jnp.asarray(focus_distance_m, jnp.float32)
  return f * f * jnp.abs(d - df) / (pitch * d * n * (df - f))


def psf_radius_px(params, depth_m, focus_distance_m, max_radius_px: float = 10.0):
  """Disk PSF radius = CoC / 2 of the camera `params` (see `coc_diameter_px`), clipped to `max_radius_px`."""
  return jnp.clip(coc_diameter_px(params, depth_m, focus_distance_m) / 2.0, 0.0, max_radius_px)


# DefocusNet / FoD500 (Blender): f = 2.9 mm, N = 1, a 3.1 mm sensor over 256 px.
DEFOCUSNET_CAMERA = ThinLensCamera(focal_length_m=2.9e-3, f_number=1.0, pixel_pitch_m=3.1e-3 / 256)
DEFOCUSNET_FOCUS_DISTANCES_M = (0.1, 0.15, 0.3, 0.7, 1.5)
# NYUv2 synthetic blur used by DDFS: f = 15 mm, N = 2.8, 5.6 µm pixels, focus at 2, 4, 8 m.
NYU_CAMERA = ThinLensCamera(focal_length_m=15e-3, f_number=2.8, pixel_pitch_m=5.6e-6)
NYU_FOCUS_DISTANCES_M = (2.0, 4.0, 8.0)
