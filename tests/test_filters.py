"""Separable filters against scipy.ndimage (every boundary mode, any axes) and their adjoint under jax.grad."""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from ddff_jax.optics import filters

MODES = ['reflect', 'mirror', 'nearest', 'wrap', 'constant']


@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('axes', [(-2, -1), (0,), (1, 2), (2, 0)])
def test_gaussian_and_box_equal_scipy(mode, axes):
  x = np.random.default_rng(0).random((5, 11, 8))
  y = np.asarray(filters.gaussian_filter(jnp.asarray(x, jnp.float32), 1.3, axes=axes, mode=mode))
  sigma = [0.0] * 3
  for a in axes:
    sigma[a % 3] = 1.3
  np.testing.assert_allclose(y, ndimage.gaussian_filter(x, sigma, mode=mode, truncate=4.0), atol=2e-6)
  z = np.asarray(filters.box_filter(jnp.asarray(x, jnp.float32), 5, axes=axes, mode=mode))
  size = [1] * 3
  for a in axes:
    size[a % 3] = 5
  np.testing.assert_allclose(z, ndimage.uniform_filter(x, size, mode=mode), atol=2e-6)


def test_asymmetric_kernel_is_a_correlation_like_scipy_correlate1d():
  x = np.random.default_rng(1).random((6, 9))
  kernel = np.array([0.5, -1.0, 0.0, 2.0, 0.25])
  ref = ndimage.correlate1d(ndimage.correlate1d(x, kernel, axis=0, mode='reflect'), kernel, axis=1, mode='reflect')
  np.testing.assert_allclose(np.asarray(filters.separable_filter(jnp.asarray(x), kernel, axes=(0, 1))), ref,
                             atol=1e-5)


def test_gradient_is_the_adjoint_filter_and_vmap_matches():
  # The filter is linear, y = M x: grad_x <g, M x> = Mᵀ g, with M built column by column from scipy.
  shape = (7, 6)
  basis = np.eye(np.prod(shape)).reshape(-1, *shape)
  m = np.stack([ndimage.gaussian_filter(b, 1.0, mode='reflect').ravel() for b in basis], 1)
  g = np.random.default_rng(2).standard_normal(shape)
  x = np.random.default_rng(3).random(shape)
  grad = jax.grad(lambda v: jnp.sum(jnp.asarray(g, jnp.float32) * filters.gaussian_filter(v, 1.0)))(
      jnp.asarray(x, jnp.float32))
  np.testing.assert_allclose(np.asarray(grad).ravel(), m.T @ g.ravel(), atol=1e-5)
  xs = np.random.default_rng(4).random((3, *shape)).astype(np.float32)
  batched = jax.vmap(lambda v: filters.gaussian_filter(v, 1.0))(jnp.asarray(xs))
  np.testing.assert_allclose(np.asarray(batched), np.stack([ndimage.gaussian_filter(v, 1.0) for v in xs]), atol=2e-6)


def test_bad_arguments_are_named():
  x = jnp.zeros((4, 4))
  with pytest.raises(ValueError, match='mode must be one of'):
    filters.gaussian_filter(x, 1.0, mode='periodic')
  with pytest.raises(ValueError, match='odd length'):
    filters.separable_filter(x, np.ones(4))
  with pytest.raises(ValueError, match='positive odd'):
    filters.box_filter(x, 4)
  with pytest.raises(ValueError, match='sigma must be > 0'):
    filters.gaussian_kernel1d(0.0)


class FiltersJitAndEager(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_gaussian_box_and_correlate1d_equal_scipy(self):
    x = np.random.default_rng(4).random((5, 11, 8))
    gaussian = self.variant(functools.partial(filters.gaussian_filter, sigma=1.3, axes=(1, 2), mode='mirror'))
    np.testing.assert_allclose(np.asarray(gaussian(jnp.asarray(x, jnp.float32))),
                               ndimage.gaussian_filter(x, (0, 1.3, 1.3), mode='mirror', truncate=4.0), atol=2e-6)
    box = self.variant(functools.partial(filters.box_filter, size=3, axes=(0,), mode='nearest'))
    np.testing.assert_allclose(np.asarray(box(jnp.asarray(x, jnp.float32))),
                               ndimage.uniform_filter(x, (3, 1, 1), mode='nearest'), atol=2e-6)
    kernel = np.array([0.2, -0.5, 1.0])
    correlate = self.variant(functools.partial(filters.correlate1d, kernel1d=kernel, axis=1, mode='wrap'))
    np.testing.assert_allclose(np.asarray(correlate(jnp.asarray(x, jnp.float32))),
                               ndimage.correlate1d(x, kernel, axis=1, mode='wrap'), atol=2e-6)
