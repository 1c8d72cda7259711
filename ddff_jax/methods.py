"""Depth-from-focus methods behind one interface, for predict, evaluate and the notebooks:

    method(stack (S, H, W, 3) in [0, 1], focus (S,) or None, camera=None) -> (H, W) map of `method.target`

A trained model (a workdir's checkpoint, or a whole-DDFFNet weights file) predicts through its task, with the
focus settings and camera it was trained on unless others are given; the classical DFF works on any stack whose
focus settings are known.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from ddff_jax import errors
from ddff_jax import tasks
from ddff_jax.data.spec import FocalStackSpec

METHODS = ('checkpoint', 'classical', 'weights', 'pretrained', 'pretrained_ddfs')


@dataclasses.dataclass
class Method:
  """name: for reports and pictures; target: 'disparity' or 'depth'; spec: the data a trained model learned from
  (its focus settings and camera), None for the classical DFF."""
  name: str
  target: str
  spec: FocalStackSpec | None
  _predict: Callable = dataclasses.field(repr=False)  # (stack, FocalStackSpec of the stack) -> (H, W)

  @property
  def default_disparities(self) -> np.ndarray | None:
    """The focus disparities a light field is refocused to for this method: a disparity model's own."""
    if self.spec is not None and self.target == 'disparity':
      return self.spec.focus_array
    return None

  def input_spec(self, num_slices: int, focus=None, camera=None) -> FocalStackSpec:
    """The description of a stack given to this method: the given focus settings, else the model's own."""
    own = self.spec
    if focus is None:
      if own is None:
        raise errors.UserError(f'{self.name} needs the focus settings of the stack (e.g. --disparities).')
      focus = own.focus
    if len(focus) != num_slices:
      trained = f'; the model was trained on {own.num_slices}-slice stacks' if own else ''
      raise errors.UserError(f'the stack has {num_slices} slices but {len(focus)} focus values are known for '
                             f'it{trained}.')
    if camera is None and own is not None:
      camera = own.camera
    return FocalStackSpec(self.target, focus, None, camera)

  def __call__(self, stack, focus=None, camera=None) -> np.ndarray:
    stack = np.asarray(stack, np.float32)
    if stack.ndim != 4 or stack.shape[-1] != 3:
      raise errors.UserError(f'a focal stack is (S, H, W, 3), got shape {stack.shape}.')
    return np.asarray(self._predict(stack, self.input_spec(stack.shape[0], focus, camera)))


def classical(target: str = 'disparity') -> Method:
  """The classical DFF (modified Laplacian, 5×5, parabolic refinement): disparity from focus disparities, or depth
  from focus distances (interpolated in dioptres)."""
  return Method('classical DFF (modified Laplacian, parabolic)', target, None,
                lambda stack, spec: tasks.build_task(spec).classical(stack))


def from_model(model, spec: FocalStackSpec, name: str) -> Method:
  """A trained model (eval mode) as a method: predictions through its task, compiled once per input shape and
  camera."""
  import jax
  from ddff_jax import compiler
  task = tasks.build_task(spec)
  task.check_model(model)

  @functools.partial(jax.jit, static_argnums=2, compiler_options=compiler.options())
  def forward(stack, focus, camera):
    return task.predict(model, stack[None], focus, camera)[0]

  return Method(name, spec.target, spec, lambda stack, s: forward(stack, s.focus_array, s.camera))


def trained(workdir: str, which: str = 'best') -> Method:
  """The model of a training workdir, with the focus settings and camera of its checkpoint."""
  from ddff_jax import checkpoints
  restored = checkpoints.load(workdir, which)
  return from_model(restored.model, restored.spec, f'{restored.config.model.name} ({workdir}, step {restored.step})')


def released_weights(path: str, variant: str = 'cc3-upconv') -> Method:
  """A whole DDFFNet from a weights file (the authors' TF export), on DDFF 12-Scene's 10-slice stacks."""
  from ddff_jax import metrics, optics
  from ddff_jax.models import pretrained
  model, config = pretrained.load_ddffnet(path, variant)
  spec = FocalStackSpec('disparity', optics.DDFF_CAMERA.focal_stack_disparities(config.model.num_slices),
                        metrics.DDFF_DISPARITY_RANGE)
  return from_model(model, spec, f'DDFFNet {variant} ({path})')


def from_name(name: str, *, workdir: str | None = None, which: str = 'best', weights: str | None = None,
              variant: str = 'cc3-upconv') -> Method:
  """--method=checkpoint (needs workdir) | classical | weights (needs weights) | pretrained (the shipped DDFFNet for
  light fields) | pretrained_ddfs (the shipped DDFS for focal stacks with known camera settings)."""
  if name == 'classical':
    return classical()
  if name in ('pretrained', 'pretrained_ddfs'):
    from ddff_jax import shipped
    return shipped.method(name)
  if name == 'checkpoint':
    if not workdir:
      raise errors.UserError('--method=checkpoint needs --workdir (a training workdir).')
    return trained(workdir, which)
  if name == 'weights':
    if not weights:
      raise errors.UserError('--method=weights needs --weights (e.g. the released ddffnet-cc3-snapshot-121256.npz).')
    return released_weights(weights, variant)
  raise errors.UserError(f'--method must be one of {METHODS}, got {name!r}.')
