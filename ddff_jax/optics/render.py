"""Thin-lens defocus rendering: all-in-focus image + depth map -> focal stack with known camera settings.

Layered rendering with occlusion-aware compositing: the scene is split into `num_layers` depth layers uniform in
inverse depth (blur is linear in 1/depth), each pixel sharing its weight linearly between its two nearest layers.
Each layer's premultiplied colour and coverage are blurred with the layer's PSF and composited far to near with the
"over" operator; dividing by the composited coverage removes the dark seams behind blurred occluders.
Image borders are reflect-padded before the FFT convolution, so nothing wraps around.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from ddff_jax import errors
from ddff_jax.optics import _validate
from ddff_jax.optics import camera as camera_lib
from ddff_jax.optics import psf as psf_lib
from ddff_jax.optics.camera import ThinLensCamera


def render_focal_stack(all_in_focus, depth_m, camera: ThinLensCamera, focus_distances_m, *, num_layers: int = 32,
                       max_radius_px: float = 10.0, psf: str = 'disk',
                       gaussian_sigma_per_coc: float = 0.3) -> jax.Array:
  """Renders one defocused image per focus distance.

  Args:
    all_in_focus: (H, W, C) uint8 or float in [0, 1].
    depth_m: (H, W) positive metric depth.
    camera: the thin-lens camera.
    focus_distances_m: (K,) focus distances (each beyond the focal length).
    num_layers: depth layers (static).
    max_radius_px: PSF radius clip (px).
    psf: 'disk' (exact-area pillbox of radius CoC/2) or 'gaussian' (σ = gaussian_sigma_per_coc · CoC).
  Returns:
    (K, H, W, C) float focal stack.
  """
  _validate.check_rank(all_in_focus, 3, 'all_in_focus', '(H, W, C)')
  _validate.check_rank(depth_m, 2, 'depth_m', '(H, W)')
  image = _validate.as_float_image(all_in_focus, 'all_in_focus')
  if tuple(depth_m.shape) != tuple(image.shape[:2]):
    raise errors.UserError(f'depth_m has shape {tuple(depth_m.shape)} but all_in_focus is '
                           f'{image.shape[0]}x{image.shape[1]}.')
  _validate.check_finite(depth_m, 'depth_m')
  depth = jnp.asarray(depth_m, image.dtype)
  if _validate.is_concrete(depth) and not bool(jnp.all(depth > 0)):
    raise errors.UserError('depth_m must be > 0 everywhere (metric depth in metres).')
  focus = _validate.as_float_vector(focus_distances_m, 'focus_distances_m').astype(image.dtype)
  camera.check_focus_distances(focus)
  if psf not in ('disk', 'gaussian'):
    raise errors.UserError(f"psf must be 'disk' or 'gaussian', got {psf!r}.")
  if num_layers < 2:
    raise errors.UserError(f'num_layers must be >= 2, got {num_layers}.')
  return _render(image, depth, focus, camera.params, int(num_layers), float(max_radius_px), psf,
                 float(gaussian_sigma_per_coc))


def render_defocus(all_in_focus, depth_m, camera: ThinLensCamera, focus_distance_m: float, **kwargs) -> jax.Array:
  """One defocused image (H, W, C): `render_focal_stack` for a single focus distance."""
  return render_focal_stack(all_in_focus, depth_m, camera, [focus_distance_m], **kwargs)[0]


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _render(image, depth, focus, camera_params, num_layers, max_radius_px, psf, sigma_per_coc):
  height, width, _ = image.shape
  if psf == 'disk':
    size = psf_lib.disk_support(max_radius_px)
  else:
    size = 2 * math.ceil(3.0 * max_radius_px * 2.0 * sigma_per_coc) + 1
  pad = size // 2 + 1
  padded_shape = (height + 2 * pad, width + 2 * pad)

  # Layers uniform in inverse depth, far (index 0) to near; soft assignment to the two nearest layers.
  inv = 1.0 / depth
  inv_lo, inv_hi = jnp.min(inv), jnp.max(inv)
  span = jnp.maximum(inv_hi - inv_lo, 1e-12)
  position = (inv - inv_lo) / span * (num_layers - 1)  # (H, W) in [0, L-1]
  layer_ids = jnp.arange(num_layers, dtype=image.dtype)
  weights = jnp.maximum(0.0, 1.0 - jnp.abs(position[None] - layer_ids[:, None, None]))  # (L, H, W)
  layer_depths = 1.0 / (inv_lo + span * layer_ids / (num_layers - 1))  # (L,)

  premultiplied = jnp.concatenate([weights[..., None] * image[None], weights[..., None]], axis=-1)  # (L, H, W, C+1)
  premultiplied = jnp.pad(premultiplied, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='symmetric')
  spectra = jnp.fft.rfft2(jnp.moveaxis(premultiplied, -1, 1))  # (L, C+1, Hp, Wr)

  def one_focus(focus_distance):
    coc = camera_lib.coc_diameter_px(camera_params, layer_depths, focus_distance)  # (L,)
    if psf == 'disk':
      otf = psf_lib.disk_otf(jnp.clip(coc / 2.0, 0.0, max_radius_px), padded_shape, size)
    else:
      otf = psf_lib.gaussian_otf(jnp.clip(sigma_per_coc * coc, 0.0, max_radius_px), padded_shape, size)
    blurred = jnp.fft.irfft2(otf[:, None] * spectra, s=padded_shape)[..., pad:pad + height, pad:pad + width]

    def over(acc, layer):  # far to near: near layers cover what lies behind them
      colour, alpha = layer[:-1], jnp.clip(layer[-1:], 0.0, 1.0)
      return (colour + (1.0 - alpha) * acc[0], alpha + (1.0 - alpha) * acc[1]), None

    init = (jnp.zeros_like(blurred[0, :-1]), jnp.zeros_like(blurred[0, -1:]))
    (colour, coverage), _ = jax.lax.scan(over, init, blurred)
    return jnp.moveaxis(colour / jnp.maximum(coverage, 1e-6), 0, -1)  # (H, W, C)

  return jax.lax.map(one_focus, focus)
