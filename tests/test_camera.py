import numpy as np
import pytest

from ddff_jax import optics


def test_ddff_camera_constants_match_the_published_calibration():
  cam = optics.DDFF_CAMERA
  assert cam.baseline_m == pytest.approx(2.708787e-4, rel=1e-6)
  assert cam.baseline_focal_px_m == pytest.approx(0.1412376, rel=1e-6)
  expected = [0.28248, 0.25333, 0.22419, 0.19504, 0.16590, 0.13675, 0.10761, 0.07847, 0.04932, 0.02018]
  np.testing.assert_allclose(cam.focal_stack_disparities(10), expected, atol=6e-6)
  assert cam.disparity_range == pytest.approx((0.02018, 0.28248), abs=1e-5)


def test_depth_disparity_round_trip_and_missing_values():
  cam = optics.DDFF_CAMERA
  depth = np.array([0.0, 0.5, 1.0, 7.0])
  disp = np.asarray(cam.depth_to_disparity(depth))
  np.testing.assert_allclose(disp, [0.0, 0.1412376 / 0.5, 0.1412376, 0.1412376 / 7], rtol=1e-5)
  np.testing.assert_allclose(np.asarray(cam.disparity_to_depth(disp)), depth, rtol=1e-5)


def test_circle_of_confusion_hand_computed():
  # DefocusNet camera, object at 0.5 m, focus at 0.1 m:
  # b = 256 / 3.1e-3 = 82580.645 px/m; c = b·f²·|d − df| / (d·N·(df − f)) = 82580.645·8.41e-6·0.4 / (0.5·0.0971)
  cam = optics.DEFOCUSNET_CAMERA
  assert float(cam.coc_diameter_px(0.5, 0.1)) == pytest.approx(5.721963, rel=1e-5)
  assert float(cam.coc_diameter_px(0.1, 0.1)) == 0.0
  # NYU camera: 1/5.6e-6 · 0.015² · |1 − 4| / (1 · 2.8 · (4 − 0.015)) = 10.80263 px
  assert float(optics.NYU_CAMERA.coc_diameter_px(1.0, 4.0)) == pytest.approx(10.80263, rel=1e-5)
  assert float(cam.psf_radius_px(0.02, 0.1, max_radius_px=10.0)) == 10.0  # CoC 28.6 px


def test_cameras_as_params_broadcast_per_example():
  """The traceable form training on varied cameras uses: params (B, 3) against depths (B, N) gives each example
  the hand-computed CoC of its own camera (the two cases above)."""
  params = np.stack([optics.DEFOCUSNET_CAMERA.params, optics.NYU_CAMERA.params])
  coc = np.asarray(optics.camera.coc_diameter_px(params[:, None], np.array([[0.5], [1.0]]), np.array([[0.1], [4.0]])))
  np.testing.assert_allclose(coc[:, 0], [5.721963, 10.80263], rtol=1e-5)


def test_scaled_camera_renders_the_same_blur():
  cam = optics.DEFOCUSNET_CAMERA
  depth, focus = np.array([0.2, 0.8, 2.5]), 0.3
  for sigma in (1.5, 4.0, 9.0):
    np.testing.assert_allclose(cam.scaled(sigma).coc_diameter_px(depth * sigma, focus * sigma),
                               cam.coc_diameter_px(depth, focus), rtol=1e-5)


@pytest.mark.parametrize('kwargs, message', [
    (dict(focal_length_m=0.01, f_number=-2.0, pixel_pitch_m=1e-5), 'f_number'),
    (dict(focal_length_m=0.0, f_number=2.0, pixel_pitch_m=1e-5), 'focal_length_m'),
    (dict(focal_length_m=0.01, f_number=2.0, pixel_pitch_m=float('nan')), 'pixel_pitch_m'),
])
def test_thin_lens_rejects_bad_parameters(kwargs, message):
  with pytest.raises(ValueError, match=message):
    optics.ThinLensCamera(**kwargs)


def test_focus_inside_focal_length_is_an_error():
  with pytest.raises(ValueError, match='exceed the focal length'):
    optics.DEFOCUSNET_CAMERA.coc_diameter_px(1.0, 0.002)
  with pytest.raises(ValueError, match='num_slices'):
    optics.DDFF_CAMERA.focal_stack_disparities(0)
