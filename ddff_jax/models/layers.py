"""Shared layers and the one padding helper used by models, evaluation and prediction."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ddff_jax import errors

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # TensorFlow's default decay, as in the original DDFF model

# Input normalisations a model can be trained with; stored with the model so that train and eval agree.
# 'stack_contrast' works on the whole stack (`normalize_stack`), the others on each image.
NORMALIZATIONS = ('unit', 'raw255', 'imagenet', 'stack_contrast')
STACK_CONTRAST_SIGMA = 4.0  # px: the neighbourhood whose residual energy normalises each pixel
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def normalize_input(images, normalization: str):
  """Images in [0, 1] (..., 3) -> the model's input space: 'unit' as is, 'raw255' ×255 (the released DDFFNet),
  'imagenet' mean/std standardised."""
  if normalization == 'unit':
    return images
  if normalization == 'raw255':
    return images * 255.0
  if normalization == 'imagenet':
    return (images - _IMAGENET_MEAN) / _IMAGENET_STD
  if normalization == 'stack_contrast':
    return images  # normalised as a stack by `normalize_stack`
  raise errors.UserError(f'normalization must be one of {NORMALIZATIONS}, got {normalization!r}.')


def normalize_stack(stack, normalization: str):
  """Stack-level input normalisation, before the slices are folded into the batch. stack (B, S, H, W, C).

  'stack_contrast': each slice minus the stack's mean image, divided by the local RMS of those residuals over all
  slices (Gaussian neighbourhood of STACK_CONTRAST_SIGMA px). A slice-wise network then sees how much sharper
  each slice is than the others, independent of the texture's contrast — the cross-slice context that a shared
  per-slice encoder with a linear scorer over slices otherwise lacks. Other normalisations: the stack as is.
  """
  if normalization != 'stack_contrast':
    return stack
  from ddff_jax.optics import gaussian_filter
  residual = stack - jnp.mean(stack, axis=1, keepdims=True)
  energy = jnp.mean(residual * residual, axis=(1, 4))  # (B, H, W)
  local = gaussian_filter(energy, STACK_CONTRAST_SIGMA)
  return residual / jnp.sqrt(local + 1e-4)[:, None, :, :, None]


def pad_to_multiple(x, multiple: int = 32, axes=(-3, -2)):
  """Reflect-pads the bottom/right of `axes` up to a multiple of `multiple`; returns (padded, original sizes).

  The DDFF 12-Scene protocol (Hazirbas et al., ACCV 2018) pads 383×552 to 384×576 this way, predicts, and crops
  back with `crop_to`.
  """
  sizes = tuple(x.shape[a] for a in axes)
  pad = [(0, 0)] * x.ndim
  for axis, size in zip(axes, sizes):
    extra = (-size) % multiple
    if extra >= size:
      raise errors.UserError(f'cannot reflect-pad a size-{size} axis by {extra}: inputs must be at least '
                             f'{extra + 1} px.')
    pad[axis % x.ndim] = (0, extra)
  return (jnp.pad(x, pad, mode='reflect') if any(p != (0, 0) for p in pad) else x), sizes


def crop_to(x, sizes, axes=(-2, -1)):
  """Crops `axes` of `x` back to `sizes` (top-left corner kept)."""
  index = [slice(None)] * x.ndim
  for axis, size in zip(axes, sizes):
    index[axis % x.ndim] = slice(0, size)
  return x[tuple(index)]


def scaled_width(channels: int, width: float) -> int:
  return max(1, int(round(channels * width)))


class ConvBNReLU(nnx.Module):
  """3×3 convolution (no bias) → BatchNorm (eps 1e-3) → ReLU."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, kernel_size: int = 3, strides: int = 1,
               relu: bool = True):
    self.conv = nnx.Conv(in_features, out_features, (kernel_size, kernel_size), strides=(strides, strides),
                         padding='SAME', use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(out_features, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, rngs=rngs)
    self.relu = relu

  def __call__(self, x):
    x = self.bn(self.conv(x))
    return jax.nn.relu(x) if self.relu else x


def max_pool_with_indices(x):
  """2×2/2 max pooling (NHWC, even H and W) and the one-hot argmax mask (N, H/2, 2, W/2, 2, C) for unpooling."""
  n, h, w, c = x.shape
  windows = x.reshape(n, h // 2, 2, w // 2, 2, c)
  pooled = windows.max(axis=(2, 4))
  flat = windows.transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
  onehot = jax.nn.one_hot(jnp.argmax(flat, axis=-1), 4, dtype=x.dtype)  # first maximum wins on ties
  mask = onehot.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
  return pooled, mask


def max_unpool(x, mask):
  """Places each value of x (N, h, w, C) at its pooling argmax in a (N, 2h, 2w, C) map, zeros elsewhere."""
  n, h, w, c = x.shape
  return (x[:, :, None, :, None, :] * mask).reshape(n, 2 * h, 2 * w, c)


def bilinear_upsample(x, factor: int = 2):
  """×factor bilinear interpolation (half-pixel centres, as `align_corners=False`)."""
  n, h, w, c = x.shape
  return jax.image.resize(x, (n, h * factor, w * factor, c), method='bilinear')


def bilinear_upconv_kernel(channels: int) -> np.ndarray:
  """4×4 stride-2 transposed-conv kernel that upsamples each channel bilinearly (channel-diagonal), HWIO."""
  taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
  kernel = np.zeros((4, 4, channels, channels), np.float32)
  kernel[:, :, np.arange(channels), np.arange(channels)] = np.outer(taps, taps)[..., None]
  return kernel
