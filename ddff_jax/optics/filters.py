"""Separable spatial filters with SciPy-compatible boundaries (the only padding code of the optics package)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# scipy.ndimage mode name -> jnp.pad mode.
_PAD_MODES = {'reflect': 'symmetric', 'mirror': 'reflect', 'nearest': 'edge', 'wrap': 'wrap', 'constant': 'constant'}


def gaussian_kernel1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
  """The normalised 1-D Gaussian of `scipy.ndimage.gaussian_filter1d`: radius int(truncate·σ + 0.5)."""
  if not sigma > 0:
    raise ValueError(f'sigma must be > 0, got {sigma}.')
  radius = int(truncate * float(sigma) + 0.5)
  x = np.arange(-radius, radius + 1, dtype=np.float64)
  kernel = np.exp(-0.5 * (x / sigma) ** 2)
  return kernel / kernel.sum()


def separable_filter(x, kernel1d, axes=(-2, -1), mode: str = 'reflect'):
  """Correlates `x` with `kernel1d` along each of `axes` (same size output, SciPy boundary `mode`)."""
  if mode not in _PAD_MODES:
    raise ValueError(f'mode must be one of {sorted(_PAD_MODES)}, got {mode!r}.')
  kernel1d = np.asarray(kernel1d)
  radius = (len(kernel1d) - 1) // 2
  if len(kernel1d) % 2 != 1:
    raise ValueError(f'kernel1d must have odd length, got {len(kernel1d)}.')
  for axis in axes:
    axis = axis % x.ndim
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    padded = jnp.pad(x, pad, mode=_PAD_MODES[mode])
    size = x.shape[axis]
    # A sum of shifted slices: kernels here are short (<= ~21 taps), so this beats a general convolution on CPU.
    out = 0.0
    for tap, weight in enumerate(kernel1d):
      if weight != 0:
        out = out + float(weight) * jax.lax.slice_in_dim(padded, tap, tap + size, axis=axis)
    x = out
  return x


def gaussian_filter(x, sigma: float, axes=(-2, -1), truncate: float = 4.0, mode: str = 'reflect'):
  """`scipy.ndimage.gaussian_filter` restricted to `axes`."""
  return separable_filter(x, gaussian_kernel1d(sigma, truncate), axes, mode)


def box_filter(x, size: int, axes=(-2, -1), mode: str = 'reflect'):
  """Mean over a `size`-wide window along each of `axes` (`scipy.ndimage.uniform_filter` for odd size)."""
  if size < 1 or size % 2 != 1:
    raise ValueError(f'window size must be a positive odd integer, got {size}.')
  return separable_filter(x, np.full(size, 1.0 / size), axes, mode)
