"""What a user hands the tools, read from disk: light fields, focal stacks, published DDFF files, and the focus
settings written on the command line."""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from ddff_jax import errors
from ddff_jax import optics
from ddff_jax.data import ddff as ddff_data
from ddff_jax.data import formats, hci, stacks

DISPARITY_SPEC_HELP = "'ddff:S' (the DDFF camera's S focus disparities), 'linspace:LO,HI,S' or a list '0.1,0.2'"


def parse_disparities(spec: str) -> np.ndarray:
  """Focus disparities (px) from a command-line spec: 'ddff:S', 'linspace:LO,HI,S' or a comma-separated list."""
  spec = spec.strip()
  try:
    if spec.startswith('ddff:'):
      return optics.DDFF_CAMERA.focal_stack_disparities(int(spec[5:]))
    if spec.startswith('linspace:'):
      lo, hi, n = spec[9:].split(',')
      return np.linspace(float(lo), float(hi), int(n))
    values = np.array([float(v) for v in spec.split(',') if v.strip()])
  except ValueError as e:
    raise errors.UserError(f'cannot parse disparities {spec!r}: use {DISPARITY_SPEC_HELP}.') from e
  if values.size == 0:
    raise errors.UserError(f'no disparities in {spec!r}: use {DISPARITY_SPEC_HELP}.')
  return values


CAMERA_FIELDS = ('focal_length_mm', 'f_number', 'pixel_pitch_um')


def parse_focus_distances(spec: str) -> np.ndarray:
  """Focus distances (m) from a comma-separated list, one per slice, e.g. '0.1,0.3,1.5'."""
  try:
    values = np.array([float(v) for v in spec.split(',') if v.strip()], np.float32)
  except ValueError as e:
    raise errors.UserError(f'cannot parse focus distances {spec!r}: expected metres, e.g. 0.1,0.3,1.5.') from e
  if values.size == 0 or np.any(~np.isfinite(values)) or np.any(values <= 0):
    raise errors.UserError(f'focus distances must be positive metres, one per slice, got {spec!r}.')
  return values


def parse_camera(spec: str) -> optics.ThinLensCamera:
  """A thin-lens camera from 'focal_length_mm=2.9,f_number=1.0,pixel_pitch_um=5.6' (all three fields)."""
  fields = {}
  for part in (p for p in spec.split(',') if p.strip()):
    key, sep, value = part.partition('=')
    key = key.strip()
    if not sep or key not in CAMERA_FIELDS:
      raise errors.UserError(f'--camera takes {"=…,".join(CAMERA_FIELDS)}=…; {part!r} is not one of them.')
    try:
      fields[key] = float(value)
    except ValueError as e:
      raise errors.UserError(f'--camera {key}={value!r} is not a number.') from e
  missing = [k for k in CAMERA_FIELDS if k not in fields]
  if missing:
    raise errors.UserError(f'--camera lacks {", ".join(missing)} (expected {"=…,".join(CAMERA_FIELDS)}=…).')
  return optics.ThinLensCamera(focal_length_m=fields['focal_length_mm'] * 1e-3, f_number=fields['f_number'],
                               pixel_pitch_m=fields['pixel_pitch_um'] * 1e-6)


def is_light_field(path) -> bool:
  path = os.fspath(path)
  if os.path.isdir(path):
    return os.path.isfile(os.path.join(path, 'input_Cam000.png'))
  return path.endswith('.npy') and os.path.isfile(path) and np.load(path, mmap_mode='r').ndim == 5


def load_light_field(path):
  """HCI-layout folder or DDFF `LF_XXXX.npy` -> (light field uint8 (U, V, H, W, 3), ground-truth disparity (H, W)
  or None)."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise errors.InputNotFound(f'input not found: {path}')
  if os.path.isdir(path):
    scene = hci.read_hci_scene(path)
    return scene.light_field, scene.disparity
  if path.endswith('.npy'):
    lf = ddff_data.read_raw_light_field(path)
    depth = os.path.join(os.path.dirname(path), os.path.basename(path).replace('LF_', 'DEPTH_').replace('.npy', '.png'))
    gt = ddff_data.depth_png_to_disparity(formats.read_image(depth)) if os.path.isfile(depth) else None
    return lf, gt
  raise errors.UserError(f'{path}: expected an HCI scene folder or a DDFF LF_XXXX.npy light field.')


@dataclasses.dataclass
class LoadedStack:
  """stack (S, H, W, 3) float32 in [0, 1]; focus (S,) focus disparities (px) or None when the input does not say;
  ground_truth (H, W) disparity or None; kind: 'hci' / 'ddff_light_field' (refocused here), 'ddff_h5', 'stack'."""
  stack: np.ndarray
  focus: np.ndarray | None
  ground_truth: np.ndarray | None
  kind: str

  @property
  def from_ddff_camera(self) -> bool:
    """Taken with the DDFF 12-Scene Lytro ILLUM, whose disparities convert to metric depth."""
    return self.kind in ('ddff_light_field', 'ddff_h5')


def load_stack(path, disparities=None, *, h5_split: str = 'test', h5_index: int = 0) -> LoadedStack:
  """Any supported input as a focal stack.

  Inputs: an HCI scene folder or a DDFF `LF_XXXX.npy` light field (refocused to `disparities`, (S,) px, which a
  light field needs); a folder of slice images (file-name order, nearest focus first); a `.npy`/`.npz` focal stack;
  a published DDFF `.h5` file (`h5_split`, `h5_index`; the DDFF camera's focus disparities).
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise errors.InputNotFound(f'input not found: {path}')
  focus = None if disparities is None else np.asarray(disparities, np.float32)
  gt = None
  if is_light_field(path):
    if focus is None:
      raise errors.UserError(f'refocusing a light field needs focus disparities: {DISPARITY_SPEC_HELP}.')
    lf, gt = load_light_field(path)
    stack = np.asarray(optics.refocus(lf, focus))
    kind = 'hci' if os.path.isdir(path) else 'ddff_light_field'
  elif os.path.isdir(path):
    stack, kind = stacks.read_stack_folder(path), 'stack'
  elif path.endswith(('.npy', '.npz')):
    stack, kind = stacks.read_stack_array(path), 'stack'
  elif path.endswith(('.h5', '.hdf5')):
    reader = ddff_data.DDFFH5(path, h5_split)
    if not 0 <= h5_index < len(reader):
      raise errors.UserError(f'--h5_index {h5_index} is out of range: the {h5_split} split holds {len(reader)} '
                             'stacks.')
    item = reader[h5_index]
    stack, gt, kind = item['stack'], item.get('disparity'), 'ddff_h5'
    if focus is None:
      focus = optics.DDFF_CAMERA.focal_stack_disparities(stack.shape[0]).astype(np.float32)
  else:
    raise errors.UserError(f'{path}: unsupported input; expected an HCI folder, a DDFF LF_XXXX.npy, a folder of '
                           'slice images, a .npy/.npz focal stack or a DDFF .h5 file.')
  stack = optics.to_unit_float(stack, 'focal stack')
  if focus is not None and len(focus) != stack.shape[0]:
    raise errors.UserError(f'the stack has {stack.shape[0]} slices but {len(focus)} focus disparities were given.')
  return LoadedStack(stack, focus, gt, kind)
