"""Focal-slice registration. Refocusing a real lens moves its image: focus breathing magnifies the nearer-focused
slices by a few per cent, and hand-held stacks shift. A per-pixel focus measure needs the slices aligned first.

The model is a similarity without rotation about the image centre c, mapping reference coordinates q to slice
coordinates:  p = c + s·(q − c) + t,  with a photometric gain and bias (defocus changes local contrast):

    slice(c + s·(q − c) + t) ≈ g·reference(q) + b.

Each pair of neighbouring slices (whose blur differs least) is registered by Gauss–Newton on Gaussian-smoothed grey
images over a coarse-to-fine pyramid, with Huber weights so that what focus changes most does not pull the
estimate; the pairwise transforms are composed along the stack and re-expressed relative to the reference slice,
by default the least magnified one, so that every aligned slice is sampled inside its source image.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.optics import _validate
from ddff_jax.optics.filters import gaussian_filter


def _sample(image, y, x):
  """Bilinear samples of image (H, W) at (y, x), edge-clamped."""
  return jax.scipy.ndimage.map_coordinates(image, [y, x], order=1, mode='nearest')


def _centre(shape):
  return jnp.array([(shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0], jnp.float32)


def warp(image, scale, shift):
  """The image seen through the transform: out(q) = image(c + scale·(q − c) + shift), bilinear, edges clamped.

  image: (H, W) or (H, W, C); scale: scalar; shift: (2,) (rows, columns) in px.
  """
  h, w = image.shape[:2]
  c = _centre((h, w))
  q = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing='ij'))
  p = c[:, None, None] + scale * (q - c[:, None, None]) + jnp.asarray(shift, jnp.float32)[:, None, None]
  if image.ndim == 2:
    return _sample(image, p[0], p[1])
  return jnp.stack([_sample(image[..., k], p[0], p[1]) for k in range(image.shape[-1])], axis=-1)


def _grey(image):
  return image if image.ndim == 2 else jnp.mean(image, axis=-1)


def _downsample(image):
  """2× box downsampling (odd sizes lose their last row/column): pixel centres map as q_small = (q + 0.5)/2 − 0.5."""
  h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
  return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _gauss_newton(moving, fixed, scale, shift, iterations: int, huber: float):
  """Refines (scale, shift) at one pyramid level. moving, fixed: (H, W) grey."""
  h, w = fixed.shape
  c = _centre((h, w))
  q = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing='ij'))
  dq = q - c[:, None, None]
  grad_y = jnp.gradient(moving, axis=0)
  grad_x = jnp.gradient(moving, axis=1)
  margin = 2.0

  def step(_, params):
    s, ty, tx, gain, bias = params
    py, px = c[0] + s * dq[0] + ty, c[1] + s * dq[1] + tx
    inside = (py >= margin) & (py <= h - 1 - margin) & (px >= margin) & (px <= w - 1 - margin)
    m = _sample(moving, py, px)
    gy, gx = _sample(grad_y, py, px), _sample(grad_x, py, px)
    r = m - (gain * fixed + bias)
    # Columns of the Jacobian of r in (s, ty, tx, gain, bias).
    jac = jnp.stack([gy * dq[0] + gx * dq[1], gy, gx, -fixed, -jnp.ones_like(fixed)], axis=-1)
    # σ of the residuals from their mean absolute value (σ·√(2/π) for Gaussian noise): a sort-free estimate.
    spread = 1.2533 * jnp.sum(jnp.where(inside, jnp.abs(r), 0.0)) / jnp.maximum(jnp.sum(inside), 1)
    scale_r = jnp.maximum(huber * spread, 1e-6)
    weight = jnp.where(inside, jnp.minimum(1.0, scale_r / jnp.maximum(jnp.abs(r), 1e-12)), 0.0)
    jw = jac * weight[..., None]
    hessian = jnp.einsum('hwi,hwj->ij', jw, jac) + 1e-6 * jnp.eye(5)
    delta = jnp.linalg.solve(hessian, jnp.einsum('hwi,hw->i', jw, r))
    return params - delta

  params = jnp.array([scale, shift[0], shift[1], 1.0, 0.0], jnp.float32)
  params = jax.lax.fori_loop(0, iterations, step, params)
  return params[0], params[1:3]


@functools.partial(jax.jit, static_argnames=('levels', 'iterations', 'sigma', 'huber'))
def estimate_similarity(moving, fixed, *, levels: int = 4, iterations: int = 12, sigma: float = 1.0,
                        huber: float = 1.5):
  """(scale, shift (2,)) with moving(c + scale·(q − c) + shift) ≈ gain·fixed(q) + bias.

  moving, fixed: (H, W) or (H, W, C) images of one scene (RGB is averaged to grey). Coarse to fine over `levels`
  2× pyramid levels, `iterations` Gauss–Newton steps each, on images smoothed with a Gaussian of `sigma` px.
  """
  moving = gaussian_filter(_grey(jnp.asarray(moving, jnp.float32)), sigma)
  fixed = gaussian_filter(_grey(jnp.asarray(fixed, jnp.float32)), sigma)
  pyramid = [(moving, fixed)]
  for _ in range(levels - 1):
    pyramid.append(tuple(_downsample(x) for x in pyramid[-1]))
  scale, shift = jnp.float32(1.0), jnp.zeros(2, jnp.float32)
  for level in reversed(range(levels)):
    m, f = pyramid[level]
    # Centres and shifts between levels: q_small = (q + 0.5)/2^level − 0.5, and the transform is about the centre.
    factor = 2.0 ** level
    c_full, c_small = _centre(moving.shape), _centre(m.shape)
    offset = (c_full + 0.5) / factor - 0.5 - c_small  # centre mismatch from cropping odd sizes
    small_shift = shift / factor + (1.0 - scale) * offset
    scale, small_shift = _gauss_newton(m, f, scale, small_shift, iterations, huber)
    shift = (small_shift - (1.0 - scale) * offset) * factor
  return scale, shift


def register_stack(stack, reference: int | None = None, **options):
  """Aligns the slices of a focal stack to one of them.

  Args:
    stack: (S, H, W, C) or (S, H, W), float in [0, 1] or uint8/uint16.
    reference: the slice the others are aligned to; None picks the least magnified one, so that every aligned
      slice is sampled inside its source.
    options: passed to `estimate_similarity`.

  Returns:
    (aligned stack like the input as float32, scales (S,), shifts (S, 2)): slice k seen at c + scales[k]·(q − c) +
    shifts[k] matches the reference at q (the reference's own transform is the identity).
  """
  _validate.check_rank(stack, (3, 4), 'stack', '(S, H, W, C) or (S, H, W)')
  stack = _validate.as_float_image(stack, 'stack')
  num = stack.shape[0]
  if num < 2:
    raise errors.UserError(f'registration needs at least 2 slices, got {num}.')
  if reference is not None and not 0 <= reference < num:
    raise errors.UserError(f'reference slice {reference} is outside the stack of {num} slices.')
  scales, shifts = _chain(stack, options)
  if reference is None:
    reference = int(jnp.argmin(scales))
  # Re-express relative to the reference: B_k = A_k ∘ A_r⁻¹.
  ratio = scales / scales[reference]
  shifts = shifts - ratio[:, None] * shifts[reference]
  aligned = jax.vmap(warp)(stack, ratio, shifts)
  return aligned, ratio, shifts


def _chain(stack, options):
  """Transforms A_k from slice 0 to every slice, composed from neighbour pairs: (S,), (S, 2)."""
  pairwise = jax.vmap(lambda moving, fixed: estimate_similarity(moving, fixed, **options))
  s, t = pairwise(stack[1:], stack[:-1])  # slice k vs slice k − 1

  def compose(carry, pair):
    scale, shift = carry
    sk, tk = pair
    new = (sk * scale, sk * shift + tk)
    return new, new

  _, (scales, shifts) = jax.lax.scan(compose, (jnp.float32(1.0), jnp.zeros(2, jnp.float32)), (s, t))
  return (jnp.concatenate([jnp.ones(1, jnp.float32), scales]),
          jnp.concatenate([jnp.zeros((1, 2), jnp.float32), shifts]))
