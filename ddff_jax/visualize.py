"""Colour-mapped pictures of predictions, ground truth and errors (written atomically as PNG)."""
from __future__ import annotations

import numpy as np

from ddff_jax import files


def _pyplot():
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  return plt


def save_figure(fig, path: str) -> None:
  with files.atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=100, bbox_inches='tight')
  _pyplot().close(fig)


def _missing_white(cmap: str):
  """A colour map that draws NaN (no ground truth) white, as the panels' titles say."""
  return _pyplot().get_cmap(cmap).with_extremes(bad='white')


def colorize(values, vmin=None, vmax=None, cmap: str = 'viridis', invalid=None) -> np.ndarray:
  """(H, W) values -> (H, W, 3) uint8 with a matplotlib colour map; `invalid` pixels (mask) and NaN are black."""
  plt = _pyplot()
  values = np.asarray(values, np.float64)
  finite = np.isfinite(values) if invalid is None else (~np.asarray(invalid) & np.isfinite(values))
  vmin = np.min(values[finite]) if vmin is None and finite.any() else (vmin or 0.0)
  vmax = np.max(values[finite]) if vmax is None and finite.any() else (vmax or 1.0)
  scaled = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0, 1)
  rgb = (plt.get_cmap(cmap)(scaled)[..., :3] * 255).astype(np.uint8)
  rgb[~finite] = 0
  return rgb


def save_map(path: str, values, label: str, title: str = '', cmap: str = 'viridis') -> None:
  """One map (H, W) with a colour bar giving its scale (`label`, e.g. 'disparity (px)')."""
  plt = _pyplot()
  values = np.asarray(values, np.float64)
  h, w = values.shape
  fig, ax = plt.subplots(figsize=(6.0 * min(w / h, 2.0) + 1.2, 6.0), layout='constrained')
  im = ax.imshow(values, cmap=_missing_white(cmap))
  ax.axis('off')
  fig.colorbar(im, ax=ax, label=label, shrink=0.9)
  if title:
    ax.set_title(title, fontsize=9)
  save_figure(fig, path)


def save_prediction_panel(path: str, stack, gt, pred, title: str = '', value_name: str = 'disparity (px)',
                          signed: bool = False) -> None:
  """Four panels: the middle focal slice, ground truth and prediction (one colour scale, its bar beneath them)
  and |error| (its own bar beneath it). Pixels without ground truth are white.

  signed: the ground truth may be negative (HCI light fields), so every finite pixel is valid; otherwise (DDFF,
  depth) 0 marks a pixel without ground truth."""
  plt = _pyplot()
  stack, gt, pred = np.asarray(stack), np.asarray(gt), np.asarray(pred)
  valid = np.isfinite(gt) if signed else np.isfinite(gt) & (gt > 0)
  lo = float(np.min(gt[valid])) if valid.any() else float(np.min(pred))
  hi = float(np.max(gt[valid])) if valid.any() else float(np.max(pred))
  fig, axes = plt.subplots(1, 4, figsize=(14, 4.4), layout='constrained')
  axes[0].imshow(np.clip(stack[len(stack) // 2], 0, 1))
  axes[0].set_title('focal slice (middle)')
  im = axes[1].imshow(np.where(valid, gt, np.nan), vmin=lo, vmax=hi, cmap=_missing_white('viridis'))
  axes[1].set_title(f'ground truth {value_name}')
  axes[2].imshow(pred, vmin=lo, vmax=hi, cmap='viridis')
  axes[2].set_title('prediction')
  err = axes[3].imshow(np.where(valid, np.abs(pred - gt), np.nan), cmap=_missing_white('magma'))
  axes[3].set_title('|error| (white: no ground truth)')
  for a in axes:
    a.axis('off')
  fig.colorbar(im, ax=axes[1:3], location='bottom', shrink=0.6, label=value_name)
  fig.colorbar(err, ax=axes[3], location='bottom', shrink=0.9, label=f'|error| {value_name}')
  if title:
    fig.suptitle(title)
  save_figure(fig, path)


def save_badpix_curve(path: str, thresholds, curves: dict) -> None:
  """BadPix(τ) curves of several methods: {name: (T,) percentages}."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.6))
  for name, curve in curves.items():
    ax.plot(thresholds, curve, label=name)
  ax.set_xlabel('threshold τ (px)')
  ax.set_ylabel('BadPix(τ) %')
  ax.grid(alpha=0.3)
  ax.legend()
  save_figure(fig, path)


def save_comparison_panel(path: str, image, gt, predictions: dict, title: str = '',
                          value_name: str = 'depth (m)') -> None:
  """The input image, the ground truth and each method's prediction on one colour scale, then each |error|
  (white: no ground truth)."""
  plt = _pyplot()
  gt = np.asarray(gt)
  valid = gt > 0
  lo, hi = float(np.min(gt[valid])), float(np.max(gt[valid]))
  n = 2 + len(predictions)
  fig, axes = plt.subplots(2, n, figsize=(2.8 * n, 6.2), squeeze=False, layout='constrained')
  axes[0, 0].imshow(np.clip(np.asarray(image), 0, 1))
  axes[0, 0].set_title('input (last focal image)')
  im = axes[0, 1].imshow(np.where(valid, gt, np.nan), vmin=lo, vmax=hi, cmap=_missing_white('viridis'))
  axes[0, 1].set_title(f'ground truth {value_name}')
  errors = {name: np.where(valid, np.abs(np.asarray(p) - gt), np.nan) for name, p in predictions.items()}
  err_hi = max(float(np.nanpercentile(e, 99)) for e in errors.values()) or 1.0
  for j, (name, pred) in enumerate(predictions.items(), start=2):
    axes[0, j].imshow(np.asarray(pred), vmin=lo, vmax=hi, cmap='viridis')
    axes[0, j].set_title(name)
    err = axes[1, j].imshow(errors[name], vmin=0, vmax=err_hi, cmap=_missing_white('magma'))
    axes[1, j].set_title(f'|error|, mean {np.nanmean(errors[name]):.3g}')
  fig.colorbar(im, ax=list(axes[0]), fraction=0.02, label=value_name)
  fig.colorbar(err, ax=list(axes[1]), fraction=0.02, label=f'|error| {value_name}')
  for a in axes.ravel():
    a.axis('off')
  fig.suptitle(title)
  save_figure(fig, path)
