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

`tile_px` > 0 (not in the paper) predicts images larger than the training crops in overlapping tile_px × tile_px
tiles (stride tile_px / 2) of the whole image's cost volume, blended with Hann weights: the network then sees inputs
of the size it learned from (trained on 64-px crops, it reads real 256-px scenes far better this way:
docs/rgbd_defocus.md).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ddff_jax import errors
from ddff_jax import optics
from ddff_jax.models import layers
from ddff_jax.models.registry import register

ENCODER = ((128, 7), (256, 5), (512, 3), (512, 3), (512, 3))
AGGREGATION_WIDTHS = (256, 128, 8)
HYPOTHESIS_SPACINGS = ('depth', 'inverse_depth')
TAPS = np.array([(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)], np.float32)  # 3×3 grid, dilation 2


def tile_starts(size: int, tile: int) -> list[int]:
  """Top-left offsets of tiles of `tile` px covering `size` px with stride tile // 2 (the last one flush with the
  end); one tile of the whole axis when size <= tile."""
  if size <= tile:
    return [0]
  starts = list(range(0, size - tile + 1, max(tile // 2, 1)))
  return starts if starts[-1] == size - tile else starts + [size - tile]


def blend_weights(size: int) -> np.ndarray:
  """(size,) Hann weights without the zero end points: every pixel of a tile counts, its centre most."""
  return np.hanning(size + 2)[1:-1].astype(np.float32)


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


@register('ddfs')
class DDFSNet(nnx.Module):
  """Metric depth from a thin-lens focal stack, its focus distances and its camera: `forward` builds the cost volume
  over `num_hypotheses` depths uniform in `depth_range_m` (Wiener balance `wiener_balance`, PSF radii clipped at
  `max_radius_px`, `cost_criterion` 'variance' (the paper's) or 'reblur', see `ddff_jax.optics.cost_volume`)
  inside the compiled step, then runs the network on it."""
  targets = ('depth',)

  def __init__(self, num_hypotheses: int = 64, *, depth_range_m=(0.1, 3.0), width: float = 1.0,
               wiener_balance: float = 0.01, max_radius_px: float = 10.0, hypothesis_spacing: str = 'depth',
               cost_criterion: str = 'variance', tile_px: int = 0, rngs: nnx.Rngs):
    if num_hypotheses < 2:
      raise errors.UserError(f'num_hypotheses must be >= 2, got {num_hypotheses}.')
    if hypothesis_spacing not in HYPOTHESIS_SPACINGS:
      raise errors.UserError(f'hypothesis_spacing must be one of {HYPOTHESIS_SPACINGS}, got {hypothesis_spacing!r}.')
    self.hypothesis_spacing = hypothesis_spacing
    if cost_criterion not in optics.COST_CRITERIA:
      raise errors.UserError(f'cost_criterion must be one of {optics.COST_CRITERIA}, got {cost_criterion!r}.')
    self.cost_criterion = cost_criterion
    if tile_px < 0 or tile_px % 32:
      raise errors.UserError(f'tile_px must be 0 (whole images) or a positive multiple of 32, got {tile_px}.')
    self.tile_px = int(tile_px)
    lo, hi = (float(v) for v in depth_range_m)
    if not 0 < lo < hi:
      raise errors.UserError(f'depth_range_m must be (near, far) with 0 < near < far, got {tuple(depth_range_m)}.')
    self.num_hypotheses = num_hypotheses
    self.depth_range_m = (lo, hi)
    self.wiener_balance, self.max_radius_px = float(wiener_balance), float(max_radius_px)
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

  @property
  def hypotheses(self) -> np.ndarray:
    """(D,) the depth hypotheses (m) of the cost volume and the soft-argmin, increasing: uniform in depth (the
    paper's), or uniform in inverse depth, the quantity blur is linear in (dense near, sparse far)."""
    lo, hi = self.depth_range_m
    if self.hypothesis_spacing == 'inverse_depth':
      return (1.0 / np.linspace(1.0 / lo, 1.0 / hi, self.num_hypotheses)).astype(np.float32)
    return np.linspace(lo, hi, self.num_hypotheses).astype(np.float32)

  @property
  def output_range(self) -> tuple[float, float]:
    return self.depth_range_m  # soft-argmin over the hypotheses cannot leave their range

  def cost_volume(self, stack, focus, camera, depth_scale=None):
    """stack (B, K, H, W, 3), focus distances (K,) or (B, K), camera (a `ThinLensCamera`, or its params (3,) or
    one per example (B, 3)), depth_scale (B,) or None -> normalised cost (B, D, H, W), no gradient.

    With depth-scale augmentation an example is read as a scene σ times farther, taken by `camera.scaled(σ)`
    focused σ times farther: same images, and since that camera's blur for depth σd equals this camera's blur for d,
    its cost volume over the hypotheses is this camera's over the hypotheses divided by σ.
    """
    if camera is None:
      raise errors.UserError('DDFSNet builds its cost volume from a thin-lens camera; this data has none '
                             '(give the camera: focal length, f-number, pixel pitch).')
    if isinstance(camera, optics.ThinLensCamera):
      camera.check_focus_distances(focus)
      camera = camera.params
    focus = jnp.broadcast_to(jnp.asarray(focus, stack.dtype), stack.shape[:2])
    camera = jnp.broadcast_to(jnp.asarray(camera, stack.dtype), stack.shape[:1] + (3,))
    scale = jnp.ones(stack.shape[:1], stack.dtype) if depth_scale is None else depth_scale
    hypotheses = jnp.asarray(self.hypotheses)[None] / scale[:, None]  # (B, D)

    def one(s, f, c, h):
      return optics.normalize_cost_volume(optics.defocus_cost_volume(
          s, f, c, h, balance=self.wiener_balance, max_radius_px=self.max_radius_px, criterion=self.cost_criterion))

    return jax.lax.stop_gradient(jax.vmap(one)(stack, focus, camera, hypotheses))

  def forward(self, stack, focus, *, camera=None, depth_scale=None):
    """The registry's protocol: the four depth maps (coarse to fine) of a batch of thin-lens stacks; the last
    focal image is the network's image input. Stacks larger than `tile_px` give the tiled prediction alone."""
    cost = self.cost_volume(stack, focus, camera, depth_scale)
    if self.tile_px and max(stack.shape[2:4]) > self.tile_px:
      return (self.tiled(stack[:, -1], cost, self.hypotheses),)
    return tuple(self(stack[:, -1], cost, self.hypotheses))

  def tiled(self, image, cost, hypotheses):
    """image (B, H, W, 3), normalised cost (B, D, H, W) -> the finest depth (B, H, W), predicted tile by tile
    (`tile_starts` per axis; all tiles of the batch in one call) and blended with `blend_weights`."""
    b, h, w = image.shape[:3]
    th, tw = min(h, self.tile_px), min(w, self.tile_px)
    corners = [(y, x) for y in tile_starts(h, th) for x in tile_starts(w, tw)]
    tiles = self(jnp.concatenate([image[:, y:y + th, x:x + tw] for y, x in corners]),
                 jnp.concatenate([cost[:, :, y:y + th, x:x + tw] for y, x in corners]), hypotheses)[-1]
    tiles = tiles.reshape((len(corners), b, th, tw))
    weights = np.outer(blend_weights(th), blend_weights(tw))
    total, norm = jnp.zeros((b, h, w), tiles.dtype), np.zeros((h, w), np.float32)
    for k, (y, x) in enumerate(corners):
      total = total.at[:, y:y + th, x:x + tw].add(weights * tiles[k])
      norm[y:y + th, x:x + tw] += weights
    return total / norm

  def __call__(self, image, cost, hypotheses):
    """image (B, H, W, 3) in [0, 1]; normalised cost (B, D, H, W); hypotheses (D,) depths.

    Returns four depth maps, coarse to fine: (B, H/8, W/8), (B, H/4, W/4), (B, H/2, W/2), (B, H, W). Any H, W:
    reflect-padded to multiples of 32, cropped back (each scale to its share).
    """
    if image.ndim != 4 or image.shape[-1] != 3:
      raise errors.UserError(f'DDFSNet expects an image (B, H, W, 3), got shape {image.shape}.')
    if cost.shape != (image.shape[0], self.num_hypotheses) + image.shape[1:3]:
      raise errors.UserError(f'DDFSNet expects a cost volume (B, {self.num_hypotheses}, H, W) matching the image '
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
