"""Importers of pretrained weights into DDFFNet.

* ImageNet VGG-16 encoder from a torchvision state dict (`vgg16`: conv indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21,
  24, 26, 28 of `features`; `vgg16_bn`: 0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40, each followed by its
  BatchNorm) or from Keras/TF-VGG arrays (`block{b}_conv{c}/kernel`, HWIO). DDFFNet's convolutions have no bias
  (BatchNorm follows), so VGG conv biases are reported as unused.
* The DDFFNet-CC3 TensorFlow export (`ddffnet-cc3-snapshot-*.npz`, HWIO kernels) under the key scheme that
  `export_keys` documents (`<layer>/W:0`, `<layer>/bn/{gamma,beta,moving_mean,moving_variance}:0`,
  `upconv{k}/up_filter:0`, scorer `conv_disp/W:0`). The layer names follow the toolbox's naming pattern but could
  not be checked against the released file here (no download is possible): a mismatch is reported key by key.
Every load reports missing, unexpected and mis-shaped keys and refuses a partial load unless `allow_partial=True`.
Weights are read from `.npz` (any importer) or, for state dicts, `.pth` when PyTorch is installed.
"""
from __future__ import annotations

import dataclasses
import os

import jax.numpy as jnp
import numpy as np

from ddff_jax import errors

TORCH_VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
TORCH_VGG16_BN_CONVS = (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)
_BLOCK_SIZES = (2, 2, 3, 3, 3)
_ENCODER_LAYERS = [(b, c) for b, n in enumerate(_BLOCK_SIZES) for c in range(n)]  # (block, conv) 0-based


@dataclasses.dataclass
class LoadReport:
  loaded: list[str] = dataclasses.field(default_factory=list)
  missing: list[str] = dataclasses.field(default_factory=list)
  unexpected: list[str] = dataclasses.field(default_factory=list)
  mis_shaped: list[str] = dataclasses.field(default_factory=list)
  unused: list[str] = dataclasses.field(default_factory=list)

  def check(self, allow_partial: bool, source: str) -> 'LoadReport':
    problems = []
    if self.missing:
      problems.append(f'missing keys {self.missing[:6]}{" …" if len(self.missing) > 6 else ""}')
    if self.mis_shaped:
      problems.append(f'mis-shaped {self.mis_shaped[:4]}{" …" if len(self.mis_shaped) > 4 else ""}')
    if self.unexpected:
      problems.append(f'unexpected keys {self.unexpected[:6]}{" …" if len(self.unexpected) > 6 else ""}')
    if problems and not (allow_partial and not self.mis_shaped):
      raise errors.UserError(f'cannot load {source}: ' + '; '.join(problems) +
                             ('' if self.mis_shaped else ' (pass allow_partial=True to load the rest)'))
    return self


def read_arrays(path) -> dict[str, np.ndarray]:
  """A `.npz` archive, or a PyTorch `.pth` state dict (needs torch), as {name: numpy array}."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise errors.InputNotFound(f'weights file not found: {path}')
  if path.endswith('.npz'):
    with np.load(path) as data:
      return {k: data[k] for k in data.files}
  if path.endswith(('.pth', '.pt')):
    try:
      import torch
    except ImportError as e:
      raise errors.UserError(f'{path} is a PyTorch file: install torch, or convert it once with '
                             '`np.savez(out, **{k: v.numpy() for k, v in torch.load(path).items()})`.') from e
    state = torch.load(path, map_location='cpu')
    state = state.get('state_dict', state)
    return {k: v.detach().cpu().numpy() for k, v in state.items()}
  raise errors.UserError(f'{path}: expected a .npz or .pth weights file.')


class _Assigner:
  """Copies arrays into NNX variables, recording the report."""

  def __init__(self, arrays):
    self.arrays, self.used, self.report = arrays, set(), LoadReport()

  def take(self, key, variable, transform=lambda a: a):
    if key not in self.arrays:
      self.report.missing.append(key)
      return
    value = transform(np.asarray(self.arrays[key]))
    self.used.add(key)
    if tuple(value.shape) != tuple(variable.value.shape):
      self.report.mis_shaped.append(f'{key}: file {tuple(value.shape)} vs model {tuple(variable.value.shape)}')
      return
    variable.value = jnp.asarray(value, variable.value.dtype)
    self.report.loaded.append(key)

  def finish(self, ignorable=lambda k: False):
    for key in sorted(set(self.arrays) - self.used):
      (self.report.unused if ignorable(key) else self.report.unexpected).append(key)
    return self.report


def _oihw_to_hwio(a):
  return np.transpose(a, (2, 3, 1, 0))


def load_torchvision_vgg16(model, state_dict, *, batch_norm: bool | None = None,
                           allow_partial: bool = False) -> LoadReport:
  """Loads torchvision `vgg16` / `vgg16_bn` `features.*` weights into DDFFNet's encoder (width 1.0).

  batch_norm: None infers it from the keys. Classifier weights are reported as unused; so are conv biases.
  torchvision VGG expects ImageNet-normalised input: build the model with normalization='imagenet'.
  """
  if batch_norm is None:
    batch_norm = 'features.1.running_mean' in state_dict
  indices = TORCH_VGG16_BN_CONVS if batch_norm else TORCH_VGG16_CONVS
  assign = _Assigner(state_dict)
  for index, (b, c) in zip(indices, _ENCODER_LAYERS):
    layer = model.encoder[b][c]
    assign.take(f'features.{index}.weight', layer.conv.kernel, _oihw_to_hwio)
    if batch_norm:
      bn = f'features.{index + 1}'
      assign.take(f'{bn}.weight', layer.bn.scale)
      assign.take(f'{bn}.bias', layer.bn.bias)
      assign.take(f'{bn}.running_mean', layer.bn.mean)
      assign.take(f'{bn}.running_var', layer.bn.var)
  return assign.finish(lambda k: k.startswith('classifier.') or k.endswith('.bias') and k.startswith('features.')
                       or k.endswith('num_batches_tracked')).check(allow_partial, 'the torchvision VGG-16 weights')


def _keras_key(arrays, name):
  for candidate in (f'{name}/kernel', f'{name}/kernel:0', f'{name}_W', f'{name}/W:0'):
    if candidate in arrays:
      return candidate
  return f'{name}/kernel'


def load_keras_vgg16(model, arrays, *, allow_partial: bool = False) -> LoadReport:
  """Loads Keras/TF VGG-16 kernels (`block{b}_conv{c}/kernel`, HWIO) into DDFFNet's encoder (width 1.0)."""
  assign = _Assigner(arrays)
  for b, c in _ENCODER_LAYERS:
    assign.take(_keras_key(arrays, f'block{b + 1}_conv{c + 1}'), model.encoder[b][c].conv.kernel)
  return assign.finish(lambda k: 'bias' in k or k.startswith(('fc', 'predictions', 'flatten'))).check(
      allow_partial, 'the Keras VGG-16 weights')


def export_keys(model) -> dict[str, object]:
  """The DDFF TF-export key of every DDFFNet variable: encoder `conv{b}_{c}`, decoder `conv{b}_{c}_D`
  (stage 5..1, c = 1..), `upconv{k}`; BatchNorm under `<layer>/bn/`."""
  keys = {}

  def conv_bn(name, layer):
    keys[f'{name}/W:0'] = layer.conv.kernel
    for tf_name, attr in (('gamma', 'scale'), ('beta', 'bias'), ('moving_mean', 'mean'), ('moving_variance', 'var')):
      keys[f'{name}/bn/{tf_name}:0'] = getattr(layer.bn, attr)

  for b, c in _ENCODER_LAYERS:
    conv_bn(f'conv{b + 1}_{c + 1}', model.encoder[b][c])
  for i, stage in enumerate((5, 4, 3, 2, 1)):
    if model.upsample == 'upconv':
      keys[f'upconv{stage}/up_filter:0'] = model.upconvs[i].kernel
    for c, layer in enumerate(model.decoder[i]):
      conv_bn(f'conv{stage}_{c + 1}_D', layer)
  keys['conv_disp/W:0'] = model.scorer.kernel
  return keys


def _tf_transposed_conv_to_flax(kernel):
  """TF conv2d_transpose filters are (h, w, out, in) and act as the transpose of a convolution, i.e. a convolution
  with the spatially flipped kernel; flax's ConvTranspose (transpose_kernel=False) takes (h, w, in, out) unflipped."""
  return np.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))


def load_ddffnet_tf_export(model, arrays, *, allow_partial: bool = False) -> LoadReport:
  """Loads a DDFFNet TF export (`.npz`, HWIO kernels) into a DDFFNet of the same variant and width."""
  assign = _Assigner(arrays)
  for key, variable in export_keys(model).items():
    candidates = (key, key.replace(':0', ''))
    found = next((k for k in candidates if k in arrays), key)
    assign.take(found, variable, _tf_transposed_conv_to_flax if 'up_filter' in key else (lambda a: a))
  return assign.finish(lambda k: 'global_step' in k or 'Momentum' in k).check(allow_partial, 'the DDFFNet export')


def detect_format(arrays) -> str:
  """Which importer a weights file is for, from its key names."""
  keys = set(arrays)
  if any(k.startswith('features.') for k in keys):
    return 'torchvision_vgg16'
  if any(k.startswith('block1_conv1') for k in keys):
    return 'keras_vgg16'
  if any(k.startswith(('conv1_1/', 'conv_disp')) for k in keys):
    return 'ddffnet_tf_export'
  raise errors.UserError(f'cannot tell what these weights are (first keys {sorted(keys)[:5]}): expected a '
                         "torchvision VGG-16 state dict ('features.0.weight', ...), Keras VGG-16 arrays "
                         "('block1_conv1/kernel', ...) or the DDFFNet TF export ('conv1_1/W:0', ..., 'conv_disp/W:0').")


def load_weights(model, path, *, allow_partial: bool = False) -> LoadReport:
  """Loads a weights file (.npz / .pth) into a DDFFNet with the importer its keys call for.

  VGG-16 files fill the encoder only (the decoder keeps its initialisation); the DDFFNet export fills everything.
  """
  arrays = read_arrays(path)
  fmt = detect_format(arrays)
  if fmt == 'torchvision_vgg16':
    return load_torchvision_vgg16(model, arrays, allow_partial=allow_partial)
  if fmt == 'keras_vgg16':
    return load_keras_vgg16(model, arrays, allow_partial=allow_partial)
  return load_ddffnet_tf_export(model, arrays, allow_partial=allow_partial)


def load_ddffnet(path, variant: str = 'cc3-upconv'):
  """A whole DDFFNet (eval mode) from a file holding every layer (the DDFF TF export), and its config: the paper
  config `configs/ddffnet.py:<variant>` (10 slices, raw 0–255 input as the released model)."""
  import jax
  from flax import nnx
  from ddff_jax.configs import ddffnet as ddffnet_config
  from ddff_jax.models.registry import build_model
  config = ddffnet_config.get_config(variant)
  arrays = read_arrays(path)
  fmt = detect_format(arrays)
  if fmt != 'ddffnet_tf_export':
    raise errors.UserError(f'{path} holds {fmt} encoder weights only; prediction needs a whole DDFFNet (train one '
                           f'with --config.train.init_weights={path}, or pass the DDFFNet TF export).')
  build = lambda: build_model(config.model, config.seed)
  # Shapes only: the importer fills every weight and BatchNorm statistic (and refuses a file that lacks one).
  model = nnx.eval_shape(build)
  load_ddffnet_tf_export(model, arrays)
  # The dropout streams are not in the export: their initial state, compiled alone (XLA drops the unused
  # initialisers).
  nnx.update(model, jax.jit(lambda: nnx.state(build(), nnx.RngState))())
  unset = [jax.tree_util.keystr(p) for p, leaf in jax.tree_util.tree_leaves_with_path(nnx.state(model))
           if isinstance(leaf, jax.ShapeDtypeStruct)]
  if unset:
    raise errors.UserError(f'{path} left these DDFFNet variables unset: {unset}.')
  model.eval()
  return model, config
