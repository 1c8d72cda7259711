"""Natural-texture light fields at HCI geometry (`ddff_jax.data.natural`) and the augmentations trained with them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddff_jax import errors
from ddff_jax import optics
from ddff_jax.data import natural
from ddff_jax.data import pipeline


def _bank(num=2, size=32, seed=0):
  return np.random.default_rng(seed).uniform(0.1, 0.9, (num, size, size, 3)).astype(np.float32)


def _scene(num_layers, **fields):
  """Hand-set scene parameters: fronto-parallel layers, untransformed textures, unit gain, no noise."""
  base = dict(
      t_centre=jnp.zeros(num_layers), slope=jnp.zeros((num_layers, 2)), curvature=jnp.zeros(num_layers),
      d_far=jnp.float32(0.0), span=jnp.float32(1.0), kind=jnp.ones(num_layers, jnp.int32),
      half=jnp.full((num_layers, 2), 8.0), centre=jnp.full((num_layers, 2), 16.0), angle=jnp.zeros(num_layers),
      texture=jnp.arange(num_layers) % 2, tex_scale=jnp.ones(num_layers), tex_angle=jnp.zeros(num_layers),
      tex_offset=jnp.zeros((num_layers, 2)), contrast=jnp.ones(num_layers), flat_colour=jnp.zeros((num_layers, 3)),
      gain=jnp.float32(1.0), noise=jnp.float32(0.0))
  base.update({k: jnp.asarray(v) for k, v in fields.items()})
  return base


def test_views_of_a_plane_are_the_centre_view_shifted_by_offset_times_disparity():
  # One fronto-parallel layer at disparity 1 px: view (u, v) at pixel p shows the texture at p + (u − c, v − c),
  # i.e. the centre view translated by whole pixels (bilinear sampling is exact there).
  config = natural.SceneConfig(size=32, grid=5, num_layers=1)
  bank = _bank()
  lf, disparity = natural.render_scene(_scene(1, t_centre=[1.0]), jnp.asarray(bank), config)
  lf = np.asarray(lf)
  np.testing.assert_allclose(np.asarray(disparity), 1.0)
  expected_centre = np.clip(np.round(bank[0] * 255), 0, 255)
  np.testing.assert_array_equal(lf[2, 2], expected_centre)
  for u, v in ((0, 0), (4, 1), (3, 2)):
    du, dv = u - 2, v - 2
    np.testing.assert_array_equal(lf[u, v, 4:24, 4:24], expected_centre[4 + du:24 + du, 4 + dv:24 + dv])


def test_refocusing_at_the_true_disparity_is_sharp_and_the_near_layer_occludes():
  # A near rectangle (disparity 2) over a far background (disparity −1): the ground truth is the front layer's
  # disparity, and the stack slice at each layer's disparity reproduces that layer's texture where it is seen.
  config = natural.SceneConfig(size=32, grid=5, num_layers=2)
  bank = _bank()
  scene = _scene(2, t_centre=[0.0, 1.0], d_far=-1.0, span=3.0)
  lf, disparity = natural.render_scene(scene, jnp.asarray(bank), config)
  disparity = np.asarray(disparity)
  inside = np.zeros((32, 32), bool)
  inside[8:25, 8:25] = True  # the rectangle: centre 16, half-size 8 (coverage ≥ 0.5 at |x − 16| ≤ 8)
  np.testing.assert_allclose(disparity[inside], 2.0)
  np.testing.assert_allclose(disparity[~inside], -1.0)
  stack = np.asarray(optics.refocus(lf, np.array([-1.0, 2.0])))
  centre = np.asarray(lf[2, 2], np.float32) / 255.0
  # In focus on the rectangle (away from its border, where the background shows through in outer views).
  np.testing.assert_allclose(stack[1, 11:21, 11:21], centre[11:21, 11:21], atol=2e-3)
  assert np.abs(stack[0, 11:21, 11:21] - centre[11:21, 11:21]).mean() > 0.02  # the other slice is blurred


def test_slanted_layer_views_satisfy_the_parallax_equation():
  # q = p + o·d(q) for a slanted plane: a view pixel shows the point whose own disparity carried it there. With a
  # linear texture ramp the texture coordinate is read back from the colour.
  size = 32
  ramp = np.broadcast_to(np.linspace(0.0, 1.0, 64)[None, :, None], (64, 64, 3)).astype(np.float32)
  bank = np.stack([ramp, ramp])
  config = natural.SceneConfig(size=size, grid=9, num_layers=1)
  scene = _scene(1, t_centre=[0.5], slope=[[0.0, 0.8]], d_far=-2.0, span=4.0)
  lf, _ = natural.render_scene(scene, jnp.asarray(bank), config)
  view = np.asarray(lf[4, 8], np.float64)[..., 0] / 255.0  # offset (0, +4)
  x = np.arange(size, dtype=np.float64)
  q = view[16] * 63.0  # texture column = the layer point's x (unit scale, no offset)
  t = 0.5 + 0.8 * (q / size - 0.5)
  d = -2.0 + 4.0 * t
  interior = slice(8, 26)  # q ≥ 0: the texture is not mirrored there
  np.testing.assert_allclose(q[interior], x[interior] + 4.0 * d[interior], atol=0.35)  # 8-bit colour: ±0.25 px


def test_flipping_or_transposing_a_stack_is_refocusing_the_flipped_or_transposed_light_field():
  focus = np.array([-1.3, 0.4, 2.2])
  for size in (25, 24):
    lf = np.random.default_rng(1).uniform(0, 1, (5, 5, size, size, 3)).astype(np.float32)
    stack = np.asarray(optics.refocus(lf, focus))
    # Transpose: image axes and view-grid axes together.
    transposed = np.asarray(optics.refocus(lf.transpose(1, 0, 3, 2, 4), focus))
    np.testing.assert_allclose(transposed, stack.transpose(0, 2, 1, 3), atol=1e-5)
    # Horizontal flip: image columns and view columns together. Exact for odd widths; for even widths the
    # periodic Fourier shift treats the Nyquist column (its own mirror) asymmetrically, and only it differs.
    difference = np.asarray(optics.refocus(lf[:, ::-1, :, ::-1], focus)) - stack[:, :, ::-1]
    spectrum = np.abs(np.fft.fft(difference, axis=2))
    if size % 2:
      np.testing.assert_allclose(difference, 0.0, atol=1e-5)
    else:
      spectrum[:, :, size // 2] = 0.0
      np.testing.assert_allclose(spectrum, 0.0, atol=1e-4)


def test_augment_transposes_images_and_maps_alike():
  stack = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
  disparity = np.arange(24, dtype=np.float32).reshape(4, 6)
  augment = pipeline.Augment(flip=False, transpose=True)
  seen = set()
  for seed in range(16):
    out = augment({'stack': stack, 'disparity': disparity}, np.random.default_rng(seed))
    seen.add(out['disparity'].shape)
    if out['disparity'].shape == (6, 4):
      np.testing.assert_array_equal(out['disparity'], disparity.T)
      np.testing.assert_array_equal(out['stack'], stack.transpose(0, 2, 1, 3))
  assert seen == {(4, 6), (6, 4)}


@pytest.mark.slow  # renders several full scenes; the geometry tests above cover one each
def test_random_scenes_stay_in_range_and_differ():
  config = natural.SceneConfig(size=32, grid=3, num_layers=4, disparity_range=(-3.0, 2.0))
  stacks, disparities = natural.focal_stacks(3, 0, _bank(4), np.linspace(-2.5, 2.5, 4), config, chunk=2)
  assert stacks.shape == (3, 4, 32, 32, 3) and stacks.dtype == np.float16
  assert disparities.shape == (3, 32, 32)
  assert disparities.min() >= -3.0 - 1e-5 and disparities.max() <= 2.0 + 1e-5
  assert 0.0 <= stacks.min() and stacks.max() <= 1.0
  assert not np.allclose(disparities[0], disparities[1])


def test_texture_ranges_bound_the_sampled_textures_and_come_from_the_data_config():
  import ml_collections
  from ddff_jax.data import sources
  config = natural.SceneConfig(size=32, num_layers=6, textureless_prob=0.0, contrast_range=(0.6, 1.4),
                               texture_scale_range=(1.0, 2.5))
  scenes = [natural.sample_scene(jax.random.PRNGKey(i), 4, config) for i in range(40)]
  contrast = np.concatenate([np.asarray(s['contrast']) for s in scenes])
  scale = np.concatenate([np.asarray(s['tex_scale']) for s in scenes])
  assert contrast.min() >= 0.6 - 1e-6 and contrast.max() <= 1.4 + 1e-6 and contrast.max() - contrast.min() > 0.5
  assert scale.min() >= 1.0 - 1e-5 and scale.max() <= 2.5 + 1e-5 and np.median(scale) > 1.3  # log-uniform: 1.58
  flat = natural.sample_scene(jax.random.PRNGKey(0), 4, natural.SceneConfig(num_layers=6, textureless_prob=1.0))
  np.testing.assert_array_equal(flat['contrast'], 0.0)  # textureless: flat colours only
  data = ml_collections.ConfigDict(dict(textureless_prob=0.05, contrast_range=[0.6, 1.4], other=1))
  assert sources.texture_options(data) == dict(textureless_prob=0.05, contrast_range=(0.6, 1.4))


def test_texture_bank_cuts_patches_from_the_images():
  image = np.random.default_rng(0).uniform(0, 1, (40, 50, 3)).astype(np.float32)
  bank = natural.texture_bank([image], 3, 16, seed=0)
  assert bank.shape == (3, 16, 16, 3)
  # Each patch is a window of the image, or of its 2×2 box average.
  for patch in bank:
    found = any(np.allclose(patch, image[y:y + 16, x:x + 16]) for y in range(25) for x in range(35))
    found = found or any(np.allclose(patch, image[y:y + 32, x:x + 32].reshape(16, 2, 16, 2, 3).mean(axis=(1, 3)))
                         for y in range(9) for x in range(19))
    assert found
  with pytest.raises(errors.UserError, match='smaller than'):
    natural.texture_bank([image], 1, 64, seed=0)
  with pytest.raises(errors.InputNotFound, match='image.png'):
    natural.texture_images('/nonexistent', ())
