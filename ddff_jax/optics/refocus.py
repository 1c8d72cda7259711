"""Light-field refocusing by Fourier shift-and-add.

The image focused at disparity d (px between adjacent views) is

    I_d(x) = mean_{u,v} L_{u,v}(x − ((u − c_u)·d, (v − c_v)·d)),     c = (U//2, V//2),

every sub-pixel translation being the Fourier phase shift F{g}(k) = F{f}(k)·exp(−2πi k·t / N) with integer
frequencies in FFT order (periodic boundary).

Two modes:
  * ``linear`` (default): the operation is linear, so one forward real FFT per view, a sum over views in the
    frequency domain with separable (row × column) phase ramps, and one inverse FFT per slice. Equals the real part
    of the per-view computation.
  * ``toolbox``: what the DDFF toolbox does: per slice and per view FFT → phase ramp → inverse FFT, then the
    magnitude of the complex result clipped to [0, 1], averaged over views. Use it to reproduce the published h5
    stacks from raw light fields (`to_uint8` then mimics its uint8 conversion).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax.optics import _validate

LF_LAYOUT = '(U, V, H, W, C) or (B, U, V, H, W, C)'


def _view_offsets(n: int) -> np.ndarray:
  return np.arange(n, dtype=np.float64) - n // 2


def _phase_ramps(disparities, num_views: int, freqs, size: int, dtype):
  """exp(−2πi·k·(view − c)·d / N) for every slice, view and frequency: (S, num_views, K) complex."""
  offsets = jnp.asarray(_view_offsets(num_views), disparities.dtype)
  freqs = jnp.asarray(freqs, disparities.dtype)
  phase = (-2.0 * np.pi / size) * disparities[:, None, None] * offsets[None, :, None] * freqs[None, None, :]
  return jax.lax.complex(jnp.cos(phase), jnp.sin(phase)).astype(dtype)


@functools.partial(jax.jit, static_argnames=('rows_per_block',))
def _refocus_linear(lf, disparities, rows_per_block: int = 16):
  """lf (U, V, H, W, C) float -> (S, H, W, C)."""
  num_u, num_v, height, width, _ = lf.shape
  cdtype = jnp.complex128 if lf.dtype == jnp.float64 else jnp.complex64
  spectra = jnp.fft.rfft2(jnp.moveaxis(lf, -1, 2))  # (U, V, C, H, Wr): one forward FFT per view
  row_ramps = _phase_ramps(disparities, num_u, np.fft.fftfreq(height, 1.0 / height), height, cdtype)  # (S, U, H)
  col_ramps = _phase_ramps(disparities, num_v, np.fft.rfftfreq(width, 1.0 / width), width, cdtype)  # (S, V, Wr)

  # Contract views row block by row block so that a block of spectra stays in cache.
  def combine_row(args):
    spectrum_row, row_ramp = args  # (U, V, C, Wr), (S, U)
    per_u = jnp.einsum('svx,uvcx->sucx', col_ramps, spectrum_row)
    return jnp.einsum('su,sucx->scx', row_ramp, per_u)

  combined = jax.lax.map(combine_row, (jnp.moveaxis(spectra, 3, 0), jnp.moveaxis(row_ramps, 2, 0)),
                         batch_size=rows_per_block)  # (H, S, C, Wr)
  stack = jnp.fft.irfft2(jnp.moveaxis(combined, 0, 2), s=(height, width))  # (S, C, H, W): one inverse per slice
  return jnp.moveaxis(stack, 1, -1) / (num_u * num_v)


@jax.jit
def _refocus_toolbox(lf, disparities):
  """Per view: |ifft2(fft2(view)·ramp)| clipped to [0, 1], averaged over views. lf (U, V, H, W, C)."""
  num_u, num_v, height, width, _ = lf.shape
  cdtype = jnp.complex128 if lf.dtype == jnp.float64 else jnp.complex64
  spectra = jnp.fft.fft2(jnp.moveaxis(lf, -1, 2).astype(cdtype))  # (U, V, C, H, W)
  row_ramps = _phase_ramps(disparities, num_u, np.fft.fftfreq(height, 1.0 / height), height, cdtype)
  col_ramps = _phase_ramps(disparities, num_v, np.fft.fftfreq(width, 1.0 / width), width, cdtype)

  def one_slice(ramps):
    row_ramp, col_ramp = ramps  # (U, H), (V, W)

    def add_row_of_views(total, inputs):  # one row u of views per step bounds the memory
      spectrum_u, ramp_u = inputs  # (V, C, H, W), (H,)
      shifted = spectrum_u * ramp_u[None, None, :, None] * col_ramp[:, None, None, :]
      views = jnp.clip(jnp.abs(jnp.fft.ifft2(shifted)), 0.0, 1.0)
      return total + jnp.sum(views, axis=0), None

    total, _ = jax.lax.scan(add_row_of_views, jnp.zeros(lf.shape[-1:] + (height, width), lf.dtype),
                            (spectra, row_ramp))
    return total / (num_u * num_v)

  stack = jax.lax.map(one_slice, (row_ramps, col_ramps))  # (S, C, H, W)
  return jnp.moveaxis(stack, 1, -1)


def refocus(light_field, disparities, *, mode: str = 'linear') -> jax.Array:
  """Refocuses a light field to a focal stack.

  Args:
    light_field: (U, V, H, W, C) or batched (B, U, V, H, W, C); uint8/uint16 or float in [0, 1]. U indexes view
      rows, V view columns; the centre view is (U//2, V//2). Any grid and image size (odd or even).
    disparities: (S,) focus disparities in px between adjacent views.
    mode: 'linear' (fast, real part) or 'toolbox' (per-view magnitude + clip, as the DDFF toolbox).

  Returns:
    Focal stack (S, H, W, C) (or (B, S, H, W, C)) float32 (float64 for float64 input under x64). The linear mode is
    not clipped: its values stay close to [0, 1] but ringing at edges can step slightly outside.
  """
  _validate.check_rank(light_field, (5, 6), 'light_field', LF_LAYOUT)
  if mode not in ('linear', 'toolbox'):
    raise ValueError(f"mode must be 'linear' or 'toolbox', got {mode!r}.")
  lf = _validate.as_float_image(light_field, 'light_field')
  disparities = _validate.as_float_vector(disparities, 'disparities').astype(lf.dtype)
  kernel = _refocus_linear if mode == 'linear' else _refocus_toolbox
  if lf.ndim == 5:
    return kernel(lf, disparities)
  return jax.lax.map(lambda one: kernel(one, disparities), lf)  # one light field at a time bounds the memory


def centre_view(light_field) -> jax.Array:
  """The centre sub-aperture image (H, W, C) (or (B, H, W, C)) as float in [0, 1].

  A plenoptic camera's sub-aperture views have a tiny aperture, so the centre view is the all-in-focus image.
  """
  _validate.check_rank(light_field, (5, 6), 'light_field', LF_LAYOUT)
  lf = _validate.as_float_image(light_field, 'light_field')
  num_u, num_v = lf.shape[-5], lf.shape[-4]
  return lf[..., num_u // 2, num_v // 2, :, :, :]


all_in_focus = centre_view


def to_uint8(images, rounding: str = 'floor') -> jax.Array:
  """Float images in [0, 1] -> uint8; 'floor' truncates like the DDFF Python toolbox, 'round' as its Matlab code."""
  if rounding not in ('floor', 'round'):
    raise ValueError(f"rounding must be 'floor' or 'round', got {rounding!r}.")
  scaled = jnp.clip(jnp.asarray(images), 0.0, 1.0) * 255.0
  scaled = jnp.floor(scaled) if rounding == 'floor' else jnp.round(scaled)
  return scaled.astype(jnp.uint8)
