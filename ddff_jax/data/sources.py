"""The data a config's `data` section names: its typed description (`data_spec`) and its splits (`build_split`)."""
from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from ddff_jax import errors
from ddff_jax import metrics
from ddff_jax import optics
from ddff_jax.data import synthetic
from ddff_jax.data import pipeline
from ddff_jax.data.pipeline import ArraySource
from ddff_jax.data.spec import FocalStackSpec


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
    raise errors.UserError(f'focus_range_m must be (near, far) with 0 < near < far, got {tuple(focus_range_m)}.')
  dioptres = np.random.default_rng(seed).uniform(1.0 / far, 1.0 / near, (num, size))
  return np.sort(1.0 / dioptres, axis=1).astype(np.float32)


def random_cameras(num: int, camera_ranges, pixel_pitch_um: float, seed: int) -> np.ndarray:
  """(num, 3) `ThinLensCamera.params` [focal length m, f-number, pixel pitch m]: focal lengths uniform and
  f-numbers log-uniform within `camera_ranges` (focal_length_mm=(lo, hi), f_number=(lo, hi)), one pixel pitch."""
  f_lo, f_hi = camera_ranges.focal_length_mm
  n_lo, n_hi = camera_ranges.f_number
  if not (0 < f_lo <= f_hi and 0 < n_lo <= n_hi):
    raise errors.UserError(f'camera_ranges must give 0 < lo <= hi for focal_length_mm and f_number, got '
                           f'{tuple(camera_ranges.focal_length_mm)} and {tuple(camera_ranges.f_number)}.')
  rng = np.random.default_rng(seed)
  focal = rng.uniform(f_lo, f_hi, num) * 1e-3
  f_number = np.exp(rng.uniform(np.log(n_lo), np.log(n_hi), num))
  return np.stack([focal, f_number, np.full(num, pixel_pitch_um * 1e-6)], -1).astype(np.float32)


def stretch_inverse_depth(depths, depth_range_m) -> np.ndarray:
  """depths (N, H, W) m -> each scene's inverse depth mapped affinely so that its nearest pixel lies at
  depth_range_m[0] and its farthest at depth_range_m[1], as the RGB-D renders map each scene's disparity
  (`rgbd.depth_from_disparity`). A scene at one depth keeps it."""
  from ddff_jax.data import rgbd
  inverse = 1.0 / np.asarray(depths, np.float64)  # a disparity up to scale: the renders' mapping applies as is
  return np.stack([rgbd.depth_from_disparity(i, depth_range_m) if i.max() > i.min() else d
                   for i, d in zip(inverse, depths)]).astype(np.float32)


TEXTURE_OPTIONS = ('textureless_prob', 'contrast_range', 'texture_scale_range')


def texture_options(data_config) -> dict:
  """The `natural.SceneConfig` texture fields a data config sets (the others keep the dataclass defaults)."""
  return {k: (tuple(v) if isinstance(v, (list, tuple)) else v) for k in TEXTURE_OPTIONS
          if (v := data_config.get(k)) is not None}


def natural_thin_lens_split(data_config, num: int, seed: int, varied: bool) -> ArraySource:
  """Natural-texture layered scenes (`natural.all_in_focus_scenes`, scikit-image textures) rendered with the
  thin-lens renderer, then sensor noise and 8-bit quantisation. With `stretch_depth`, each scene's depth is first
  stretched over the whole `depth_range_m` (`stretch_inverse_depth`). With `varied`, every example has its own
  focus set (`random_focus_sets` over `focus_range_m`) and camera (`random_cameras` over `camera_ranges`), carried
  in the example as 'focus' (K,) and 'camera' (3,); otherwise all take the config's camera and focus distances."""
  from ddff_jax.data import natural
  images = natural.texture_images(None, tuple(data_config.skimage_textures))
  bank = natural.texture_bank(images, data_config.num_textures, 128, seed)
  scene = natural.SceneConfig(size=data_config.size, num_layers=data_config.num_layers,
                              min_span=data_config.min_span, **texture_options(data_config))
  aif, depths = natural.all_in_focus_scenes(num, seed, bank, scene, data_config.depth_range_m)
  if data_config.get('stretch_depth', False):
    depths = stretch_inverse_depth(depths, data_config.depth_range_m)
  camera = thin_lens_camera(data_config.camera)
  focus = np.broadcast_to(np.asarray(data_config.focus_distances_m, np.float32),
                          (num, len(data_config.focus_distances_m)))
  cameras = np.broadcast_to(camera.params, (num, 3))
  if varied:
    focus = random_focus_sets(num, focus.shape[1], data_config.focus_range_m, seed + 17)
    cameras = random_cameras(num, data_config.camera_ranges, data_config.camera.pixel_pitch_um, seed + 29)
  rng = np.random.default_rng(seed + 31)
  stacks = np.empty((num, focus.shape[1]) + aif.shape[1:], np.float32)
  for i in range(num):
    params = cameras[i].astype(np.float64)
    stack = np.asarray(optics.render_focal_stack(aif[i], depths[i], optics.ThinLensCamera(*params), focus[i],
                                                 max_radius_px=data_config.max_radius_px))
    stacks[i] = _sensor(stack, rng, data_config.max_noise)
  if varied:
    return ArraySource(stack=stacks, depth=depths, focus=np.ascontiguousarray(focus), camera=cameras)
  return ArraySource(stack=stacks, depth=depths)


SOURCES = ('synthetic_lf', 'synthetic_thin_lens', 'natural_thin_lens', 'hci_mix', 'rgbd_render', 'ddff12scene')
SPLITS = ('train', 'validation')
_VALIDATION_SEED_OFFSET = 1_000_003  # disjoint seeds: validation scenes are never seen in training


def data_spec(data_config) -> FocalStackSpec:
  """The typed description of a config's data (target, focus per slice, valid range, camera); renders nothing."""
  source = data_config.source
  if source == 'synthetic_lf':
    camera = light_field_camera(data_config)
    return FocalStackSpec('disparity', camera.focal_stack_disparities(data_config.num_slices),
                          camera.disparity_range)
  if source == 'synthetic_thin_lens':
    return FocalStackSpec('depth', data_config.focus_distances_m, tuple(data_config.depth_range_m),
                          thin_lens_camera(data_config.camera))
  if source == 'ddff12scene':
    return FocalStackSpec('disparity', optics.DDFF_CAMERA.focal_stack_disparities(data_config.num_slices),
                          metrics.DDFF_DISPARITY_RANGE)
  if source == 'hci_mix':
    return FocalStackSpec('disparity', hci_focus_disparities(data_config), None)
  if source in ('rgbd_render', 'natural_thin_lens'):
    return FocalStackSpec('depth', data_config.focus_distances_m, tuple(data_config.depth_range_m),
                          thin_lens_camera(data_config.camera))
  raise errors.UserError(f'unknown data source {source!r}; expected one of {SOURCES}.')


def build_split(data_config, seed: int, split: str):
  """The examples of one split of a config's data: a random-access source of dicts with 'stack' (S, H, W, 3)
  float32 in [0, 1], the target map (H, W) named by the spec, and 'focus' (S,) where each example has its own
  focus set (training on varied focus distances)."""
  if split not in SPLITS:
    raise errors.UserError(f'split must be one of {SPLITS}, got {split!r}.')
  source = data_config.source
  if source == 'ddff12scene':
    return _tfds_split(data_config, split)
  if source == 'hci_mix':
    return _hci_mix_split(data_config, seed, split)
  if source == 'rgbd_render':  # an evaluation set: both splits are the rendered scenes
    stacks, depths = rgbd_render_arrays(data_config)
    return ArraySource(stack=stacks, depth=depths)
  seed = seed if split == 'train' else seed + _VALIDATION_SEED_OFFSET
  if source == 'natural_thin_lens':  # validation keeps the config's camera and focus set
    train = split == 'train'
    examples = natural_thin_lens_split(data_config, data_config.num_train if train else data_config.num_val, seed,
                                       varied=train and data_config.varied)
    if train and data_config.get('rgbd_scenes'):
      if not data_config.varied:
        raise errors.UserError('data.rgbd_scenes renders each scene for random cameras and focus sets: it needs '
                               'data.varied=True.')
      return pipeline.ConcatSource((examples, 1), (rgbd_training_renders(data_config, seed),
                                                   data_config.rgbd_repeats))
    return examples
  num = data_config.num_train if split == 'train' else data_config.num_val
  if source == 'synthetic_lf':
    scene = synthetic.SceneConfig(height=data_config.height, width=data_config.width,
                                  num_objects=data_config.num_objects)
    stacks, disparities, _ = synthetic_light_field_arrays(num, seed, scene, data_config.num_slices,
                                                          light_field_camera(data_config))
    return ArraySource(stack=stacks, disparity=disparities)
  if source == 'synthetic_thin_lens':
    scene = synthetic.SceneConfig(height=data_config.height, width=data_config.width,
                                  num_objects=data_config.num_objects)
    focus = np.asarray(data_config.focus_distances_m, np.float32)
    varied = split == 'train' and data_config.get('focus_range_m')
    if varied:  # a random focus set per training example (validation keeps the fixed one)
      focus = random_focus_sets(num, len(focus), data_config.focus_range_m, seed + 17)
    stacks, depths = synthetic_thin_lens_arrays(num, seed, scene, thin_lens_camera(data_config.camera), focus,
                                                data_config.depth_range_m, data_config.max_radius_px)
    return ArraySource(stack=stacks, depth=depths, **({'focus': focus} if varied else {}))
  raise errors.UserError(f'unknown data source {source!r}; expected one of {SOURCES}.')


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
    return {'stack': optics.to_unit_float(example['stack']),
            'disparity': np.asarray(example['disparity'], np.float32)}


def _tfds_split(data_config, split: str) -> TFDSSource:
  """A split of the `ddff12scene/<builder_config>` TFDS builder (built on first use; h5/lightfield read the manual
  directory)."""
  import tensorflow_datasets as tfds
  import ddff_jax  # noqa: F401  pylint: disable=unused-import  (registers the builder)
  builder = tfds.builder(f'ddff12scene/{data_config.builder_config}', data_dir=data_config.data_dir or None)
  manual = data_config.get('manual_dir') or None
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual) if manual else None)
  source = TFDSSource(builder.as_data_source(split=split))
  stored = len(source.source[0]['focus_disparities']) if len(source) else data_config.num_slices
  if stored != data_config.num_slices:
    raise errors.UserError(f'ddff12scene/{data_config.builder_config} holds {stored}-slice stacks, but the config '
                           f'asks for num_slices={data_config.num_slices}.')
  return source


def hci_focus_disparities(data_config) -> np.ndarray:
  """The stacks' focus disparities: `num_slices` evenly over `focus_range` (the DDFF supplement's −2.5 … 2.5 px)."""
  lo, hi = data_config.focus_range
  return np.linspace(lo, hi, data_config.num_slices).astype(np.float32)


class LightFieldMix(pipeline.ConcatSource):
  """Training examples from synthetic stacks (N, S, h, w, 3) and whole real scenes (S, H, W, 3), each real scene
  appearing `real_repeats` times per epoch (the random crops differ). Examples are float32 [0, 1] with 'disparity'
  (the synthetic stacks are held as float16)."""

  def __init__(self, synthetic_stacks, synthetic_disparities, real_stacks, real_disparities, real_repeats: int):
    parts = [(ArraySource(stack=synthetic_stacks, disparity=synthetic_disparities), 1)]
    if len(real_stacks):
      parts.append((ArraySource(stack=np.stack(real_stacks), disparity=np.stack(real_disparities)), real_repeats))
    super().__init__(*parts)

  def __getitem__(self, index: int):
    return {k: np.asarray(v, np.float32) for k, v in super().__getitem__(index).items()}


def _real_scenes(data_config, names):
  """The named HCI scenes (paths under `hci_root`) refocused to the config's focus disparities: stacks, GT."""
  from ddff_jax.data import inputs
  stacks, disparities = [], []
  for name in names:
    loaded = inputs.load_stack(os.path.join(data_config.hci_root, name), hci_focus_disparities(data_config))
    if loaded.ground_truth is None:
      raise errors.InputNotFound(f'HCI scene {name} has no gt_disp_lowres.pfm to train or validate on.')
    stacks.append(loaded.stack)
    disparities.append(loaded.ground_truth.astype(np.float32))
  return stacks, disparities


def natural_light_field_stacks(data_config, seed: int):
  """The synthetic part of `hci_mix`: natural-texture light fields refocused to the config's stacks, cached in
  `cache_dir` (when set) under a name that hashes everything they depend on."""
  import hashlib
  import json
  from ddff_jax import files
  from ddff_jax.data import natural
  scene = natural.SceneConfig(size=data_config.render_size, num_layers=data_config.num_layers,
                              disparity_range=tuple(data_config.disparity_range),
                              max_noise=data_config.max_noise, **texture_options(data_config))
  recipe = dict(scene=dataclasses.asdict(scene), seed=seed, num=data_config.num_synthetic,
                focus=hci_focus_disparities(data_config).tolist(), textures=list(data_config.skimage_textures),
                rgbd=bool(data_config.rgbd_root), num_textures=data_config.num_textures, version=2)
  path = None
  if data_config.get('cache_dir'):
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    path = os.path.join(data_config.cache_dir, f'natural_lf_{digest}.npz')
    if os.path.isfile(path):
      with np.load(path) as cached:
        return cached['stacks'], cached['disparities']
  images = natural.texture_images(data_config.rgbd_root or None, tuple(data_config.skimage_textures))
  bank = natural.texture_bank(images, data_config.num_textures, 128, seed)
  stacks, disparities = natural.focal_stacks(data_config.num_synthetic, seed, bank, hci_focus_disparities(data_config),
                                             scene)
  if path:
    files.save_npz(path, stacks=stacks, disparities=disparities)
  return stacks, disparities


def _hci_mix_split(data_config, seed: int, split: str):
  """Training: natural-texture light fields plus the real scenes other than `held_out`; validation: the held-out
  scene (or, with none held out, the training scenes themselves, which then measure fit, not generalisation)."""
  held_out = tuple(s for s in data_config.held_out.split(',') if s) if data_config.held_out else ()
  unknown = set(held_out) - set(data_config.scenes)
  if unknown:
    raise errors.UserError(f'held_out scenes {sorted(unknown)} are not among data.scenes {list(data_config.scenes)}.')
  train_scenes = [s for s in data_config.scenes if s not in held_out]
  if split == 'validation':
    stacks, disparities = _real_scenes(data_config, held_out or train_scenes)
    return ArraySource(stack=np.stack(stacks), disparity=np.stack(disparities))
  real_stacks, real_disparities = _real_scenes(data_config, train_scenes)
  stacks, disparities = natural_light_field_stacks(data_config, seed)
  return LightFieldMix(stacks, disparities, real_stacks, real_disparities, data_config.real_repeats)


def rgbd_scene_arrays(rgbd_root: str, names, size: int, depth_range_m):
  """The real RGB-D scenes `names` under `rgbd_root`, each centre-cropped to a square and resized to `size` px, its
  disparity mapped to metric depth over `depth_range_m` (inverse depth affine in disparity). -> images (N, size,
  size, 3) float32 in [0, 1], depth (N, size, size) m with NaN where the ground truth is unknown."""
  import jax.numpy as jnp
  from ddff_jax.data import rgbd
  images, depths = [], []
  for name in names:
    scene = rgbd.read_rgbd_scene(os.path.join(rgbd_root, name))
    h, w = scene.disparity.shape
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    image = optics.to_unit_float(scene.image[y:y + side, x:x + side])
    images.append(np.asarray(jax.image.resize(jnp.asarray(image), (size, size, 3), 'linear', antialias=True)))
    rows = (np.arange(size) * side / size + side / (2 * size)).astype(int)  # nearest samples keep NaN = unknown
    depths.append(rgbd.depth_from_disparity(scene.disparity[y:y + side, x:x + side][np.ix_(rows, rows)],
                                            depth_range_m))
  return np.stack(images).astype(np.float32), np.stack(depths)


def rgbd_render_arrays(data_config):
  """The real RGB-D scenes of `data_config.scenes` (`rgbd_scene_arrays`) defocused with the thin-lens renderer for
  `camera` at `focus_distances_m` (unknown pixels take their nearest known depth for rendering), then, with
  `sensor_noise` σ > 0, Gaussian noise of that σ (seeded by the scene's position) and 8-bit quantisation.
  -> stacks (N, K, size, size, 3) float32, depth (N, size, size) with 0 where the ground truth is unknown."""
  from ddff_jax.data import rgbd
  camera = thin_lens_camera(data_config.camera)
  images, depths = rgbd_scene_arrays(data_config.rgbd_root, data_config.scenes, data_config.size,
                                     data_config.depth_range_m)
  stacks = [np.clip(np.asarray(optics.render_focal_stack(image, rgbd.fill_unknown(depth), camera,
                                                         data_config.focus_distances_m,
                                                         max_radius_px=data_config.max_radius_px), np.float32), 0, 1)
            for image, depth in zip(images, depths)]
  sigma = data_config.get('sensor_noise', 0.0)
  if sigma:
    stacks = [_quantise(s + sigma * np.random.default_rng(i).standard_normal(s.shape)).astype(np.float32)
              for i, s in enumerate(stacks)]
  return np.stack(stacks), np.nan_to_num(depths, nan=0.0)


def rgbd_training_renders(data_config, seed: int) -> ArraySource:
  """Training examples from the real RGB-D scenes `data_config.rgbd_scenes` (`rgbd_scene_arrays` at `rgbd_size`
  px): each scene rendered `rgbd_renders_per_scene` times, every render with its own camera (`random_cameras`) and
  focus set (`random_focus_sets`), then sensor noise and 8-bit quantisation as the natural scenes get.
  -> 'stack' (K, H, W, 3), 'depth' (H, W) with 0 where unknown (the loss skips it), 'focus' (K,), 'camera' (3,)."""
  from ddff_jax.data import rgbd
  images, depths = rgbd_scene_arrays(data_config.rgbd_root, data_config.rgbd_scenes, data_config.rgbd_size,
                                     data_config.depth_range_m)
  per_scene = data_config.rgbd_renders_per_scene
  num = len(images) * per_scene
  focus = random_focus_sets(num, len(data_config.focus_distances_m), data_config.focus_range_m, seed + 37)
  cameras = random_cameras(num, data_config.camera_ranges, data_config.camera.pixel_pitch_um, seed + 41)
  rng = np.random.default_rng(seed + 43)
  stacks = np.empty((num, focus.shape[1]) + images.shape[1:], np.float32)
  filled = [rgbd.fill_unknown(d) for d in depths]
  for i in range(num):
    stack = np.asarray(optics.render_focal_stack(images[i // per_scene], filled[i // per_scene],
                                                 optics.ThinLensCamera(*cameras[i].astype(np.float64)), focus[i],
                                                 max_radius_px=data_config.max_radius_px))
    stacks[i] = _sensor(stack, rng, data_config.max_noise)
  return ArraySource(stack=stacks, depth=np.repeat(np.nan_to_num(depths, nan=0.0), per_scene, axis=0), focus=focus,
                     camera=cameras)


def _sensor(stack, rng: np.random.Generator, max_noise: float) -> np.ndarray:
  """Gaussian noise of a random level in [0, max_noise], then clipping and 8-bit quantisation."""
  return _quantise(stack + rng.uniform(0.0, max_noise) * rng.standard_normal(stack.shape))


def _quantise(stack) -> np.ndarray:
  """Clipping to [0, 1] and 8-bit quantisation."""
  return np.round(np.clip(stack, 0.0, 1.0) * 255.0) / 255.0
