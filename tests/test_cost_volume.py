import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage
from skimage import restoration
from skimage.restoration import uft

from ddff_jax import errors
from ddff_jax import optics
from references import disk_psf_quadrature

CAM = optics.DEFOCUSNET_CAMERA
FOCUS = np.array([0.1, 0.3, 1.5])
DEPTHS = np.array([0.12, 0.25, 0.5, 1.0, 2.5])


@functools.lru_cache(maxsize=None)
def _disk(radius):
  return disk_psf_quadrature(radius, 2 * int(np.ceil(radius - 0.5)) + 1) if radius >= 0.5 else np.ones((1, 1))


def reference_cost_volume(stack, focus, depths, balance=0.01, max_radius=10.0, camera=(2.9e-3, 1.0, 3.1e-3 / 256)):
  """The DDFS reference: one skimage wiener call per (hypothesis, image, channel), scipy Gaussian windows;
  camera = (focal length m, f-number, pixel pitch m)."""
  f, n, pitch = camera
  b = 1.0 / pitch
  costs = []
  for d in depths:
    deblurred = []
    for k, df in enumerate(focus):
      radius = min(b * f * f * abs(d - df) / (d * n * (df - f)) / 2, max_radius)
      psf = _disk(round(float(radius), 12))
      deblurred.append(np.stack([restoration.wiener(stack[k, ..., c], psf, balance, clip=False)
                                 for c in range(stack.shape[-1])], -1))
    deblurred = np.stack(deblurred)
    mu = ndimage.gaussian_filter(deblurred.mean(0), sigma=(1, 1, 0), truncate=4.0, mode='reflect')
    var = ndimage.gaussian_filter(((deblurred - mu) ** 2).mean(0), sigma=(1, 1, 0), truncate=4.0, mode='reflect')
    costs.append(np.sqrt(var).sum(-1))
  return np.stack(costs)


def reference_reblur_cost_volume(stack, focus, depths, balance=0.01, max_radius=10.0,
                                 camera=(2.9e-3, 1.0, 3.1e-3 / 256)):
  """The re-blur criterion in float64 with scikit-image's transforms (`uft`, as `restoration.wiener` uses them):
  the multi-image Wiener estimate A = Σ_k H_k* I_k / (Σ_k |H_k|² + λ|L|²), r_k = H_k A − I_k, then
  Σ_RGB sqrt(G ∗ mean_k r_k²) with scipy's Gaussian window."""
  f, n, pitch = camera
  shape = stack.shape[1:3]
  reg, _ = uft.laplacian(2, shape, is_real=True)
  costs = []
  for d in depths:
    tfs = []
    for df in focus:
      radius = min(f * f * abs(d - df) / (d * n * (df - f)) / pitch / 2, max_radius)
      tfs.append(uft.ir2tf(_disk(round(float(radius), 12)), shape, is_real=True))
    energy = np.zeros(shape + (stack.shape[-1],))
    for c in range(stack.shape[-1]):
      spectra = [uft.urfft2(stack[k, ..., c]) for k in range(len(focus))]
      estimate = sum(np.conj(t) * s for t, s in zip(tfs, spectra)) / (
          sum(np.abs(t) ** 2 for t in tfs) + balance * np.abs(reg) ** 2)
      energy[..., c] = np.mean([(uft.uirfft2(t * estimate, shape=shape) - stack[k, ..., c]) ** 2
                                for k, t in enumerate(tfs)], axis=0)
    costs.append(np.sqrt(ndimage.gaussian_filter(energy, sigma=(1, 1, 0), truncate=4.0, mode='reflect')).sum(-1))
  return np.stack(costs)


def test_reblur_cost_volume_matches_the_scikit_image_reference():
  rng = np.random.default_rng(4)
  stack = rng.random((3, 26, 31, 3))
  ref = reference_reblur_cost_volume(stack, FOCUS, DEPTHS)
  out = np.asarray(optics.defocus_cost_volume(stack.astype(np.float32), FOCUS, CAM, DEPTHS, criterion='reblur',
                                              hypotheses_per_block=2))
  assert out.shape == (5, 26, 31)
  assert np.max(np.abs(out - ref)) / np.max(ref) < 1e-4
  cameras = np.array([[2.9e-3, 1.0, 3.1e-3 / 256], [4.3e-3, 1.9, 3.1e-3 / 256]])  # traced params under vmap
  focus = np.array([[0.1, 0.3, 1.5], [0.15, 0.7, 2.0]])
  stacks = rng.random((2, 3, 24, 22, 3))
  batched = np.asarray(jax.vmap(lambda s, f, c: optics.defocus_cost_volume(s, f, c, DEPTHS, criterion='reblur'))(
      jnp.asarray(stacks, jnp.float32), jnp.asarray(focus, jnp.float32), jnp.asarray(cameras, jnp.float32)))
  for i in range(2):
    ref = reference_reblur_cost_volume(stacks[i], focus[i], DEPTHS, camera=tuple(cameras[i]))
    assert np.max(np.abs(batched[i] - ref)) / np.max(ref) < 1e-4, i
  with pytest.raises(ValueError, match="criterion must be one of"):
    optics.defocus_cost_volume(stack.astype(np.float32), FOCUS, CAM, DEPTHS, criterion='sharpness')


@pytest.mark.parametrize('separate', [False, True])
def test_both_inverse_transform_layouts_give_the_numpy_mean_square_residual(separate):
  from ddff_jax.optics.cost_volume import _mean_square_residual
  rng = np.random.default_rng(5)
  otf = rng.random((4, 10, 7))
  complex_normal = lambda shape: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
  estimate, spectra = complex_normal((3, 10, 7)), complex_normal((4, 3, 10, 7))
  residual = np.fft.irfft2(otf[:, None] * estimate[None] - spectra, s=(10, 12))
  out = _mean_square_residual(jnp.asarray(otf, jnp.float32), jnp.asarray(estimate, jnp.complex64),
                              jnp.asarray(spectra, jnp.complex64), (10, 12), separate)
  np.testing.assert_allclose(np.asarray(out), (residual ** 2).mean(0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('true_depth', [0.15, 0.5, 2.5])
def test_reblur_cost_is_lowest_at_the_true_depth_of_a_rendered_plane_near_or_far(true_depth):
  """The variance criterion's over-smoothing bias: for a far plane, nearer (more blurring) hypotheses also make the
  deblurred images agree; the re-blur residual does not have it."""
  rng = np.random.default_rng(2)
  texture = ndimage.zoom(rng.random((16, 16, 3)), (4, 4, 1), order=1)  # 64x64, texture at several scales
  stack = optics.render_focal_stack(texture, np.full((64, 64), true_depth), CAM, FOCUS)
  hyps = 1.0 / np.linspace(1 / 0.1, 1 / 3.0, 32)
  centre = lambda c: np.asarray(c)[:, 16:48, 16:48].mean(axis=(1, 2))
  reblur = centre(optics.defocus_cost_volume(stack, FOCUS, CAM, hyps, criterion='reblur'))
  variance = centre(optics.defocus_cost_volume(stack, FOCUS, CAM, hyps))
  nearest = np.argmin(np.abs(1 / hyps - 1 / true_depth))  # in dioptres, where blur is linear
  assert abs(int(np.argmin(reblur)) - int(nearest)) <= 1
  if true_depth > 2:
    assert hyps[np.argmin(variance)] < 1.0  # the bias: the far plane read at under 1 m


def test_a_camera_per_example_as_params_matches_the_reference_for_each_camera():
  """Cameras as traced (3,) params under vmap (training on varied cameras): each example's cost volume is the
  reference's for its own camera and focus distances."""
  stacks = np.random.default_rng(3).random((2, 3, 24, 22, 3))
  cameras = np.array([[2.9e-3, 1.0, 3.1e-3 / 256], [4.3e-3, 1.9, 3.1e-3 / 256]])
  focus = np.array([[0.1, 0.3, 1.5], [0.15, 0.7, 2.0]])
  out = np.asarray(jax.vmap(lambda s, f, c: optics.defocus_cost_volume(s, f, c, DEPTHS))(
      jnp.asarray(stacks, jnp.float32), jnp.asarray(focus, jnp.float32), jnp.asarray(cameras, jnp.float32)))
  for i in range(2):
    ref = reference_cost_volume(stacks[i], focus[i], DEPTHS, camera=tuple(cameras[i]))
    assert np.max(np.abs(out[i] - ref)) / np.max(ref) < 1e-4, i
  with pytest.raises(errors.UserError, match=r'\(3,\) params'):
    optics.defocus_cost_volume(stacks[0].astype(np.float32), focus[0], cameras, DEPTHS)


def test_cost_volume_matches_the_scikit_image_reference_loop():
  stack = np.random.default_rng(0).random((3, 26, 31, 3))
  ref = reference_cost_volume(stack, FOCUS, DEPTHS)
  out = np.asarray(optics.defocus_cost_volume(stack.astype(np.float32), FOCUS, CAM, DEPTHS, hypotheses_per_block=2))
  assert out.shape == (5, 26, 31)
  assert np.max(np.abs(out - ref)) / np.max(ref) < 1e-4


def test_cost_volume_is_exact_for_one_hypothesis_any_block_and_under_vmap():
  """The shapes the library really uses — one hypothesis at a time, blocks that do not divide D, and a batch of
  stacks under vmap (the training step) — against the scikit-image loop. All of these once hit an XLA:CPU
  miscompile of the disk PSF's normalisation (see test_psf_wiener)."""
  rng = np.random.default_rng(3)
  stacks = rng.random((2, 3, 24, 24, 3))
  depths = np.linspace(0.1, 3.0, 6)
  refs = [reference_cost_volume(s, FOCUS, depths) for s in stacks]
  tol = 1e-4 * max(np.max(r) for r in refs)
  f32 = stacks.astype(np.float32)
  for block in (1, 4):
    out = np.asarray(optics.defocus_cost_volume(f32[0], FOCUS, CAM, depths, hypotheses_per_block=block))
    assert np.max(np.abs(out - refs[0])) < tol, block
  single = [np.asarray(optics.defocus_cost_volume(f32[0], FOCUS, CAM, depths[i:i + 1]))[0] for i in range(6)]
  assert np.max(np.abs(np.stack(single) - refs[0])) < tol
  batched = np.asarray(jax.vmap(lambda s: optics.defocus_cost_volume(s, FOCUS, CAM, depths))(jnp.asarray(f32)))
  for out, ref in zip(batched, refs):
    assert np.max(np.abs(out - ref)) < tol


@pytest.mark.parametrize('separate', [False, True])
def test_both_inverse_transform_layouts_give_numpy_moments(separate):
  # One batched transform (accelerators) or K·C separate ones (CPU): the means over the K images of I'_kc and of
  # its square, against np.fft.irfft2 in float64.
  from ddff_jax.optics.cost_volume import _deblurred_moments
  rng = np.random.default_rng(3)
  gain = rng.random((4, 10, 7))
  spectra = rng.standard_normal((4, 3, 10, 7)) + 1j * rng.standard_normal((4, 3, 10, 7))
  deblurred = np.fft.irfft2(gain[:, None] * spectra, s=(10, 12))
  first, second = _deblurred_moments(jnp.asarray(gain, jnp.float32), jnp.asarray(spectra, jnp.complex64), (10, 12),
                                     separate)
  assert first.shape == second.shape == (3, 10, 12)
  np.testing.assert_allclose(np.asarray(first), deblurred.mean(0), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(second), (deblurred ** 2).mean(0), rtol=1e-5, atol=1e-5)


def test_normalization_is_the_stated_tanh_and_min_max():
  cost = np.random.default_rng(1).random((6, 5, 4)) * 0.5
  squashed = np.tanh(np.arctanh(0.999) / 0.3 * cost)
  ref = (squashed - squashed.min(0)) / (squashed.max(0) - squashed.min(0) + 1e-8)
  np.testing.assert_allclose(np.asarray(optics.normalize_cost_volume(cost.astype(np.float32))), ref, atol=1e-4)
  assert optics.DDFS_TANH_SCALE == pytest.approx(12.6673, abs=1e-4)


def test_cost_is_lowest_at_the_true_depth_for_a_rendered_textured_plane():
  rng = np.random.default_rng(2)
  texture = ndimage.zoom(rng.random((16, 16, 3)), (4, 4, 1), order=1)  # 64x64, texture at several scales
  true_depth = 0.5
  stack = optics.render_focal_stack(texture, np.full((64, 64), true_depth), CAM, FOCUS)
  hyps = np.linspace(0.1, 3.0, 30)
  cost = np.asarray(optics.defocus_cost_volume(stack, FOCUS, CAM, hyps))
  centre = cost[:, 16:48, 16:48].mean(axis=(1, 2))
  assert abs(hyps[np.argmin(centre)] - true_depth) <= 0.11


def test_cost_volume_gradient_matches_finite_differences():
  rng = np.random.default_rng(3)
  with jax.enable_x64(True):
    stack = jnp.asarray(rng.random((2, 12, 13, 1)))
    w = jnp.asarray(rng.random((2, 12, 13)))
    loss = lambda s: jnp.sum(optics.defocus_cost_volume(s, [0.1, 0.3], CAM, [0.2, 0.6], max_radius_px=3.0) * w)
    direction = jnp.asarray(rng.standard_normal(stack.shape))
    grad = jax.grad(loss)(stack)
    eps = 1e-6
    fd = (loss(stack + eps * direction) - loss(stack - eps * direction)) / (2 * eps)
    assert float(jnp.sum(grad * direction)) == pytest.approx(float(fd), rel=1e-5)


def test_cost_volume_bad_input():
  stack = np.zeros((3, 16, 16, 3), np.float32)
  with pytest.raises(ValueError, match='3 images but 2 focus distances'):
    optics.defocus_cost_volume(stack, [0.1, 0.3], CAM, DEPTHS)
  with pytest.raises(ValueError, match='exceed the focal length'):
    optics.defocus_cost_volume(stack, [0.001, 0.3, 1.5], CAM, DEPTHS)
  with pytest.raises(ValueError, match='NaN'):
    optics.defocus_cost_volume(np.full((3, 16, 16, 3), np.nan, np.float32), FOCUS, CAM, DEPTHS)
  with pytest.raises(ValueError, match=r'focal_stack must have shape \(K, H, W, C\)'):
    optics.defocus_cost_volume(stack[0], FOCUS, CAM, DEPTHS)
  with pytest.raises(ValueError, match='> 0'):
    optics.defocus_cost_volume(stack, FOCUS, CAM, [0.0, 1.0])


class CostVolumeJitAndEager(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_cost_volume_matches_the_scikit_image_reference_loop(self):
    stack = np.random.default_rng(5).random((3, 22, 25, 3))
    cost = self.variant(lambda s, f, d: optics.defocus_cost_volume(s, f, CAM, d))
    out = np.asarray(cost(stack.astype(np.float32), FOCUS.astype(np.float32), DEPTHS[:3].astype(np.float32)))
    ref = reference_cost_volume(stack, FOCUS, DEPTHS[:3])
    assert np.max(np.abs(out - ref)) / np.max(ref) < 1e-4
