"""Defocus on real images: DDFS trained for camera-setting invariance on natural-texture scenes, tested against
DDFFNet, the classical DFF and the raw cost argmin on the real RGB-D scenes of `../shared/data/rgbd` rendered with
other cameras and focus sets (`configs/rgbd_render.py`).

  --config=ddff_jax/configs/rgbd_defocus.py:ddfs     DDFSNet on natural-texture thin-lens scenes, each training
                                                     example with its own 3 focus distances (uniform in dioptres
                                                     over [0.1, 2] m) and camera (f 2–3.5 mm, N 1–1.4), depth-scale
                                                     augmentation, depth hypotheses uniform in inverse depth;
                                                     validation at the DefocusNet settings
  --config=ddff_jax/configs/rgbd_defocus.py:ddffnet  DDFFNet on the same scenes at the DefocusNet settings only
                                                     (it cannot be told others), masked L1 on metric depth
  --config=ddff_jax/configs/rgbd_defocus.py          the experiment (python -m ddff_jax.rgbd_defocus): both
                                                     training configs and the test settings

Textures come from scikit-image's sample images only: the RGB-D photographs are the test scenes. Every training
scene spans at least 70 % of the inverse-depth range (the RGB-D renders span all of it). The test cameras'
focal lengths (4.3 and 4.5 mm) lie outside the training range; the unseen focus sets are fixed sets never drawn as
such in training.

The experiment's `test.rgbd_folds` add a DDFS trained also on the RGB-D scenes outside each fold and tested on the
fold's scenes only (two-fold cross-validation over scenes): its data section gains `rgbd_scenes` and
`test.rgbd_training` (each scene rendered at `rgbd_size` px `rgbd_renders_per_scene` times, every render with its own
training-range camera and focus set, seen `rgbd_repeats` times per epoch).
"""
import ml_collections

from ddff_jax import errors
from ddff_jax.configs import rgbd_render

SKIMAGE_TEXTURES = ('astronaut', 'camera', 'coffee', 'chelsea', 'rocket', 'coins', 'moon', 'brick', 'grass',
                    'gravel', 'immunohistochemistry', 'hubble_deep_field', 'cell', 'text', 'page')


def data_config(varied: bool):
  return ml_collections.ConfigDict(dict(
      source='natural_thin_lens', size=96, num_layers=6, min_span=0.7, num_train=1536, num_val=32,
      skimage_textures=SKIMAGE_TEXTURES, num_textures=96, max_noise=0.01, textureless_prob=0.15,
      contrast_range=(0.3, 1.3), texture_scale_range=(0.5, 2.0),
      camera=dict(rgbd_render.CAMERAS['defocusnet']), focus_distances_m=rgbd_render.FOCUS_SETS['train'],
      varied=varied, focus_range_m=(0.1, 2.0), camera_ranges=dict(focal_length_mm=(2.0, 3.5), f_number=(1.0, 1.4)),
      depth_range_m=(0.1, 3.0), stretch_depth=False, max_radius_px=10.0, crop=(64, 64), flip=True, transpose=True,
      depth_scales=()))


def train_config(model: str):
  c = ml_collections.ConfigDict()
  c.seed = 0
  if model == 'ddfs':
    c.data = data_config(varied=True)
    c.data.depth_scales = (1.0, 1.5, 2.0, 2.5, 3.0)
    c.model = ml_collections.ConfigDict(dict(name='ddfs', num_hypotheses=32, depth_range_m=(0.1, 3.0), width=0.25,
                                             wiener_balance=0.01, max_radius_px=c.data.max_radius_px,
                                             hypothesis_spacing='inverse_depth', cost_criterion='reblur',
                                             tile_px=64))  # the training crop: see DDFSNet.tiled
  elif model == 'ddffnet':
    c.data = data_config(varied=False)
    c.model = ml_collections.ConfigDict(dict(
        name='ddffnet', num_slices=len(c.data.focus_distances_m), upsample='upconv', skips=('cc3',), width=0.25,
        dropout=0.0, bilinear_init=True, normalization='unit', dtype='float32', param_dtype='float32'))
  else:
    raise errors.UserError(f"rgbd_defocus config: expected 'ddfs' or 'ddffnet', got {model!r}.")
  c.train = ml_collections.ConfigDict(dict(
      batch_size=8, num_steps=1200 if model == 'ddfs' else 1500, optimizer='adam', learning_rate=1e-3, schedule='cosine', momentum=0.9,
      weight_decay=0.0, lr_decay=0.5, lr_decay_epochs=8, grad_clip=5.0, init_weights='',
      loss=''))  # '': the task's L1 on metric depth; 'inverse_l1': L1 on inverse depth
  c.log_every = 20
  c.eval_every = 250
  c.checkpoint_every = 100
  c.keep_checkpoints = 2
  return c


def get_config(arg: str | None = None):
  if arg:
    return train_config(arg)
  c = ml_collections.ConfigDict()
  c.ddfs = train_config('ddfs')
  c.ddffnet = train_config('ddffnet')
  c.test = ml_collections.ConfigDict(dict(
      settings=('defocusnet:train', 'defocusnet:unseen', 'phone:train', 'phone:unseen', 'fast_lens:unseen',
                'phone:two', 'defocusnet:train:0.01', 'phone:unseen:0.01'),  # the last two with sensor noise
      training_setting='defocusnet:train', scenes=rgbd_render.SCENES, size=256,
      # DDFS trained also on renders of the RGB-D scenes outside a fold, tested on the fold (two-fold cross-validation)
      rgbd_folds=(rgbd_render.SCENES[:3], rgbd_render.SCENES[3:]),
      rgbd_fold_steps=600,  # half the plain DDFS's, for CPU time: its validation MAE stops improving by step 250
      rgbd_training=dict(rgbd_root=rgbd_render.get_config().data.rgbd_root, rgbd_size=256,
                         rgbd_renders_per_scene=32, rgbd_repeats=4)))
  return c
