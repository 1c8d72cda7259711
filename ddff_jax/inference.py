"""What the predict/evaluate/refocus entry points share: reading inputs, choosing a method, one-line CLI errors."""
from __future__ import annotations

import functools
import os
import sys

import numpy as np

from ddff_jax import optics
from ddff_jax.data import ddff as ddff_data
from ddff_jax.data import formats, hci, stacks

EXPECTED_ERRORS = (FileNotFoundError, ValueError, KeyError, TypeError, OSError)


def one_line_errors(main):
  """Turns expected user errors (bad paths, shapes, keys) into `error: …` on stderr and exit status 2."""
  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    try:
      return main(*args, **kwargs)
    except EXPECTED_ERRORS as e:
      message = str(e).strip('"\'') or type(e).__name__
      print(f'error: {message}', file=sys.stderr)
      sys.exit(2)
  return wrapped


def parse_disparities(spec: str) -> np.ndarray:
  """'ddff:S' (the DDFF camera's S focus disparities), 'linspace:LO,HI,S', or a comma-separated list."""
  spec = spec.strip()
  try:
    if spec.startswith('ddff:'):
      return optics.DDFF_CAMERA.focal_stack_disparities(int(spec[5:]))
    if spec.startswith('linspace:'):
      lo, hi, n = spec[9:].split(',')
      return np.linspace(float(lo), float(hi), int(n))
    values = np.array([float(v) for v in spec.split(',') if v.strip()])
  except ValueError as e:
    raise ValueError(f"cannot parse disparities {spec!r}: use 'ddff:10', 'linspace:-2.5,2.5,10' or '0.1,0.2'.") from e
  if values.size == 0:
    raise ValueError(f'no disparities in {spec!r}.')
  return values


def load_light_field(path):
  """HCI-layout folder or DDFF `LF_XXXX.npy` -> (light field uint8 (U, V, H, W, 3), ground-truth disparity or None)."""
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f'input not found: {path}')
  if os.path.isdir(path):
    scene = hci.read_hci_scene(path)
    return scene.light_field, scene.disparity
  if path.endswith('.npy'):
    lf = ddff_data.read_raw_light_field(path)
    depth = os.path.join(os.path.dirname(path), os.path.basename(path).replace('LF_', 'DEPTH_').replace('.npy', '.png'))
    gt = ddff_data.depth_png_to_disparity(formats.read_image(depth)) if os.path.isfile(depth) else None
    return lf, gt
  raise ValueError(f'{path}: expected an HCI scene folder or a DDFF LF_XXXX.npy light field.')


def load_stack(path, disparities_spec: str | None, *, h5_split: str = 'test', h5_index: int = 0):
  """Any supported input -> (focal stack float32 (S, H, W, 3) in [0, 1], focus disparities (S,) or None,
  ground-truth disparity (H, W) or None).

  Inputs: a folder of slice images; an HCI scene folder or a DDFF `LF_XXXX.npy` light field (refocused to
  `disparities_spec`); a `.npy`/`.npz` focal stack; a published DDFF `.h5` file (`h5_split`, `h5_index`).
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f'input not found: {path}')
  focus = parse_disparities(disparities_spec) if disparities_spec else None
  gt = None
  is_lf = (os.path.isdir(path) and os.path.isfile(os.path.join(path, 'input_Cam000.png'))) or (
      path.endswith('.npy') and np.load(path, mmap_mode='r').ndim == 5)
  if is_lf:
    lf, gt = load_light_field(path)
    if focus is None:
      raise ValueError('refocusing a light field needs --disparities (e.g. ddff:10 or linspace:-2.5,2.5,10).')
    stack = np.asarray(optics.refocus(lf, focus))
  elif os.path.isdir(path):
    stack = stacks.read_stack_folder(path)
  elif path.endswith(('.npy', '.npz')):
    stack = stacks.read_stack_array(path)
  elif path.endswith(('.h5', '.hdf5')):
    reader = ddff_data.DDFFH5(path, h5_split)
    if not 0 <= h5_index < len(reader):
      raise ValueError(f'--h5_index {h5_index} is out of range: the {h5_split} split holds {len(reader)} stacks.')
    item = reader[h5_index]
    stack, gt = item['stack'], item.get('disparity')
    if focus is None:
      focus = optics.DDFF_CAMERA.focal_stack_disparities(stack.shape[0])
  else:
    raise ValueError(f'{path}: unsupported input; expected an image folder, HCI folder, .npy/.npz or .h5 file.')
  stack = np.asarray(stack)
  stack = stack.astype(np.float32) / 255.0 if stack.dtype == np.uint8 else np.clip(stack.astype(np.float32), 0, 1)
  if focus is not None and len(focus) != stack.shape[0]:
    raise ValueError(f'the stack has {stack.shape[0]} slices but {len(focus)} focus disparities were given.')
  return stack, focus, gt


METHODS = ('checkpoint', 'classical', 'weights')


def define_method_flags():
  """The flags that choose a method, shared by `predict` and `evaluate`."""
  from absl import flags
  flags.DEFINE_enum('method', 'checkpoint', list(METHODS),
                    'A trained model (--workdir), the classical DFF, or a pretrained DDFFNet file (--weights).')
  flags.DEFINE_string('workdir', None, 'Training workdir holding the model (for --method=checkpoint).')
  flags.DEFINE_enum('which', 'best', ['best', 'latest'], 'Which checkpoint of the workdir.')
  flags.DEFINE_string('weights', None, 'For --method=weights: a whole-DDFFNet weights file, e.g. the released TF '
                      'export ddffnet-cc3-snapshot-121256.npz.')
  flags.DEFINE_string('variant', 'cc3-upconv', "For --method=weights: the DDFFNet variant of the file, "
                      "'<cc1|cc2|cc3|none>-<upconv|unpool|bilinear>'.")


def predictor_from_flags(flags_values) -> 'Predictor':
  f = flags_values
  return Predictor(f.method, f.workdir, f.which, weights=f.weights, variant=f.variant)


class Predictor:
  """A depth-from-focus method with one interface: stack (S, H, W, 3) [0, 1] + focus disparities -> (H, W).

  method: 'checkpoint' (a training workdir), 'classical' (focus measure), or 'weights' (a whole DDFFNet weights
  file, built as the paper config `configs/ddffnet.py:<variant>`: 10 slices, raw 0–255 input as the released model).
  """

  def __init__(self, method: str, workdir: str | None = None, which: str = 'best', *, weights: str | None = None,
               variant: str = 'cc3-upconv'):
    self.method = method
    if method == 'classical':
      self.num_slices, self.name = None, 'classical DFF (modified Laplacian, parabolic)'
      return
    if method == 'checkpoint':
      if not workdir:
        raise ValueError('--method=checkpoint needs --workdir (a training workdir).')
      from ddff_jax import checkpoints
      model, config, step = checkpoints.load_model(workdir, which)
      self.name = f'{config.model.name} ({workdir}, step {step})'
    elif method == 'weights':
      model, config = load_ddffnet_weights(weights, variant)
      self.name = f'DDFFNet {variant} ({weights})'
    else:
      raise ValueError(f'--method must be one of {METHODS}, got {method!r}.')
    import jax
    self.num_slices = config.model.num_slices
    self._forward = jax.jit(lambda s: model(s[None])[0])

  def __call__(self, stack, focus_disparities):
    if self.method == 'classical':
      if focus_disparities is None:
        raise ValueError('the classical method needs the focus disparities of the stack (--disparities).')
      return np.asarray(optics.depth_from_focus(stack, focus_disparities, window=5))
    if stack.shape[0] != self.num_slices:
      raise ValueError(f'the model was trained on {self.num_slices}-slice stacks; this stack has {stack.shape[0]}.')
    return np.asarray(self._forward(stack))


def load_ddffnet_weights(weights: str | None, variant: str = 'cc3-upconv'):
  """A whole DDFFNet (eval mode) from a weights file holding every layer (the DDFF TF export), and its config."""
  if not weights:
    raise ValueError('--method=weights needs --weights (e.g. the released ddffnet-cc3-snapshot-121256.npz).')
  from ddff_jax.configs import ddffnet as ddffnet_config
  from ddff_jax.models import pretrained
  from ddff_jax.models.registry import build_model
  config = ddffnet_config.get_config(variant)
  arrays = pretrained.read_arrays(weights)
  fmt = pretrained.detect_format(arrays)
  if fmt != 'ddffnet_tf_export':
    raise ValueError(f'{weights} holds {fmt} encoder weights only; prediction needs a whole DDFFNet (train one with '
                     f'--config.train.init_weights={weights}, or pass the DDFFNet TF export).')
  import jax
  from flax import nnx
  build = lambda: build_model(config.model, config.seed)
  # Shapes only: every weight and BatchNorm statistic comes from the file (the importer refuses a file that lacks
  # one), so running the full-width initialisers first (~12 s on 2 CPU cores) would be thrown away.
  model = nnx.eval_shape(build)
  pretrained.load_ddffnet_tf_export(model, arrays)
  # The dropout streams are not in the export: their initial state, compiled alone (XLA drops the unused
  # initialisers).
  nnx.update(model, jax.jit(lambda: nnx.state(build(), nnx.RngState))())
  unset = [jax.tree_util.keystr(path) for path, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(model))
           if isinstance(leaf, jax.ShapeDtypeStruct)]
  if unset:
    raise ValueError(f'{weights} left these DDFFNet variables unset: {unset}.')
  model.eval()
  return model, config
