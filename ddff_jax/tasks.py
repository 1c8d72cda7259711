"""The one route from a model to predictions, losses and metrics, shared by training, evaluation, prediction and
the experiments.

A task is chosen by the data's description (`FocalStackSpec.target`), never by the model:
  DisparityTask  focal stacks from light fields -> disparity (px); masked MSE; the DDFF 12-Scene metrics;
                 checkpoints selected by validation MSE.
  DepthTask      thin-lens focal stacks with known camera settings -> metric depth (m); masked L1; the DDFS
                 metrics; checkpoints selected by validation MAE.
Models follow the registry's protocol (`ddff_jax.models.registry`): `model.forward(stack, focus, camera=…,
depth_scale=…)` gives their maps coarse to fine (the prediction last), so a task works with any registered model.
"""
from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax import losses
from ddff_jax import metrics
from ddff_jax import optics
from ddff_jax.data.spec import FocalStackSpec


def build_task(spec: FocalStackSpec, loss: str = '') -> 'Task':
  """The task of `spec`'s target; `loss` (a name of `losses.POINTWISE`) replaces its default training loss."""
  return {'disparity': DisparityTask, 'depth': DepthTask}[spec.target](spec, loss)


class Task:
  target: str
  selection_metric: str
  metric_names: tuple[str, ...]
  value_name: str
  pointwise_loss = None

  def __init__(self, spec: FocalStackSpec, loss: str = ''):
    if loss and loss not in losses.POINTWISE:
      raise errors.UserError(f'train.loss must be one of {sorted(losses.POINTWISE)} (or empty for the task\'s '
                             f'{type(self).pointwise_loss.__name__}), got {loss!r}.')
    if loss == 'inverse_l1' and self.target != 'depth':
      raise errors.UserError(f"train.loss 'inverse_l1' needs metric depth targets; this data's target is "
                             f'{self.target}.')
    self.spec = spec
    self.pointwise_loss = losses.POINTWISE[loss] if loss else type(self).pointwise_loss

  def check_model(self, model) -> None:
    """Refuses a model (instance or class) that cannot predict this task's target."""
    if self.target not in model.targets:
      name = getattr(model, '__name__', type(model).__name__)
      raise errors.UserError(f'{name} predicts {" or ".join(model.targets)}, but this data is {self.target} '
                             f'({self.value_name}).')

  def maps(self, model, stack, focus=None, camera=None, depth_scale=None):
    """The model's output maps (coarse to fine) for stack (B, S, H, W, 3) taken at `focus` (S,) or (B, S) with
    `camera` (a `ThinLensCamera`, or params (B, 3) where each example has its own; defaults: the spec's)."""
    chex.assert_rank(stack, 5)
    focus = self.spec.focus_array if focus is None else focus
    camera = self.spec.camera if camera is None else camera
    maps = model.forward(stack, focus, camera=camera, depth_scale=depth_scale)
    chex.assert_rank(list(maps), 3)  # the registry's protocol: (B, h, w) maps
    return maps

  def predict(self, model, stack, focus=None, camera=None):
    """(B, H, W) prediction: the model's finest map."""
    return self.maps(model, stack, focus, camera)[-1]

  def valid(self, target):
    """Pixels the loss learns from: finite ground truth, and > 0 unless the data is signed (`valid_range` None);
    0 marks missing ground truth in DDFF and depth data."""
    finite = jnp.isfinite(target)
    return finite if self.spec.valid_range is None else finite & (target > 0)

  def loss(self, model, batch):
    """Masked pointwise loss over the model's scales. With depth-scale augmentation ('depth_scale' σ in the batch)
    the target is σ·depth; targets the model cannot reach (outside its `output_range`) are left out."""
    scale = batch.get('depth_scale')
    target = batch[self.target]
    if scale is not None:
      target = target * scale[:, None, None]
    mask = self.valid(batch[self.target])
    if model.output_range is not None:
      lo, hi = model.output_range
      mask = mask & (target >= lo) & (target <= hi)
    target = jnp.where(mask, target, 0.0)
    maps = self.maps(model, batch['stack'], batch.get('focus'), batch.get('camera'), depth_scale=scale)
    return losses.multiscale(self.pointwise_loss, maps, target, mask)

  def image_metrics(self, pred, gt) -> dict:
    raise NotImplementedError

  def classical(self, stack, focus=None):
    raise NotImplementedError


class DisparityTask(Task):
  target = 'disparity'
  selection_metric = 'mse'
  metric_names = metrics.DDFF_METRICS
  value_name = 'disparity (px)'
  pointwise_loss = staticmethod(losses.masked_mse)

  def image_metrics(self, pred, gt, *, reference_compat: bool = False) -> dict:
    return metrics.ddff_image_metrics(pred, gt, valid_range=self.spec.valid_range, reference_compat=reference_compat)

  def classical(self, stack, focus=None):
    """Modified-Laplacian focus measure (5×5), best slice refined by a parabola, as disparity (px)."""
    focus = self.spec.focus_array if focus is None else np.asarray(focus, np.float32)
    return optics.depth_from_focus(stack, focus, window=5)


class DepthTask(Task):
  target = 'depth'
  selection_metric = 'mae'
  metric_names = ('mae', 'rmse', 'abs_rel', 'scale_invariant')
  value_name = 'depth (m)'
  pointwise_loss = staticmethod(losses.masked_l1)

  def image_metrics(self, pred, gt, **unused) -> dict:
    out = metrics.ddfs_image_metrics(pred, gt)
    return {k: out[k] for k in self.metric_names}

  def classical(self, stack, focus=None):
    """Sharpest slice per pixel, interpolated in dioptres (blur is linear in 1/depth), as depth (m)."""
    focus = self.spec.focus_array if focus is None else np.asarray(focus, np.float32)
    order = np.argsort(1.0 / focus)  # the interpolation needs increasing slice values
    dioptres = optics.depth_from_focus(np.asarray(stack)[order], 1.0 / focus[order], window=5)
    return 1.0 / dioptres
