"""Classical depth from focus: focus measures, per-pixel best slice, sub-slice refinement."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.optics import _validate
from ddff_jax.optics import filters

FOCUS_MEASURES = ('modified_laplacian', 'local_variance', 'gradient_energy')
REFINEMENTS = (None, 'parabolic', 'softargmax')
_LUMA = np.array([0.299, 0.587, 0.114])


def _check_choice(name: str, value, choices) -> None:
  if value not in choices:
    raise errors.UserError(f'{name} must be one of {choices}, got {value!r}.')


def _grayscale(stack):
  if stack.ndim == 4:
    if stack.shape[-1] == 3:
      return jnp.tensordot(stack, jnp.asarray(_LUMA, stack.dtype), axes=([-1], [0]))
    return jnp.mean(stack, axis=-1)
  return stack


def _shift(x, dy: int, dx: int):
  """x shifted by (dy, dx) with reflect boundary: out(y, x) = x(y + dy, x + dx)."""
  padded = jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode='symmetric')
  h, w = x.shape[-2:]
  return padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def focus_measure(stack, measure: str = 'modified_laplacian', window: int = 9) -> jax.Array:
  """Per-pixel sharpness of every slice, averaged over a `window`² neighbourhood.

  measure:
    'modified_laplacian': |2I − I(y−1) − I(y+1)| + |2I − I(x−1) − I(x+1)| (Nayar's sum-modified-Laplacian),
    'local_variance': window variance of the intensity,
    'gradient_energy': (∂I/∂y)² + (∂I/∂x)² with central differences.
  Args:
    stack: (S, H, W, C) or (S, H, W); colour is reduced to luma first.
  Returns:
    (S, H, W) float, larger = sharper.
  """
  _validate.check_rank(stack, (3, 4), 'stack', '(S, H, W, C) or (S, H, W)')
  _check_choice('measure', measure, FOCUS_MEASURES)
  return _focus_measure(_validate.as_float_image(stack, 'stack'), measure, int(window))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _focus_measure(stack, measure, window):
  gray = _grayscale(stack)
  if measure == 'modified_laplacian':
    raw = (jnp.abs(2 * gray - _shift(gray, -1, 0) - _shift(gray, 1, 0))
           + jnp.abs(2 * gray - _shift(gray, 0, -1) - _shift(gray, 0, 1)))
  elif measure == 'gradient_energy':
    raw = (0.5 * (_shift(gray, 1, 0) - _shift(gray, -1, 0))) ** 2 + (0.5 * (_shift(gray, 0, 1) - _shift(gray, 0, -1))) ** 2
  else:
    mean = filters.box_filter(gray, window)
    return jnp.maximum(filters.box_filter(gray * gray, window) - mean * mean, 0.0)
  return filters.box_filter(raw, window)


def best_focus_index(measure_volume, refine: str = 'parabolic', temperature: float = 1.0) -> jax.Array:
  """Fractional index of the sharpest slice per pixel: (S, H, W) -> (H, W) in [0, S−1].

  refine: None (argmax), 'parabolic' (a parabola through the maximum and its neighbours; clipped to ±0.5, no
  refinement at the first/last slice), or 'softargmax' (expectation under softmax(measure / temperature) after
  scaling each pixel's measures to [0, 1]).
  """
  _validate.check_rank(measure_volume, 3, 'measure_volume', '(S, H, W)')
  _check_choice('refine', refine, REFINEMENTS)
  return _best_focus_index(jnp.asarray(measure_volume), refine, temperature)


@functools.partial(jax.jit, static_argnums=1)
def _best_focus_index(f, refine, temperature):
  num = f.shape[0]
  if refine == 'softargmax':
    lo, hi = jnp.min(f, axis=0), jnp.max(f, axis=0)
    weights = jax.nn.softmax((f - lo) / (hi - lo + 1e-12) / temperature, axis=0)
    return jnp.tensordot(jnp.arange(num, dtype=f.dtype), weights, axes=1)
  best = jnp.argmax(f, axis=0)
  index = best.astype(f.dtype)
  if refine is None or num < 3:
    return index
  inner = jnp.clip(best, 1, num - 2)
  take = lambda i: jnp.take_along_axis(f, i[None], axis=0)[0]
  left, centre, right = take(inner - 1), take(inner), take(inner + 1)
  curvature = left - 2 * centre + right
  offset = jnp.where(curvature < 0, 0.5 * (left - right) / jnp.where(curvature < 0, curvature, -1.0), 0.0)
  offset = jnp.where((best == inner), jnp.clip(offset, -0.5, 0.5), 0.0)
  return index + offset


def index_to_value(index, slice_values) -> jax.Array:
  """Maps fractional slice indices to the slices' disparities/depths by linear interpolation."""
  values = jnp.asarray(slice_values)
  return jnp.interp(index, jnp.arange(values.shape[0], dtype=index.dtype), values.astype(index.dtype))


def depth_from_focus(stack, slice_values, *, measure: str = 'modified_laplacian', window: int = 9,
                     refine: str = 'parabolic', temperature: float = 0.1) -> jax.Array:
  """Classical DFF: sharpest slice per pixel, refined to sub-slice precision, mapped to `slice_values`.

  Args:
    stack: (S, H, W, C) or (S, H, W) focal stack.
    slice_values: (S,) disparity (or depth) each slice is focused at.
  Returns:
    (H, W) disparity (or depth) map.
  """
  _validate.check_rank(stack, (3, 4), 'stack', '(S, H, W, C) or (S, H, W)')
  values = _validate.as_float_vector(slice_values, 'slice_values')
  if values.shape[0] != stack.shape[0]:
    raise errors.UserError(f'stack has {stack.shape[0]} slices but {values.shape[0]} slice values were given.')
  _check_choice('measure', measure, FOCUS_MEASURES)
  _check_choice('refine', refine, REFINEMENTS)
  return _depth_from_focus(_validate.as_float_image(stack, 'stack'), values, measure, int(window), refine,
                           temperature)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _depth_from_focus(stack, values, measure, window, refine, temperature):
  index = _best_focus_index(_focus_measure(stack, measure, window), refine, temperature)
  return index_to_value(index, values)


def all_in_focus_from_stack(stack, *, measure: str = 'modified_laplacian', window: int = 9) -> jax.Array:
  """The all-in-focus image of a focal stack: each pixel taken from the slice where it is sharpest.

  stack: (S, H, W, C) or (S, H, W), aligned slices (`optics.register_stack` for a real lens). Returns (H, W, C) or
  (H, W) float in [0, 1].
  """
  _validate.check_rank(stack, (3, 4), 'stack', '(S, H, W, C) or (S, H, W)')
  images = _validate.as_float_image(stack, 'stack')
  sharpest = jnp.argmax(focus_measure(images, measure, window), axis=0)  # (H, W)
  index = sharpest[None, :, :, None] if images.ndim == 4 else sharpest[None]
  return jnp.take_along_axis(images, index, axis=0)[0]
