"""Defocus on real images: natural-texture thin-lens training data with a camera and focus set per example, DDFS
fed one camera per example, and the RGB-D comparison experiment."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from ddff_jax import errors, optics, rgbd_defocus, tasks
from ddff_jax.configs import rgbd_defocus as experiment_config
from ddff_jax.data import natural, sources
from ddff_jax.models.ddfs import DDFSNet
from conftest import SHARED_DATA


def _tiny_data(varied=True):
  data = experiment_config.get_config('ddfs').data
  data.update(size=32, num_train=6, num_val=2, num_textures=8, varied=varied)
  return data


def test_random_cameras_stay_in_their_ranges():
  data = _tiny_data()
  params = sources.random_cameras(4000, data.camera_ranges, data.camera.pixel_pitch_um, seed=0)
  assert params.shape == (4000, 3)
  f, n, pitch = params.T
  assert 2.0e-3 <= f.min() and f.max() <= 3.5e-3 and abs(f.mean() - 2.75e-3) < 0.03e-3  # uniform
  assert 1.0 <= n.min() and n.max() <= 1.4
  assert abs(np.median(n) - np.sqrt(1.4)) < 0.01  # log-uniform: median is the geometric mean
  np.testing.assert_allclose(pitch, 3.1e-3 / 256, rtol=1e-6)
  with pytest.raises(errors.UserError, match='camera_ranges'):
    sources.random_cameras(2, type(data.camera_ranges)(dict(focal_length_mm=(3.0, 2.0), f_number=(1.0, 2.0))),
                           5.6, seed=0)


def test_natural_thin_lens_examples_carry_their_camera_focus_set_and_metric_depth():
  """Each training example has its own camera (within the ranges) and focus set (nearest first, within the range);
  depth is the scene's nearness mapped to inverse depth over depth_range_m (stated here from the renderer's own
  nearness map); images are 8-bit; validation keeps the config's camera and focus set."""
  data = _tiny_data()
  train = sources.build_split(data, 5, 'train')
  val = sources.build_split(data, 5, 'validation')
  example = train[0:6]
  assert example['stack'].shape == (6, 3, 32, 32, 3) and example['depth'].shape == (6, 32, 32)
  assert example['camera'].shape == (6, 3) and example['focus'].shape == (6, 3)
  assert len({tuple(c) for c in example['camera']}) == 6 and np.all(np.diff(example['focus'], axis=1) >= 0)
  assert 0.1 <= example['focus'].min() and example['focus'].max() <= 2.0
  stack = example['stack']
  assert 0.0 <= stack.min() and stack.max() <= 1.0
  np.testing.assert_allclose(stack * 255.0, np.round(stack * 255.0), atol=1e-3)
  assert 0.1 - 1e-6 <= example['depth'].min() and example['depth'].max() <= 3.0 + 1e-5
  assert set(val[0]) == {'stack', 'depth'}
  spec = sources.data_spec(data)
  assert spec.target == 'depth' and spec.focus == pytest.approx((0.1, 0.3, 1.5))
  # Depth of scene 0, from the renderer's nearness t by the inverse-depth mapping written out here.
  images = natural.texture_images(None, tuple(data.skimage_textures))
  bank = natural.texture_bank(images, data.num_textures, 128, 5)
  config = natural.SceneConfig(size=32, grid=1, num_layers=data.num_layers, min_span=data.min_span,
                               disparity_range=(0.0, 1.0))
  _, t = natural.render_scene(natural.sample_scene(jax.random.fold_in(jax.random.PRNGKey(5), 0), len(bank), config),
                              jnp.asarray(bank), config)
  t = np.asarray(t, np.float64)
  assert 0.0 <= t.min() and t.max() <= 1.0
  np.testing.assert_allclose(example['depth'][0], 1.0 / (1.0 / 3.0 + t * (1.0 / 0.1 - 1.0 / 3.0)), rtol=1e-5)


def test_stretched_training_depth_spans_the_whole_range_as_the_rgbd_renders_do():
  """`stretch_inverse_depth` against a hand-computed scene (inverse depths 5, 2, 1 /m over (0.1, 3) m: t = 1,
  0.25, 0 -> 1/z = 1/3 + t·(10 − 1/3)); a scene at one depth keeps it; with `stretch_depth` every training
  scene's depth reaches both ends of the range and its inverse stays affine in the unstretched one."""
  depths = np.array([[[0.2, 0.5], [1.0, 1.0]], [[0.7, 0.7], [0.7, 0.7]]], np.float32)
  got = sources.stretch_inverse_depth(depths, (0.1, 3.0))
  np.testing.assert_allclose(got[0], [[0.1, 1.0 / (1.0 / 3.0 + 0.25 * (10.0 - 1.0 / 3.0))], [3.0, 3.0]], rtol=1e-6)
  np.testing.assert_allclose(got[1], 0.7)
  data = _tiny_data()
  plain = sources.build_split(data, 5, 'train')[0:6]['depth']
  data.stretch_depth = True
  stretched = sources.build_split(data, 5, 'train')[0:6]['depth']
  np.testing.assert_allclose(stretched.min(axis=(1, 2)), 0.1, rtol=1e-5)
  np.testing.assert_allclose(stretched.max(axis=(1, 2)), 3.0, rtol=1e-5)
  for p, s in zip(plain, stretched):
    slope, offset = np.polyfit(1.0 / p.ravel(), 1.0 / s.ravel(), 1)
    np.testing.assert_allclose(1.0 / s, slope / p + offset, rtol=1e-4)
    assert slope > 1.0  # the plain scenes span less than the whole range


def test_rgbd_training_renders_give_each_render_its_own_camera_and_focus_set(monkeypatch):
  """Renders of RGB-D scenes join the natural scenes in training: depth is the scene's disparity mapped to inverse
  depth (stated here from the PFM), 0 where unknown; every render is the thin-lens render of the scene with its own
  camera (within the training ranges) and focus set, quantised to 8 bits; validation stays synthetic."""
  from ddff_jax.data import formats, pipeline
  if not (SHARED_DATA / 'rgbd' / 'teddy' / 'image.png').is_file():
    pytest.skip(f'RGB-D scenes not found under {SHARED_DATA / "rgbd"} (set DDFF_SHARED_DATA)')
  data = _tiny_data()
  data.update(rgbd_root=str(SHARED_DATA / 'rgbd'), rgbd_scenes=('teddy', 'tsukuba'), rgbd_size=32,
              rgbd_renders_per_scene=3, rgbd_repeats=2, max_noise=0.0)  # the fields a fold's config adds
  train = sources.build_split(data, 5, 'train')
  assert isinstance(train, pipeline.ConcatSource) and len(train) == 6 + 2 * 3 * 2
  renders = [train[6 + i] for i in range(6)]
  assert [train[12 + i]['camera'].tolist() for i in range(6)] == [r['camera'].tolist() for r in renders]
  assert len({tuple(r['camera']) for r in renders}) == 6 and len({tuple(r['focus']) for r in renders}) == 6
  # teddy's depth from its PFM: centre square (teddy is wider than tall), nearest samples, inverse depth affine in
  # disparity over (0.1, 3) m.
  disparity = formats.read_pfm(str(SHARED_DATA / 'rgbd' / 'teddy' / 'disparity.pfm')).astype(np.float64)
  h, w = disparity.shape
  x = (w - h) // 2
  rows = (np.arange(32) * h / 32 + h / 64).astype(int)
  d = disparity[:, x:x + h][np.ix_(rows, rows)]
  known = np.isfinite(d)
  t = (d - d[known].min()) / (d[known].max() - d[known].min())  # the sampled map's own range
  expected = np.where(known, 1.0 / (1.0 / 3.0 + t * (1.0 / 0.1 - 1.0 / 3.0)), 0.0)
  for r in renders[:3]:
    np.testing.assert_allclose(r['depth'], expected, rtol=1e-5)
  images, depths = sources.rgbd_scene_arrays(data.rgbd_root, ('teddy',), 32, data.depth_range_m)
  from ddff_jax.data import rgbd
  for r in renders[:3]:
    f, n, pitch = r['camera'].astype(np.float64)
    assert 2e-3 <= f <= 3.5e-3 and 1.0 <= n <= 1.4 and np.all(np.diff(r['focus']) >= 0)
    clean = np.asarray(optics.render_focal_stack(images[0], rgbd.fill_unknown(depths[0]), optics.ThinLensCamera(
        f, n, pitch), r['focus'], max_radius_px=data.max_radius_px))
    np.testing.assert_allclose(r['stack'], np.round(np.clip(clean, 0, 1) * 255) / 255, atol=1.01 / 255)
  assert set(sources.build_split(data, 5, 'validation')[0]) == {'stack', 'depth'}
  data.varied = False
  with pytest.raises(errors.UserError, match='data.varied=True'):
    sources.build_split(data, 5, 'train')


def test_cross_validation_folds_train_on_the_other_scenes_only():
  config = experiment_config.get_config()
  config.lock()  # as config_flags hands it over
  folds = config.test.rgbd_folds
  assert sorted(folds[0] + folds[1]) == sorted(config.test.scenes) and not set(folds[0]) & set(folds[1])
  for fold in folds:
    fold_config = rgbd_defocus.fold_training_config(config, fold)
    assert set(fold_config.data.rgbd_scenes) == set(config.test.scenes) - set(fold)
    assert fold_config.model.to_dict() == config.ddfs.model.to_dict()
    assert fold_config.train.num_steps == config.test.rgbd_fold_steps
    assert fold_config.data.rgbd_repeats == config.test.rgbd_training.rgbd_repeats
  assert 'rgbd_scenes' not in config.ddfs.data  # the plain DDFS never sees an RGB-D scene
  with pytest.raises(errors.UserError, match='not among test.scenes'):
    rgbd_defocus.fold_training_config(config, ('cones',))


def test_ddfs_builds_each_examples_cost_volume_with_its_own_camera():
  """A batch with cameras (B, 3), as varied-camera training feeds it, gives every example the cost volume of its
  own camera, as one ThinLensCamera per example does."""
  model = nnx.eval_shape(lambda: DDFSNet(6, width=0.0625, rngs=nnx.Rngs(0)))
  stacks = np.random.default_rng(0).random((2, 3, 24, 24, 3)).astype(np.float32)
  focus = np.array([[0.1, 0.3, 1.5], [0.15, 0.7, 2.0]], np.float32)
  cameras = [optics.DEFOCUSNET_CAMERA, optics.ThinLensCamera(4.3e-3, 1.9, 3.1e-3 / 256)]
  batched = np.asarray(model.cost_volume(jnp.asarray(stacks), jnp.asarray(focus),
                                         jnp.stack([c.params for c in cameras])))
  for i, camera in enumerate(cameras):
    one = np.asarray(model.cost_volume(jnp.asarray(stacks[i:i + 1]), jnp.asarray(focus[i]), camera))[0]
    np.testing.assert_allclose(batched[i], one, atol=1e-5)
  assert not np.allclose(batched[0], np.asarray(model.cost_volume(jnp.asarray(stacks[:1]), jnp.asarray(focus[0]),
                                                                  cameras[1]))[0], atol=1e-2)


def test_ddfs_feeds_its_network_the_cost_criterion_it_was_built_with():
  stack = np.random.default_rng(1).random((1, 3, 24, 24, 3)).astype(np.float32)
  focus = np.array([0.1, 0.3, 1.5], np.float32)
  for criterion in optics.COST_CRITERIA:
    model = nnx.eval_shape(lambda: DDFSNet(6, width=0.0625, cost_criterion=criterion, rngs=nnx.Rngs(0)))
    raw = optics.defocus_cost_volume(stack[0], focus, optics.DEFOCUSNET_CAMERA, model.hypotheses,
                                     criterion=criterion)
    np.testing.assert_allclose(np.asarray(model.cost_volume(jnp.asarray(stack), focus, optics.DEFOCUSNET_CAMERA))[0],
                               np.asarray(optics.normalize_cost_volume(raw)), atol=1e-5)
  with pytest.raises(errors.UserError, match="cost_criterion must be one of"):
    DDFSNet(6, width=0.0625, cost_criterion='laplacian', rngs=nnx.Rngs(0))


def test_the_table_marks_the_best_method_and_reports_ddfs_relative_to_its_training_setting():
  metrics = lambda mae: {'mae': mae, 'rmse': 2 * mae, 'abs_rel': 0.5, 'scale_invariant': 0.3}
  results = {'training_setting': 'defocusnet:train', 'settings': {
      'defocusnet:train': {'description': 'train', 'metrics': {m: metrics(v) for m, v in zip(
          rgbd_defocus.METHODS, (0.2, 0.3, 0.25, 0.4))}},
      'phone:unseen': {'description': 'unseen', 'metrics': {m: metrics(v) for m, v in zip(
          rgbd_defocus.METHODS, (0.23, 0.3, 0.2, 0.4))}}},
      'ddfs_mae_relative_to_training': {'defocusnet:train': 1.0, 'phone:unseen': 1.15}}
  table = rgbd_defocus.markdown_table(results)
  assert '| train | DDFS | **0.2000** | **0.4000** |' in table
  assert '| unseen | classical DFF | **0.2000** |' in table and '| unseen | 1.150 |' in table
  assert rgbd_defocus.describe('phone:unseen') == 'phone (f = 4.3 mm, N = 1.9), focus {0.15, 0.7, 2} m'
  assert rgbd_defocus.describe('phone:unseen:0.01').endswith('{0.15, 0.7, 2} m, noise σ = 0.01')


@pytest.mark.slow  # two tiny trainings and six renders (~3 min on 2 cores)
def test_the_experiment_trains_both_models_and_writes_the_table_and_pictures(tmp_path):
  import json
  if not (SHARED_DATA / 'rgbd' / 'teddy' / 'image.png').is_file():
    pytest.skip(f'RGB-D scenes not found under {SHARED_DATA / "rgbd"} (set DDFF_SHARED_DATA)')
  config = experiment_config.get_config()
  for name in ('ddfs', 'ddffnet'):
    config[name].data.update(size=32, num_train=8, num_val=2, num_textures=8, crop=(32, 32))
    config[name].train.update(num_steps=4, batch_size=4)
    config[name].update(log_every=2, eval_every=4, checkpoint_every=4)
  config.ddfs.model.update(num_hypotheses=8, tile_px=32)  # the 64-px renders predicted in 32-px tiles
  config.test.rgbd_training.update(rgbd_root=str(SHARED_DATA / 'rgbd'), rgbd_size=32, rgbd_renders_per_scene=2)
  config.test.update(settings=('defocusnet:train', 'phone:unseen', 'phone:unseen:0.01'), scenes=('teddy', 'tsukuba'),
                     size=64,
                     rgbd_folds=(('teddy',), ('tsukuba',)), rgbd_fold_steps=4)
  results = rgbd_defocus.run_experiment(config, str(tmp_path), progress=False)
  fold = rgbd_defocus.FOLD_METHOD
  assert results['checkpoints'] == {'DDFS': 4, 'DDFFNet': 4, f'{fold}, fold 0': 4, f'{fold}, fold 1': 4}
  written = json.loads((tmp_path / 'results.json').read_text())
  for setting in ('defocusnet:train', 'phone:unseen', 'phone:unseen:0.01'):
    table = written['settings'][setting]['metrics']
    assert set(table) == set(rgbd_defocus.METHODS) | {fold}
    assert all(np.isfinite(table[m][k]) for m in table for k in rgbd_defocus.METRICS)
    assert (tmp_path / 'pictures' / f'{setting.replace(":", "_")}.png').is_file()
  assert written['settings']['phone:unseen']['ddffnet_slots'] == [0, 1, 2]  # 0.15→0.1, 0.7→0.3, 2→1.5 m
  assert written['ddfs_mae_relative_to_training']['defocusnet:train'] == 1.0
  assert set(written['ddfs_mae_relative_to_training']) == {'defocusnet:train', 'phone:unseen'}  # noise: not a setting
  noisy, clean = (written['settings'][s]['metrics']['classical DFF'] for s in ('phone:unseen:0.01', 'phone:unseen'))
  assert noisy['mae'] != clean['mae']  # the noisy renders are other images
  assert '| DDFS MAE / training-setting MAE |' in (tmp_path / 'results.md').read_text()
