"""Separable spatial filters with SciPy-compatible boundaries (the only padding code of the optics package)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors

# scipy.ndimage mode name -> jnp.pad mode.
_PAD_MODES = {'reflect': 'symmetric', 'mirror': 'reflect', 'nearest': 'edge', 'wrap': 'wrap', 'constant': 'constant'}


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """The normalised 1-D Gaussian of `scipy.ndimage.gaussian_filter1d`: radius int(truncate·σ + 0.5)."""
  if not sigma > 0:
    raise errors.UserError(f'sigma must be > 0, got {sigma}.')
  radius = int(truncate * float(sigma) + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  kernel = np.exp(-0.5 * (x / sigma) ** 2)
  return kernel / kernel.sum()


def separable_filter(x, kernel1d, axes=(-2, -1), mode: str = 'reflect'):
  """Correlates `x` with `kernel1d` along each of `axes` (same size output, SciPy boundary `mode`)."""
  for axis in axes:
    x = correlate1d(x, kernel1d, axis, mode)
  return x


def correlate1d(x, kernel1d, axis: int = -1, mode: str = 'reflect'):
  """`scipy.ndimage.correlate1d`: `x` correlated with an odd-length `kernel1d` along `axis` (SciPy boundary
  `mode`)."""
  if mode not in _PAD_MODES:
    raise errors.UserError(f'mode must be one of {sorted(_PAD_MODES)}, got {mode!r}.')
  kernel1d = np.asarray(kernel1d)
  if len(kernel1d) % 2 != 1:
    raise errors.UserError(f'kernel1d must have odd length, got {len(kernel1d)}.')
  return _correlate_along(x, kernel1d, axis % x.ndim, _PAD_MODES[mode])


def _correlate_along(x, kernel1d, axis: int, pad_mode: str):
  """One axis of `separable_filter`: a sum of shifted slices of the padded input, (...) -> (...).

  Kernels here are short (<= ~21 taps), where this beats a general convolution on CPU. The padded input is
  materialised behind an optimisation barrier, so that XLA does not fuse its producer into every tap, and the axis
  is merged with the axes after it, so that every tap is one contiguous slice (benchmarks/README.md).
  """
  if not np.any(kernel1d):
    return jnp.zeros_like(x)
  radius = (len(kernel1d) - 1) // 2
  pad = [(0, 0)] * x.ndim
  pad[axis] = (radius, radius)
  padded = jax.lax.optimization_barrier(jnp.pad(x, pad, mode=pad_mode))
  size = x.shape[axis]
  rest = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
  flat = padded.reshape(*x.shape[:axis], (size + 2 * radius) * rest)
  out = 0.0
  for tap, weight in enumerate(kernel1d):
    if weight != 0:
      out = out + float(weight) * jax.lax.slice_in_dim(flat, tap * rest, (tap + size) * rest, axis=axis)
  return out.reshape(x.shape)


def gaussian_filter(x, sigma: float, axes=(-2, -1), truncate: float = 4.0, mode: str = 'reflect'):
  """`scipy.ndimage.gaussian_filter` restricted to `axes`."""
  return separable_filter(x, gaussian_kernel1d(sigma, truncate), axes, mode)


def box_filter(x, size: int, axes=(-2, -1), mode: str = 'reflect'):
  """Mean over a `size`-wide window along each of `axes` (`scipy.ndimage.uniform_filter` for odd size)."""
  if size < 1 or size % 2 != 1:
    raise errors.UserError(f'window size must be a positive odd integer, got {size}.')
  return separable_filter(x, np.full(size, 1.0 / size), axes, mode)
