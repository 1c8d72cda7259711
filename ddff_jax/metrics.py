"""The evaluation protocols: DDFF 12-Scene (disparity; Hazirbas et al., ACCV 2018) and DDFS (metric depth; Fujimura
et al., IJCV 2023).

DDFF: per image, over the valid mask M = (ground truth > 0) after clipping the ground truth to the camera's
disparity range [0.0202, 0.2825] px (outside -> 0 = invalid); then averaged over images.

Non-positive predictions. The released DDFF code lets a prediction p <= 0 count as *accurate* in δ (max(p/g, g/p) is
negative) and drops it from logRMS while still dividing by |M|. That rewards predicting 0. Here (the default), such
predictions are clamped to `min_prediction` (1e-3 px) before the ratio and log metrics, so they count as wrong in δ
and pay a large, finite logRMS penalty; MSE/RMS/AbsRel/SqRel/BadPix/Bumpiness use p as it is. `reference_compat=True`
reproduces the released code's treatment instead, for comparing with published numbers.
"""
from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax import optics
from ddff_jax.losses import masked_mean as _masked_mean

DDFF_DISPARITY_RANGE = (0.0202, 0.2825)
BADPIX_THRESHOLD = 0.07
DDFF_METRICS = ('mse', 'rms', 'log_rms', 'abs_rel', 'sq_rel', 'delta1', 'delta2', 'delta3', 'badpix', 'bumpiness')
DDFS_METRICS = ('mae', 'rmse', 'abs_rel', 'scale_invariant', 'ssitrim')

# Scharr derivative: smoothing [3, 10, 3]/16 across, central difference [1, 0, −1] along the axis.
_SCHARR_SMOOTH = np.array([3.0, 10.0, 3.0]) / 16.0
_SCHARR_DIFF = np.array([1.0, 0.0, -1.0])


def clip_ground_truth(gt, valid_range=DDFF_DISPARITY_RANGE):
  """Disparities outside `valid_range` become 0 (invalid)."""
  lo, hi = valid_range
  return jnp.where((gt >= lo) & (gt <= hi), gt, 0.0)


def _correlate3(x, kernel_rows, kernel_cols):
  """Separable 3×3 correlation with mirror boundary (OpenCV's default BORDER_REFLECT_101)."""
  x = optics.correlate1d(x, kernel_rows, axis=0, mode='mirror')
  return optics.correlate1d(x, kernel_cols, axis=1, mode='mirror')


def hessian_norm(x):
  """Frobenius norm of the Hessian of x (H, W) from Scharr derivatives: sqrt(dxx² + dxy² + dyx² + dyy²)."""
  dx = lambda f: _correlate3(f, _SCHARR_SMOOTH, _SCHARR_DIFF)
  dy = lambda f: _correlate3(f, _SCHARR_DIFF, _SCHARR_SMOOTH)
  gx, gy = dx(x), dy(x)
  return jnp.sqrt(dx(gx) ** 2 + dy(gx) ** 2 + dx(gy) ** 2 + dy(gy) ** 2)


def _static_range(valid_range):
  return None if valid_range is None else tuple(float(v) for v in valid_range)


def ddff_image_metrics(pred, gt, *, valid_range=DDFF_DISPARITY_RANGE, badpix_threshold: float = BADPIX_THRESHOLD,
                       min_prediction: float = 1e-3, reference_compat: bool = False) -> dict[str, jax.Array]:
  """All DDFF metrics of one image: pred, gt (H, W) disparity in px. Percentages in [0, 100].

  `valid_range=None` (signed disparities, e.g. HCI light fields) evaluates every finite ground-truth pixel and
  reports the ratio and log metrics (AbsRel, SqRel, logRMS, δ) as NaN, since they need positive disparities.
  Returns NaN for every metric when the image has no valid pixel.
  """
  # One compiled program per image shape instead of some forty eagerly compiled operations per process.
  return _ddff_image_metrics(pred, gt, _static_range(valid_range), float(badpix_threshold), float(min_prediction),
                             bool(reference_compat))


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _ddff_image_metrics(pred, gt, valid_range, badpix_threshold, min_prediction, reference_compat):
  pred = jnp.asarray(pred, jnp.float32)
  signed = valid_range is None
  gt = jnp.asarray(gt, jnp.float32)
  chex.assert_rank([pred, gt], 2)
  chex.assert_equal_shape([pred, gt])
  gt = jnp.where(jnp.isfinite(gt), gt, 0.0) if signed else clip_ground_truth(gt, valid_range)
  mask = jnp.isfinite(jnp.asarray(gt)) if signed else gt > 0
  g = gt if signed else jnp.where(mask, gt, 1.0)
  err = pred - g
  out = {'mse': _masked_mean(err ** 2, mask)}
  out['rms'] = jnp.sqrt(out['mse'])
  out['abs_rel'] = _masked_mean(jnp.abs(err) / g, mask)
  out['sq_rel'] = _masked_mean(err ** 2 / g, mask)
  if reference_compat:
    positive = pred > 0
    p = jnp.where(positive, pred, 1.0)
    out['log_rms'] = jnp.sqrt(_masked_mean(jnp.where(positive, (jnp.log(p) - jnp.log(g)) ** 2, 0.0), mask))
    ratio = jnp.maximum(pred / g, g / jnp.where(pred != 0, pred, -1e-30))
  else:
    p = jnp.maximum(pred, min_prediction)
    out['log_rms'] = jnp.sqrt(_masked_mean((jnp.log(p) - jnp.log(g)) ** 2, mask))
    ratio = jnp.maximum(p / g, g / p)
  for k in (1, 2, 3):
    out[f'delta{k}'] = 100.0 * _masked_mean(ratio < 1.25 ** k, mask)
  out['badpix'] = 100.0 * _masked_mean(jnp.abs(err) > badpix_threshold, mask)
  out['bumpiness'] = 100.0 * _masked_mean(jnp.minimum(hessian_norm(jnp.where(mask, pred - gt, 0.0)), 0.05), mask)
  if signed:
    for k in ('abs_rel', 'sq_rel', 'log_rms', 'delta1', 'delta2', 'delta3'):
      out[k] = jnp.asarray(jnp.nan, jnp.float32)
  empty = jnp.sum(mask) == 0
  return {k: jnp.where(empty, jnp.nan, v) for k, v in out.items()}


def badpix_curve(pred, gt, thresholds, *, valid_range=DDFF_DISPARITY_RANGE) -> jax.Array:
  """BadPix(τ) in % for every τ of `thresholds` (one image): (T,). `valid_range=None`: all finite pixels."""
  return _badpix_curve(pred, gt, thresholds, _static_range(valid_range))


@functools.partial(jax.jit, static_argnums=3)
def _badpix_curve(pred, gt, thresholds, valid_range):
  gt = jnp.asarray(gt, jnp.float32)
  if valid_range is None:
    mask = jnp.isfinite(gt)
  else:
    gt = clip_ground_truth(gt, valid_range)
    mask = gt > 0
  err = jnp.abs(jnp.asarray(pred, jnp.float32) - gt)
  return jax.vmap(lambda t: 100.0 * _masked_mean(err > t, mask))(jnp.asarray(thresholds, jnp.float32))


def errors_by_band(pred, gt, edges, *, badpix_threshold: float = BADPIX_THRESHOLD) -> list[dict]:
  """Signed-disparity errors of one image grouped by ground-truth band [edges[i], edges[i+1]) over finite pixels
  (±inf edges allowed, reported as None): per non-empty band its share of the pixels, MSE, median signed error
  (prediction − truth) and BadPix %. A model that hedges towards the mean shows median errors of opposite signs at
  the two ends."""
  pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
  chex.assert_equal_shape([pred, gt])
  known = np.isfinite(gt)
  edge = lambda e: None if np.isinf(e) else float(e)  # None: unbounded (JSON has no infinity)
  out = []
  for lo, hi in zip(edges[:-1], edges[1:]):
    band = known & (gt >= lo) & (gt < hi)
    if band.any():
      err = pred[band] - gt[band]
      out.append({'band': (edge(lo), edge(hi)), 'share': float(band.sum() / known.sum()),
                  'mse': float(np.mean(err ** 2)), 'median_error': float(np.median(err)),
                  'badpix': float(100.0 * np.mean(np.abs(err) > badpix_threshold))})
  return out


def fit_slope(pred, gt) -> float:
  """Slope of the least-squares line prediction ≈ a · truth + b over finite pixels: 1 for an unbiased predictor,
  towards 0 for one that answers a constant."""
  pred, gt = np.asarray(pred, np.float64).ravel(), np.asarray(gt, np.float64).ravel()
  known = np.isfinite(gt)
  g = gt[known] - gt[known].mean()
  return float(np.sum(g * (pred[known] - pred[known].mean())) / np.sum(g * g))


def ddfs_image_metrics(pred_depth, gt_depth, *, trim: float = 0.8) -> dict[str, jax.Array]:
  """DDFS depth metrics of one image over pixels with gt > 0 (and predictions clamped to >= 1e-6 m)."""
  return _ddfs_image_metrics(pred_depth, gt_depth, float(trim))


@functools.partial(jax.jit, static_argnums=2)
def _ddfs_image_metrics(pred_depth, gt_depth, trim):
  p = jnp.maximum(jnp.asarray(pred_depth, jnp.float32), 1e-6)
  gt = jnp.asarray(gt_depth, jnp.float32)
  chex.assert_equal_shape([p, gt])
  mask = gt > 0
  g = jnp.where(mask, gt, 1.0)
  err = p - g
  z = jnp.log(p) - jnp.log(g)
  mean_z = _masked_mean(z, mask)
  out = {'mae': _masked_mean(jnp.abs(err), mask), 'rmse': jnp.sqrt(_masked_mean(err ** 2, mask)),
         'abs_rel': _masked_mean(jnp.abs(err) / g, mask),
         'scale_invariant': jnp.sqrt(jnp.maximum(_masked_mean(z ** 2, mask) - mean_z ** 2, 0.0))}
  # ssitrim: least-squares scale and shift of the inverse prediction onto the inverse truth, then the mean absolute
  # residual over the `trim` fraction of smallest residuals.
  x, y = jnp.where(mask, 1.0 / p, 0.0), jnp.where(mask, 1.0 / g, 0.0)
  n = jnp.maximum(jnp.sum(mask), 1)
  mx, my = jnp.sum(x) / n, jnp.sum(y) / n
  var_x = jnp.sum(jnp.where(mask, (x - mx) ** 2, 0.0))
  scale = jnp.where(var_x > 0, jnp.sum(jnp.where(mask, (x - mx) * (y - my), 0.0)) / jnp.where(var_x > 0, var_x, 1.0), 0.0)
  residual = jnp.where(mask, jnp.abs(scale * x + (my - scale * mx) - y), jnp.inf).ravel()
  keep = jnp.floor(trim * n).astype(jnp.int32)
  ordered = jnp.sort(residual)
  ranks = jnp.arange(ordered.shape[0])
  out['ssitrim'] = jnp.sum(jnp.where(ranks < keep, ordered, 0.0)) / jnp.maximum(keep, 1)
  empty = jnp.sum(mask) == 0
  return {k: jnp.where(empty, jnp.nan, v) for k, v in out.items()}


def mean_over_images(per_image: list[dict]) -> dict[str, float]:
  """Averages per-image metric dicts, skipping images without valid pixels (NaN)."""
  if not per_image:
    raise errors.UserError('no images to average metrics over.')
  keys = per_image[0].keys()
  out = {}
  for k in keys:
    values = np.array([float(m[k]) for m in per_image], np.float64)
    out[k] = float(np.nanmean(values)) if np.any(np.isfinite(values)) else float('nan')
  # An image counts when any metric is defined: signed disparities leave the ratio metrics NaN on every image.
  out['num_images'] = int(sum(any(np.isfinite(float(m[k])) for k in keys) for m in per_image))
  return out
