import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddff_jax import optics
from references import refocus_per_view


@pytest.mark.parametrize('grid, size', [((3, 3), (17, 20)), ((5, 4), (16, 15)), ((9, 9), (12, 13)), ((3, 5), (14, 18))])
@pytest.mark.parametrize('mode', ['linear', 'toolbox'])
def test_refocus_matches_per_view_numpy_statement(grid, size, mode):
  rng = np.random.default_rng(0)
  lf = rng.random(grid + size + (3,))
  disparities = np.array([-1.3, -0.25, 0.0, 0.4, 1.7])
  ref = refocus_per_view(lf, disparities, mode)
  out = np.asarray(optics.refocus(lf.astype(np.float32), disparities, mode=mode))
  assert out.shape == ref.shape == (5,) + size + (3,)
  assert np.max(np.abs(out - ref)) / np.max(np.abs(ref)) < 1e-5


def test_integer_disparity_refocus_equals_the_exactly_shifted_image():
  rng = np.random.default_rng(1)
  img = rng.random((24, 31, 3))
  nu, nv, d0 = 5, 5, 2
  # View (u, v) sees the scene displaced by −(u − c)·d0: refocusing at d0 undoes exactly that.
  lf = np.stack([np.stack([np.roll(img, (-(u - 2) * d0, -(v - 2) * d0), axis=(0, 1)) for v in range(nv)])
                 for u in range(nu)])
  stack = np.asarray(optics.refocus(lf.astype(np.float32), [d0, 0.0], mode='linear'))
  np.testing.assert_allclose(stack[0], img, atol=2e-6)
  assert np.max(np.abs(stack[1] - img)) > 0.1  # out of focus elsewhere
  toolbox = np.asarray(optics.refocus(lf.astype(np.float32), [d0], mode='toolbox'))
  np.testing.assert_allclose(toolbox[0], img, atol=2e-6)


def test_uint8_input_batches_and_centre_view():
  rng = np.random.default_rng(2)
  lf8 = rng.integers(0, 256, (2, 3, 3, 10, 11, 3), dtype=np.uint8)
  d = [0.3, -0.5]
  batched = np.asarray(optics.refocus(lf8, d))
  for b in range(2):
    np.testing.assert_allclose(batched[b], np.asarray(optics.refocus(lf8[b].astype(np.float32) / 255.0, d)),
                               atol=1e-6)
  np.testing.assert_allclose(np.asarray(optics.centre_view(lf8[0])), lf8[0, 1, 1] / 255.0, atol=1e-7)
  np.testing.assert_array_equal(np.asarray(optics.to_uint8(jnp.array([0.0, 0.5, 0.999, 1.2]))), [0, 127, 254, 255])
  np.testing.assert_array_equal(np.asarray(optics.to_uint8(jnp.array([0.5, 0.999]), 'round')), [128, 255])


def test_refocus_is_jittable_and_vmappable():
  lf = np.random.default_rng(3).random((4, 3, 3, 8, 9, 3)).astype(np.float32)
  d = jnp.array([0.1, 0.9])
  vm = jax.jit(jax.vmap(lambda x: optics.refocus(x, d)))(lf)
  np.testing.assert_allclose(np.asarray(vm), np.asarray(optics.refocus(lf, d)), atol=1e-6)


def test_gradient_through_refocus_matches_finite_differences():
  rng = np.random.default_rng(4)
  with jax.enable_x64(True):
    lf = jnp.asarray(rng.random((3, 3, 8, 7, 1)))
    weights = jnp.asarray(rng.random((1, 8, 7, 1)))
    loss = lambda d: jnp.sum(optics.refocus(lf, d) ** 2 * weights)
    d = jnp.array([0.37])
    grad = jax.grad(loss)(d)
    eps = 1e-6
    fd = (loss(d + eps) - loss(d - eps)) / (2 * eps)
    assert np.isfinite(float(grad[0]))
    assert float(grad[0]) == pytest.approx(float(fd), rel=1e-5)
  grad_lf = jax.grad(lambda x: jnp.sum(optics.refocus(x, [0.4])))(jnp.asarray(rng.random((3, 3, 6, 6, 3)), jnp.float32))
  assert np.all(np.isfinite(np.asarray(grad_lf)))


@pytest.mark.parametrize('lf, d, err, msg', [
    (np.zeros((3, 8, 8, 3)), [0.1], ValueError, r'light_field must have shape \(U, V, H, W, C\)'),
    (np.zeros((3, 3, 0, 8, 3)), [0.1], ValueError, 'must not be empty'),
    (np.full((3, 3, 4, 4, 3), np.nan), [0.1], ValueError, 'NaN'),
    (np.zeros((3, 3, 4, 4, 3)), [], ValueError, 'disparities must not be empty'),
    (np.zeros((3, 3, 4, 4, 3)), [np.inf], ValueError, 'disparities contains'),
    (np.zeros((3, 3, 4, 4, 3), np.int32), [0.1], TypeError, 'uint8, uint16 or floating'),
])
def test_bad_input_gives_clear_errors(lf, d, err, msg):
  with pytest.raises(err, match=msg):
    optics.refocus(lf, d)
  with pytest.raises(ValueError, match='mode'):
    optics.refocus(np.zeros((3, 3, 4, 4, 3)), [0.1], mode='magnitude')


class RefocusJitAndEager(chex.TestCase):
  """The same reference check through the compiled and the eager path (`refocus` validates inputs on the host
  when it can: under jit those checks are skipped, and the result must not change)."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_refocus_matches_the_per_view_statement(self):
    lf = np.random.default_rng(7).random((3, 3, 12, 13, 3))
    disparities = np.array([-0.7, 0.0, 1.2])
    for mode in ('linear', 'toolbox'):
      refocus = self.variant(functools.partial(optics.refocus, mode=mode))
      out = np.asarray(refocus(lf.astype(np.float32), disparities))
      ref = refocus_per_view(lf, disparities, mode)
      np.testing.assert_allclose(out, ref, atol=1e-5 * np.max(np.abs(ref)))
