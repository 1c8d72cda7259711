import numpy as np
import pytest
from scipy import ndimage

from ddff_jax import optics
from references import disk_psf_quadrature

CAM = optics.DEFOCUSNET_CAMERA


def _texture(seed, h=40, w=44):
  return np.random.default_rng(seed).random((h, w, 3))


def test_in_focus_plane_is_unchanged():
  aif = _texture(0)
  out = np.asarray(optics.render_defocus(aif, np.full(aif.shape[:2], 0.3), CAM, 0.3))
  np.testing.assert_allclose(out, aif, atol=1e-5)


@pytest.mark.parametrize('depth', [0.2, 1.2])
def test_defocused_plane_equals_convolution_with_the_disk(depth):
  aif = _texture(1)
  focus = 0.12
  radius = 256 / 3.1e-3 * 2.9e-3 ** 2 * abs(depth - focus) / (depth * (focus - 2.9e-3)) / 2
  psf = disk_psf_quadrature(radius, 2 * int(np.ceil(radius - 0.5)) + 1)
  ref = np.stack([ndimage.convolve(aif[..., c], psf, mode='reflect') for c in range(3)], -1)
  out = np.asarray(optics.render_defocus(aif, np.full(aif.shape[:2], depth), CAM, focus))
  np.testing.assert_allclose(out, ref, atol=2e-5)


def test_gaussian_psf_option():
  aif = _texture(2)
  depth, focus = 1.0, 0.1
  coc = 256 / 3.1e-3 * 2.9e-3 ** 2 * abs(depth - focus) / (depth * (focus - 2.9e-3))
  sigma = 0.3 * coc
  x = np.arange(-9, 10)
  g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma ** 2))
  ref = np.stack([ndimage.convolve(aif[..., c], g / g.sum(), mode='reflect') for c in range(3)], -1)
  out = np.asarray(optics.render_defocus(aif, np.full(aif.shape[:2], depth), CAM, focus, psf='gaussian'))
  np.testing.assert_allclose(out[10:-10, 10:-10], ref[10:-10, 10:-10], atol=1e-4)


def test_occluder_in_focus_stays_sharp_over_a_blurred_background():
  aif = _texture(3, 64, 64)
  depth = np.full((64, 64), 2.0)
  depth[20:44, 20:44] = 0.15  # near square, in focus
  stack = np.asarray(optics.render_focal_stack(aif, depth, CAM, [0.15, 2.0], num_layers=16))
  assert stack.shape == (2, 64, 64, 3)
  r = 10  # the background blur radius at focus 0.15 m is below 10 px
  np.testing.assert_allclose(stack[0, 20 + 2:44 - 2, 20 + 2:44 - 2], aif[22:42, 22:42], atol=1e-4)
  background = stack[0, :20 - r, :]  # far from the square: the background, blurred
  assert np.std(background) < 0.5 * np.std(aif[:20 - r])
  np.testing.assert_allclose(stack[1, :20 - 3], aif[:20 - 3], atol=1e-4)  # focused on the background
  assert np.all(stack >= -1e-4) and np.all(stack <= 1 + 1e-4)


def test_render_bad_input():
  aif = _texture(4, 16, 16)
  with pytest.raises(ValueError, match='depth_m has shape'):
    optics.render_defocus(aif, np.ones((8, 8)), CAM, 0.3)
  with pytest.raises(ValueError, match='> 0 everywhere'):
    optics.render_defocus(aif, np.zeros((16, 16)), CAM, 0.3)
  with pytest.raises(ValueError, match='exceed the focal length'):
    optics.render_defocus(aif, np.ones((16, 16)), CAM, 0.001)
