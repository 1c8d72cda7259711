"""Training/validation sources named by a config's `data` section."""
from __future__ import annotations

import jax
import numpy as np

from ddff_jax import metrics
from ddff_jax import optics
from ddff_jax.data import synthetic
from ddff_jax.data.pipeline import ArraySource


def synthetic_light_field_arrays(num: int, seed: int, scene: synthetic.SceneConfig, num_slices: int,
                                 camera: optics.LightFieldCamera = optics.DDFF_CAMERA):
  """`num` DDFF-style samples: stacks (N, S, H, W, 3) float32, disparities (N, H, W), focus disparities (S,)."""
  stacks, disps = [], []
  key = jax.random.PRNGKey(seed)
  focus = None
  for i in range(num):
    stack, disp, focus = synthetic.sample_light_field_stack(jax.random.fold_in(key, i), scene, num_slices,
                                                            camera=camera)
    stacks.append(np.asarray(stack, np.float32))
    disps.append(np.asarray(disp, np.float32))
  return np.stack(stacks), np.stack(disps), np.asarray(focus, np.float32)


def light_field_camera(data_config) -> optics.LightFieldCamera:
  """The DDFF Lytro ILLUM with the scene depth range of a `synthetic_lf` config (`near_m`, `far_m`; DDFF 12-Scene's
  0.5-7 m when absent): the scenes fill [near_m, far_m] and the stacks focus over it, so disparities and defocus
  scale as 1 / depth."""
  defaults = optics.DDFF_CAMERA
  return optics.LightFieldCamera(near_m=data_config.get('near_m', defaults.near_m),
                                 far_m=data_config.get('far_m', defaults.far_m))


def thin_lens_camera(c) -> optics.ThinLensCamera:
  """A config's camera section (focal_length_mm, f_number, pixel_pitch_um: the units cameras are specified in)."""
  return optics.ThinLensCamera(focal_length_m=c.focal_length_mm * 1e-3, f_number=c.f_number,
                               pixel_pitch_m=c.pixel_pitch_um * 1e-6)


def synthetic_thin_lens_arrays(num: int, seed: int, scene: synthetic.SceneConfig, camera: optics.ThinLensCamera,
                               focus_distances_m, depth_range_m, max_radius_px: float):
  """`num` DefocusNet-style samples: stacks (N, K, H, W, 3) float32 and metric depth (N, H, W).

  focus_distances_m: (K,) for every sample, or (N, K), one set per sample. Sample i is the same scene (geometry,
  textures) whatever the camera and focus distances, so stacks rendered for different settings from the same seed
  are paired.
  """
  focus = np.asarray(focus_distances_m, np.float32)
  focus = np.broadcast_to(focus, (num,) + focus.shape[-1:])
  stacks, depths = [], []
  key = jax.random.PRNGKey(seed)
  for i in range(num):
    stack, depth, _ = synthetic.sample_thin_lens_stack(jax.random.fold_in(key, i), scene, camera, focus[i],
                                                       tuple(depth_range_m), max_radius_px)
    stacks.append(np.asarray(stack, np.float32))
    depths.append(np.asarray(depth, np.float32))
  return np.stack(stacks), np.stack(depths)


def random_focus_sets(num: int, size: int, focus_range_m, seed: int) -> np.ndarray:
  """(num, size) focus distances, each set drawn uniformly in dioptres (blur is linear in 1/depth) within
  `focus_range_m` and sorted nearest first, as the fixed sets are."""
  near, far = focus_range_m
  if not 0 < near < far:
    raise ValueError(f'focus_range_m must be (near, far) with 0 < near < far, got {tuple(focus_range_m)}.')
  dioptres = np.random.default_rng(seed).uniform(1.0 / far, 1.0 / near, (num, size))
  return np.sort(1.0 / dioptres, axis=1).astype(np.float32)


def build_sources(data_config, seed: int):
  """-> (train source, validation source, info dict).

  info holds 'focus_disparities' (S,) and the metrics' 'disparity_range' (px) for disparity data, or
  'focus_distances_m' (K,) and 'camera' for thin-lens depth data.
  """
  if data_config.source == 'synthetic_lf':
    scene = synthetic.SceneConfig(height=data_config.height, width=data_config.width,
                                  num_objects=data_config.num_objects)
    camera = light_field_camera(data_config)
    # Disjoint seeds: validation scenes are never seen in training.
    train_stack, train_disp, focus = synthetic_light_field_arrays(data_config.num_train, seed, scene,
                                                                  data_config.num_slices, camera)
    val_stack, val_disp, _ = synthetic_light_field_arrays(data_config.num_val, seed + 1_000_003, scene,
                                                          data_config.num_slices, camera)
    return (ArraySource(stack=train_stack, disparity=train_disp), ArraySource(stack=val_stack, disparity=val_disp),
            {'focus_disparities': focus, 'disparity_range': camera.disparity_range})
  if data_config.source == 'synthetic_thin_lens':
    scene = synthetic.SceneConfig(height=data_config.height, width=data_config.width,
                                  num_objects=data_config.num_objects)
    camera = thin_lens_camera(data_config.camera)
    fixed = np.asarray(data_config.focus_distances_m, np.float32)
    args = (data_config.depth_range_m, data_config.max_radius_px)
    train_focus = fixed
    if data_config.get('focus_range_m'):  # a random focus set per training example (validation keeps `fixed`)
      train_focus = random_focus_sets(data_config.num_train, len(fixed), data_config.focus_range_m, seed + 17)
    train_stack, train_depth = synthetic_thin_lens_arrays(data_config.num_train, seed, scene, camera, train_focus,
                                                          *args)
    val_stack, val_depth = synthetic_thin_lens_arrays(data_config.num_val, seed + 1_000_003, scene, camera, fixed,
                                                      *args)
    fields = dict(stack=train_stack, depth=train_depth)
    if train_focus.ndim == 2:
      fields['focus_distances_m'] = train_focus
    return (ArraySource(**fields), ArraySource(stack=val_stack, depth=val_depth),
            {'focus_distances_m': fixed, 'camera': camera})
  if data_config.source == 'ddff12scene':
    return _tfds_sources(data_config)
  raise ValueError(f"unknown data source {data_config.source!r}; expected 'synthetic_lf', 'synthetic_thin_lens' or "
                   "'ddff12scene'.")


class TFDSSource:
  """A `tfds.data_source` split as training examples: stack float32 [0, 1] (S, H, W, 3), disparity (H, W)."""

  def __init__(self, source):
    self.source = source

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    if isinstance(index, slice):
      items = [self[i] for i in range(*index.indices(len(self)))]
      return {k: np.stack([it[k] for it in items]) for k in items[0]}
    example = self.source[int(index)]
    return {'stack': np.asarray(example['stack'], np.float32) / 255.0,
            'disparity': np.asarray(example['disparity'], np.float32)}


def _tfds_sources(data_config):
  """The `ddff12scene/<builder_config>` TFDS builder (built on first use; h5/lightfield read the manual dir)."""
  import tensorflow_datasets as tfds
  import ddff_jax  # noqa: F401  pylint: disable=unused-import  (registers the builder)
  kwargs = {'data_dir': data_config.data_dir or None}
  builder = tfds.builder(f'ddff12scene/{data_config.builder_config}', file_format='array_record', **kwargs)
  manual = getattr(data_config, 'manual_dir', '') or None
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual) if manual else None)
  train = TFDSSource(builder.as_data_source(split='train'))
  val = TFDSSource(builder.as_data_source(split='validation'))
  focus = np.asarray(builder.as_data_source(split='train')[0]['focus_disparities'], np.float32)
  if len(focus) != data_config.num_slices:
    raise ValueError(f'ddff12scene/{data_config.builder_config} holds {len(focus)}-slice stacks, but the config asks '
                     f'for num_slices={data_config.num_slices}.')
  return train, val, {'focus_disparities': focus, 'disparity_range': metrics.DDFF_DISPARITY_RANGE}
