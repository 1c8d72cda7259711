"""The thin-lens depth task: depth-scale augmentation, loss masking, the classical baseline, and the experiment's
slot mapping — checked against direct statements of what they claim."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ddff_jax import camera_invariance, metrics, optics, tasks
from ddff_jax.configs import camera_invariance as experiment_config
from ddff_jax.data import pipeline, synthetic

CAMERA = optics.DEFOCUSNET_CAMERA
FOCUS = (0.1, 0.3, 1.5)


def _ddfs_task(num_hypotheses=8):
  config = experiment_config.get_config('ddfs')
  config.model.num_hypotheses = num_hypotheses
  return tasks.DepthTask(config, CAMERA, FOCUS)


def _stack(seed=0, size=32):
  scene = synthetic.SceneConfig(height=size, width=size, num_objects=2)
  stack, depth, _ = synthetic.sample_thin_lens_stack(jax.random.PRNGKey(seed), scene, CAMERA, FOCUS)
  return np.asarray(stack), np.asarray(depth)


def test_depth_scale_augmentation_is_the_scaled_camera_at_scaled_focus_distances():
  """The task builds the σ-scaled example's cost volume from this camera and hypotheses / σ; stated directly, it is
  the cost volume of the camera scaled by σ, focused σ times farther, over the unscaled hypotheses."""
  task = _ddfs_task()
  stack, _ = _stack()
  for sigma in (1.0, 2.5):
    _, cost = task.ddfs_inputs(jnp.asarray(stack[None]), jnp.asarray([sigma], jnp.float32))
    direct = optics.normalize_cost_volume(optics.defocus_cost_volume(
        stack, np.asarray(FOCUS) * sigma, CAMERA.scaled(sigma), task.hypotheses))
    np.testing.assert_allclose(np.asarray(cost[0]), np.asarray(direct), atol=2e-4)


def test_ddfs_loss_scales_the_target_and_ignores_unreachable_depths():
  task = _ddfs_task()
  rng = np.random.default_rng(0)
  depth = rng.uniform(0.1, 3.0, (2, 32, 32)).astype(np.float32)
  scale = np.array([1.0, 2.0], np.float32)
  constant = 1.7

  def model(image, cost, hypotheses):  # four scales of a constant prediction
    return [jnp.full((2, 32 // s, 32 // s), constant) for s in (8, 4, 2, 1)]

  loss = float(task.loss(model, {'stack': jnp.asarray(rng.random((2, 3, 32, 32, 3), np.float32)),
                                 'depth': jnp.asarray(depth), 'depth_scale': jnp.asarray(scale)}))
  expected = []
  target = depth * scale[:, None, None]
  for s in (8, 4, 2, 1):  # every scale compares with the nearest-downsampled target
    sub = np.asarray(jax.image.resize(target, (2, 32 // s, 32 // s), 'nearest'))
    ok = (sub >= 0.1) & (sub <= 3.0)
    expected.append(np.abs(constant - sub)[ok].mean())
  assert loss == pytest.approx(np.mean(expected), rel=1e-5)


def test_classical_depth_task_finds_a_plane_at_a_focus_distance():
  """A fronto-parallel textured plane at 0.3 m (the middle focus distance) is sharpest in the middle image."""
  rng = np.random.default_rng(1)
  aif = np.clip(0.5 + 0.3 * rng.standard_normal((48, 48, 3)), 0, 1).astype(np.float32)
  stack = optics.render_focal_stack(aif, np.full((48, 48), 0.3, np.float32), CAMERA, FOCUS)
  config = experiment_config.get_config('ddffnet')
  pred = np.asarray(tasks.DepthTask(config, CAMERA, FOCUS).classical(stack))
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


def test_disparity_models_refuse_thin_lens_mismatch():
  config = experiment_config.get_config('ddfs')
  config.data = ml_collections.ConfigDict(dict(source='synthetic_lf'))
  with pytest.raises(ValueError, match='needs depth data'):
    tasks.build_task(config, {'focus_disparities': np.zeros(10)})


def test_varied_focus_training_gives_each_example_its_own_focus_set_and_cost_volume():
  """`data.focus_range_m`: every training example is rendered at its own focus set (drawn uniformly in dioptres,
  nearest first), carries it in the batch, and the task builds each example's cost volume from its own set —
  checked against rendering and cost volumes computed one example at a time with those distances."""
  from ddff_jax.data import sources
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
  train, val, info = sources.build_sources(config.data, seed=3)
  focus = train[0:2]['focus_distances_m']
  assert focus.shape == (2, 3) and not np.allclose(focus[0], focus[1])
  assert 'focus_distances_m' not in val[0] and tuple(info['focus_distances_m']) == pytest.approx(FOCUS)
  scene = synthetic.SceneConfig(height=24, width=24, num_objects=config.data.num_objects)
  one, _, _ = synthetic.sample_thin_lens_stack(jax.random.fold_in(jax.random.PRNGKey(3), 1), scene, CAMERA,
                                               tuple(float(f) for f in focus[1]), (0.1, 3.0))
  np.testing.assert_allclose(train[1]['stack'], np.asarray(one), atol=1e-6)

  task = tasks.DepthTask(config, CAMERA, FOCUS)
  _, cost = task.ddfs_inputs(jnp.asarray(train[0:2]['stack']), None, jnp.asarray(focus))
  for i in range(2):
    squashed = np.tanh(optics.DDFS_TANH_SCALE * np.asarray(
        optics.defocus_cost_volume(train[i]['stack'], focus[i], CAMERA, task.hypotheses), np.float64))
    spread = squashed.max(0) - squashed.min(0)
    direct = (squashed - squashed.min(0)) / (spread + 1e-8)
    # Min–max normalisation divides float32 rounding by each pixel's spread of squashed cost: compare on that scale.
    np.testing.assert_array_less(np.abs(np.asarray(cost[i]) - direct) * spread, 2e-5)
    assert np.mean(np.abs(np.asarray(cost[i]) - direct)) < 1e-4
