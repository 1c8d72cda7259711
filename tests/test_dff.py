import numpy as np
import pytest
from scipy import ndimage

from ddff_jax import optics


def _numpy_focus_measure(stack, measure, window):
  gray = stack @ np.array([0.299, 0.587, 0.114])
  out = []
  for g in gray:
    p = np.pad(g, 1, mode='symmetric')
    if measure == 'modified_laplacian':
      raw = (np.abs(2 * g - p[:-2, 1:-1] - p[2:, 1:-1]) + np.abs(2 * g - p[1:-1, :-2] - p[1:-1, 2:]))
      out.append(ndimage.uniform_filter(raw, window, mode='reflect'))
    elif measure == 'gradient_energy':
      raw = ((p[2:, 1:-1] - p[:-2, 1:-1]) / 2) ** 2 + ((p[1:-1, 2:] - p[1:-1, :-2]) / 2) ** 2
      out.append(ndimage.uniform_filter(raw, window, mode='reflect'))
    else:
      m = ndimage.uniform_filter(g, window, mode='reflect')
      out.append(ndimage.uniform_filter(g * g, window, mode='reflect') - m * m)
  return np.stack(out)


@pytest.mark.parametrize('measure', optics.FOCUS_MEASURES)
def test_focus_measures_match_numpy(measure):
  stack = np.random.default_rng(0).random((3, 15, 17, 3))
  out = np.asarray(optics.focus_measure(stack.astype(np.float32), measure, 5))
  np.testing.assert_allclose(out, _numpy_focus_measure(stack, measure, 5), atol=2e-6)


def test_parabolic_refinement_recovers_a_parabola_peak():
  s = np.arange(7.0)[:, None, None]
  peaks = np.array([[2.3, 4.0, 0.8, 5.45]])
  measures = -(s - peaks[None]) ** 2
  index = np.asarray(optics.best_focus_index(measures.astype(np.float32), 'parabolic'))
  np.testing.assert_allclose(index, peaks, atol=1e-5)
  assert np.array_equal(np.asarray(optics.best_focus_index(measures, None)), np.round(peaks))
  values = np.linspace(0.28, 0.02, 7)
  np.testing.assert_allclose(np.asarray(optics.index_to_value(index, values)), np.interp(peaks, np.arange(7), values),
                             atol=1e-6)


def test_dff_recovers_two_planes_of_a_synthetic_light_field():
  rng = np.random.default_rng(1)
  h, w = 48, 64
  near, far = ndimage.zoom(rng.random((12, 16, 3)), (4, 4, 1), order=1), rng.random((h, w, 3))
  disparity = np.where(np.arange(w)[None, :] < w // 2, 1.0, -1.0) * np.ones((h, 1))
  lf = np.zeros((5, 5, h, w, 3))
  for u in range(5):
    for v in range(5):
      left = np.roll(near, (-(u - 2), -(v - 2)), axis=(0, 1))
      right = np.roll(far, ((u - 2), (v - 2)), axis=(0, 1))
      lf[u, v] = np.where(disparity[..., None] > 0, left, right)
  d = np.linspace(-2, 2, 9)
  est = np.asarray(optics.depth_from_focus(optics.refocus(lf.astype(np.float32), d), d, window=5))
  inner = (slice(6, -6), np.r_[6:w // 2 - 6, w // 2 + 6:w - 6])
  assert np.median(np.abs(est - disparity)[inner[0]][:, inner[1]]) < 0.05


def test_real_light_field_dff_is_close_to_ground_truth(backgammon, antinous):
  d = np.linspace(-2.5, 2.5, 10)
  errors = {}
  for scene in (backgammon, antinous):
    stack = optics.refocus(scene.light_field, d)
    est = np.asarray(optics.depth_from_focus(stack, d))
    errors[scene.name] = np.median(np.abs(est - scene.disparity))
    # The ground truth is the right way up: flipped, it is much further from the estimate.
    assert np.median(np.abs(est - scene.disparity[::-1])) > 2 * errors[scene.name]
  assert errors['backgammon'] <= 0.25
  assert errors['antinous'] <= 0.4  # its disparities exceed the stack's ±2.5 px


def test_dff_bad_input():
  with pytest.raises(ValueError, match='3 slices but 2 slice values'):
    optics.depth_from_focus(np.zeros((3, 8, 8, 3)), [0.1, 0.2])
  with pytest.raises(ValueError, match='measure must be one of'):
    optics.focus_measure(np.zeros((3, 8, 8)), 'tenengrad')
  with pytest.raises(ValueError, match='odd'):
    optics.focus_measure(np.zeros((3, 8, 8)), 'local_variance', window=4)


def test_all_in_focus_takes_each_region_from_its_sharp_slice():
  import scipy.ndimage
  from ddff_jax import optics
  sharp = np.random.default_rng(0).uniform(0, 1, (48, 48, 3)).astype(np.float32)
  blurred = scipy.ndimage.gaussian_filter(sharp, (2.5, 2.5, 0))
  stack = np.stack([blurred.copy() for _ in range(3)])
  regions = [(slice(0, 16), slice(None)), (slice(16, 32), slice(None)), (slice(32, 48), slice(None))]
  for k, region in enumerate(regions):  # slice k is sharp in band k only
    stack[k][region] = sharp[region]
  aif = np.asarray(optics.all_in_focus_from_stack(stack))
  inner = (slice(6, 42), slice(6, 42))
  inside_bands = np.ones((48, 48), bool)
  inside_bands[12:20] = inside_bands[28:36] = False  # band borders mix slices within the focus window
  np.testing.assert_array_equal(aif[inner][inside_bands[inner]], sharp[inner][inside_bands[inner]])
