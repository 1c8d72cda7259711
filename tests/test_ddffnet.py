import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from ddff_jax import errors
from ddff_jax import losses
from ddff_jax.models import layers
from ddff_jax.models.ddffnet import DDFFNet


def _count(model, word):
  leaves = jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param))
  return sum(int(np.prod(v.shape)) for p, v in leaves if word in jax.tree_util.keystr(p))


def _abstract(build):
  """The model with shapes only (nothing initialised or compiled): enough for parameter counts and output shapes."""
  return nnx.eval_shape(build)


def _output_shape(model, *inputs):
  graphdef, state = nnx.split(model)
  return jax.eval_shape(lambda s, *x: nnx.merge(graphdef, s)(*x), state, *inputs)


def test_cc3_upconv_has_the_papers_parameter_count():
  model = _abstract(lambda: DDFFNet(10, rngs=nnx.Rngs(0)))
  assert _count(model, 'kernel') == 39_774_474
  assert _count(model, 'scale') == 7_937
  encoder = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(nnx.state(model.encoder, nnx.Param)))
  assert encoder == 14_710_464 + 2 * 4_224  # VGG-16 conv weights + BN scale/bias of 4,224 channels


@pytest.mark.parametrize('upsample', ['upconv', 'unpool', 'bilinear'])
@pytest.mark.parametrize('skips', [(), ('cc1',), ('cc2', 'cc3')])
def test_variants_shapes(upsample, skips):
  model = _abstract(lambda: DDFFNet(5, upsample=upsample, skips=skips, width=0.0625, rngs=nnx.Rngs(0)))
  stack = jax.ShapeDtypeStruct((2, 5, 37, 45, 3), jnp.float32)
  assert _output_shape(model, stack).shape == (2, 37, 45)  # odd sizes: padded to 64 and cropped back


@pytest.mark.parametrize('slices', [5, 10, 15])
def test_any_number_of_slices(slices):
  model = _abstract(lambda: DDFFNet(slices, width=0.0625, rngs=nnx.Rngs(0)))
  assert _output_shape(model, jax.ShapeDtypeStruct((1, slices, 32, 32, 3), jnp.float32)).shape == (1, 32, 32)
  with pytest.raises(ValueError, match='expects a focal stack'):
    _output_shape(model, jax.ShapeDtypeStruct((1, slices + 1, 32, 32, 3), jnp.float32))


def _compiled(build):
  """A model initialised in one compiled program (eager initialisation compiles every initialiser on its own)."""
  return nnx.jit(build)()


@pytest.mark.slow  # three compilations of the network (~50 s on 2 cores)
def test_train_and_eval_modes_differ_only_by_dropout_and_batch_statistics():
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 32, 32, 3))
  forward = nnx.jit(lambda m, x: m(x))  # the mode is part of the graph: one program per mode
  model = _compiled(lambda: DDFFNet(5, width=0.0625, dropout=0.5, rngs=nnx.Rngs(0)))
  model.eval()
  a, b = forward(model, x), forward(model, x)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # eval: deterministic, running statistics
  model.train()
  c, d = forward(model, x), forward(model, x)
  assert not np.allclose(np.asarray(c), np.asarray(d))  # dropout draws differ between calls
  model.dropout.deterministic = True  # train mode without dropout: batch statistics only
  e, f = forward(model, x), forward(model, x)
  np.testing.assert_allclose(np.asarray(e), np.asarray(f), rtol=1e-6)
  assert not np.allclose(np.asarray(e), np.asarray(a))  # batch vs running statistics


def test_upconv_by_phases_is_the_transposed_convolution():
  """`layers.UpConv` against NumPy's statement of the 'SAME' stride-2 transposed convolution (the input dilated by
  zeros, padded by 2, correlated with the 4×4 kernel) and against flax's ConvTranspose with the same kernel."""
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
  up = layers.UpConv(3, 4, rngs=nnx.Rngs(0))
  k = np.asarray(up.kernel.value, np.float64)
  dilated = np.zeros((2, 9, 11, 3))
  dilated[:, ::2, ::2] = x
  padded = np.pad(dilated, ((0, 0), (2, 2), (2, 2), (0, 0)))
  expected = np.zeros((2, 10, 12, 4))
  for dy in range(4):
    for dx in range(4):
      expected += np.einsum('nhwi,io->nhwo', padded[:, dy:dy + 10, dx:dx + 12], k[dy, dx])
  np.testing.assert_allclose(np.asarray(up(jnp.asarray(x))), expected, atol=1e-5)
  flax_up = nnx.ConvTranspose(3, 4, (4, 4), strides=(2, 2), padding='SAME', use_bias=False, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(np.asarray(flax_up(jnp.asarray(x))), expected, atol=1e-5)


def test_bilinear_upconv_reproduces_constant_and_linear_images():
  channels = 2
  up = nnx.ConvTranspose(channels, channels, (4, 4), strides=(2, 2), padding='SAME', use_bias=False,
                         kernel_init=lambda *a, **k: jnp.asarray(layers.bilinear_upconv_kernel(channels)),
                         rngs=nnx.Rngs(0))
  const = up(jnp.full((1, 6, 7, channels), 3.0))
  np.testing.assert_allclose(np.asarray(const)[0, 1:-1, 1:-1], 3.0, rtol=1e-6)
  ramp = jnp.tile(jnp.arange(7.0)[None, None, :, None], (1, 6, 1, channels))  # value = column index
  out = np.asarray(up(ramp))[0, 2:-2, 2:-2, 0]
  # bilinear ×2 of a ramp: output column j sits at input position (j − 0.5) / 2, a linear function again
  cols = np.arange(14)[2:-2]
  np.testing.assert_allclose(out, np.tile((cols - 0.5) / 2, (out.shape[0], 1)), atol=1e-5)


def test_unpool_places_values_at_the_argmax():
  x = jnp.array([[1.0, 5.0, 2.0, 2.0], [3.0, 0.0, 9.0, 1.0]])[None, :, :, None]  # (1, 2, 4, 1)
  pooled, mask = layers.max_pool_with_indices(x)
  np.testing.assert_array_equal(np.asarray(pooled)[0, :, :, 0], [[5.0, 9.0]])
  restored = np.asarray(layers.max_unpool(pooled, mask))[0, :, :, 0]
  np.testing.assert_array_equal(restored, [[0, 5, 0, 0], [0, 0, 9, 0]])


def test_pad_and_crop_reflect_to_multiples_of_32():
  x = jnp.arange(2 * 33 * 40 * 1, dtype=jnp.float32).reshape(2, 33, 40, 1)
  padded, sizes = layers.pad_to_multiple(x, 32, axes=(1, 2))
  assert padded.shape == (2, 64, 64, 1) and sizes == (33, 40)
  np.testing.assert_array_equal(np.asarray(padded)[:, 33, :40], np.asarray(x)[:, 31])  # reflection about row 32
  np.testing.assert_array_equal(np.asarray(layers.crop_to(padded[..., 0], sizes)), np.asarray(x[..., 0]))


@pytest.mark.slow  # ~60 s of compiling and stepping; training is also shown by the default job (slow) and the README tiny run
def test_tiny_ddffnet_overfits_one_synthetic_stack():
  from ddff_jax.data import synthetic
  stack, disparity, _ = synthetic.sample_light_field_stack(jax.random.PRNGKey(3), synthetic.SceneConfig(32, 32), 5)
  model = _compiled(lambda: DDFFNet(5, width=0.125, dropout=0.0, skips=('cc1', 'cc2', 'cc3'), rngs=nnx.Rngs(0)))
  optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)
  batch, target = stack[None], disparity[None]

  @nnx.jit
  def step(model, optimizer):
    loss, grads = nnx.value_and_grad(lambda m: losses.masked_mse(m(batch), target))(model)
    optimizer.update(model, grads)
    return loss

  model.train()
  first = float(step(model, optimizer))
  for _ in range(150):
    last = float(step(model, optimizer))
  assert last < first / 10


def test_stack_contrast_normalisation_is_the_stated_numpy_computation():
  import scipy.ndimage
  from ddff_jax.models import layers
  stack = np.random.default_rng(0).uniform(0, 1, (2, 5, 24, 20, 3)).astype(np.float64)
  residual = stack - stack.mean(axis=1, keepdims=True)
  energy = (residual ** 2).mean(axis=(1, 4))
  local = np.stack([scipy.ndimage.gaussian_filter(e, layers.STACK_CONTRAST_SIGMA, mode='reflect') for e in energy])
  expected = residual / np.sqrt(local + 1e-4)[:, None, :, :, None]
  got = np.asarray(layers.normalize_stack(jnp.asarray(stack, jnp.float32), 'stack_contrast'))
  np.testing.assert_allclose(got, expected, atol=2e-5)
  np.testing.assert_array_equal(np.asarray(layers.normalize_stack(jnp.asarray(stack, jnp.float32), 'unit')),
                                stack.astype(np.float32))


def test_bfloat16_compute_keeps_float32_parameters_and_statistics_and_stays_close():
  """Mixed precision: the same initial weights, float32 parameters and BatchNorm statistics, bfloat16 activations;
  in eval mode (trained-like running statistics) the float32 output stays within 5 % RMS of the float32 model's."""
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 5, 64, 64, 3))
  build = lambda dtype: _compiled(lambda: DDFFNet(5, width=0.125, dropout=0.0, dtype=dtype, rngs=nnx.Rngs(0)))
  full, mixed = build('float32'), build('bfloat16')
  rng = np.random.default_rng(0)
  for (_, a), (_, b) in zip(nnx.iter_graph(full), nnx.iter_graph(mixed)):
    if isinstance(a, nnx.BatchNorm):  # trained-like statistics; positive shifts keep the ReLUs alive
      a.mean.value = b.mean.value = jnp.asarray(rng.normal(0, 0.1, a.mean.value.shape), jnp.float32)
      a.var.value = b.var.value = jnp.asarray(rng.uniform(0.5, 2.0, a.var.value.shape), jnp.float32)
      a.bias.value = b.bias.value = jnp.asarray(rng.uniform(0.1, 0.3, a.bias.value.shape), jnp.float32)
  full.decoder[-1][-1].bn.bias.value = mixed.decoder[-1][-1].bn.bias.value = jnp.ones(1)  # the one-channel maps
  for a, b in zip(jax.tree.leaves(nnx.state(full, nnx.Any(nnx.Param, nnx.BatchStat))),
                  jax.tree.leaves(nnx.state(mixed, nnx.Any(nnx.Param, nnx.BatchStat)))):
    assert b.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  full.eval(), mixed.eval()
  forward = nnx.jit(lambda m, x: m(x))
  out_full, out_mixed = np.asarray(forward(full, x)), np.asarray(forward(mixed, x))
  assert out_mixed.dtype == np.float32
  rms = lambda v: float(np.sqrt(np.mean(np.square(v))))
  assert rms(out_mixed - out_full) < 0.05 * rms(out_full)
  with pytest.raises(errors.UserError, match="param_dtype must be 'float32'"):
    DDFFNet(5, param_dtype='bfloat16', rngs=nnx.Rngs(0))
  with pytest.raises(errors.UserError, match='dtype must be one of'):
    DDFFNet(5, dtype='float64', rngs=nnx.Rngs(0))


def test_conv_stride1_value_and_gradients_are_xla_convolutions():
  """`layers.conv_stride1` and `layers.conv_im2col` (the models' stride-1 convolutions) against
  `lax.conv_general_dilated`: same value, same input and kernel gradients, for odd, even and 1×1 kernels, on a
  9×8 and a 2×2 map; `layers.Conv` (either form) against `nnx.Conv` with the same weights."""
  rng = np.random.default_rng(0)
  ref = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  loss = lambda f: (lambda x, k: jnp.sum(jnp.sin(f(x, k))))
  cases = [((9, 8), layers.conv_stride1, k) for k in ((3, 3), (2, 2), (1, 1), (5, 3))] + [
      ((9, 8), layers.conv_im2col, (5, 3)), ((2, 2), layers.conv_im2col, (3, 3)), ((2, 2), layers.conv_im2col, (2, 2))]
  for size, form, kernel_size in cases:
    x = jnp.asarray(rng.standard_normal((2,) + size + (4,)), jnp.float32)
    k = jnp.asarray(rng.standard_normal(kernel_size + (4, 3)), jnp.float32)
    padding = layers.same_padding(kernel_size)
    ours = lambda x, k: form(x, k, padding)
    np.testing.assert_allclose(np.asarray(ours(x, k)), np.asarray(ref(x, k)), atol=1e-5)
    for got, want in zip(jax.grad(loss(ours), (0, 1))(x, k), jax.grad(loss(ref), (0, 1))(x, k)):
      np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-4)
  conv, flax_conv = (cls(4, 3, (3, 3), rngs=nnx.Rngs(0)) for cls in (layers.Conv, nnx.Conv))
  for size in ((9, 8), (2, 2)):  # conv_stride1, then conv_im2col (at most IM2COL_MAX_PIXELS)
    x = jnp.asarray(rng.standard_normal((2,) + size + (4,)), jnp.float32)
    np.testing.assert_allclose(np.asarray(conv(x)), np.asarray(flax_conv(x)), atol=1e-5)


def _numpy_conv(x, k, padding):
  """float64 'SAME' correlation y = Σ_taps x_shifted · k, NHWC × HWIO."""
  (top, bottom), (left, right) = padding
  xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  h, w = x.shape[1:3]
  return sum(np.einsum('nhwc,co->nhwo', xp[:, i:i + h, j:j + w], k[i, j])
             for i in range(k.shape[0]) for j in range(k.shape[1]))


def _numpy_conv_gradients(x, k, padding, g):
  """The gradients of Σ g·y (y = `_numpy_conv(x, k, padding)`) with respect to x and k, float64."""
  (top, bottom), (left, right) = padding
  xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  h, w = x.shape[1:3]
  kh, kw = k.shape[:2]
  dk = np.stack([np.stack([np.einsum('nhwc,nhwo->co', xp[:, i:i + h, j:j + w], g) for j in range(kw)])
                 for i in range(kh)])
  dxp = np.zeros_like(xp)
  for i in range(kh):
    for j in range(kw):
      dxp[:, i:i + h, j:j + w] += np.einsum('nhwo,co->nhwc', g, k[i, j])
  return dxp[:, top:top + h, left:left + w], dk


def test_convolutions_compiled_with_the_library_options_match_numpy():
  """The training step's form of `layers.Conv` — compiled with `compiler.options()` (oneDNN convolutions on this
  CPU where jaxlib has them, XLA's defaults otherwise) and traced inside `layers.xla_kernel_gradients()` — and
  its default form give a float64 NumPy convolution's value and input and kernel gradients, for a 3×3 and a 5×3
  kernel."""
  from ddff_jax import compiler
  rng = np.random.default_rng(3)
  for kernel_size in ((3, 3), (5, 3)):
    conv = layers.Conv(4, 6, kernel_size, use_bias=False, rngs=nnx.Rngs(1))
    x = rng.standard_normal((2, 9, 8, 4)).astype(np.float32)
    k = np.asarray(conv.kernel.value, np.float64)
    padding = layers.same_padding(kernel_size)
    y = _numpy_conv(x.astype(np.float64), k, padding)
    dx, dk = _numpy_conv_gradients(x.astype(np.float64), k, padding, np.cos(y))  # d/dy Σ sin(y) = cos(y)
    graphdef, params = nnx.split(conv)
    for native in (True, False):
      def loss(params, x):
        with layers.xla_kernel_gradients(native):
          return jnp.sum(jnp.sin(nnx.merge(graphdef, params)(x)))
      value = jax.jit(lambda p, x: nnx.merge(graphdef, p)(x), compiler_options=compiler.options())(params, x)
      grads = jax.jit(jax.grad(loss, (0, 1)), compiler_options=compiler.options())(params, x)
      np.testing.assert_allclose(np.asarray(value), y, rtol=1e-4, atol=1e-4)
      np.testing.assert_allclose(np.asarray(grads[1]), dx, rtol=1e-4, atol=1e-4)
      np.testing.assert_allclose(np.asarray(grads[0]['kernel'].value), dk, rtol=1e-4, atol=1e-4)


def test_softargmax_scorer_is_the_expected_focus_value_under_a_softmax_over_slices():
  """`scorer='softargmax'`: per pixel, Σₛ softmax(maps)ₛ · focusₛ over the per-slice maps (here given logits, the
  reference stated in NumPy), so the output stays within the focus values; the last map keeps its sign (no ReLU);
  without focus values, a clear error."""
  model = nnx.eval_shape(lambda: DDFFNet(4, width=0.0625, dropout=0.0, scorer='softargmax', rngs=nnx.Rngs(0)))
  assert model.scorer is None and not model.decoder[-1][-1].relu and model.decoder[-1][-2].relu
  maps = np.random.default_rng(1).normal(0, 3, (2, 4, 32, 32))
  model.per_slice_maps = lambda images: jnp.asarray(maps.reshape(8, 32, 32), jnp.float32)  # stands for the network
  stack = jnp.zeros((2, 4, 32, 32, 3))
  focus = np.array([[-2.0, -0.5, 1.0, 2.5], [0.1, 0.2, 0.4, 0.8]], np.float32)
  weights = np.exp(maps - maps.max(1, keepdims=True))
  weights /= weights.sum(1, keepdims=True)
  got = np.asarray(model(stack, focus))
  np.testing.assert_allclose(got, np.einsum('bshw,bs->bhw', weights, focus), rtol=1e-5, atol=1e-5)
  assert (got >= focus.min(1)[:, None, None] - 1e-6).all() and (got <= focus.max(1)[:, None, None] + 1e-6).all()
  np.testing.assert_allclose(np.asarray(model(stack, focus[0])), np.einsum('bshw,s->bhw', weights, focus[0]),
                             rtol=1e-5, atol=1e-5)  # one focus set for the whole batch
  with pytest.raises(errors.UserError, match='soft-argmax scorer needs the stack.s focus values'):
    model(stack)
  with pytest.raises(errors.UserError, match="scorer must be one of"):
    DDFFNet(4, scorer='argmax', rngs=nnx.Rngs(0))


def test_local_softargmax_scorer_averages_over_the_most_likely_slice_and_its_neighbours():
  """`scorer='local_softargmax'`: per pixel, the expectation of the focus values under a softmax over the logits of
  the argmax slice and its two neighbours (one at the ends of the stack), stated in NumPy pixel by pixel; a bimodal
  pixel answers at its stronger mode. Training also sees the full soft argmax (`forward` gives both)."""
  model = nnx.eval_shape(lambda: DDFFNet(5, width=0.0625, dropout=0.0, scorer='local_softargmax', rngs=nnx.Rngs(0)))
  assert model.scorer is None and not model.decoder[-1][-1].relu
  maps = np.random.default_rng(2).normal(0, 3, (2, 5, 32, 32))
  maps[0, :, 0, 0] = [4.0, 3.0, -9.0, -9.0, 3.9]  # two modes, at both ends
  model.per_slice_maps = lambda images: jnp.asarray(maps.reshape(10, 32, 32), jnp.float32)
  focus = np.array([-2.0, -1.0, 0.0, 1.5, 2.5], np.float32)
  want = np.empty((2, 32, 32))
  for b, i, j in np.ndindex(2, 32, 32):
    logits = maps[b, :, i, j]
    k = int(np.argmax(logits))
    window = slice(max(k - 1, 0), k + 2)
    p = np.exp(logits[window] - logits[window].max())
    want[b, i, j] = np.sum(p * focus[window]) / np.sum(p)
  stack = jnp.zeros((2, 5, 32, 32, 3))
  got = np.asarray(model(stack, focus))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  full, local = model.forward(stack, focus)  # training sees the full soft argmax too; the prediction is the last
  weights = np.exp(maps - maps.max(1, keepdims=True))
  np.testing.assert_allclose(np.asarray(full), np.einsum('bshw,s->bhw', weights / weights.sum(1, keepdims=True), focus),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(np.asarray(local), got)
  p0 = np.exp(maps[0, :2, 0, 0] - 4.0)
  assert got[0, 0, 0] == pytest.approx(np.dot(p0, focus[:2]) / p0.sum(), abs=1e-5)  # about -1.73: the near mode


@pytest.mark.parametrize('radius, mass', [(1, 0.6), (2, 0.99)])  # 5 of 7 hypotheses hold most of the mass
def test_end_hypotheses_reach_beyond_the_stack_and_local_mass_chooses_between_the_readouts(radius, mass):
  """`end_hypotheses`: two more hypotheses one focus step beyond each end, their logits the slice logits' mean plus
  a linear map of their deviations from it (initially the end slice's logit − 1); `local_mass`: the local
  expectation where its window holds at least that share of the probability or the mode is an end hypothesis or next
  to one, else the full one; `local_radius`: the window's hypotheses on each side of the mode. Stated in NumPy per
  pixel."""
  model = DDFFNet(5, width=0.0625, dropout=0.0, scorer='local_softargmax', end_hypotheses=True, local_mass=mass,
                  local_radius=radius, rngs=nnx.Rngs(0))
  maps = np.random.default_rng(3).normal(0, 2, (2, 5, 32, 32))
  maps[0, :, 0, 0] = [6.0, 2.0, -5.0, -5.0, -5.0]  # steep at the near end of the list: beyond it
  model.per_slice_maps = lambda images: jnp.asarray(maps.reshape(10, 32, 32), jnp.float32)
  focus = np.array([-2.0, -1.0, 0.0, 1.5, 2.5], np.float32)
  stack = jnp.zeros((2, 5, 32, 32, 3))
  kernel, bias = np.asarray(model.end_scorer.kernel.value), np.asarray(model.end_scorer.bias.value)
  np.testing.assert_array_equal(kernel, np.eye(5)[:, [0, 4]])
  np.testing.assert_array_equal(bias, [-1.0, -1.0])
  kernel = np.random.default_rng(4).normal(0, 0.5, (5, 2)).astype(np.float32)
  kernel[0, 0] = 1.5
  model.end_scorer.kernel.value = jnp.asarray(kernel)
  ext_focus = np.concatenate([[-3.0], focus, [3.5]])
  want = np.empty((3, 2, 32, 32))
  for b, i, j in np.ndindex(2, 32, 32):
    logits = maps[b, :, i, j]
    ends = logits.mean() + (logits - logits.mean()) @ kernel - 1.0  # invariant to a common shift, as the softmax
    logits = np.concatenate([ends[:1], logits, ends[1:]])
    p = np.exp(logits - logits.max())
    p /= p.sum()
    k = int(np.argmax(logits))
    window = slice(max(k - radius, 0), k + radius + 1)
    full, local = p @ ext_focus, p[window] @ ext_focus[window] / p[window].sum()
    chosen = local if p[window].sum() >= mass or k <= 1 or k >= 5 else full
    want[:, b, i, j] = full, local, chosen
  got = np.asarray(model.forward(stack, focus))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert got[2, 0, 0, 0] < -2.0  # beyond the stack's nearest focus value
  assert 0.05 < np.mean(want[2] == want[0]) < 0.95  # both readouts are chosen somewhere
  np.testing.assert_array_equal(np.asarray(model(stack, focus)), got[2])
  model.per_slice_maps = lambda images: jnp.asarray(maps.reshape(10, 32, 32) - 7.0, jnp.float32)
  np.testing.assert_allclose(np.asarray(model.forward(stack, focus)), got, atol=1e-4)  # a common shift changes nothing
  with pytest.raises(errors.UserError, match='end_hypotheses needs a soft-argmax scorer'):
    DDFFNet(5, scorer='linear', end_hypotheses=True, rngs=nnx.Rngs(0))
  with pytest.raises(errors.UserError, match="local_mass must be in"):
    DDFFNet(5, scorer='softargmax', local_mass=0.5, rngs=nnx.Rngs(0))
  with pytest.raises(errors.UserError, match="local_radius must be an integer >= 1"):
    DDFFNet(5, scorer='softargmax', local_radius=2, rngs=nnx.Rngs(0))
