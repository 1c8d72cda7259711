"""DDFF 12-Scene (Hazirbas et al., ACCV 2018) as a TensorFlow Datasets builder: a thin shell over
`ddff_jax.data` readers and the library's refocusing.

Configs:
  h5          the published `ddff-dataset-trainval.h5` / `ddff-dataset-test.h5` from the manual directory;
              splits train / validation (224×224 patches) and test (383×552, no ground truth).
  lightfield  raw light fields `<scene>/LF_XXXX.npy` + `DEPTH_XXXX.png` from the manual directory, refocused to
              S-slice stacks (`lightfield` S = 10; `lightfield_s5`, `_s8`, `_s15`); train scenes give 224×224
              patches (stride 56, >= 80 % valid pixels) split train / validation (every 10th light field),
              test scenes full images.
  synthetic   procedural light-field scenes made on the fly (no download): train / validation / test.
Array-record files by default, so building and reading need no TensorFlow (`tfds.data_source`).
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from ddff_jax import errors

_SYNTHETIC_SPLITS = {'train': 64, 'validation': 16, 'test': 16}
_SYNTHETIC_SIZE = 64
PATCH, STRIDE, MIN_VALID = 224, 56, 0.8


@dataclasses.dataclass
class DDFFConfig(tfds.core.BuilderConfig):
  source: str = 'h5'
  num_slices: int = 10


def patch_positions(size: int, patch: int = PATCH, stride: int = STRIDE) -> list[int]:
  """Patch origins of the authors' packing: 0, stride, … and a last one at size − patch − 1
  (rows 0, 56, 112, 158 and columns 0, 56, …, 280, 327 for 383×552)."""
  if size < patch:
    return []
  positions = list(range(0, size - patch, stride))
  last = max(size - patch - 1, 0)
  if not positions or positions[-1] != last:
    positions.append(last)
  return positions


class Builder(tfds.core.GeneratorBasedBuilder):
  """DDFF 12-Scene focal stacks with disparity ground truth."""

  name = 'ddff12scene'
  # README/CITATIONS/checksums sit beside this file; said explicitly because the folder is installed under a
  # different package path (ddff_jax.ddff12scene) than the one TFDS would infer in editable installs.
  pkg_dir_path = epath.Path(__file__).parent
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'h5, lightfield (S = 5, 8, 10, 15) and synthetic configs.'}
  BUILDER_CONFIGS = [
      DDFFConfig(name='h5', description='The published h5 files (manual download).', source='h5'),
      DDFFConfig(name='lightfield', description='Raw light fields refocused to 10 slices.', source='lightfield'),
      DDFFConfig(name='lightfield_s5', description='Raw light fields, 5 slices.', source='lightfield', num_slices=5),
      DDFFConfig(name='lightfield_s8', description='Raw light fields, 8 slices.', source='lightfield', num_slices=8),
      DDFFConfig(name='lightfield_s15', description='Raw light fields, 15 slices.', source='lightfield',
                 num_slices=15),
      DDFFConfig(name='synthetic', description='Procedural light-field scenes, no download.', source='synthetic'),
  ]
  DEFAULT_BUILDER_CONFIG_NAME = 'h5'
  MANUAL_DOWNLOAD_INSTRUCTIONS = """\
The DDFF 12-Scene files cannot be downloaded automatically. Get them from the authors' page (search for
"DDFF 12-Scene benchmark", TU Munich computer vision group) and place them in the manual directory
(default `~/tensorflow_datasets/downloads/manual/`, or pass `download_config=tfds.download.DownloadConfig(
manual_dir=...)`):
  config h5:          ddff-dataset-trainval.h5 (12.6 GB: keys stack_train, disp_train, stack_val, disp_val)
                      ddff-dataset-test.h5 (761 MB: key stack_test)
  config lightfield*: one folder per scene (glassroom, office41, …, magistrale), each with LF_XXXX.npy
                      (9×9×383×552×3 uint8) and DEPTH_XXXX.png (uint16 millimetres)
The synthetic config needs nothing.
"""

  def __init__(self, *, file_format=None, **kwargs):
    # array_record unless asked otherwise: TFDS's default (tfrecord) cannot be written without TensorFlow.
    super().__init__(file_format=file_format or 'array_record', **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'stack': tfds.features.Tensor(shape=(None, None, None, 3), dtype=np.uint8, encoding='zlib'),
            'disparity': tfds.features.Tensor(shape=(None, None), dtype=np.float32, encoding='zlib'),
            'focus_disparities': tfds.features.Tensor(shape=(None,), dtype=np.float32),
            'scene': tfds.features.Text(),
            'id': tfds.features.Text(),
        }),
        supervised_keys=('stack', 'disparity'),
        homepage='https://github.com/hazirbas/ddff-toolbox',
    )

  def _split_generators(self, dl_manager):
    source = self.builder_config.source
    if source == 'synthetic':
      return {split: self._generate_examples(kind='synthetic', split=split, num=n)
              for split, n in _SYNTHETIC_SPLITS.items()}
    manual = epath.Path(dl_manager.manual_dir)
    if source == 'h5':
      from ddff_jax.data import ddff
      trainval, test = manual / ddff.TRAINVAL_FILE, manual / ddff.TEST_FILE
      if not trainval.exists() and not test.exists():
        raise errors.InputNotFound(f'neither {trainval} nor {test} exists.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
      splits = {}
      if trainval.exists():
        splits['train'] = self._generate_examples(kind='h5', split='train', path=trainval)
        splits['validation'] = self._generate_examples(kind='h5', split='validation', path=trainval)
      if test.exists():
        splits['test'] = self._generate_examples(kind='h5', split='test', path=test)
      return splits
    return self._lightfield_splits(manual)

  def _generate_h5(self, path, split):
    from ddff_jax import optics
    from ddff_jax.data import ddff
    reader = ddff.DDFFH5(os.fspath(path), split)
    focus = optics.DDFF_CAMERA.focal_stack_disparities(reader.stacks.shape[1]).astype(np.float32)
    for i in range(len(reader)):
      item = reader[i]
      if split == 'test':
        scene, number = ddff.test_scene_of(item['index'], reader.stacks.shape[0])
        disparity = np.zeros(item['stack'].shape[1:3], np.float32)  # no ground truth: all invalid
        key = f'{scene}/{number:04d}'
      else:
        scene, disparity, key = 'unknown', item['disparity'], f'{split}/{item["index"]:05d}'
      yield key, {'stack': item['stack'], 'disparity': disparity, 'focus_disparities': focus, 'scene': scene,
                  'id': key}

  def _lightfield_splits(self, manual):
    from ddff_jax.data import ddff
    scenes = {s: manual / s for s in ddff.TRAIN_SCENES + ddff.TEST_SCENES if (manual / s).exists()}
    if not scenes:
      raise errors.InputNotFound(f'no scene folders ({", ".join(ddff.TRAIN_SCENES + ddff.TEST_SCENES)}) in {manual}.\n'
                                 f'{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
    train = {s: p for s, p in scenes.items() if s in ddff.TRAIN_SCENES}
    test = {s: p for s, p in scenes.items() if s in ddff.TEST_SCENES}
    splits = {}
    if train:
      splits['train'] = self._generate_examples(kind='lightfield', split='train', scenes=train)
      if any(len(ddff.raw_pairs(folder)) >= 10 for folder in train.values()):  # every 10th light field validates
        splits['validation'] = self._generate_examples(kind='lightfield', split='validation', scenes=train)
    if test:
      splits['test'] = self._generate_examples(kind='lightfield', split='test', scenes=test)
    return splits

  def _generate_examples(self, kind: str, split: str, path=None, scenes=None, num: int = 0):
    """Yields (key, example) of one split from the published h5 files, raw light fields, or the generator."""
    if kind == 'h5':
      yield from self._generate_h5(path, split)
    elif kind == 'lightfield':
      yield from self._generate_lightfield(scenes, split)
    else:
      yield from self._generate_synthetic(split, num)

  def _generate_lightfield(self, scenes, split):
    from ddff_jax import optics
    from ddff_jax.data import ddff, formats
    focus = optics.DDFF_CAMERA.focal_stack_disparities(self.builder_config.num_slices)
    for scene, folder in sorted(scenes.items()):
      for n, (lf_path, depth_path) in enumerate(ddff.raw_pairs(folder)):
        if split != 'test' and (n % 10 == 9) != (split == 'validation'):
          continue  # every 10th light field of a training scene validates
        lf = ddff.read_raw_light_field(lf_path)
        disparity = ddff.depth_png_to_disparity(formats.read_image(depth_path))
        if disparity.shape != lf.shape[2:4]:
          raise errors.UserError(f'{depth_path} is {disparity.shape}, but {lf_path} has {lf.shape[2:4]} views.')
        stack = np.asarray(optics.to_uint8(optics.refocus(lf, focus), 'round'))
        name = os.path.basename(lf_path)[:-4]
        if split == 'test':
          yield f'{scene}/{name}', self._example(stack, disparity, focus, scene, f'{scene}/{name}')
          continue
        for y in patch_positions(stack.shape[1]):
          for x in patch_positions(stack.shape[2]):
            patch_disp = disparity[y:y + PATCH, x:x + PATCH]
            if np.mean(patch_disp > 0) >= MIN_VALID:
              key = f'{scene}/{name}/{y:03d}_{x:03d}'
              yield key, self._example(stack[:, y:y + PATCH, x:x + PATCH], patch_disp, focus, scene, key)

  def _generate_synthetic(self, split, num):
    import jax
    from ddff_jax.data import synthetic
    from ddff_jax.optics import to_uint8
    config = synthetic.SceneConfig(_SYNTHETIC_SIZE, _SYNTHETIC_SIZE)
    seed = {'train': 0, 'validation': 1, 'test': 2}[split]
    for i in range(num):
      stack, disparity, focus = synthetic.sample_light_field_stack(
          jax.random.fold_in(jax.random.PRNGKey(seed), i), config, self.builder_config.num_slices)
      key = f'{split}/{i:05d}'
      yield key, self._example(np.asarray(to_uint8(stack, 'round')), np.asarray(disparity), np.asarray(focus),
                               'synthetic', key)

  @staticmethod
  def _example(stack, disparity, focus, scene, key):
    return {'stack': np.ascontiguousarray(stack, np.uint8), 'disparity': np.asarray(disparity, np.float32),
            'focus_disparities': np.asarray(focus, np.float32), 'scene': scene, 'id': key}
