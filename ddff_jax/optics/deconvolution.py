"""Wiener–Hunt deconvolution with scikit-image `restoration.wiener` semantics.

    X = conj(H) / (|H|² + λ·|L|²) · Y,

H the OTF of the PSF (zero-padded, circularly centred on (0, 0), not renormalised), L the OTF of the Laplacian
[[0, −1, 0], [−1, 4, −1], [0, −1, 0]], i.e. 4 − 2cos(2πu/H) − 2cos(2πv/W), λ the balance; periodic boundary, each
colour channel on its own, no clipping.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.optics import _validate
from ddff_jax.optics import psf as psf_lib


def laplacian_otf(shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
  """|OTF| of the discrete Laplacian regulariser, (H, W // 2 + 1), real and >= 0."""
  height, width = shape
  ky = np.fft.fftfreq(height, 1.0 / height)[:, None]
  kx = np.fft.rfftfreq(width, 1.0 / width)[None, :]
  return jnp.asarray(4.0 - 2.0 * np.cos(2 * np.pi * ky / height) - 2.0 * np.cos(2 * np.pi * kx / width), dtype)


def wiener_filter(otf, balance, reg_otf):
  """conj(H) / (|H|² + balance·|L|²), broadcasting over leading axes."""
  return jnp.conj(otf) / (jnp.abs(otf) ** 2 + balance * jnp.abs(reg_otf) ** 2)


def wiener_deconvolve_spectrum(spectrum, otf, balance, shape: tuple[int, int]):
  """Applies the Wiener filter of `otf` to real-FFT `spectrum`s (..., H, W//2+1) -> images (..., H, W)."""
  reg = laplacian_otf(shape, jnp.real(spectrum).dtype)
  return jnp.fft.irfft2(wiener_filter(otf, balance, reg) * spectrum, s=shape)


def wiener(image, psf, balance: float = 0.01, *, channel_axis: int | None = -1) -> jax.Array:
  """Deconvolves `image` by `psf` (scikit-image `restoration.wiener(image, psf, balance, clip=False)` per channel).

  Args:
    image: (..., H, W, C) with `channel_axis=-1` (default), or (..., H, W) with `channel_axis=None`.
    psf: (kh, kw) or (..., kh, kw); leading axes broadcast against the image's leading axes (batches of images,
      batches of PSFs or both).
    balance: regularisation weight λ.
  Returns:
    Deconvolved images, float, same layout as `image` (leading axes broadcast).
  """
  if channel_axis not in (-1, None):
    raise errors.UserError(f'channel_axis must be -1 (channels last) or None (grayscale), got {channel_axis}.')
  min_rank = 3 if channel_axis == -1 else 2
  layout = '(..., H, W, C)' if channel_axis == -1 else '(..., H, W)'
  _validate.check_rank(image, range(min_rank, min_rank + 6), 'image', layout)
  _validate.check_rank(psf, range(2, 8), 'psf', '(..., kh, kw)')
  _validate.check_finite(psf, 'psf')
  if not balance >= 0:
    raise errors.UserError(f'balance must be >= 0, got {balance}.')
  image = _validate.as_float_image(image, 'image')
  psf = jnp.asarray(psf, image.dtype)
  return _wiener(image, psf, balance, channel_axis == -1)


@jax.jit(static_argnums=(3,))
def _wiener(image, psf, balance, channels_last):
  planes = jnp.moveaxis(image, -1, -3) if channels_last else image  # (..., [C,] H, W)
  shape = planes.shape[-2:]
  otf = psf_lib.psf_to_otf(psf, shape)
  if channels_last:
    otf = otf[..., None, :, :]  # one PSF for every channel
  out = wiener_deconvolve_spectrum(jnp.fft.rfft2(planes), otf, balance, shape)
  return jnp.moveaxis(out, -3, -1) if channels_last else out
