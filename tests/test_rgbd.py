"""Real RGB-D scenes (`data.rgbd`): the reader, disparity → metric depth, and hole filling."""
import numpy as np
import pytest

from ddff_jax import errors
from ddff_jax.data import rgbd
from conftest import SHARED_DATA


def test_reads_a_real_scene_with_its_unknown_pixels():
  folder = SHARED_DATA / 'rgbd' / 'teddy'
  if not (folder / 'image.png').is_file():
    pytest.skip(f'RGB-D scene not found at {folder} (set DDFF_SHARED_DATA to the shared data folder)')
  scene = rgbd.read_rgbd_scene(folder)
  assert scene.image.shape == (375, 450, 3) and scene.image.dtype == np.uint8
  assert scene.disparity.shape == (375, 450)
  assert scene.valid.mean() == pytest.approx(scene.info['valid_fraction'], abs=1e-6)
  lo, hi = scene.info['disparity_range_px']
  assert np.nanmin(scene.disparity) == pytest.approx(lo) and np.nanmax(scene.disparity) == pytest.approx(hi)


def test_inverse_depth_is_affine_in_disparity_between_the_chosen_ends():
  disparity = np.array([[10.0, 12.5, np.nan], [20.0, 40.0, 30.0]], np.float32)
  depth = rgbd.depth_from_disparity(disparity, (0.5, 4.0))
  assert np.isnan(depth[0, 2])
  assert depth[0, 0] == pytest.approx(4.0) and depth[1, 1] == pytest.approx(0.5)
  known = np.isfinite(disparity)
  slope, intercept = np.polyfit(disparity[known], 1.0 / depth[known], 1)
  np.testing.assert_allclose(1.0 / depth[known], slope * disparity[known] + intercept, rtol=1e-6)
  with pytest.raises(errors.UserError, match='0 < near < far'):
    rgbd.depth_from_disparity(disparity, (2.0, 1.0))


def test_unknown_pixels_take_the_nearest_known_depth():
  depth = np.array([[1.0, np.nan, np.nan, 4.0]], np.float32)
  np.testing.assert_array_equal(rgbd.fill_unknown(depth), [[1.0, 1.0, 4.0, 4.0]])


def test_a_folder_without_the_files_is_named(tmp_path):
  with pytest.raises(errors.InputNotFound, match='lacks image.png'):
    rgbd.read_rgbd_scene(tmp_path)


def test_rendered_rgbd_scenes_carry_metric_depth_and_unknown_pixels_as_zero():
  from ddff_jax.configs import rgbd_render
  from ddff_jax.data import sources
  folder = SHARED_DATA / 'rgbd' / 'teddy'
  if not (folder / 'image.png').is_file():
    pytest.skip(f'RGB-D scene not found at {folder} (set DDFF_SHARED_DATA to the shared data folder)')
  data = rgbd_render.get_config('phone:unseen').data
  data.update(rgbd_root=str(SHARED_DATA / 'rgbd'), scenes=('teddy',), size=64)
  spec = sources.data_spec(data)
  assert spec.target == 'depth' and spec.focus == pytest.approx((0.15, 0.7, 2.0))
  assert spec.camera.focal_length_m == pytest.approx(4.3e-3) and spec.camera.f_number == 1.9
  split = sources.build_split(data, 0, 'validation')
  stack, depth = split[0]['stack'], split[0]['depth']
  assert stack.shape == (3, 64, 64, 3) and depth.shape == (64, 64)
  known = depth > 0
  assert 0.8 < known.mean() < 1.0  # teddy: 98 % known
  assert depth[known].min() == pytest.approx(0.1, rel=0.05) and depth[known].max() == pytest.approx(3.0, rel=0.05)
  # The slices differ (each focuses elsewhere) and stay images.
  assert 0.0 <= stack.min() and stack.max() <= 1.0 and np.abs(stack[0] - stack[2]).mean() > 1e-3
  with pytest.raises(errors.UserError, match='camera one of'):
    rgbd_render.get_config('holga:train')
  # With a noise σ: the same renders plus Gaussian noise of that σ, on the 8-bit grid.
  data.update(sensor_noise=0.01)
  noisy = sources.rgbd_render_arrays(data)[0][0]
  np.testing.assert_allclose(noisy * 255, np.round(noisy * 255), atol=1e-3)
  difference = (noisy - stack)[(stack > 0.05) & (stack < 0.95)]  # away from the clipping
  assert np.std(difference) == pytest.approx(np.sqrt(0.01 ** 2 + 1 / 255 ** 2 / 12), rel=0.1)
  assert abs(np.mean(difference)) < 1e-3
  assert rgbd_render.get_config('phone:unseen:0.01').data.sensor_noise == 0.01
  for bad in ('phone:unseen:loud', 'phone:unseen:-0.1'):
    with pytest.raises(errors.UserError, match='σ in'):
      rgbd_render.get_config(bad)
