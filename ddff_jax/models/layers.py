"""Shared layers and the one padding helper used by models, evaluation and prediction."""
from __future__ import annotations

import contextlib
import functools

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


DTYPES = ('float32', 'bfloat16', 'float16')


def dtypes(dtype: str, param_dtype: str):
  """A config's compute and parameter dtype names -> jnp dtypes. Parameters (and BatchNorm statistics) stay float32:
  low-precision weights lose small updates."""
  for name, value in (('dtype', dtype), ('param_dtype', param_dtype)):
    if value not in DTYPES:
      raise errors.UserError(f'model.{name} must be one of {DTYPES}, got {value!r}.')
  if param_dtype != 'float32':
    raise errors.UserError(f"model.param_dtype must be 'float32' (mixed precision computes in model.dtype), "
                           f'got {param_dtype!r}.')
  return jnp.dtype(dtype), jnp.dtype(param_dtype)


def scaled_width(channels: int, width: float) -> int:
  return max(1, int(round(channels * width)))


_NHWC = ('NHWC', 'HWIO', 'NHWC')


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_stride1(x, kernel, padding):
  """Stride-1 2-D convolution, NHWC × HWIO -> NHWC, `padding` ((top, bottom), (left, right)) of zeros.

  Same value and input gradient as `lax.conv_general_dilated`; the kernel gradient is computed as one matrix product
  per tap over all the batch's pixels (x_shiftedᵀ g, (Cin, N·H·W) × (N·H·W, Cout)). XLA:CPU's own kernel-gradient
  convolution (batch and feature dimensions swapped) runs several times slower than that and dominated a DDFFNet
  training step.
  """
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_NHWC)


def _conv_stride1_fwd(x, kernel, padding):
  return conv_stride1(x, kernel, padding), (x, kernel)


def _conv_stride1_bwd(padding, residuals, g):
  x, kernel = residuals
  _, input_vjp = jax.vjp(lambda x: jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_NHWC), x)
  (dx,) = input_vjp(g)
  kh, kw, cin, cout = kernel.shape
  n, h, w = g.shape[:3]
  padded = jnp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),))
  # One contraction over all n·h·w pixels of a single dimension (free reshapes in NHWC): contracting over (h, w),
  # or per image, runs XLA:CPU's dot 2–10× slower, worst on the deep layers' few pixels.
  g = g.reshape(n * h * w, cout)

  def tap(carry, t):  # a loop, not kh·kw unrolled products: one shifted copy of x alive at a time
    shifted = jax.lax.dynamic_slice(padded, (0, t // kw, t % kw, 0), (n, h, w, cin)).reshape(n * h * w, cin)
    return carry, jnp.einsum('ki,ko->io', shifted, g, preferred_element_type=jnp.float32)

  _, taps = jax.lax.scan(tap, None, jnp.arange(kh * kw))
  return dx, taps.reshape(kh, kw, cin, cout).astype(kernel.dtype)


conv_stride1.defvjp(_conv_stride1_fwd, _conv_stride1_bwd)


def conv_im2col(x, kernel, padding):
  """`conv_stride1` as one matrix product over the kh·kw shifted copies of x concatenated on the features
  ((N, H, W, kh·kw·Cin) × (kh·kw·Cin, Cout)); its gradients are products too. For the deepest layers' few pixels:
  on a 2×2 map XLA:CPU rewrites the 3×3 convolution into a form that runs ~40× slower than this."""
  kh, kw, cin, cout = kernel.shape
  n, h, w = x.shape[:3]
  padded = jnp.pad(x, ((0, 0),) + tuple(padding) + ((0, 0),))
  columns = jnp.concatenate([padded[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)], axis=-1)
  return jnp.einsum('nhwc,co->nhwo', columns, kernel.reshape(kh * kw * cin, cout))


IM2COL_MAX_PIXELS = 4  # maps of at most this many pixels (2×2) convolve by `conv_im2col`
_native_kernel_gradients = False


@contextlib.contextmanager
def xla_kernel_gradients(enabled: bool = True):
  """While tracing inside it, `stride1_conv` (`Conv`, `UpConv`) takes XLA's own kernel gradient instead of
  `conv_stride1`'s: for functions compiled with `compiler.options()`, under which XLA's is the faster one."""
  global _native_kernel_gradients
  previous, _native_kernel_gradients = _native_kernel_gradients, enabled
  try:
    yield
  finally:
    _native_kernel_gradients = previous


def stride1_conv(x, kernel, padding):
  """The stride-1 convolution of `conv_stride1`'s signature that the models use: `conv_stride1`, or XLA's own
  convolution (and its kernel gradient) while tracing inside `xla_kernel_gradients`."""
  if _native_kernel_gradients:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding, dimension_numbers=_NHWC)
  return conv_stride1(x, kernel, padding)


def same_padding(kernel_size):
  """'SAME' zero padding of a stride-1 convolution, per spatial axis."""
  return tuple(((int(k) - 1) // 2, int(k) // 2) for k in kernel_size)


class Conv(nnx.Conv):
  """`nnx.Conv` (same parameters, same results) whose stride-1 'SAME' form runs through `stride1_conv`, or
  `conv_im2col` on maps of at most `IM2COL_MAX_PIXELS` pixels."""

  def __call__(self, inputs):
    unit = lambda v: v is None or all(int(d) == 1 for d in np.atleast_1d(v))
    if not (unit(self.strides) and unit(self.kernel_dilation) and unit(self.input_dilation)) \
        or self.padding != 'SAME' or self.feature_group_count != 1 or self.mask is not None or inputs.ndim != 4:
      return super().__call__(inputs)
    dtype = self.dtype or jnp.result_type(inputs, self.kernel.value)
    conv = conv_im2col if inputs.shape[1] * inputs.shape[2] <= IM2COL_MAX_PIXELS else stride1_conv
    y = conv(inputs.astype(dtype), self.kernel.value.astype(dtype), same_padding(self.kernel_size))
    if self.use_bias:
      y = y + self.bias.value.astype(dtype)
    return y


class ConvBNReLU(nnx.Module):
  """3×3 convolution (no bias) → BatchNorm (eps 1e-3) → ReLU."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs, kernel_size: int = 3, strides: int = 1,
               relu: bool = True, dtype=None, param_dtype=jnp.float32):
    self.conv = Conv(in_features, out_features, (kernel_size, kernel_size), strides=(strides, strides),
                     padding='SAME', use_bias=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    # Flax computes BatchNorm statistics in at least float32 whatever `dtype` is.
    self.bn = nnx.BatchNorm(out_features, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, dtype=dtype,
                            param_dtype=param_dtype, rngs=rngs)
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


# Output phase p of a 4-tap stride-2 'SAME' transposed convolution (lax.conv_transpose, kernel not flipped) along one
# axis: y[2m + p] = k[t0]·x[m + o0] + k[t1]·x[m + o1], with (t0, t1) = _PHASE_TAPS[p] and offsets (o0, o1) = (-1, 0)
# for p = 0 and (0, 1) for p = 1; x is zero outside the image.
_PHASE_TAPS = ((0, 2), (1, 3))


def upconv_by_phases(x, kernel):
  """The 4×4 stride-2 'SAME' transposed convolution of `nnx.ConvTranspose` (no bias) as four 2×2 convolutions at
  the input resolution, one per output phase, interleaved. x (N, H, W, Cin), kernel (4, 4, Cin, Cout) HWIO ->
  (N, 2H, 2W, Cout). Same result; the usual form convolves a zero-dilated input at the output resolution, four
  times the multiply-adds (XLA:CPU has no special case for it)."""
  n, h, w, _ = x.shape
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  rows = []
  for py in (0, 1):
    cols = []
    for px in (0, 1):
      sub = kernel[np.ix_(_PHASE_TAPS[py], _PHASE_TAPS[px])]  # (2, 2, Cin, Cout)
      out = stride1_conv(padded, sub.astype(x.dtype), ((0, 0), (0, 0)))
      cols.append(out[:, py:py + h, px:px + w])  # phase 0 reads x[m-1], x[m]; phase 1 x[m], x[m+1]
    rows.append(jnp.stack(cols, axis=3))  # (N, H, W, 2, C)
  y = jnp.stack(rows, axis=2)  # (N, H, 2, W, 2, C)
  return y.reshape(n, 2 * h, 2 * w, y.shape[-1])


class UpConv(nnx.ConvTranspose):
  """`nnx.ConvTranspose(c, c, (4, 4), strides=(2, 2), padding='SAME', use_bias=False)` (same parameters, same
  output), computed by `upconv_by_phases`."""

  def __init__(self, in_features: int, out_features: int, **kwargs):
    super().__init__(in_features, out_features, (4, 4), strides=(2, 2), padding='SAME', use_bias=False, **kwargs)

  def __call__(self, inputs):
    kernel = self.kernel.value
    dtype = self.dtype or jnp.result_type(inputs, kernel)
    return upconv_by_phases(inputs.astype(dtype), kernel.astype(dtype))
