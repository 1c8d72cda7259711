"""Focal-slice registration (`optics.registration`) against slices magnified and shifted by known amounts with
SciPy's cubic interpolation, blurred differently as a focus sweep blurs them."""
import numpy as np
import pytest
import scipy.ndimage
import skimage.data

from ddff_jax import errors
from ddff_jax.optics import registration

MAGNIFICATIONS = (1.0, 1.012, 1.025, 1.037, 1.05)
SHIFTS = ((0.0, 0.0), (0.7, -1.3), (-2.2, 0.4), (1.6, 2.9), (-0.5, -3.4))
BLURS = (0.0, 1.0, 2.0, 1.0, 0.5)


def _slice(image, magnification, shift, blur):
  """slice(c + m·(q − c) + t) = image(q): the image magnified by m about the centre c and moved by t."""
  h, w = image.shape[:2]
  c = np.array([(h - 1) / 2, (w - 1) / 2])
  p = np.stack(np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing='ij'))
  q = c[:, None, None] + (p - c[:, None, None] - np.asarray(shift)[:, None, None]) / magnification
  out = np.stack([scipy.ndimage.map_coordinates(image[..., k], q, order=3, mode='reflect') for k in range(3)], -1)
  return scipy.ndimage.gaussian_filter(out, (blur, blur, 0)) if blur else out


@pytest.fixture(scope='module')
def stack():
  image = skimage.data.astronaut()[96:352, 96:416].astype(np.float64) / 255.0  # 256 × 320
  return np.stack([_slice(image, m, t, b) for m, t, b in zip(MAGNIFICATIONS, SHIFTS, BLURS)]).astype(np.float32)


def test_known_magnifications_and_shifts_are_recovered(stack):
  aligned, scales, shifts = registration.register_stack(stack, reference=0)
  np.testing.assert_allclose(np.asarray(scales), MAGNIFICATIONS, rtol=1e-3)  # within 0.1 %
  np.testing.assert_allclose(np.asarray(shifts), SHIFTS, atol=0.1)  # within 0.1 px
  # Aligned, the most magnified slice differs from the reference (away from the borders) by its blur and the
  # interpolation only: a small fraction of the unaligned difference.
  inner = (slice(30, -30), slice(30, -30))
  before = np.abs(stack[4][inner] - stack[0][inner]).mean()
  after = np.abs(np.asarray(aligned[4])[inner] - stack[0][inner]).mean()
  assert after < 0.2 * before, (after, before)


def test_the_default_reference_is_the_least_magnified_slice(stack):
  _, scales, shifts = registration.register_stack(stack[::-1])
  scales, shifts = np.asarray(scales), np.asarray(shifts)
  assert scales[-1] == 1.0 and np.all(scales >= 1.0)  # reversed: the unmagnified slice is last
  np.testing.assert_allclose(scales[::-1], MAGNIFICATIONS, rtol=1e-3)


def test_warp_is_the_stated_transform():
  image = np.random.default_rng(0).uniform(0, 1, (20, 30)).astype(np.float32)
  out = np.asarray(registration.warp(image, 1.0, np.array([2.0, -3.0])))
  np.testing.assert_allclose(out[2:15, 5:25], image[4:17, 2:22], atol=1e-6)  # integer shift: exact samples


def test_bad_stacks_are_clear_errors():
  with pytest.raises(errors.UserError, match='at least 2 slices'):
    registration.register_stack(np.zeros((1, 8, 8, 3), np.float32))
  with pytest.raises(errors.UserError, match='reference slice 5'):
    registration.register_stack(np.zeros((2, 8, 8, 3), np.float32), reference=5)
