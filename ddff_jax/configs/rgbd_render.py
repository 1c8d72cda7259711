"""Semi-real defocus: the real RGB-D scenes in `../shared/data/rgbd` (Middlebury, ETH3D) rendered with the thin-lens
renderer for several cameras and focus sets — the test bed of camera-setting invariance on real images.

    --config=ddff_jax/configs/rgbd_render.py:<camera>:<focus set>[:<noise σ>]   e.g. :phone:unseen
    python -m ddff_jax.evaluate --workdir=<DDFS run> --dataset=rgbd:phone:unseen
    python -m ddff_jax.evaluate --workdir=<DDFS run> --dataset=rgbd:phone:unseen:0.01

The renders are noise-free unless a noise σ is given: then every image gets Gaussian sensor noise of that σ (fixed
seed) and 8-bit quantisation, as the training scenes do.

Each scene is centre-cropped to a square, resized to 256 px, and its disparity mapped to depth over 0.1–3 m
(inverse depth affine in disparity; nearest = largest disparity). Cameras share the DefocusNet sensor's pixel pitch
(3.1 mm / 256 px), so blur in pixels compares across them.
"""
import os

import ml_collections

from ddff_jax import errors

PIXEL_PITCH_UM = 3.1e3 / 256
CAMERAS = {
    'defocusnet': dict(focal_length_mm=2.9, f_number=1.0, pixel_pitch_um=PIXEL_PITCH_UM),  # DDFS training camera
    'phone': dict(focal_length_mm=4.3, f_number=1.9, pixel_pitch_um=PIXEL_PITCH_UM),
    'fast_lens': dict(focal_length_mm=4.5, f_number=1.4, pixel_pitch_um=PIXEL_PITCH_UM),
}
FOCUS_SETS = {'train': (0.1, 0.3, 1.5), 'unseen': (0.15, 0.7, 2.0), 'two': (0.15, 0.7)}
SCENES = ('tsukuba', 'venus', 'teddy', 'aloe', 'bowling', 'playground')


def parse_setting(arg: str | None) -> tuple[str, str, float]:
  """'<camera>[:<focus set>[:<noise σ>]]' -> (camera, focus set, noise σ); defaults defocusnet, train, 0."""
  camera, _, rest = (arg or 'defocusnet:train').partition(':')
  focus, _, noise = rest.partition(':')
  focus = focus or 'train'
  try:
    sigma = float(noise) if noise else 0.0
  except ValueError:
    sigma = -1.0
  if camera not in CAMERAS or focus not in FOCUS_SETS or not 0.0 <= sigma < 1.0:
    raise errors.UserError(f"rgbd_render setting {arg!r}: expected '<camera>:<focus set>[:<noise σ>]' with camera "
                           f'one of {sorted(CAMERAS)}, focus set one of {sorted(FOCUS_SETS)} and σ in [0, 1).')
  return camera, focus, sigma


def get_config(arg: str | None = None):
  camera, focus, sigma = parse_setting(arg)
  shared = os.environ.get('DDFF_SHARED_DATA', os.path.join('..', 'shared', 'data'))
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = ml_collections.ConfigDict(dict(
      source='rgbd_render', rgbd_root=os.path.join(shared, 'rgbd'), scenes=SCENES, size=256,
      camera=dict(CAMERAS[camera]), focus_distances_m=FOCUS_SETS[focus], depth_range_m=(0.1, 3.0),
      max_radius_px=10.0, sensor_noise=sigma))
  return c
