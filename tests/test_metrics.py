import numpy as np
import pytest
from scipy import ndimage

from ddff_jax import losses, metrics


def test_ddff_metrics_hand_computed():
  gt = np.array([[0.1, 0.2], [0.0, 0.3]])  # 0 = missing, 0.3 > 0.2825 = outside the range: both invalid
  pred = np.array([[0.12, 0.15], [5.0, 5.0]])
  m = {k: float(v) for k, v in metrics.ddff_image_metrics(pred, gt).items()}
  assert m['mse'] == pytest.approx((0.02 ** 2 + 0.05 ** 2) / 2, rel=1e-5)
  assert m['rms'] == pytest.approx(0.0380789, rel=1e-5)
  assert m['abs_rel'] == pytest.approx((0.2 + 0.25) / 2, rel=1e-5)
  assert m['sq_rel'] == pytest.approx((0.0004 / 0.1 + 0.0025 / 0.2) / 2, rel=1e-5)
  assert m['log_rms'] == pytest.approx(np.sqrt((np.log(1.2) ** 2 + np.log(0.75) ** 2) / 2), rel=1e-5)
  assert (m['delta1'], m['delta2'], m['delta3']) == pytest.approx((50.0, 100.0, 100.0))  # ratios 1.2 and 1.333
  assert m['badpix'] == 0.0
  curve = np.asarray(metrics.badpix_curve(pred, gt, [0.01, 0.03, 0.06]))
  np.testing.assert_allclose(curve, [100.0, 50.0, 0.0])


def test_non_positive_predictions_count_as_wrong_unless_reference_compat():
  gt = np.full((4, 4), 0.1)
  pred = np.full((4, 4), 0.1)
  pred[0, :] = 0.0  # a quarter of the pixels predicted 0
  ours = {k: float(v) for k, v in metrics.ddff_image_metrics(pred, gt).items()}
  ref = {k: float(v) for k, v in metrics.ddff_image_metrics(pred, gt, reference_compat=True).items()}
  assert ours['delta1'] == pytest.approx(75.0) and ref['delta1'] == pytest.approx(100.0)
  assert ours['log_rms'] == pytest.approx(np.sqrt(0.25 * np.log(0.1 / 1e-3) ** 2), rel=1e-5)
  assert ref['log_rms'] == 0.0  # the released code drops them from the log error but keeps them in |M|


def test_hessian_of_a_quadratic_and_bumpiness_clip():
  a = 0.001
  x = np.arange(9.0)
  field = np.tile(a * x ** 2, (9, 1))
  # Scharr: f(x−1) − f(x+1) = −4a·x; applied twice: 8a; the cross terms vanish.
  np.testing.assert_allclose(np.asarray(metrics.hessian_norm(field))[2:-2, 2:-2], 8 * a, rtol=1e-5)
  gt = np.full((9, 9), 0.1)
  steep = 0.1 + np.tile(0.05 * (x - 4) ** 2, (9, 1))
  # Interior columns: 8·0.05 = 0.4, clipped to 0.05. The mirror boundary makes the first and last columns flat
  # (f(−1) = f(1), so the first derivative there is 0 and so is its derivative): 100 · 0.05 · 7/9.
  assert float(metrics.ddff_image_metrics(steep, gt)['bumpiness']) == pytest.approx(100 * 0.05 * 7 / 9, rel=1e-5)


def _numpy_ddff(pred, gt):
  gt = np.where((gt >= 0.0202) & (gt <= 0.2825), gt, 0)
  m = gt > 0
  p, g = pred[m], gt[m]
  e = p - g
  ps = np.maximum(p, 1e-3)
  ratio = np.maximum(ps / g, g / ps)
  s, d = np.array([3, 10, 3]) / 16, np.array([1, 0, -1])
  dx = lambda f: ndimage.correlate(f, np.outer(s, d), mode='mirror')
  dy = lambda f: ndimage.correlate(f, np.outer(d, s), mode='mirror')
  diff = np.where(gt > 0, pred - gt, 0)
  hess = np.sqrt(dx(dx(diff)) ** 2 + dy(dx(diff)) ** 2 + dx(dy(diff)) ** 2 + dy(dy(diff)) ** 2)
  return {'mse': np.mean(e ** 2), 'rms': np.sqrt(np.mean(e ** 2)), 'abs_rel': np.mean(np.abs(e) / g),
          'sq_rel': np.mean(e ** 2 / g), 'log_rms': np.sqrt(np.mean((np.log(ps) - np.log(g)) ** 2)),
          'delta1': 100 * np.mean(ratio < 1.25), 'delta2': 100 * np.mean(ratio < 1.25 ** 2),
          'delta3': 100 * np.mean(ratio < 1.25 ** 3), 'badpix': 100 * np.mean(np.abs(e) > 0.07),
          'bumpiness': 100 * np.mean(np.minimum(hess[m], 0.05))}


def test_ddff_metrics_match_a_numpy_statement_on_random_maps():
  rng = np.random.default_rng(0)
  for _ in range(3):
    gt = rng.uniform(0.0, 0.32, (23, 31))
    gt[rng.random(gt.shape) < 0.1] = 0
    pred = gt + rng.normal(0, 0.03, gt.shape)
    ours = metrics.ddff_image_metrics(pred, gt)
    for k, v in _numpy_ddff(pred, gt).items():
      assert float(ours[k]) == pytest.approx(v, rel=2e-4, abs=1e-6), k


def test_ddfs_metrics_hand_computed():
  gt = np.array([1.0, 2.0, 4.0])
  pred = np.array([2.0, 2.0, 2.0])
  m = {k: float(v) for k, v in metrics.ddfs_image_metrics(pred, gt).items()}
  assert m['mae'] == pytest.approx(1.0)
  assert m['rmse'] == pytest.approx(np.sqrt(5 / 3), rel=1e-6)
  assert m['abs_rel'] == pytest.approx(0.5, rel=1e-6)
  assert m['scale_invariant'] == pytest.approx(np.sqrt(2 * np.log(2) ** 2 / 3), rel=1e-5)
  assert m['ssitrim'] == pytest.approx((1 / 12 + 1 / 3) / 2, rel=1e-5)  # constant prediction: shift only
  # An exact affine relation in inverse depth is fully explained by the alignment.
  affine = 1.0 / (0.5 / gt + 0.2)
  assert float(metrics.ddfs_image_metrics(affine, gt)['ssitrim']) == pytest.approx(0.0, abs=1e-6)


def test_empty_images_are_skipped_in_the_average():
  per_image = [metrics.ddff_image_metrics(np.ones((3, 3)), np.zeros((3, 3))),
               metrics.ddff_image_metrics(np.full((3, 3), 0.11), np.full((3, 3), 0.1))]
  summary = metrics.mean_over_images(per_image)
  assert summary['num_images'] == 1
  assert summary['mse'] == pytest.approx(1e-4, rel=1e-4)
  # Signed disparities (HCI): AbsRel and the other ratio metrics are NaN on every image, which still counts.
  signed = [metrics.ddff_image_metrics(np.zeros((3, 3)), np.full((3, 3), v), valid_range=None) for v in (-1.0, 2.0)]
  summary = metrics.mean_over_images(signed)
  assert summary['num_images'] == 2 and np.isnan(summary['abs_rel'])
  assert summary['mse'] == pytest.approx(2.5)


def test_masked_losses_ignore_invalid_pixels():
  gt = np.array([[0.1, 0.0]])
  assert float(losses.masked_mse(np.array([[0.2, 100.0]]), gt)) == pytest.approx(0.01)
  assert float(losses.masked_l1(np.array([[0.2, 100.0]]), gt)) == pytest.approx(0.1)


def test_errors_by_band_and_slope_hand_computed():
  """Four known pixels (one NaN left out) in three bands; a prediction that halves the truth has slope 0.5."""
  gt = np.array([[-3.0, -1.0, np.nan], [0.2, 0.4, 3.0]])
  pred = np.array([[-2.0, -1.05, 7.0], [0.0, 0.4, 1.0]])
  bands = metrics.errors_by_band(pred, gt, (-np.inf, -2.5, 0.0, 2.5, np.inf))
  assert [b['band'] for b in bands] == [(None, -2.5), (-2.5, 0.0), (0.0, 2.5), (2.5, None)]
  expected = [  # share, MSE, median error, BadPix(0.07) %
      (1 / 5, 1.0, 1.0, 100.0), (1 / 5, 0.0025, -0.05, 0.0), (2 / 5, 0.02, -0.1, 50.0), (1 / 5, 4.0, -2.0, 100.0)]
  for band, (share, mse, median, badpix) in zip(bands, expected):
    assert band['share'] == pytest.approx(share) and band['mse'] == pytest.approx(mse)
    assert band['median_error'] == pytest.approx(median) and band['badpix'] == pytest.approx(badpix)
  truth = np.array([[-2.0, 0.0, 1.0], [3.0, np.nan, 5.0]])
  assert metrics.fit_slope(0.5 * truth + 0.3, truth) == pytest.approx(0.5)
