"""The DDFS plane-sweep defocus cost volume (Fujimura et al., IJCV 2023).

For every depth hypothesis d_i, every focal image k is Wiener-deconvolved with the disk PSF the thin-lens camera
predicts for an object at d_i focused at d_f,k. Where d_i is right, the deblurred images agree:

    I'_k = wiener(I_k, disk(r(d_i; d_f,k)), λ),
    μ = G ∗ mean_k I'_k,   v = G ∗ mean_k (I'_k − μ)²,   C(x, i) = Σ_RGB sqrt(v),

G a Gaussian (σ = 1 px, truncated at 4σ, reflect boundary) over the image axes only.

That agreement is also reached by over-smoothing: where d_i predicts large PSFs in every image, the Wiener filters
remove what differs, so the variance favours strongly blurring hypotheses wherever the true blur is small (far
objects, weak texture). `criterion='reblur'` (not in the paper) asks the forward model instead: one all-in-focus
estimate from all K images (the multi-image Wiener solution; K = 1 gives the Wiener filter above), blurred again by
each image's PSF, compared with the image:

    Â = Σ_k H_k* Î_k / (Σ_k |H_k|² + λ|L|²),   r_k = F⁻¹(H_k Â) − I_k,   C(x, i) = Σ_RGB sqrt(G ∗ mean_k r_k²),

which an over-smoothing hypothesis cannot satisfy where an image is sharp. One compiled computation: the hypotheses
run in blocks of a `lax.map`, never in a Python loop.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.optics import _validate
from ddff_jax.optics import camera as camera_lib
from ddff_jax.optics import filters
from ddff_jax.optics import psf as psf_lib
from ddff_jax.optics import deconvolution
from ddff_jax.optics.camera import ThinLensCamera

# atanh(0.999) / 0.3: maps a raw cost of 0.3 to tanh = 0.999 (the DDFS outlier squashing).
DDFS_TANH_SCALE = float(np.arctanh(0.999) / 0.3)
COST_CRITERIA = ('variance', 'reblur')  # the paper's deblurred-image variance; the forward model's re-blur residual


def ddfs_depth_hypotheses(num: int = 64, min_depth_m: float = 0.1, max_depth_m: float = 3.0) -> np.ndarray:
  """The DDFS default hypotheses: `num` depths uniform in [min_depth_m, max_depth_m]."""
  return np.linspace(min_depth_m, max_depth_m, num)


def defocus_cost_volume(focal_stack, focus_distances_m, camera: ThinLensCamera, depth_hypotheses_m, *,
                        balance: float = 0.01, max_radius_px: float = 10.0, sigma_px: float = 1.0,
                        hypotheses_per_block: int = 1, criterion: str = 'variance') -> jax.Array:
  """Raw DDFS cost C(x, i) (lower = more consistent with depth i).

  Args:
    focal_stack: (K, H, W, C) uint8 or float in [0, 1].
    focus_distances_m: (K,) focus distance of every image, each beyond the focal length.
    camera: the thin-lens camera that took the stack, or its `ThinLensCamera.params` (3,) array (traceable: a
      camera per example under vmap; focus distances are then checked by whoever built it).
    depth_hypotheses_m: (D,) positive depths.
    balance: Wiener regularisation λ.
    max_radius_px: PSF radii are clipped to this.
    sigma_px: the σ of the Gaussian window G.
    hypotheses_per_block: hypotheses processed together (memory ~ block · K · C · H · W floats). One is fastest on
      CPU (the K·C inverse FFTs of one hypothesis stay in cache); larger blocks give accelerators more parallel work.
  Returns:
    (D, H, W) float cost.
  """
  _validate.check_rank(focal_stack, 4, 'focal_stack', '(K, H, W, C)')
  if criterion not in COST_CRITERIA:
    raise errors.UserError(f'criterion must be one of {COST_CRITERIA}, got {criterion!r}.')
  stack = _validate.as_float_image(focal_stack, 'focal_stack')
  focus = _validate.as_float_vector(focus_distances_m, 'focus_distances_m').astype(stack.dtype)
  depths = _validate.as_float_vector(depth_hypotheses_m, 'depth_hypotheses_m').astype(stack.dtype)
  if focus.shape[0] != stack.shape[0]:
    raise errors.UserError(f'focal_stack has {stack.shape[0]} images but {focus.shape[0]} focus distances were given.')
  if isinstance(camera, ThinLensCamera):
    camera.check_focus_distances(focus)
    params = camera.params
  else:
    params = jnp.asarray(camera, stack.dtype)
    if params.shape != (3,):
      raise errors.UserError(f'camera must be a ThinLensCamera or its (3,) params [focal length m, f-number, '
                             f'pixel pitch m], got shape {params.shape}.')
  if _validate.is_concrete(depths) and not bool(jnp.all(depths > 0)):
    raise errors.UserError('depth_hypotheses_m must all be > 0.')
  support = psf_lib.disk_support(max_radius_px)
  if support > min(stack.shape[1:3]):
    raise errors.UserError(f'max_radius_px={max_radius_px} gives {support}x{support} PSFs, larger than the '
                           f'{stack.shape[1]}x{stack.shape[2]} images.')
  return _cost_volume(stack, focus, depths, params, float(balance), float(max_radius_px), float(sigma_px),
                      int(hypotheses_per_block), jax.default_backend() == 'cpu', criterion)


def _deblurred_moments(gain, spectra, shape, separate: bool):
  """First and second moments over the K focal images of I'_kc = irfft2(gain[k] · spectra[k, c]).

  gain (K, H, Wr), spectra (K, C, H, Wr) -> (mean_k I'_k, mean_k I'_k²), each (C, H, W).
  With `separate` (CPU), the K·C transforms are separate operations: XLA:CPU's executor spreads ready operations
  over its threads, while one batched transform inside the loop runs on one core. Accelerators get the batched
  transform. The moments are summed from the planes as the transforms return them (stacking them first made XLA
  re-evaluate the squares inside the window fusions), with adds rather than a reduction over K, which XLA:CPU
  lowers poorly for this layout. Measurements: benchmarks/README.md.
  """
  num_images, num_channels = spectra.shape[:2]
  if separate:
    planes = [[jnp.fft.irfft2(gain[k] * spectra[k, c], s=shape) for k in range(num_images)]
              for c in range(num_channels)]
  else:
    deblurred = jnp.fft.irfft2(gain[:, None] * spectra, s=shape)
    planes = [[deblurred[k, c] for k in range(num_images)] for c in range(num_channels)]
  first = jnp.stack([functools.reduce(jnp.add, p) for p in planes]) / num_images
  second = jnp.stack([functools.reduce(jnp.add, [q * q for q in p]) for p in planes]) / num_images
  return first, second


def _mean_square_residual(otf, estimate, spectra, shape, separate: bool):
  """mean_k r_kc² with r_kc = irfft2(otf[k] · estimate[c] − spectra[k, c]): otf (K, H, Wr), estimate (C, H, Wr),
  spectra (K, C, H, Wr) -> (C, H, W); the transforms laid out as in `_deblurred_moments`."""
  num_images, num_channels = spectra.shape[:2]
  if separate:
    planes = [[jnp.fft.irfft2(otf[k] * estimate[c] - spectra[k, c], s=shape) for k in range(num_images)]
              for c in range(num_channels)]
  else:
    residual = jnp.fft.irfft2(otf[:, None] * estimate[None] - spectra, s=shape)
    planes = [[residual[k, c] for k in range(num_images)] for c in range(num_channels)]
  return jnp.stack([functools.reduce(jnp.add, [q * q for q in p]) for p in planes]) / num_images


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7, 8, 9))
def _cost_volume(stack, focus, depths, camera_params, balance, max_radius_px, sigma_px, block, separate_transforms,
                 criterion):
  shape = stack.shape[1:3]
  support = psf_lib.disk_support(max_radius_px)
  spectra = jnp.fft.rfft2(jnp.moveaxis(stack, -1, 1))  # (K, C, H, Wr)
  reg = deconvolution.laplacian_otf(shape, stack.dtype) ** 2
  window = filters.gaussian_kernel1d(sigma_px)
  # Every hypothesis' PSFs up front (D·K small kernels): built inside the loop, their many small independent
  # operations leave the loop on a worker thread, where XLA:CPU runs the transforms on one core.
  radii = camera_lib.psf_radius_px(camera_params, depths[:, None], focus[None, :], max_radius_px)  # (D, K)
  psfs = psf_lib.disk_psf(radii, support)  # (D, K, n, n)

  def reblur_residual(psf):
    otf = psf_lib.symmetric_psf_otf(psf, shape)  # (K, H, Wr), real: the disk is symmetric
    estimate = jnp.sum(otf[:, None] * spectra, axis=0) / (jnp.sum(otf * otf, axis=0) + balance * reg)  # (C, H, Wr)
    energy = filters.separable_filter(_mean_square_residual(otf, estimate, spectra, shape, separate_transforms),
                                      window)
    return functools.reduce(jnp.add, psf_lib.safe_sqrt(jnp.maximum(energy, 0.0)))  # Σ_RGB: (H, W)

  def one_hypothesis(psf):
    otf = psf_lib.symmetric_psf_otf(psf, shape)  # (K, H, Wr), real: the disk is symmetric
    gain = otf / (otf * otf + balance * reg)  # the Wiener filter, real for a real OTF
    # mean_k (I'_k − μ)² = mean_k I'_k² − 2μ·mean_k I'_k + μ²: both moments in one pass over the K images.
    first, second = _deblurred_moments(gain, spectra, shape, separate_transforms)  # (C, H, W) each
    # Computed once: fused into the windows below, XLA:CPU re-evaluated the moments inside several fusions.
    first, second = jax.lax.optimization_barrier((first, second))
    mu = filters.separable_filter(first, window)
    var = filters.separable_filter(second - 2.0 * mu * first + mu * mu, window)
    return functools.reduce(jnp.add, psf_lib.safe_sqrt(jnp.maximum(var, 0.0)))  # Σ_RGB: (H, W)

  return jax.lax.map(reblur_residual if criterion == 'reblur' else one_hypothesis, psfs, batch_size=block)


def normalize_cost_volume(cost, scale: float = DDFS_TANH_SCALE, eps: float = 1e-8) -> jax.Array:
  """tanh(scale·C), then per-pixel min–max normalisation over the hypotheses: (D, H, W) -> (D, H, W) in [0, 1]."""
  _validate.check_rank(cost, (3, 4), 'cost', '(D, H, W) or (B, D, H, W)')
  squashed = jnp.tanh(scale * jnp.asarray(cost))
  lo = jnp.min(squashed, axis=-3, keepdims=True)
  hi = jnp.max(squashed, axis=-3, keepdims=True)
  return (squashed - lo) / (hi - lo + eps)
