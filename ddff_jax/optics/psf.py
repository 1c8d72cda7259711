"""Point-spread functions of defocus and their transfer functions (OTFs).

PSFs are square `(n, n)` arrays with odd n, centred at index n // 2. OTFs are real-FFT shaped `(H, W // 2 + 1)`.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors


def safe_sqrt(a):
  """sqrt with a finite gradient at 0 (the disk area formula hits sqrt(0) on every tangent)."""
  positive = a > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, a, 1.0)), 0.0)


def _quadrant_area(x, y, radius):
  """Area of {0 <= X <= x, 0 <= Y <= y, X² + Y² <= r²} for x, y >= 0."""
  xc = jnp.minimum(x, radius)
  crossing = safe_sqrt(radius * radius - y * y)  # where the circle meets Y = y
  t1 = jnp.minimum(crossing, xc)

  def under_arc(t):  # ∫_0^t sqrt(r² − s²) ds
    s = safe_sqrt(radius * radius - t * t)
    return 0.5 * (t * s + radius * radius * jnp.arctan2(t, s))

  return y * t1 + under_arc(xc) - under_arc(t1)


def _signed_quadrant_area(x, y, radius):
  return jnp.sign(x) * jnp.sign(y) * _quadrant_area(jnp.abs(x), jnp.abs(y), radius)


def disk_support(max_radius: float) -> int:
  """Side of the smallest square holding every pixel a disk of radius `max_radius` touches: 2⌈r − 0.5⌉ + 1."""
  return 2 * max(0, math.ceil(float(max_radius) - 0.5)) + 1


def disk_psf(radius, size: int | None = None) -> jax.Array:
  """Exact-area anti-aliased pillbox: each pixel weighted by the area of the disk inside it, summing to 1.

  Args:
    radius: disk radius in px, scalar or array (...,); r < 0.5 gives a delta.
    size: odd kernel side (static). Default: `disk_support(radius)` (needs a concrete radius).
  Returns:
    (..., size, size) kernels.
  """
  radius = jnp.asarray(radius, jnp.float32) if not isinstance(radius, jax.Array) else radius
  if size is None:
    if isinstance(radius, jax.core.Tracer):
      raise errors.UserError('disk_psf needs a static `size` under jit/vmap/grad (e.g. disk_support(max_radius)).')
    size = disk_support(float(jnp.max(radius)))
  if size < 1 or size % 2 != 1:
    raise errors.UserError(f'PSF size must be a positive odd integer, got {size}.')
  half = size // 2
  offsets = jnp.arange(-half, half + 1, dtype=radius.dtype)
  r = radius[..., None, None]
  lo_y, hi_y = offsets[:, None] - 0.5, offsets[:, None] + 0.5
  lo_x, hi_x = offsets[None, :] - 0.5, offsets[None, :] + 0.5
  area = (_signed_quadrant_area(hi_x, hi_y, r) - _signed_quadrant_area(lo_x, hi_y, r)
          - _signed_quadrant_area(hi_x, lo_y, r) + _signed_quadrant_area(lo_x, lo_y, r))
  # The disk's area inside the whole support, in closed form (= the sum of `area`): XLA:CPU miscompiled a
  # reduction over `area` when the radius came from the same program (tests/test_psf_wiener.py pins this down).
  edge = jnp.asarray(half + 0.5, radius.dtype)
  total = 4.0 * _quadrant_area(edge, edge, r)
  delta = jnp.zeros((size, size), radius.dtype).at[half, half].set(1.0)
  # Below 0.5 px the disk lies inside the centre pixel: the normalised area is exactly the delta.
  return jnp.where(r < 0.5, delta, area / jnp.where(total > 0, total, 1.0))


def gaussian_psf(sigma, size: int) -> jax.Array:
  """Sampled, normalised isotropic Gaussian (..., size, size); σ -> 0 gives a delta."""
  sigma = jnp.asarray(sigma, jnp.float32) if not isinstance(sigma, jax.Array) else sigma
  if size < 1 or size % 2 != 1:
    raise errors.UserError(f'PSF size must be a positive odd integer, got {size}.')
  half = size // 2
  offsets = jnp.arange(-half, half + 1, dtype=sigma.dtype)
  sq = offsets[:, None] ** 2 + offsets[None, :] ** 2
  s = jnp.maximum(sigma, 1e-3)[..., None, None]
  kernel = jnp.exp(-0.5 * sq / (s * s))
  return kernel / jnp.sum(kernel, axis=(-2, -1), keepdims=True)


def psf_to_otf(psf, shape: tuple[int, int]) -> jax.Array:
  """Transfer function of any PSF with scikit-image `uft.ir2tf` semantics.

  The PSF is zero-padded to `shape`, circularly shifted so that index (kh // 2, kw // 2) lands on (0, 0), and
  real-FFT'd (not renormalised). psf (..., kh, kw) -> (..., H, W // 2 + 1) complex.
  """
  kh, kw = psf.shape[-2:]
  height, width = shape
  if kh > height or kw > width:
    raise errors.UserError(f'PSF of size {kh}x{kw} does not fit an image of size {height}x{width}.')
  pad = [(0, 0)] * (psf.ndim - 2) + [(0, height - kh), (0, width - kw)]
  padded = jnp.roll(jnp.pad(psf, pad), shift=(-(kh // 2), -(kw // 2)), axis=(-2, -1))
  return jnp.fft.rfft2(padded)


def symmetric_psf_otf(psf, shape: tuple[int, int]) -> jax.Array:
  """Real transfer function of a PSF symmetric under i -> −i and j -> −j (disk, Gaussian).

  H(ky, kx) = Σ_ij p(i, j)·cos(2π ky i / H)·cos(2π kx j / W): two small matrix products instead of a padded FFT,
  over the H//2 + 1 rows ky <= H/2 only, since cosine is even in ky (row H − ky repeats row ky). The PSF is not
  folded onto its quadrant: XLA:CPU miscompiled that fold under a batched `lax.map` (benchmarks/README.md).
  Equals `psf_to_otf(psf, shape).real` for such PSFs. psf (..., n, n) -> (..., H, W // 2 + 1) real.
  """
  n = psf.shape[-1]
  height, width = shape
  if n > height or n > width:
    raise errors.UserError(f'PSF of size {n}x{n} does not fit an image of size {height}x{width}.')
  offsets = np.arange(n) - n // 2
  rows = height // 2 + 1
  cos_y = np.cos(2 * np.pi * np.outer(np.arange(rows), offsets) / height)
  cos_x = np.cos(2 * np.pi * np.outer(np.arange(width // 2 + 1), offsets) / width)
  half = jnp.einsum('yi,...ij,xj->...yx', jnp.asarray(cos_y, psf.dtype), psf, jnp.asarray(cos_x, psf.dtype))
  return jnp.concatenate([half, jnp.flip(half[..., 1:height - rows + 1, :], -2)], axis=-2)


def disk_otf(radius, shape: tuple[int, int], size: int) -> jax.Array:
  """Real OTF of `disk_psf(radius, size)` for images of `shape`: radius (...,) -> (..., H, W // 2 + 1)."""
  return symmetric_psf_otf(disk_psf(radius, size), shape)


def gaussian_otf(sigma, shape: tuple[int, int], size: int) -> jax.Array:
  """Real OTF of `gaussian_psf(sigma, size)`: sigma (...,) -> (..., H, W // 2 + 1)."""
  return symmetric_psf_otf(gaussian_psf(sigma, size), shape)
