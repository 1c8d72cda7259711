"""Seeded procedural scenes rendered as light fields (DDFF-style) and thin-lens focal stacks (DefocusNet-style).

A scene is a few layers far to near: a background plane (possibly slanted) and objects (discs, rectangles) on
fronto-parallel or slanted planes in front of it, each with a band-limited texture (a sum of random sinusoids,
evaluated exactly at any sub-pixel position) or, with some probability, no texture at all. Geometry lives in a
normalised nearness t ∈ [0, 1] (0 = far, 1 = near), mapped linearly to disparity for light fields and to inverse
depth for thin-lens stacks. Because textures and shapes are analytic, every view is sampled exactly (no resampling
blur) and occlusions are composited front to back with anti-aliased masks.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import optics


@dataclasses.dataclass(frozen=True)
class SceneConfig:
  height: int = 64
  width: int = 64
  num_objects: int = 3
  num_waves: int = 10
  textureless_prob: float = 0.15  # chance that a layer has a flat colour
  max_slant: float = 0.4  # largest change of t across the image for slanted planes
  min_frequency: float = 0.03  # texture frequencies, cycles per pixel
  max_frequency: float = 0.3


@functools.partial(jax.jit, static_argnums=(1,))
def sample_scene(key, config: SceneConfig) -> dict[str, jax.Array]:
  """Random scene parameters (a pytree of arrays; layer 0 = background, then objects far to near)."""
  num_layers = 1 + config.num_objects
  keys = jax.random.split(key, 12)
  h, w = config.height, config.width
  # Nearness at the image centre: background in [0, 0.35], objects spread over (0.4, 1] sorted far to near.
  t_bg = jax.random.uniform(keys[0], (1,), minval=0.0, maxval=0.35)
  t_obj = jnp.sort(jax.random.uniform(keys[1], (config.num_objects,), minval=0.45, maxval=1.0))
  t_centre = jnp.concatenate([t_bg, t_obj])
  slant = jax.random.uniform(keys[2], (num_layers, 2), minval=-1.0, maxval=1.0) * config.max_slant
  slanted = jax.random.bernoulli(keys[3], 0.5, (config.num_objects, 1)).astype(jnp.float32)  # else fronto-parallel
  slant = slant * jnp.concatenate([jnp.ones((1, 1)), slanted])
  # Keep every plane inside its band (background [0, 0.4], objects [0.4, 1]): over the image (normalised
  # coordinates within ±1/2) a plane departs from its centre value by at most (|slant_y| + |slant_x|) / 2.
  room = jnp.concatenate([jnp.minimum(t_bg, 0.4 - t_bg), jnp.minimum(t_obj - 0.4, 1.0 - t_obj)])
  excursion = 0.5 * jnp.sum(jnp.abs(slant), axis=1)
  slant = slant * jnp.minimum(1.0, room / jnp.maximum(excursion, 1e-6))[:, None]
  centre = jax.random.uniform(keys[4], (num_layers, 2)) * jnp.array([h, w])
  size = jax.random.uniform(keys[5], (num_layers, 2), minval=0.12, maxval=0.35) * min(h, w)
  is_disc = jax.random.bernoulli(keys[6], 0.5, (num_layers,))
  freq_mag = jnp.exp(jax.random.uniform(keys[7], (num_layers, config.num_waves), minval=np.log(config.min_frequency),
                                        maxval=np.log(config.max_frequency)))
  angle = jax.random.uniform(keys[8], (num_layers, config.num_waves), maxval=2 * np.pi)
  freqs = freq_mag[..., None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], -1)  # (L, N, 2)
  phase = jax.random.uniform(keys[9], (num_layers, config.num_waves, 3), maxval=2 * np.pi)
  amplitude = jax.random.uniform(keys[10], (num_layers, config.num_waves, 3), minval=0.2, maxval=1.0)
  amplitude = amplitude / jnp.sqrt(config.num_waves) * 0.45
  flat = jax.random.bernoulli(keys[11], config.textureless_prob, (num_layers,))
  base = jax.random.uniform(jax.random.fold_in(key, 99), (num_layers, 3), minval=0.25, maxval=0.75)
  return dict(t_centre=t_centre, slant=slant, centre=centre, size=size, is_disc=is_disc, freqs=freqs, phase=phase,
              amplitude=amplitude * (1.0 - flat[:, None, None]), base=base)


def _layer_fields(scene, y, x, height: int, width: int):
  """Nearness t (L, H, W), colour (L, H, W, 3) and coverage alpha (L, H, W) of every layer.

  y, x: sampling positions, (H, W) shared by all layers or (L, H, W) per layer.
  """
  num_layers = scene['t_centre'].shape[0]
  y = jnp.broadcast_to(y, (num_layers,) + y.shape[-2:])
  x = jnp.broadcast_to(x, (num_layers,) + x.shape[-2:])
  col = lambda a: a[:, None, None]
  ny, nx = (y - height / 2) / height, (x - width / 2) / width
  t = col(scene['t_centre']) + col(scene['slant'][:, 0]) * ny + col(scene['slant'][:, 1]) * nx
  arg = 2 * np.pi * (scene['freqs'][..., 0, None, None] * y[:, None] + scene['freqs'][..., 1, None, None] * x[:, None])
  # Σ_n a_nc·sin(arg_n + φ_nc) = Σ_n (a_nc cos φ_nc)·sin(arg_n) + (a_nc sin φ_nc)·cos(arg_n): two transcendentals per
  # wave instead of one per wave and channel, the channel mix a small contraction.
  amp, phase = scene['amplitude'], scene['phase']  # (L, N, 3)
  colour = (jnp.einsum('lnhw,lnc->lhwc', jnp.sin(arg), amp * jnp.cos(phase))
            + jnp.einsum('lnhw,lnc->lhwc', jnp.cos(arg), amp * jnp.sin(phase)))
  colour = jnp.clip(scene['base'][:, None, None, :] + colour, 0, 1)
  dy, dx = y - col(scene['centre'][:, 0]), x - col(scene['centre'][:, 1])
  half_h, half_w = col(scene['size'][:, 0]), col(scene['size'][:, 1])
  disc = half_h - jnp.sqrt(dy * dy + dx * dx)
  rect = jnp.minimum(half_h - jnp.abs(dy), half_w - jnp.abs(dx))
  signed_distance = jnp.where(col(scene['is_disc']), disc, rect)
  alpha = jnp.clip(signed_distance + 0.5, 0.0, 1.0)  # one-pixel anti-aliased edge
  alpha = alpha.at[0].set(1.0)  # the background covers everything
  return t, colour, alpha


def composite(colour, alpha):
  """Front-to-back 'over' of layers ordered far (0) to near (L−1): (L, ..., 3), (L, ...) -> (..., 3)."""
  def over(acc, layer):
    c, a = layer
    return acc * (1 - a[..., None]) + c * a[..., None], None
  out, _ = jax.lax.scan(over, jnp.zeros_like(colour[0]), (colour, alpha))
  return out


def _front_nearness(t, alpha):
  """Nearness of the front-most layer covering each pixel (coverage >= 0.5)."""
  covered = alpha >= 0.5
  idx = (t.shape[0] - 1) - jnp.argmax(covered[::-1], axis=0)
  return jnp.take_along_axis(t, idx[None], axis=0)[0]


def render_centre(scene, config: SceneConfig):
  """All-in-focus centre image (H, W, 3) and nearness map t (H, W)."""
  y, x = jnp.meshgrid(jnp.arange(config.height, dtype=jnp.float32), jnp.arange(config.width, dtype=jnp.float32),
                      indexing='ij')
  t, colour, alpha = _layer_fields(scene, y, x, config.height, config.width)
  return composite(colour, alpha), _front_nearness(t, alpha)


@functools.partial(jax.jit, static_argnums=(1, 2))
def render_light_field(scene, config: SceneConfig, grid: int = 9, disparity_range=(0.0202, 0.2825)):
  """Light field (grid, grid, H, W, 3) in [0, 1] and centre-view disparity (H, W) in px.

  Nearness t maps linearly to disparity in `disparity_range`; view (u, v) sees each layer at
  x + ((u − c)·d, (v − c)·d), the convention `ddff_jax.optics.refocus` inverts.
  """
  d_lo, d_hi = disparity_range
  y, x = jnp.meshgrid(jnp.arange(config.height, dtype=jnp.float32), jnp.arange(config.width, dtype=jnp.float32),
                      indexing='ij')
  t0, _, _ = _layer_fields(scene, y, x, config.height, config.width)
  disp_layers = d_lo + t0 * (d_hi - d_lo)  # (L, H, W), each layer's disparity where it is seen
  offsets = np.arange(grid, dtype=np.float32) - grid // 2
  view_offsets = jnp.asarray(np.stack(np.meshgrid(offsets, offsets, indexing='ij'), -1).reshape(-1, 2))

  def view(offset):  # each layer moves by its own disparity between views
    _, colour, alpha = _layer_fields(scene, y + offset[0] * disp_layers, x + offset[1] * disp_layers,
                                     config.height, config.width)
    return composite(colour, alpha)

  lf = jax.lax.map(view, view_offsets).reshape(grid, grid, config.height, config.width, 3)
  _, _, alpha0 = _layer_fields(scene, y, x, config.height, config.width)
  disparity = d_lo + _front_nearness(t0, alpha0) * (d_hi - d_lo)
  return lf, disparity


def sample_light_field_stack(key, config: SceneConfig, num_slices: int = 10, grid: int = 9,
                             camera: optics.LightFieldCamera = optics.DDFF_CAMERA):
  """One DDFF-style sample: focal stack (S, H, W, 3) refocused from a rendered light field, disparity (H, W)
  in the camera's valid range, and the stack's focus disparities (S,)."""
  scene = sample_scene(key, config)
  lf, disparity = render_light_field(scene, config, grid, camera.disparity_range)
  focus = jnp.asarray(camera.focal_stack_disparities(num_slices), jnp.float32)
  stack = jnp.clip(optics.refocus(lf, focus), 0.0, 1.0)
  return stack, disparity, focus


def sample_thin_lens_stack(key, config: SceneConfig, camera: optics.ThinLensCamera = optics.DEFOCUSNET_CAMERA,
                           focus_distances_m=optics.DEFOCUSNET_FOCUS_DISTANCES_M, depth_range_m=(0.1, 3.0),
                           max_radius_px: float = 10.0):
  """One DefocusNet-style sample: focal stack (K, H, W, 3), metric depth (H, W), all-in-focus image (H, W, 3).

  Nearness t maps linearly to inverse depth between 1/depth_range_m[1] (t = 0) and 1/depth_range_m[0] (t = 1).
  """
  scene = sample_scene(key, config)
  aif, t = render_centre(scene, config)
  near, far = depth_range_m
  depth = 1.0 / (1.0 / far + t * (1.0 / near - 1.0 / far))
  stack = optics.render_focal_stack(aif, depth, camera, focus_distances_m, max_radius_px=max_radius_px)
  return jnp.clip(stack, 0.0, 1.0), depth, aif
