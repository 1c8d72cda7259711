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

from ddff_jax import errors
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


def _pair_views(x, axis: int):
  """Views at offsets ±k from the centre, combined: [x_0, x_k + x_−k (k = 1..K), i·(x_k − x_−k) (k = 1..K)].

  With θ a phase per unit offset, Σ_k x_k·exp(−ikθ) = x_0 + Σ_k cos(kθ)(x_k + x_−k) − sin(kθ)·i(x_k − x_−k): real
  coefficients, half the multiplications of the complex ramps. A missing partner (even grids) counts as 0.
  """
  n = x.shape[axis]
  centre = n // 2
  take = lambda i: jnp.take(x, i, axis=axis) if 0 <= i < n else 0.0
  ks = range(1, max(centre, n - 1 - centre) + 1)
  plus = [take(centre + k) + take(centre - k) for k in ks]
  minus = [1j * (take(centre + k) - take(centre - k)) for k in ks]
  return jnp.stack([take(centre)] + plus + minus, axis=axis)


def _paired_coefficients(disparities, num_views: int, freqs, size: int):
  """Real coefficients [1, cos(kθ), −sin(kθ)] matching `_pair_views`, θ = 2π·f·d / N: (S, 1 + 2K, F) each."""
  centre = num_views // 2
  ks = jnp.arange(1, max(centre, num_views - 1 - centre) + 1, dtype=disparities.dtype)
  theta = (2.0 * np.pi / size) * disparities[:, None, None] * ks[None, :, None] * jnp.asarray(freqs, disparities.dtype)
  ones = jnp.ones((disparities.shape[0], 1, theta.shape[-1]), disparities.dtype)
  return jnp.concatenate([ones, jnp.cos(theta)], 1), -jnp.sin(theta)


@functools.partial(jax.jit, static_argnames=('rows_per_block',))
def _refocus_linear(lf, disparities, rows_per_block: int = 4):
  """lf (U, V, H, W, C) float -> (S, H, W, C).

  One real FFT per view; then, four spectrum rows at a time (so the block stays in cache), the views are summed
  with separable phase ramps applied through real coefficients on ±offset view pairs; one inverse FFT per slice.
  Complex values are carried as [real; imaginary] halves of the channel axis so all the arithmetic is real.
  """
  num_u, num_v, height, width, channels = lf.shape
  cdtype = jnp.complex128 if lf.dtype == jnp.float64 else jnp.complex64
  spectra = jnp.fft.rfft2(jnp.moveaxis(lf, -1, 2))  # (U, V, C, H, Wr): one forward FFT per view
  num_x = spectra.shape[-1]
  # Real-FFT column frequencies with the Nyquist bin (even W) at −W/2, the full FFT's order: the corner bin then
  # gets cos(π(t_y + t_x)) like the per-view computation.
  col_freqs = np.fft.fftfreq(width, 1.0 / width)[:num_x]
  row_freqs = np.fft.fftfreq(height, 1.0 / height)
  col_cos, col_sin = _paired_coefficients(disparities, num_v, col_freqs, width)  # (S, 1+K, Wr), (S, K, Wr)
  col_coef = jnp.concatenate([col_cos, col_sin], 1)  # (S, P, Wr)
  row_cos, row_sin = _paired_coefficients(disparities, num_u, row_freqs, height)  # (S, 1+K, H), (S, K, H)

  def combine(spectrum_rows, cos_u, sin_u):  # (U, V, C, rows, Wr), (S, 1+K, rows), (S, K, rows) -> (S, C, rows, Wr)
    paired = _pair_views(spectrum_rows, 1)  # (U, P, C, rows, Wr), done per block so it stays in cache
    block = jnp.concatenate([paired.real, paired.imag], axis=2)  # (U, P, 2C, rows, Wr)
    per_u = sum(col_coef[:, None, p, None, None, :] * block[None, :, p] for p in range(block.shape[1]))
    re, im = per_u[:, :, :channels], per_u[:, :, channels:]  # (S, U, C, rows, Wr)
    centre = num_u // 2
    take = lambda a, i: a[:, i] if 0 <= i < num_u else 0.0
    out_re, out_im = cos_u[:, 0, None, :, None] * re[:, centre], cos_u[:, 0, None, :, None] * im[:, centre]
    for k in range(1, cos_u.shape[1]):
      c, s = cos_u[:, k, None, :, None], sin_u[:, k - 1, None, :, None]
      plus_re, plus_im = take(re, centre + k) + take(re, centre - k), take(im, centre + k) + take(im, centre - k)
      minus_re, minus_im = take(re, centre + k) - take(re, centre - k), take(im, centre + k) - take(im, centre - k)
      out_re = out_re + c * plus_re - s * minus_im  # c·P + s·i·M, i·M = (−M_im, M_re)
      out_im = out_im + c * plus_im + s * minus_re
    return jax.lax.complex(out_re, out_im).astype(cdtype)

  rows = min(rows_per_block, height)

  def add_block(b, combined):
    start = jnp.minimum(b * rows, height - rows)  # the last block overlaps the one before: same values rewritten
    block = jax.lax.dynamic_slice_in_dim(spectra, start, rows, axis=3)
    cos_u = jax.lax.dynamic_slice_in_dim(row_cos, start, rows, axis=2)
    sin_u = jax.lax.dynamic_slice_in_dim(row_sin, start, rows, axis=2)
    return jax.lax.dynamic_update_slice_in_dim(combined, combine(block, cos_u, sin_u), start, axis=2)

  combined = jax.lax.fori_loop(0, -(-height // rows), add_block,
                               jnp.zeros((disparities.shape[0], channels, height, num_x), cdtype))  # (S, C, H, Wr)
  if height % 2 == 0:
    # The real part of a per-view result symmetrises every bin with its mirror. irfft2 does that by itself except
    # on the Nyquist row (ky = H/2 is its own mirror), where the row ramp must become its real part cos(π·t_y) —
    # but not at the corner bin (even W), whose real part irfft2 takes itself.
    nyquist = height // 2
    row = combine(spectra[:, :, :, nyquist:nyquist + 1], row_cos[:, :, nyquist:nyquist + 1],
                  jnp.zeros_like(row_sin[:, :, nyquist:nyquist + 1]))[:, :, 0]  # (S, C, Wr)
    if width % 2 == 0:
      row = row.at[..., -1].set(combined[:, :, nyquist, -1])
    combined = combined.at[:, :, nyquist].set(row)
  stack = jnp.fft.irfft2(combined, s=(height, width))  # (S, C, H, W): one inverse FFT per slice
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
    raise errors.UserError(f"mode must be 'linear' or 'toolbox', got {mode!r}.")
  dtype, scale = _validate.float_image_spec(light_field, 'light_field')
  disparities = _validate.as_float_vector(disparities, 'disparities').astype(dtype)
  stack, finite = _refocus(jnp.asarray(light_field), disparities, mode, dtype, scale)
  _validate.raise_if_not_finite(finite, 'light_field')
  return stack


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _refocus(light_field, disparities, mode, dtype, scale):
  # Conversion and the NaN check run inside the kernel, fused into its first pass over the views.
  lf = light_field.astype(dtype) * scale if scale != 1.0 else light_field.astype(dtype)
  finite = jnp.all(jnp.isfinite(lf)) if jnp.issubdtype(light_field.dtype, jnp.floating) else jnp.array(True)
  kernel = _refocus_linear if mode == 'linear' else _refocus_toolbox
  if lf.ndim == 5:
    return kernel(lf, disparities), finite
  return jax.lax.map(lambda one: kernel(one, disparities), lf), finite  # one light field at a time bounds memory


def centre_view(light_field) -> jax.Array:
  """The centre sub-aperture image (H, W, C) (or (B, H, W, C)) as float in [0, 1].

  A plenoptic camera's sub-aperture views have a tiny aperture, so the centre view is the all-in-focus image.
  """
  _validate.check_rank(light_field, (5, 6), 'light_field', LF_LAYOUT)
  lf = _validate.as_float_image(light_field, 'light_field')
  num_u, num_v = lf.shape[-5], lf.shape[-4]
  return lf[..., num_u // 2, num_v // 2, :, :, :]


all_in_focus = centre_view
to_unit_float = _validate.to_unit_float


def to_uint8(images, rounding: str = 'floor') -> jax.Array:
  """Float images in [0, 1] -> uint8; 'floor' truncates like the DDFF Python toolbox, 'round' as its Matlab code."""
  if rounding not in ('floor', 'round'):
    raise errors.UserError(f"rounding must be 'floor' or 'round', got {rounding!r}.")
  scaled = jnp.clip(jnp.asarray(images), 0.0, 1.0) * 255.0
  scaled = jnp.floor(scaled) if rounding == 'floor' else jnp.round(scaled)
  return scaled.astype(jnp.uint8)
