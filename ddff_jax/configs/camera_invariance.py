"""The camera-setting invariance experiment (DDFS, Fujimura et al., IJCV 2023) on synthetic thin-lens focal stacks.

Both networks train on stacks focused at {0.1, 0.3, 1.5} m, taken with the DefocusNet camera (f = 2.9 mm, N = 1,
3.1 mm / 256 px pixels; 64×64 crops of its sensor), and are tested on the same settings, on stacks focused at
{0.15, 0.7} m, and on a camera with another focal length and f-number.

  --config=ddff_jax/configs/camera_invariance.py:ddfs     DDFSNet: cost volume over depth hypotheses in [0.1, 3] m,
                                                          Adam, multiscale L1, depth-scale augmentation
  --config=ddff_jax/configs/camera_invariance.py:ddffnet  DDFFNet regressing metric depth from the stack, masked L1
  --config=ddff_jax/configs/camera_invariance.py:ddfs_varied
                                                          DDFSNet trained on a random focus set per example
                                                          (3 distances uniform in dioptres over [0.1, 2] m)
  --config=ddff_jax/configs/camera_invariance.py          the experiment (python -m ddff_jax.camera_invariance):
                                                          both training configs and the test settings

Sized for a CPU; for the paper's scale raise data.height/width to 256, num_hypotheses to 64, width to 1 and the
depth scales to {1, 1.5, …, 9}.
"""
import ml_collections

from ddff_jax import errors

TRAIN_FOCUS_M = (0.1, 0.3, 1.5)


def data_config():
  return ml_collections.ConfigDict(dict(
      source='synthetic_thin_lens', height=64, width=64, num_objects=3, num_train=384, num_val=16,
      camera=dict(focal_length_mm=2.9, f_number=1.0, pixel_pitch_um=3.1e3 / 256),
      focus_distances_m=TRAIN_FOCUS_M, depth_range_m=(0.1, 3.0), max_radius_px=10.0,
      crop=(0, 0), flip=True, depth_scales=()))


def train_config(model: str):
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = data_config()
  if model in ('ddfs', 'ddfs_varied'):
    c.model = ml_collections.ConfigDict(dict(name='ddfs', num_hypotheses=32, depth_range_m=(0.1, 3.0), width=0.125,
                                             wiener_balance=0.01, max_radius_px=c.data.max_radius_px))
    c.data.depth_scales = (1.0, 1.5, 2.0, 2.5, 3.0)
    if model == 'ddfs_varied':  # validation stays at TRAIN_FOCUS_M
      c.data.focus_range_m = (0.1, 2.0)
  elif model == 'ddffnet':
    c.model = ml_collections.ConfigDict(dict(
        name='ddffnet', num_slices=len(TRAIN_FOCUS_M), upsample='upconv', skips=('cc3',), width=0.125, dropout=0.0,
        bilinear_init=True, normalization='unit'))
  else:
    raise errors.UserError(f"camera_invariance config: expected 'ddfs', 'ddfs_varied' or 'ddffnet', got {model!r}.")
  c.train = ml_collections.ConfigDict(dict(
      batch_size=8, num_steps=600, optimizer='adam', learning_rate=1e-3, momentum=0.9, weight_decay=0.0,
      lr_decay=0.5, lr_decay_epochs=8, grad_clip=5.0))
  c.log_every = 10
  c.eval_every = 100
  c.checkpoint_every = 100
  c.keep_checkpoints = 2
  return c


def get_config(arg: str | None = None):
  if arg:
    return train_config(arg)
  c = ml_collections.ConfigDict()
  c.ddfs = train_config('ddfs')
  c.ddffnet = train_config('ddffnet')
  c.ddfs_varied = train_config('ddfs_varied')
  c.test = ml_collections.ConfigDict(dict(
      num_images=32, seed=7,
      other_focus_m=(0.15, 0.7),
      # Further focus sets (same camera), to see which change of settings matters.
      more_focus_m=((0.1, 0.3, 0.7), (0.15, 0.7, 1.5), (0.3, 1.5)),
      other_camera=dict(focal_length_mm=4.5, f_number=1.4, pixel_pitch_um=3.1e3 / 256)))
  return c
