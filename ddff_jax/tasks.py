"""What a run learns and how it is measured, shared by training, evaluation and the experiments.

Two tasks:
  DisparityTask  focal stacks refocused from light fields (DDFF 12-Scene, `synthetic_lf`) -> disparity (px);
                 DDFFNet; masked MSE; the DDFF metrics (DESIGN §5), checkpoints selected by validation MSE.
  DepthTask      thin-lens focal stacks with known camera settings (`synthetic_thin_lens`) -> metric depth (m);
                 DDFSNet (cost volume in, multiscale L1) or DDFFNet (stack in, masked L1); the DDFS metrics,
                 checkpoints selected by validation MAE.

A task turns a batch into the model's inputs (the DDFS cost volume is built inside the compiled step, from the
stack, its focus distances and the camera), gives the loss, the prediction and the per-image metrics, and the
classical focus-measure baseline for the same data.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import metrics
from ddff_jax import optics
from ddff_jax.models.ddfs import multiscale_l1


def build_task(config, info: dict):
  """The task for a config's data source: DisparityTask or DepthTask."""
  if config.data.source == 'synthetic_thin_lens':
    return DepthTask(config, info['camera'], info['focus_distances_m'])
  if config.model.name != 'ddffnet':
    raise ValueError(f"model {config.model.name!r} needs depth data with camera settings "
                     f"(data.source='synthetic_thin_lens'), not {config.data.source!r}.")
  return DisparityTask(info['focus_disparities'], info['disparity_range'])


class DisparityTask:
  target = 'disparity'
  selection_metric = 'mse'
  metric_names = metrics.DDFF_METRICS
  value_name = 'disparity (px)'

  def __init__(self, focus_disparities, valid_range=metrics.DDFF_DISPARITY_RANGE):
    """focus_disparities (S,): the stack's, for the classical baseline; valid_range (lo, hi) px: where the DDFF
    protocol clips the ground truth (DDFF 12-Scene's range, or a synthetic camera's)."""
    self.focus_disparities = np.asarray(focus_disparities, np.float32)
    self.valid_range = tuple(float(v) for v in valid_range)

  def predict(self, model, batch):
    """(B, H, W) disparity."""
    return model(batch['stack'])

  def loss(self, model, batch):
    return metrics.masked_mse(model(batch['stack']), batch['disparity'])

  def image_metrics(self, pred, gt) -> dict:
    return metrics.ddff_image_metrics(pred, gt, valid_range=self.valid_range)

  def classical(self, stack):
    return optics.depth_from_focus(stack, self.focus_disparities, window=5)


class DepthTask:
  """Metric depth from a thin-lens focal stack (K, H, W, 3) taken with `camera` at `focus_distances_m` (K,).

  DDFSNet sees the last focal image and the normalised cost volume over its depth hypotheses (uniform in
  `model.depth_range_m`); predictions are the finest of its four scales. With depth-scale augmentation (a
  'depth_scale' σ in the batch) the example is read as a scene σ times farther, taken by `camera.scaled(σ)` focused
  σ times farther: same images, target σ·depth, and since the scaled camera's blur for depth σd equals this
  camera's blur for d, the cost volume is this camera's over the hypotheses divided by σ. Targets outside the
  hypothesis range (which soft-argmin cannot reach) are left out of the loss.
  """
  target = 'depth'
  selection_metric = 'mae'
  metric_names = ('mae', 'rmse', 'abs_rel', 'scale_invariant')
  value_name = 'depth (m)'

  def __init__(self, config, camera: optics.ThinLensCamera, focus_distances_m):
    self.model_name = config.model.name
    self.camera = camera
    self.focus_distances_m = np.asarray(focus_distances_m, np.float32)
    self.balance = float(config.data.get('wiener_balance', 0.01))
    self.max_radius_px = float(config.data.max_radius_px)
    if self.model_name == 'ddfs':
      lo, hi = config.model.depth_range_m
      self.hypotheses = np.linspace(lo, hi, config.model.num_hypotheses).astype(np.float32)
    elif self.model_name != 'ddffnet':
      raise ValueError(f"unknown model name {self.model_name!r}; expected 'ddffnet' or 'ddfs'.")

  def ddfs_inputs(self, stack, depth_scale=None, focus_distances_m=None, camera=None):
    """stack (B, K, H, W, 3), depth_scale (B,) or None, focus distances (K,) or (B, K) (default: the task's)
    -> image (B, H, W, 3), normalised cost (B, D, H, W)."""
    focus = self.focus_distances_m if focus_distances_m is None else focus_distances_m
    focus = jnp.broadcast_to(jnp.asarray(focus, stack.dtype), stack.shape[:2])
    camera = self.camera if camera is None else camera
    scale = jnp.ones(stack.shape[:1], stack.dtype) if depth_scale is None else depth_scale
    hypotheses = jnp.asarray(self.hypotheses)[None] / scale[:, None]  # (B, D)

    def one(s, f, h):
      return optics.normalize_cost_volume(optics.defocus_cost_volume(
          s, f, camera, h, balance=self.balance, max_radius_px=self.max_radius_px))

    cost = jax.lax.stop_gradient(jax.vmap(one)(stack, focus, hypotheses))
    return stack[:, -1], cost

  def predict(self, model, batch, focus_distances_m=None, camera=None):
    """(B, H, W) depth in metres for a batch taken at `focus_distances_m` with `camera` (default: the task's)."""
    if self.model_name == 'ddffnet':
      return model(batch['stack'])
    image, cost = self.ddfs_inputs(batch['stack'], None, focus_distances_m, camera)
    return model(image, cost, self.hypotheses)[-1]

  def loss(self, model, batch):
    if self.model_name == 'ddffnet':
      return metrics.masked_l1(model(batch['stack']), batch['depth'])
    scale = batch.get('depth_scale')
    target = batch['depth'] if scale is None else batch['depth'] * scale[:, None, None]
    reachable = (target >= self.hypotheses[0]) & (target <= self.hypotheses[-1])
    image, cost = self.ddfs_inputs(batch['stack'], scale, batch.get('focus_distances_m'))
    return multiscale_l1(model(image, cost, self.hypotheses), jnp.where(reachable, target, 0.0))

  def image_metrics(self, pred, gt) -> dict:
    out = metrics.ddfs_image_metrics(pred, gt)
    return {k: out[k] for k in self.metric_names}

  def classical(self, stack, focus_distances_m=None):
    """Sharpest image per pixel, interpolated in dioptres (blur is linear in 1/depth), as depth (m)."""
    focus = self.focus_distances_m if focus_distances_m is None else np.asarray(focus_distances_m, np.float32)
    order = np.argsort(1.0 / focus)  # the interpolation needs increasing slice values
    dioptres = optics.depth_from_focus(np.asarray(stack)[order], 1.0 / focus[order], window=5)
    return 1.0 / dioptres
