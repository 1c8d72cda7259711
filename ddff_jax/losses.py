"""Training losses: masked pointwise errors, averaged over a model's output scales."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def masked_mean(values, mask):
  """Mean of `values` over `mask` (0 when the mask is empty)."""
  return jnp.sum(jnp.where(mask, values, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


def masked_mse(pred, target, mask=None):
  """Mean squared error over `mask` (default: target > 0, the DDFF convention for missing ground truth)."""
  chex.assert_equal_shape([pred, target])
  mask = target > 0 if mask is None else mask
  return masked_mean((pred - target) ** 2, mask)


def masked_l1(pred, target, mask=None):
  """Mean absolute error over `mask` (default: target > 0)."""
  chex.assert_equal_shape([pred, target])
  mask = target > 0 if mask is None else mask
  return masked_mean(jnp.abs(pred - target), mask)


def masked_inverse_l1(pred, target, mask=None, min_depth: float = 1e-3):
  """Mean absolute error of inverse depth |1/pred − 1/target| (1/m) over `mask` (default: target > 0): metric depth
  trained so that near pixels, where the defocus cue is strongest, weigh as much as the far ones that dominate an L1
  in metres. Predictions are clamped to >= `min_depth`."""
  chex.assert_equal_shape([pred, target])
  mask = target > 0 if mask is None else mask
  inverse_target = 1.0 / jnp.where(mask, target, 1.0)
  return masked_mean(jnp.abs(1.0 / jnp.maximum(pred, min_depth) - inverse_target), mask)


# By the name a config gives (`train.loss`); 'inverse_l1' is for depth targets only.
POINTWISE = {'mse': masked_mse, 'l1': masked_l1, 'inverse_l1': masked_inverse_l1}


def multiscale(loss_fn, maps, target, mask):
  """`loss_fn(pred, target, mask)` averaged with equal weights over `maps` (each (B, h, w), any scale); the target
  and its mask are resampled to each scale by nearest neighbour (the DDFS loss: L1 over its four scales)."""
  chex.assert_rank([target, mask, *maps], 3)
  chex.assert_equal_shape([target, mask])
  total = 0.0
  for pred in maps:
    shape = pred.shape
    if shape != target.shape:
      t = jax.image.resize(target, shape, 'nearest')
      m = jax.image.resize(mask.astype(jnp.float32), shape, 'nearest') > 0.5
    else:
      t, m = target, mask
    total = total + loss_fn(pred, t, m)
  return total / len(maps)
