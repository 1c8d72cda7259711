import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ddff_jax import losses
from ddff_jax.models import ddfs, pretrained
from ddff_jax.models.ddffnet import DDFFNet


def test_ddfs_encoder_size_and_output_scales():
  model = nnx.eval_shape(lambda: ddfs.DDFSNet(64, rngs=nnx.Rngs(0)))  # shapes only
  leaves = jax.tree_util.tree_leaves_with_path(nnx.state(model.encoder, nnx.Param))
  assert sum(int(np.prod(v.shape)) for p, v in leaves if 'kernel' in jax.tree_util.keystr(p)) == 16_656_768
  # Shapes only (the values are soft-argmins of convex combinations: soft_argmin and aggregate are tested below).
  tiny = nnx.eval_shape(lambda: ddfs.DDFSNet(8, width=0.0625, rngs=nnx.Rngs(0)))
  hyps = jnp.linspace(0.1, 3.0, 8)
  graphdef, state = nnx.split(tiny)
  shapes = jax.eval_shape(lambda s, *x: nnx.merge(graphdef, s)(*x), state, jax.ShapeDtypeStruct((1, 45, 70, 3),
                          jnp.float32), jax.ShapeDtypeStruct((1, 8, 45, 70), jnp.float32), hyps)
  assert [d.shape for d in shapes] == [(1, 6, 9), (1, 12, 18), (1, 23, 35), (1, 45, 70)]  # odd sizes cropped back
  with pytest.raises(ValueError, match=r'cost volume \(B, 8, H, W\)'):
    tiny(jnp.ones((1, 32, 32, 3)), jnp.ones((1, 7, 32, 32)), hyps)


def test_aggregation_with_zero_offsets_and_uniform_weights_is_a_dilated_mean():
  rng = np.random.default_rng(0)
  p = rng.random((2, 9, 11, 5)).astype(np.float32)
  out = np.asarray(ddfs.aggregate(jnp.asarray(p), jnp.full((2, 9, 11, 9), 1 / 9), jnp.zeros((2, 9, 11, 9, 2))))
  padded = np.pad(p, ((0, 0), (2, 2), (2, 2), (0, 0)), mode='edge')  # border clamp
  ref = np.mean([padded[:, 2 + dy:2 + dy + 9, 2 + dx:2 + dx + 11] for dy in (-2, 0, 2) for dx in (-2, 0, 2)], 0)
  np.testing.assert_allclose(out, ref, atol=1e-6)


def test_bilinear_sampling_and_offsets():
  volume = jnp.arange(12.0).reshape(1, 3, 4, 1)  # value = 4·row + col
  pos = jnp.array([[[[0.5, 1.25]]]]).repeat(3, 1).repeat(4, 2)
  np.testing.assert_allclose(np.asarray(ddfs.bilinear_sample(volume, pos))[0, 0, 0, 0], 4 * 0.5 + 1.25, rtol=1e-6)
  beyond = jnp.full((1, 3, 4, 2), 10.0)  # clamped to the last row/column
  assert float(ddfs.bilinear_sample(volume, beyond)[0, 0, 0, 0]) == 11.0


def test_soft_argmin_of_a_one_hot_distribution_returns_that_hypothesis():
  hyps = jnp.linspace(0.1, 3.0, 6)
  one_hot = jax.nn.one_hot(jnp.array([[0, 3], [5, 2]]), 6)
  np.testing.assert_allclose(np.asarray(ddfs.soft_argmin(one_hot, hyps)), np.asarray(hyps)[[[0, 3], [5, 2]]],
                             rtol=1e-6)


def test_tile_offsets_cover_the_axis_with_half_overlap():
  assert ddfs.tile_starts(256, 64) == [0, 32, 64, 96, 128, 160, 192]
  assert ddfs.tile_starts(100, 64) == [0, 32, 36]  # the last tile flush with the end
  assert ddfs.tile_starts(64, 64) == ddfs.tile_starts(50, 64) == [0]
  with pytest.raises(ValueError, match='multiple of 32'):
    ddfs.DDFSNet(8, width=0.0625, tile_px=48, rngs=nnx.Rngs(0))


def test_tiled_prediction_is_the_hann_weighted_blend_of_each_tiles_prediction():
  model = ddfs.DDFSNet(6, width=0.0625, tile_px=32, rngs=nnx.Rngs(0))
  model.eval()  # BatchNorm's running statistics: a tile's prediction does not depend on the others
  rng = np.random.default_rng(0)
  image = rng.random((2, 70, 45, 3)).astype(np.float32)
  cost = rng.random((2, 6, 70, 45)).astype(np.float32)
  hyps = jnp.linspace(0.1, 3.0, 6)
  out = np.asarray(model.tiled(jnp.asarray(image), jnp.asarray(cost), hyps))
  hann = np.hanning(34)[1:-1]
  total, norm = np.zeros((2, 70, 45)), np.zeros((70, 45))
  for y in (0, 16, 32, 38):
    for x in (0, 13):
      tile = np.asarray(model(jnp.asarray(image[:, y:y + 32, x:x + 32]), jnp.asarray(cost[:, :, y:y + 32, x:x + 32]),
                              hyps)[-1])
      total[:, y:y + 32, x:x + 32] += np.outer(hann, hann) * tile
      norm[y:y + 32, x:x + 32] += np.outer(hann, hann)
  np.testing.assert_allclose(out, total / norm, rtol=1e-5, atol=1e-6)
  # forward tiles only inputs larger than the tiles (training crops of the tile size go through whole).
  stack = jnp.asarray(rng.random((1, 3, 32, 32, 3)), jnp.float32)
  camera = jnp.asarray([[2.9e-3, 1.0, 12.1e-6]])
  assert len(model.forward(stack, jnp.asarray([0.1, 0.3, 1.5]), camera=camera)) == 4


def test_offset_head_starts_at_zero_and_loss_ignores_invalid_pixels():
  block = nnx.jit(lambda: ddfs._AggregationBlock(8, 4, 8, rngs=nnx.Rngs(0)))()  # DDFSNet stacks three of them
  assert float(jnp.abs(block.offsets.kernel.value).max()) == 0 and float(jnp.abs(block.offsets.bias.value).max()) == 0
  depths = [jnp.ones((1, 4, 4)), jnp.ones((1, 8, 8))]
  target = jnp.zeros((1, 8, 8)).at[:, :4].set(2.0)
  # L1 over both scales, each against the nearest-downsampled target, invalid (0) pixels left out: |1 - 2| = 1.
  loss = jax.jit(lambda d, t: losses.multiscale(losses.masked_l1, d, t, t > 0))(depths, target)
  assert float(loss) == pytest.approx(1.0)


def _fake_vgg16_bn(rng):
  state, in_ch = {}, 3
  chans = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
  for index, out in zip(pretrained.TORCH_VGG16_BN_CONVS, chans):
    state[f'features.{index}.weight'] = rng.standard_normal((out, in_ch, 3, 3)).astype(np.float32) * 0.05
    state[f'features.{index}.bias'] = rng.standard_normal(out).astype(np.float32)
    bn = f'features.{index + 1}'
    state[f'{bn}.weight'] = rng.random(out).astype(np.float32) + 0.5
    state[f'{bn}.bias'] = rng.standard_normal(out).astype(np.float32) * 0.1
    state[f'{bn}.running_mean'] = rng.standard_normal(out).astype(np.float32) * 0.1
    state[f'{bn}.running_var'] = rng.random(out).astype(np.float32) + 0.5
    state[f'{bn}.num_batches_tracked'] = np.array(100)
    in_ch = out
  state['classifier.0.weight'] = np.zeros((4, 3), np.float32)
  return state


def test_torchvision_vgg16_bn_import_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  state = _fake_vgg16_bn(rng)
  np.savez(tmp_path / 'vgg16_bn.npz', **state)
  # Shapes only: the import fills the encoder, the only part this test runs.
  model = nnx.eval_shape(lambda: DDFFNet(2, normalization='imagenet', rngs=nnx.Rngs(0)))
  report = pretrained.load_torchvision_vgg16(model, pretrained.read_arrays(tmp_path / 'vgg16_bn.npz'))
  assert len(report.loaded) == 13 * 5 and 'classifier.0.weight' in report.unused
  model.eval()
  x = jnp.asarray(rng.random((1, 12, 12, 3)), jnp.float32)
  # Block 1 of the encoder against lax.conv with the torch (OIHW) weights and the BN formula.
  ref = x
  for index in pretrained.TORCH_VGG16_BN_CONVS[:2]:
    ref = jax.lax.conv_general_dilated(ref, jnp.asarray(state[f'features.{index}.weight']), (1, 1), 'SAME',
                                       dimension_numbers=('NHWC', 'OIHW', 'NHWC'))
    bn = f'features.{index + 1}'
    ref = (ref - state[f'{bn}.running_mean']) / np.sqrt(state[f'{bn}.running_var'] + 1e-3)
    ref = jax.nn.relu(ref * state[f'{bn}.weight'] + state[f'{bn}.bias'])
  ours = model.encoder[0][1](model.encoder[0][0](x))
  np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-4, atol=1e-4)


def test_importers_report_and_refuse_partial_or_mis_shaped_weights():
  rng = np.random.default_rng(1)
  state = _fake_vgg16_bn(rng)
  del state['features.40.weight']
  model = nnx.eval_shape(lambda: DDFFNet(2, rngs=nnx.Rngs(0)))  # shapes are all an import checks
  with pytest.raises(ValueError, match=r"missing keys \['features.40.weight'\].*allow_partial"):
    pretrained.load_torchvision_vgg16(model, state)
  report = pretrained.load_torchvision_vgg16(model, state, allow_partial=True)
  assert report.missing == ['features.40.weight']
  small = nnx.eval_shape(lambda: DDFFNet(2, width=0.5, rngs=nnx.Rngs(0)))
  with pytest.raises(ValueError, match='mis-shaped'):
    pretrained.load_torchvision_vgg16(small, _fake_vgg16_bn(rng), allow_partial=True)


def test_keras_and_ddff_export_round_trips():
  rng = np.random.default_rng(2)
  # Shapes only: the import fills every variable of the target, whose values are all that is compared.
  target = nnx.eval_shape(lambda: DDFFNet(10, width=0.125, rngs=nnx.Rngs(2)))
  keys = pretrained.export_keys(target)
  arrays = {k: rng.standard_normal(v.value.shape).astype(np.float32) for k, v in keys.items()}
  # The export stores transposed-conv filters the TF way: (h, w, out, in), spatially flipped.
  tf_arrays = {k: (np.transpose(v, (0, 1, 3, 2))[::-1, ::-1] if 'up_filter' in k else v) for k, v in arrays.items()}
  report = pretrained.load_ddffnet_tf_export(target, tf_arrays)
  assert len(report.loaded) == len(keys) and not report.unexpected
  for k, v in pretrained.export_keys(target).items():
    np.testing.assert_array_equal(np.asarray(v.value), arrays[k])
  assert 'conv3_3_D/W:0' in keys and 'upconv3/up_filter:0' in keys and 'conv_disp/W:0' in keys
  big = nnx.eval_shape(lambda: DDFFNet(2, rngs=nnx.Rngs(0)))
  chans = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
  keras, in_ch = {}, 3
  for (b, c), out in zip([(b, c) for b, n in enumerate((2, 2, 3, 3, 3)) for c in range(n)], chans):
    keras[f'block{b + 1}_conv{c + 1}/kernel:0'] = rng.standard_normal((3, 3, in_ch, out)).astype(np.float32)
    keras[f'block{b + 1}_conv{c + 1}/bias:0'] = np.zeros(out, np.float32)
    in_ch = out
  report = pretrained.load_keras_vgg16(big, keras)
  assert len(report.loaded) == 13 and len(report.unused) == 13
  np.testing.assert_array_equal(np.asarray(big.encoder[4][2].conv.kernel.value), keras['block5_conv3/kernel:0'])
