"""DDFFNet (Hazirbas et al., ACCV 2018): a VGG-16 encoder-decoder shared by all focal slices and a 1×1 scorer.

    (B, S, H, W, 3) → slices folded into the batch → encoder (VGG-16 convs + BN + ReLU, 2×2 max-pools, dropout
    after pools 3–5) → decoder (×2 upsampling, optional skip concatenation, convs + BN + ReLU) → one map per slice
    (B, S, H, W) → 1×1 convolution over S (no bias, no activation) → disparity (B, H, W).
Variants of the paper's ablation: upsampling `upconv` (4×4 transposed conv, stride 2, optionally initialised
bilinearly), `unpool` (max-unpooling with the encoder's pooling indices) or `bilinear`; skips any subset of
cc1/cc2/cc3 (the output of encoder block K's last conv, concatenated after decoder stage K's upsampling).

Not in the paper: `scorer='softargmax'` replaces the 1×1 convolution by a soft argmax over the slices: the per-slice
maps (the last convolution without its ReLU) are a softmax over S per pixel, and the output is the expected focus
value Σₛ pₛ·focusₛ (disparity or depth, in the focus values' units). The paper's linear scorer sees each slice's map
separately, so it can only weigh absolute per-slice responses and cannot compare slices; the soft argmax compares
them and cannot leave the stack's range (as AiFDepthNet's expected focus position). `scorer='local_softargmax'`
takes the same expectation over the most likely slice and its `local_radius` neighbours on each side only (a
softmax over those logits; one by default): where the slice probabilities are spread or have two modes (a
textureless region), the full expectation lands between them, in the middle of the range, and the local one stays
at the mode. With `local_mass` > 0 the prediction is the local expectation only where it is safe (the window holds
at least that share of the probability, or the mode is the first or last hypothesis or next to one, where the full
mean is biased inwards by the truncated distribution) and the full one elsewhere; training supervises full, local
and this prediction.

`end_hypotheses=True` lets the soft-argmax scorers answer beyond the stack: two more hypotheses, one focus step
beyond each end (2f₀ − f₁ and 2f_S − f_{S−1}), scored per pixel as the slice logits' mean plus a linear map of
their deviations from it (so a common shift moves them with the slices; initially the end slice's logit − 1). A
surface beyond the far focus is sharpest in the end slice whatever its distance; how fast its logits fall across
the neighbouring slices tells how far beyond it lies.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from ddff_jax import errors
from ddff_jax.models import layers
from ddff_jax.models.registry import register

ENCODER = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# Decoder stages 5..1: (input channels, conv output channels, dropout after the stage).
DECODER = ((512, (512, 512, 512), True), (512, (512, 512, 256), True), (256, (256, 256, 128), True),
           (128, (128, 64), False), (64, (64, 1), False))
UPSAMPLING = ('upconv', 'unpool', 'bilinear')
SKIPS = ('cc1', 'cc2', 'cc3')
SCORERS = ('linear', 'softargmax', 'local_softargmax')
LOCAL_RADIUS = 1  # default `local_radius`: hypotheses on each side of the mode that the local soft argmax averages


@register('ddffnet')
class DDFFNet(nnx.Module):
  """Regresses the target of its training data (disparity, or metric depth) straight from the stack. With the
  paper's linear scorer it sees no focus settings, so it is tied to the ones it was trained on; the soft-argmax
  scorer reads the focus values it is given."""
  targets = ('disparity', 'depth')
  output_range = None

  def __init__(self, num_slices: int, *, upsample: str = 'upconv', skips=('cc3',), width: float = 1.0,
               dropout: float = 0.5, bilinear_init: bool = True, normalization: str = 'unit',
               dtype: str = 'float32', param_dtype: str = 'float32', scorer: str = 'linear',
               end_hypotheses: bool = False, local_mass: float = 0.0, local_radius: int = LOCAL_RADIUS,
               rngs: nnx.Rngs):
    if scorer not in SCORERS:
      raise errors.UserError(f'scorer must be one of {SCORERS}, got {scorer!r}.')
    if end_hypotheses and (scorer == 'linear' or num_slices < 2):
      raise errors.UserError(f'end_hypotheses needs a soft-argmax scorer and >= 2 slices, got {scorer!r} and '
                             f'{num_slices}.')
    if not 0.0 <= local_mass < 1.0 or (local_mass and scorer != 'local_softargmax'):
      raise errors.UserError(f"local_mass must be in [0, 1) and needs scorer='local_softargmax', got {local_mass} "
                             f'with {scorer!r}.')
    if local_radius != int(local_radius) or local_radius < 1 or (local_radius != LOCAL_RADIUS and
                                                                  scorer != 'local_softargmax'):
      raise errors.UserError(f"local_radius must be an integer >= 1 and needs scorer='local_softargmax' unless "
                             f'{LOCAL_RADIUS}, got {local_radius} with {scorer!r}.')
    if upsample not in UPSAMPLING:
      raise errors.UserError(f'upsample must be one of {UPSAMPLING}, got {upsample!r}.')
    skips = tuple(sorted(set(skips)))
    if not set(skips) <= set(SKIPS):
      raise errors.UserError(f'skips must be a subset of {SKIPS}, got {skips}.')
    if normalization not in layers.NORMALIZATIONS:
      raise errors.UserError(f'normalization must be one of {layers.NORMALIZATIONS}, got {normalization!r}.')
    if num_slices < 1 or width <= 0:
      raise errors.UserError(f'need num_slices >= 1 and width > 0, got {num_slices}, {width}.')
    self.num_slices, self.upsample, self.skips, self.normalization = num_slices, upsample, skips, normalization
    ch = lambda c: layers.scaled_width(c, width)
    dtype, param_dtype = layers.dtypes(dtype, param_dtype)
    self.dtype = dtype
    precision = dict(dtype=dtype, param_dtype=param_dtype)

    self.encoder = nnx.List()
    in_ch = 3
    for block in ENCODER:
      convs = nnx.List()
      for out in block:
        convs.append(layers.ConvBNReLU(in_ch, ch(out), **precision, rngs=rngs))
        in_ch = ch(out)
      self.encoder.append(convs)
    self.decoder = nnx.List()
    self.upconvs = nnx.List()
    for stage, (stage_in, outs, _) in zip((5, 4, 3, 2, 1), DECODER):
      c = ch(stage_in)
      if upsample == 'upconv':
        init = (lambda key, shape, dtype=param_dtype: jnp.asarray(layers.bilinear_upconv_kernel(shape[-1]), dtype)) \
            if bilinear_init else nnx.initializers.lecun_normal()
        self.upconvs.append(layers.UpConv(c, c, kernel_init=init, **precision, rngs=rngs))
      convs = nnx.List()
      in_ch = c + (ch(ENCODER[stage - 1][-1]) if f'cc{stage}' in skips else 0)
      for i, out in enumerate(outs):
        last = stage == 1 and i == len(outs) - 1
        out_ch = 1 if last else ch(out)
        # The soft argmax takes the last map as logits: no ReLU to clip them.
        convs.append(layers.ConvBNReLU(in_ch, out_ch, relu=not (last and scorer != 'linear'), **precision,
                                       rngs=rngs))
        in_ch = out_ch
      self.decoder.append(convs)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.scorer = layers.Conv(num_slices, 1, (1, 1), use_bias=False, **precision, rngs=rngs) \
        if scorer == 'linear' else None
    self.local = scorer == 'local_softargmax'
    self.local_mass = float(local_mass)
    self.local_radius = int(local_radius)
    end_kernel = lambda key, shape, dtype: jnp.zeros(shape, dtype).at[0, 0].set(1.0).at[-1, 1].set(1.0)
    self.end_scorer = nnx.Linear(num_slices, 2, kernel_init=end_kernel, bias_init=nnx.initializers.constant(-1.0),
                                 param_dtype=param_dtype, rngs=rngs) if end_hypotheses else None

  def forward(self, stack, focus=None, *, camera=None, depth_scale=None):
    """The registry's protocol: the full-resolution readouts (`readouts`). The camera and depth scale are not
    inputs of this network; the focus values are only for the soft-argmax scorers."""
    del camera, depth_scale
    return self.readouts(stack, focus)

  def per_slice_maps(self, images):
    """Shared encoder-decoder: (N, H, W, 3) with H, W multiples of 32 -> (N, H, W) one map per image, in the
    compute dtype."""
    x = layers.normalize_input(images, self.normalization)
    if x.dtype != self.dtype:  # mixed precision; float32 keeps the exact float32 program
      x = x.astype(self.dtype)
    features, masks = [], []
    for k, block in enumerate(self.encoder, start=1):
      for conv in block:
        x = conv(x)
      features.append(x)
      x, mask = layers.max_pool_with_indices(x)
      masks.append(mask)
      if k >= 3:
        x = self.dropout(x)
    for i, (stage, (_, _, drop)) in enumerate(zip((5, 4, 3, 2, 1), DECODER)):
      if self.upsample == 'upconv':
        x = self.upconvs[i](x)
      elif self.upsample == 'unpool':
        x = layers.max_unpool(x, masks[stage - 1])
      else:
        x = layers.bilinear_upsample(x)
      if f'cc{stage}' in self.skips:
        x = jnp.concatenate([x, features[stage - 1]], axis=-1)
      for conv in self.decoder[i]:
        x = conv(x)
      if drop:
        x = self.dropout(x)
    return x[..., 0]

  def __call__(self, stack, focus=None):
    """stack (B, S, H, W, 3) float in [0, 1] -> disparity (B, H, W). Any H, W: reflect-padded to multiples of 32
    and cropped back. `focus` (S,) or (B, S): the slices' focus values, needed by the soft-argmax scorers only."""
    return self.readouts(stack, focus)[-1]

  def readouts(self, stack, focus=None):
    """The network's outputs, each (B, H, W), the prediction last. With the local soft argmax the full one comes
    first, as a second training target: alone, the local readout's gradient moves a wrong mode by one slice at a
    time, and training stalled. With `local_mass` the third is the choice between the two."""
    if stack.ndim != 5 or stack.shape[1] != self.num_slices or stack.shape[-1] != 3:
      raise errors.UserError(f'DDFFNet expects a focal stack (B, {self.num_slices}, H, W, 3), got shape {stack.shape}.')
    b, s, h, w, _ = stack.shape
    stack = layers.normalize_stack(stack, self.normalization)
    padded, sizes = layers.pad_to_multiple(stack, 32, axes=(2, 3))
    maps = self.per_slice_maps(padded.reshape((b * s,) + padded.shape[2:]))  # slices share the weights
    maps = maps.reshape(b, s, *maps.shape[1:]).transpose(0, 2, 3, 1)  # (B, Hp, Wp, S)
    maps = layers.crop_to(maps, sizes, axes=(1, 2))
    if self.scorer is not None:
      return (self.scorer(maps)[..., 0].astype(jnp.float32),)
    if focus is None:
      raise errors.UserError('DDFFNet with the soft-argmax scorer needs the stack\'s focus values (S,) or (B, S).')
    focus = jnp.broadcast_to(jnp.asarray(focus, jnp.float32), (b, s))
    logits = maps.astype(jnp.float32)
    if self.end_scorer is not None:
      # Of the logits' deviations from their mean: the softmax ignores a common shift, so must the end hypotheses
      # (a plain map of the raw logits made the far end win wherever all slices scored low, e.g. plain regions).
      mean = jnp.mean(logits, axis=-1, keepdims=True)
      ends = mean + self.end_scorer(logits - mean)
      logits = jnp.concatenate([ends[..., :1], logits, ends[..., 1:]], axis=-1)
      focus = jnp.concatenate([2 * focus[:, :1] - focus[:, 1:2], focus, 2 * focus[:, -1:] - focus[:, -2:-1]], axis=-1)
    full = expected_focus(logits, focus)
    if not self.local:
      return (full,)
    local = expected_focus(logits, focus, self.local_radius)
    if not self.local_mass:
      return full, local
    mode = jnp.argmax(logits, axis=-1)
    near = jnp.abs(jnp.arange(logits.shape[-1]) - mode[..., None]) <= self.local_radius
    mass = jnp.sum(jnp.where(near, jax.nn.softmax(logits, axis=-1), 0.0), axis=-1)
    # At an end hypothesis or next to one the distribution is cut off beside the mode: the full mean is pulled inwards.
    last = logits.shape[-1] - 1
    safe = (mass >= self.local_mass) | (mode <= 1) | (mode >= last - 1)
    return full, local, jnp.where(safe, local, full)


def expected_focus(logits, focus, radius=None):
  """Σₛ softmax(logits)ₛ · focusₛ: logits (B, H, W, S), focus (B, S) -> (B, H, W). With `radius`, the softmax is
  over the argmax slice and the `radius` slices on each side only (the choice of window carries no gradient)."""
  if radius is not None:
    near = jnp.abs(jnp.arange(logits.shape[-1]) - jnp.argmax(logits, axis=-1)[..., None]) <= radius
    logits = jnp.where(near, logits, -jnp.inf)
  return jnp.einsum('bhws,bs->bhw', jax.nn.softmax(logits, axis=-1), focus)
