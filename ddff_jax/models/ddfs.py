"""The DDFS network (Fujimura et al., IJCV 2023): depth from a focal stack through a defocus cost volume, so that it
stays correct when the camera settings (focus distances, focal length, f-number) change.

Input: the last focal image (3 ch, [0, 1]) ⊕ the normalised cost volume (D ch, `ddff_jax.optics`).
Encoder (MVDepthNet style): five stages of [conv k, conv k stride 2], BN + ReLU, no bias; 128 (k7), 256 (k5),
512, 512, 512 (k3) channels. Decoder: ×2 bilinear upsampling + conv/BN/ReLU with encoder skips down to H/8, where a
softmax over the D hypotheses gives the first probability volume; then three adaptive cost-aggregation blocks at
H/4, H/2 and H (guided by encoder stage 2, stage 1 and the image) refine it:

    P̃(x, i) = Σ_k w_k(x) · P(x + p_k + Δp_k(x), i),   p_k on a 3×3 grid of dilation 2, Σ_k w_k = 1,

with w (softmax) and Δp (zero-initialised) predicted per pixel, bilinear sampling clamped at the border. Depth at
each scale is the soft-argmin Σ_i P̃(x, i)·d_i.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ddff_jax.models import layers

ENCODER = ((128, 7), (256, 5), (512, 3), (512, 3), (512, 3))
AGGREGATION_WIDTHS = (256, 128, 8)
TAPS = np.array([(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)], np.float32)  # 3×3 grid, dilation 2


def soft_argmin(probabilities, hypotheses):
  """Expected hypothesis Σ_i P(x, i)·d_i: probabilities (..., D), hypotheses (D,) -> (...)."""
  return jnp.tensordot(probabilities, jnp.asarray(hypotheses, probabilities.dtype), axes=([-1], [0]))


def bilinear_sample(volume, positions):
  """volume (B, h, w, D) sampled at fractional (row, col) positions (B, h, w, 2), border-clamped -> (B, h, w, D)."""
  b, h, w, d = volume.shape
  y = jnp.clip(positions[..., 0], 0.0, h - 1.0)
  x = jnp.clip(positions[..., 1], 0.0, w - 1.0)
  y0, x0 = jnp.floor(y), jnp.floor(x)
  wy, wx = y - y0, x - x0
  y0i, x0i = y0.astype(jnp.int32), x0.astype(jnp.int32)
  y1i, x1i = jnp.minimum(y0i + 1, h - 1), jnp.minimum(x0i + 1, w - 1)
  # The four corners in one gather (and one scatter-add in the gradient): far cheaper to compile and run on CPU.
  index = jnp.stack([y0i * w + x0i, y0i * w + x1i, y1i * w + x0i, y1i * w + x1i], -1).reshape(b, h * w * 4, 1)
  corners = jnp.take_along_axis(volume.reshape(b, h * w, d), index, axis=1).reshape(b, h, w, 4, d)
  weights = jnp.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], -1)
  return jnp.einsum('bhwk,bhwkd->bhwd', weights, corners)


def aggregate(probabilities, weights, offsets):
  """Adaptive aggregation: P (B, h, w, D), weights (B, h, w, 9) summing to 1, offsets (B, h, w, 9, 2) -> P̃."""
  b, h, w, _ = probabilities.shape
  grid = jnp.stack(jnp.meshgrid(jnp.arange(h, dtype=probabilities.dtype), jnp.arange(w, dtype=probabilities.dtype),
                                indexing='ij'), -1)  # (h, w, 2)
  out = 0.0
  for k in range(len(TAPS)):  # nine taps of the 3×3 neighbourhood
    positions = grid[None] + jnp.asarray(TAPS[k]) + offsets[..., k, :]
    out = out + weights[..., k, None] * bilinear_sample(probabilities, positions)
  return out


class _UpConv(nnx.Module):
  """×2 bilinear upsampling, then conv 3×3 + BN + ReLU."""

  def __init__(self, in_ch, out_ch, *, rngs):
    self.conv = layers.ConvBNReLU(in_ch, out_ch, rngs=rngs)

  def __call__(self, x):
    return self.conv(layers.bilinear_upsample(x))


class _AggregationBlock(nnx.Module):
  """Refines an upsampled probability volume with weights and offsets predicted from guided features."""

  def __init__(self, in_ch, guide_ch, width, *, rngs):
    self.up = _UpConv(in_ch, width, rngs=rngs)
    self.fuse = layers.ConvBNReLU(width + guide_ch, width, rngs=rngs)
    self.weights = nnx.Conv(width, len(TAPS), (3, 3), padding='SAME', rngs=rngs)
    self.offsets = nnx.Conv(width, 2 * len(TAPS), (3, 3), padding='SAME', kernel_init=nnx.initializers.zeros,
                            bias_init=nnx.initializers.zeros, rngs=rngs)

  def __call__(self, features, guide, probabilities):
    x = self.fuse(jnp.concatenate([self.up(features), guide], -1))
    b, h, w, _ = x.shape
    p = jax.image.resize(probabilities, (b, h, w, probabilities.shape[-1]), 'bilinear')  # stays a distribution
    weights = jax.nn.softmax(self.weights(x), axis=-1)
    offsets = self.offsets(x).reshape(b, h, w, len(TAPS), 2)
    return x, aggregate(p, weights, offsets)


class DDFSNet(nnx.Module):

  def __init__(self, num_hypotheses: int = 64, *, width: float = 1.0, rngs: nnx.Rngs):
    if num_hypotheses < 2:
      raise ValueError(f'num_hypotheses must be >= 2, got {num_hypotheses}.')
    self.num_hypotheses = num_hypotheses
    ch = lambda c: layers.scaled_width(c, width)
    self.encoder = nnx.List()
    in_ch = 3 + num_hypotheses
    for out, k in ENCODER:
      self.encoder.append(nnx.List([layers.ConvBNReLU(in_ch, ch(out), kernel_size=k, rngs=rngs),
                                    layers.ConvBNReLU(ch(out), ch(out), kernel_size=k, strides=2, rngs=rngs)]))
      in_ch = ch(out)
    # H/32 -> H/16 (skip: stage 4) -> H/8 (skip: stage 3), then the score over hypotheses.
    self.up16 = _UpConv(ch(512), ch(512), rngs=rngs)
    self.fuse16 = layers.ConvBNReLU(ch(512) + ch(512), ch(512), rngs=rngs)
    self.up8 = _UpConv(ch(512), ch(512), rngs=rngs)
    self.fuse8 = layers.ConvBNReLU(ch(512) + ch(512), ch(512), rngs=rngs)
    self.score = nnx.Conv(ch(512), num_hypotheses, (3, 3), padding='SAME', rngs=rngs)
    widths = [ch(w) for w in AGGREGATION_WIDTHS]
    self.blocks = nnx.List([
        _AggregationBlock(ch(512), ch(256), widths[0], rngs=rngs),  # H/4, guided by encoder stage 2
        _AggregationBlock(widths[0], ch(128), widths[1], rngs=rngs),  # H/2, guided by encoder stage 1
        _AggregationBlock(widths[1], 3, widths[2], rngs=rngs),  # H, guided by the image
    ])

  def __call__(self, image, cost, hypotheses):
    """image (B, H, W, 3) in [0, 1]; normalised cost (B, D, H, W); hypotheses (D,) depths.

    Returns four depth maps, coarse to fine: (B, H/8, W/8), (B, H/4, W/4), (B, H/2, W/2), (B, H, W). Any H, W:
    reflect-padded to multiples of 32, cropped back (each scale to its share).
    """
    if image.ndim != 4 or image.shape[-1] != 3:
      raise ValueError(f'DDFSNet expects an image (B, H, W, 3), got shape {image.shape}.')
    if cost.shape != (image.shape[0], self.num_hypotheses) + image.shape[1:3]:
      raise ValueError(f'DDFSNet expects a cost volume (B, {self.num_hypotheses}, H, W) matching the image '
                       f'{image.shape}, got {cost.shape}.')
    h, w = image.shape[1:3]
    x = jnp.concatenate([image, jnp.moveaxis(cost, 1, -1)], -1)
    x, _ = layers.pad_to_multiple(x, 32, axes=(1, 2))
    guide_image = x[..., :3]
    skips = []
    for stage in self.encoder:
      x = stage[1](stage[0](x))
      skips.append(x)  # H/2, H/4, H/8, H/16, H/32
    x = self.fuse16(jnp.concatenate([self.up16(skips[4]), skips[3]], -1))
    x = self.fuse8(jnp.concatenate([self.up8(x), skips[2]], -1))
    probabilities = jax.nn.softmax(self.score(x), axis=-1)
    volumes = [probabilities]
    for block, guide in zip(self.blocks, (skips[1], skips[0], guide_image)):
      x, probabilities = block(x, guide, probabilities)
      volumes.append(probabilities)
    depths = []
    for scale, volume in zip((8, 4, 2, 1), volumes):
      depths.append(layers.crop_to(soft_argmin(volume, hypotheses), (-(-h // scale), -(-w // scale))))
    return depths


def multiscale_l1(depths, target):
  """DDFS loss: L1 over the four scales, equal weights; the target is downsampled (nearest) to each scale and
  pixels with target <= 0 are ignored."""
  total = 0.0
  for depth in depths:
    b, h, w = depth.shape
    t = jax.image.resize(target, (b, h, w), 'nearest')
    mask = t > 0
    total = total + jnp.sum(jnp.where(mask, jnp.abs(depth - t), 0.0)) / jnp.maximum(jnp.sum(mask), 1)
  return total / len(depths)
