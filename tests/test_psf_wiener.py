import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from skimage import restoration
from skimage.restoration import uft

from ddff_jax import optics
from references import disk_psf_quadrature


@pytest.mark.parametrize('radius', [0.3, 0.5, 0.8, 1.0, 1.7, 3.2, 6.45, 10.0])
def test_disk_psf_equals_the_exact_area_integral(radius):
  size = optics.disk_support(radius)
  assert size == 2 * int(np.ceil(radius - 0.5)) + 1
  kernel = np.asarray(optics.disk_psf(radius))
  assert kernel.shape == (size, size)
  assert kernel.sum() == pytest.approx(1.0, abs=1e-6)
  np.testing.assert_allclose(kernel, disk_psf_quadrature(radius, size), atol=2e-7)


def test_disk_psf_hand_checked_radius_one():
  # r = 1: the centre pixel lies inside the disk (area 1); an edge pixel holds ∫(√(1−y²) − ½)dy over |y| ≤ ½
  # = √3/4 + π/6 − ½ = 0.4566115; a corner pixel π/12 − (√3 − 1)/4 = 0.0787867; together they make π.
  kernel = np.asarray(optics.disk_psf(1.0))
  np.testing.assert_allclose(kernel[1, 1], 1 / np.pi, rtol=1e-6)
  np.testing.assert_allclose(kernel[0, 1], 0.4566115 / np.pi, rtol=1e-6)
  np.testing.assert_allclose(kernel[0, 0], 0.0787867 / np.pi, rtol=1e-5)


def test_disk_psf_is_exact_when_the_radius_is_computed_in_the_same_compiled_program():
  """Regression: XLA:CPU (jaxlib 0.10.2) miscompiled the kernel's normalising sum when the radius came from the
  camera model inside the same jit, silently scaling the r = 3.05 px disk of this case by 0.83 (and with it the
  cost volume's Wiener filters)."""
  focus = jnp.asarray([0.1, 0.3, 1.5], jnp.float32)
  depth = jnp.float32(np.linspace(0.1, 3.0, 6)[1])
  camera = optics.DEFOCUSNET_CAMERA
  psf = np.asarray(jax.jit(lambda d, f: optics.disk_psf(camera.psf_radius_px(d, f), 21))(depth, focus))
  radii = np.asarray(camera.psf_radius_px(depth, focus))
  assert radii[0] > 3 and 0.5 < radii[1] < 1 and radii[2] < 0.5
  for kernel, radius in zip(psf, radii):
    np.testing.assert_allclose(kernel, disk_psf_quadrature(float(radius), 21), atol=1e-6)


def test_small_radius_is_a_delta_and_padding_does_not_change_the_kernel():
  for r in (0.0, 0.2, 0.49):
    k = np.asarray(optics.disk_psf(r, 5))
    assert k[2, 2] == 1.0 and k.sum() == 1.0
  wide = np.asarray(optics.disk_psf(1.7, 9))
  np.testing.assert_allclose(wide[2:7, 2:7], np.asarray(optics.disk_psf(1.7)), atol=1e-7)
  assert np.all(wide[0] == 0)
  batch = np.asarray(optics.disk_psf(jnp.array([0.2, 1.0, 2.5]), 7))
  np.testing.assert_allclose(batch[1, 2:5, 2:5], np.asarray(optics.disk_psf(1.0)), atol=1e-7)


def test_gaussian_psf_and_otfs_match_scikit_image_ir2tf():
  g = np.asarray(optics.gaussian_psf(1.3, 9))
  x = np.arange(-4, 5)
  ref = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.3 ** 2))
  np.testing.assert_allclose(g, ref / ref.sum(), atol=1e-7)
  for psf in (g, np.asarray(optics.disk_psf(2.3))):
    for shape in ((20, 26), (21, 17)):
      ref_otf = uft.ir2tf(psf.astype(np.float64), shape, is_real=True)
      np.testing.assert_allclose(np.asarray(optics.psf_to_otf(jnp.asarray(psf), shape)), ref_otf, atol=1e-6)
      np.testing.assert_allclose(np.asarray(optics.symmetric_psf_otf(jnp.asarray(psf), shape)), ref_otf.real,
                                 atol=1e-6)
  assert np.max(np.abs(uft.ir2tf(np.asarray(optics.disk_psf(2.3), np.float64), (20, 26)).imag)) < 1e-6
  # Batched, a PSF as tall as the image (the mirrored rows at their limits), and a 1x1 delta.
  psfs = np.asarray(optics.disk_psf(np.array([0.3, 1.7, 4.2]), 9))
  for shape in ((9, 14), (10, 9)):
    ref_otf = np.stack([uft.ir2tf(p.astype(np.float64), shape, is_real=True).real for p in psfs])
    np.testing.assert_allclose(np.asarray(optics.symmetric_psf_otf(jnp.asarray(psfs), shape)), ref_otf, atol=1e-6)
  np.testing.assert_allclose(np.asarray(optics.symmetric_psf_otf(jnp.ones((1, 1)), (4, 5))), np.ones((4, 3)))


def test_wiener_matches_scikit_image_per_channel():
  rng = np.random.default_rng(0)
  image = rng.random((30, 41, 3))
  for psf in (np.asarray(optics.disk_psf(2.3), np.float64), np.asarray(optics.gaussian_psf(0.8, 5), np.float64),
              rng.random((4, 6))):
    psf = psf / psf.sum()
    ref = np.stack([restoration.wiener(image[..., c], psf, 0.01, clip=False) for c in range(3)], -1)
    out = np.asarray(optics.wiener(image.astype(np.float32), psf, 0.01))
    assert np.max(np.abs(out - ref)) < 1e-5
    gray = np.asarray(optics.wiener(image[..., 0].astype(np.float32), psf, 0.05, channel_axis=None))
    assert np.max(np.abs(gray - restoration.wiener(image[..., 0], psf, 0.05, clip=False))) < 1e-5


def test_wiener_batches_over_images_and_psfs():
  rng = np.random.default_rng(1)
  images = rng.random((2, 16, 18, 3)).astype(np.float32)
  psfs = np.asarray(optics.disk_psf(jnp.array([[0.7], [2.1]]), 5))  # (2, 1, 5, 5) broadcast against (2, ...)
  out = np.asarray(optics.wiener(images, psfs[:, 0], 0.01))
  for b in range(2):
    np.testing.assert_allclose(out[b], np.asarray(optics.wiener(images[b], psfs[b, 0], 0.01)), atol=1e-6)


def test_wiener_gradient_matches_finite_differences():
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    image = jnp.asarray(rng.random((8, 9, 1)))
    w = jnp.asarray(rng.random((8, 9, 1)))
    # Compiled: half the time of the eager version.
    loss = jax.jit(lambda r: jnp.sum(optics.wiener(image, optics.disk_psf(r, 7), 0.01) * w))
    r = jnp.asarray(1.6)
    fd = (loss(r + 1e-6) - loss(r - 1e-6)) / 2e-6
    assert float(jax.jit(jax.grad(loss))(r)) == pytest.approx(float(fd), rel=1e-5)


def test_wiener_bad_input():
  with pytest.raises(ValueError, match=r'image must have shape \(\.\.\., H, W, C\)'):
    optics.wiener(np.zeros((8, 8)), np.ones((3, 3)) / 9)
  with pytest.raises(ValueError, match='does not fit'):
    optics.wiener(np.zeros((4, 4, 3)), np.ones((5, 5)) / 25)
  with pytest.raises(ValueError, match='psf contains'):
    optics.wiener(np.zeros((8, 8, 3)), np.full((3, 3), np.nan))


class KernelsJitAndEager(chex.TestCase):
  """The disk PSF and the Wiener filter against their references through the compiled and the eager path."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_disk_psf_and_wiener(self):
    for radius in (0.8, 3.2):
      size = optics.disk_support(radius)
      kernel = np.asarray(self.variant(functools.partial(optics.disk_psf, size=size))(jnp.float32(radius)))
      np.testing.assert_allclose(kernel, disk_psf_quadrature(radius, size), atol=2e-7)
    image = np.random.default_rng(3).random((20, 23, 3))
    psf = np.asarray(optics.disk_psf(2.3), np.float64)
    wiener = self.variant(functools.partial(optics.wiener, balance=0.01))
    out = np.asarray(wiener(image.astype(np.float32), psf.astype(np.float32)))
    ref = np.stack([restoration.wiener(image[..., c], psf, 0.01, clip=False) for c in range(3)], -1)
    assert np.max(np.abs(out - ref)) < 1e-5
