"""A typed description of focal-stack data: what is predicted, where the slices focus, which values count.

Stored with every checkpoint, so that a trained model knows the focus settings and camera it was trained with and
evaluation never has to rebuild a training set to recover them.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ddff_jax import errors
from ddff_jax import optics

TARGETS = ('disparity', 'depth')


@dataclasses.dataclass(frozen=True)
class FocalStackSpec:
  """target: 'disparity' (px between adjacent light-field views) or 'depth' (metres).
  focus: one value per slice, nearest focus first: focus disparities (px) for disparity data, focus distances (m)
    for depth data.
  valid_range: (lo, hi) of the ground truth that the metrics count (outside = invalid, as the DDFF protocol clips);
    None for signed disparities (HCI light fields), where every finite pixel counts.
  camera: the thin-lens camera of depth data (the DDFS cost volume needs it); None for disparity data.
  """
  target: str
  focus: tuple[float, ...]
  valid_range: tuple[float, float] | None
  camera: optics.ThinLensCamera | None = None

  def __post_init__(self):
    if self.target not in TARGETS:
      raise errors.UserError(f'target must be one of {TARGETS}, got {self.target!r}.')
    object.__setattr__(self, 'focus', tuple(float(v) for v in np.ravel(self.focus)))
    if not self.focus:
      raise errors.UserError('a focal stack needs at least one focus value.')
    if self.valid_range is not None:
      object.__setattr__(self, 'valid_range', tuple(float(v) for v in self.valid_range))
    if self.target == 'depth':
      if self.camera is None:
        raise errors.UserError('depth data needs its thin-lens camera (focal length, f-number, pixel pitch).')
      self.camera.check_focus_distances(self.focus)

  @property
  def num_slices(self) -> int:
    return len(self.focus)

  @property
  def focus_array(self) -> np.ndarray:
    return np.asarray(self.focus, np.float32)

  def replace(self, **changes) -> 'FocalStackSpec':
    return dataclasses.replace(self, **changes)

  def to_json(self) -> dict:
    out = {'target': self.target, 'focus': list(self.focus),
           'valid_range': None if self.valid_range is None else list(self.valid_range), 'camera': None}
    if self.camera is not None:
      out['camera'] = dataclasses.asdict(self.camera)
    return out

  @classmethod
  def from_json(cls, data: dict) -> 'FocalStackSpec':
    camera = data.get('camera')
    return cls(target=data['target'], focus=tuple(data['focus']),
               valid_range=None if data.get('valid_range') is None else tuple(data['valid_range']),
               camera=None if camera is None else optics.ThinLensCamera(**camera))
