"""Tasks and the models' protocol: depth-scale augmentation, loss masking, the classical baselines, the typed data
description, and the experiment's slot mapping — checked against direct statements of what they claim."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddff_jax import camera_invariance, metrics, optics, tasks
from ddff_jax.configs import camera_invariance as experiment_config
from ddff_jax.data import pipeline, sources, synthetic
from ddff_jax.data.spec import FocalStackSpec
from ddff_jax.models.ddfs import DDFSNet
from flax import nnx

CAMERA = optics.DEFOCUSNET_CAMERA
FOCUS = (0.1, 0.3, 1.5)


DEPTH_SPEC = FocalStackSpec('depth', FOCUS, (0.1, 3.0), CAMERA)


def _ddfs(num_hypotheses=8):
  """A tiny DDFS model (shapes only: these tests use its cost volume, hypotheses and output range)."""
  return nnx.eval_shape(lambda: DDFSNet(num_hypotheses, width=0.0625, rngs=nnx.Rngs(0)))


def _stack(seed=0, size=32):
  scene = synthetic.SceneConfig(height=size, width=size, num_objects=2)
  stack, depth, _ = synthetic.sample_thin_lens_stack(jax.random.PRNGKey(seed), scene, CAMERA, FOCUS)
  return np.asarray(stack), np.asarray(depth)


def test_depth_scale_augmentation_is_the_scaled_camera_at_scaled_focus_distances():
  """The task builds the σ-scaled example's cost volume from this camera and hypotheses / σ; stated directly, it is
  the cost volume of the camera scaled by σ, focused σ times farther, over the unscaled hypotheses."""
  model = _ddfs()
  stack, _ = _stack()
  for sigma in (1.0, 2.5):
    cost = model.cost_volume(jnp.asarray(stack[None]), jnp.asarray(FOCUS), CAMERA, jnp.asarray([sigma], jnp.float32))
    direct = optics.normalize_cost_volume(optics.defocus_cost_volume(
        stack, np.asarray(FOCUS) * sigma, CAMERA.scaled(sigma), model.hypotheses))
    # float32, two routes to the same PSF radii: a few normalised costs (~0.5) differ by up to ~2.5e-4
    np.testing.assert_allclose(np.asarray(cost[0]), np.asarray(direct), atol=5e-4)


class _ConstantModel:
  """The registry's protocol with four scales of a constant prediction, reaching only [0.1, 3] m like DDFS."""
  targets, output_range = ('depth',), (0.1, 3.0)

  def __init__(self, value):
    self.value = value

  def forward(self, stack, focus, *, camera=None, depth_scale=None):
    b, _, h, w, _ = stack.shape
    return tuple(jnp.full((b, h // s, w // s), self.value) for s in (8, 4, 2, 1))


def test_depth_loss_scales_the_target_and_ignores_unreachable_depths():
  task = tasks.build_task(DEPTH_SPEC)
  rng = np.random.default_rng(0)
  depth = rng.uniform(0.1, 3.0, (2, 32, 32)).astype(np.float32)
  scale = np.array([1.0, 2.0], np.float32)
  constant = 1.7
  model = _ConstantModel(constant)

  loss = float(task.loss(model, {'stack': jnp.asarray(rng.random((2, 3, 32, 32, 3), np.float32)),
                                 'depth': jnp.asarray(depth), 'depth_scale': jnp.asarray(scale)}))
  expected = []
  target = depth * scale[:, None, None]
  for s in (8, 4, 2, 1):  # every scale compares with the nearest-downsampled target
    sub = np.asarray(jax.image.resize(target, (2, 32 // s, 32 // s), 'nearest'))
    ok = (sub >= 0.1) & (sub <= 3.0)
    expected.append(np.abs(constant - sub)[ok].mean())
  assert loss == pytest.approx(np.mean(expected), rel=1e-5)


def test_the_training_loss_can_be_chosen_by_name():
  """`train.loss`: 'l1' makes the disparity task's loss the mean absolute error (its default is the paper's MSE),
  over the signed ground truth's finite pixels; an unknown name is a one-line error naming the choices."""
  spec = FocalStackSpec('disparity', (-1.0, 1.0), None)
  rng = np.random.default_rng(0)
  target = rng.uniform(-2, 2, (2, 4, 5)).astype(np.float32)
  target[0, 1, 2] = np.nan  # unknown ground truth
  constant = 0.3

  class Constant:
    targets, output_range = ('disparity',), None

    def forward(self, stack, focus, *, camera=None, depth_scale=None):
      return (jnp.full(stack.shape[:1] + stack.shape[2:4], constant),)

  batch = {'stack': jnp.zeros((2, 2, 4, 5, 3)), 'disparity': jnp.asarray(target)}
  known = np.isfinite(target)
  for name, expected in (('', np.mean((constant - target[known]) ** 2)), ('mse', np.mean((constant - target[known]) ** 2)),
                         ('l1', np.mean(np.abs(constant - target[known])))):
    assert float(tasks.build_task(spec, name).loss(Constant(), batch)) == pytest.approx(expected, rel=1e-6)
  with pytest.raises(ValueError, match=r"train.loss must be one of \['inverse_l1', 'l1', 'mse'\].*got 'huber'"):
    tasks.build_task(spec, 'huber')
  with pytest.raises(ValueError, match="'inverse_l1' needs metric depth targets; this data's target is disparity"):
    tasks.build_task(spec, 'inverse_l1')


def test_the_inverse_depth_loss_is_the_l1_of_inverse_depths_over_every_scale():
  """`train.loss=inverse_l1` on depth: mean |1/pred − 1/target| over the reachable pixels of each scale."""
  rng = np.random.default_rng(1)
  depth = rng.uniform(0.05, 3.5, (2, 16, 16)).astype(np.float32)  # some outside DDFS's 0.1–3 m
  constant = 0.8
  loss = float(tasks.build_task(DEPTH_SPEC, 'inverse_l1').loss(
      _ConstantModel(constant), {'stack': jnp.zeros((2, 3, 16, 16, 3)), 'depth': jnp.asarray(depth)}))
  expected = []
  for s in (8, 4, 2, 1):
    sub = np.asarray(jax.image.resize(depth, (2, 16 // s, 16 // s), 'nearest'))
    ok = (sub >= 0.1) & (sub <= 3.0)
    expected.append(np.abs(1 / constant - 1 / sub.astype(np.float64))[ok].mean())
  assert loss == pytest.approx(np.mean(expected), rel=1e-5)


def test_classical_depth_task_finds_a_plane_at_a_focus_distance():
  """A fronto-parallel textured plane at 0.3 m (the middle focus distance) is sharpest in the middle image."""
  rng = np.random.default_rng(1)
  aif = np.clip(0.5 + 0.3 * rng.standard_normal((48, 48, 3)), 0, 1).astype(np.float32)
  stack = optics.render_focal_stack(aif, np.full((48, 48), 0.3, np.float32), CAMERA, FOCUS)
  pred = np.asarray(tasks.build_task(DEPTH_SPEC).classical(stack))
  assert np.median(np.abs(pred[8:-8, 8:-8] - 0.3)) < 0.02


def test_augment_draws_depth_scales_as_scalars():
  augment = pipeline.Augment(flip=False, map_fields=('depth',), depth_scales=(1.0, 2.0, 3.0))
  example = {'stack': np.zeros((3, 8, 8, 3), np.float32), 'depth': np.ones((8, 8), np.float32)}
  drawn = {float(augment(example, np.random.default_rng(i))['depth_scale']) for i in range(40)}
  assert drawn == {1.0, 2.0, 3.0}
  assert augment(example, np.random.default_rng(0))['depth_scale'].shape == ()


def test_ddffnet_slots_take_the_nearest_focus_in_dioptres():
  # dioptres: training 10, 3.33, 0.67; test 6.67, 1.43 -> 10→6.67, 3.33→1.43, 0.67→1.43
  assert camera_invariance.nearest_slots((0.1, 0.3, 1.5), (0.15, 0.7)).tolist() == [0, 1, 1]
  assert camera_invariance.nearest_slots((0.1, 0.3, 1.5), (0.1, 0.3, 1.5)).tolist() == [0, 1, 2]


def test_a_task_refuses_a_model_that_cannot_predict_its_target():
  task = tasks.build_task(FocalStackSpec('disparity', np.linspace(0.28, 0.02, 10), metrics.DDFF_DISPARITY_RANGE))
  with pytest.raises(ValueError, match='DDFSNet predicts depth, but this data is disparity'):
    task.check_model(DDFSNet)
  with pytest.raises(ValueError, match='thin-lens camera'):
    _ddfs().cost_volume(jnp.zeros((1, 3, 32, 32, 3)), jnp.asarray(FOCUS), None)


def test_the_data_description_round_trips_through_json_and_comes_without_rendering():
  for config in (experiment_config.get_config('ddfs'),):
    spec = sources.data_spec(config.data)
    assert spec == FocalStackSpec('depth', FOCUS, (0.1, 3.0), sources.thin_lens_camera(config.data.camera))
    assert FocalStackSpec.from_json(spec.to_json()) == spec
  signed = FocalStackSpec('disparity', np.linspace(-2.5, 2.5, 10), None)
  assert FocalStackSpec.from_json(signed.to_json()) == signed and signed.num_slices == 10
  with pytest.raises(ValueError, match='needs its thin-lens camera'):
    FocalStackSpec('depth', FOCUS, (0.1, 3.0))
  with pytest.raises(ValueError, match='exceed the focal length'):
    FocalStackSpec('depth', (0.001,), (0.1, 3.0), CAMERA)


def test_varied_focus_training_gives_each_example_its_own_focus_set_and_cost_volume():
  """`data.focus_range_m`: every training example is rendered at its own focus set (drawn uniformly in dioptres,
  nearest first), carries it in the batch, and the task builds each example's cost volume from its own set —
  checked against rendering and cost volumes computed one example at a time with those distances."""
  sets = sources.random_focus_sets(2000, 3, (0.1, 2.0), seed=0)
  assert sets.shape == (2000, 3) and np.all(np.diff(sets, axis=1) >= 0)
  assert sets.min() >= 0.1 and sets.max() <= 2.0
  dioptres = 1.0 / sets.ravel()  # uniform on [0.5, 10]: mean 5.25, quartiles 2.875 / 7.625
  assert abs(dioptres.mean() - 5.25) < 0.15 and abs(np.percentile(dioptres, 25) - 2.875) < 0.25
  with pytest.raises(ValueError, match='0 < near < far'):
    sources.random_focus_sets(2, 3, (2.0, 0.1), seed=0)

  config = experiment_config.get_config('ddfs_varied')
  config.data.update(height=24, width=24, num_train=2, num_val=1)
  config.model.num_hypotheses = 6
  train = sources.build_split(config.data, 3, 'train')
  val = sources.build_split(config.data, 3, 'validation')
  focus = train[0:2]['focus']
  assert focus.shape == (2, 3) and not np.allclose(focus[0], focus[1])
  assert 'focus' not in val[0] and sources.data_spec(config.data).focus == pytest.approx(FOCUS)
  scene = synthetic.SceneConfig(height=24, width=24, num_objects=config.data.num_objects)
  one, _, _ = synthetic.sample_thin_lens_stack(jax.random.fold_in(jax.random.PRNGKey(3), 1), scene, CAMERA,
                                               tuple(float(f) for f in focus[1]), (0.1, 3.0))
  np.testing.assert_allclose(train[1]['stack'], np.asarray(one), atol=1e-6)

  model = _ddfs(6)
  cost = model.cost_volume(jnp.asarray(train[0:2]['stack']), jnp.asarray(focus), CAMERA)
  for i in range(2):
    squashed = np.tanh(optics.DDFS_TANH_SCALE * np.asarray(
        optics.defocus_cost_volume(train[i]['stack'], focus[i], CAMERA, model.hypotheses), np.float64))
    spread = squashed.max(0) - squashed.min(0)
    direct = (squashed - squashed.min(0)) / (spread + 1e-8)
    # Min–max normalisation divides float32 rounding by each pixel's spread of squashed cost: compare on that scale.
    np.testing.assert_array_less(np.abs(np.asarray(cost[i]) - direct) * spread, 2e-5)
    assert np.mean(np.abs(np.asarray(cost[i]) - direct)) < 1e-4


def test_a_model_registered_by_name_reaches_tasks_and_methods_without_touching_them():
  """What a new model needs: its class registered by name (its own module) and a config naming it. Here a
  one-parameter model (disparity = scale · the stack's focus-weighted mean) goes through the registry, the task's
  loss and the methods' prediction route."""
  import ml_collections
  from ddff_jax import methods
  from ddff_jax.models import registry

  @registry.register('test_focus_weighted_mean')
  class FocusWeightedMean(nnx.Module):
    targets, output_range = ('disparity',), None

    def __init__(self, scale: float = 1.0, *, rngs):
      self.scale = nnx.Param(jnp.asarray(scale))

    def forward(self, stack, focus, *, camera=None, depth_scale=None):
      weights = jnp.broadcast_to(jnp.asarray(focus, stack.dtype), stack.shape[:2])
      return (self.scale * jnp.einsum('bs,bshwc->bhw', weights, stack) / stack.shape[-1],)

  model = registry.build_model(ml_collections.ConfigDict(dict(name='test_focus_weighted_mean', scale=2.0)))
  spec = FocalStackSpec('disparity', (0.1, 0.3), metrics.DDFF_DISPARITY_RANGE)
  stack = np.random.default_rng(0).random((2, 4, 5, 3)).astype(np.float32)
  expected = 2.0 * np.einsum('s,shwc->hw', np.array([0.1, 0.3]), stack) / 3
  np.testing.assert_allclose(methods.from_model(model, spec, 'test')(stack), expected, rtol=1e-6)
  target = np.full((1, 4, 5), 0.05, np.float32)
  loss = tasks.build_task(spec).loss(model, {'stack': jnp.asarray(stack[None]), 'disparity': jnp.asarray(target)})
  assert float(loss) == pytest.approx(np.mean((expected - 0.05) ** 2), rel=1e-5)
  with pytest.raises(ValueError, match="unknown model name 'no_such_model'"):
    registry.build_model(ml_collections.ConfigDict(dict(name='no_such_model')))
