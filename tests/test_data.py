"""Readers, the TFDS builder (every config, from fixture files in the published layouts) and the input pipeline."""

import jax
import numpy as np
import pytest

from ddff_jax import optics
from ddff_jax.data import ddff, pipeline, synthetic
from ddff_jax.ddff12scene import make_dummy_data
from ddff_jax.ddff12scene.ddff12scene_dataset_builder import patch_positions


def _build(config, tmp_path, manual=None):
  import tensorflow_datasets as tfds
  import ddff_jax  # noqa: F401  (registers the builder)
  kwargs = {}
  if manual is not None:
    kwargs['download_config'] = tfds.download.DownloadConfig(manual_dir=str(manual))
  builder = tfds.builder(f'ddff12scene/{config}', data_dir=str(tmp_path / 'tfds'), file_format='array_record')
  builder.download_and_prepare(**kwargs)
  return builder


def test_patch_positions_match_the_authors_packing():
  assert patch_positions(383) == [0, 56, 112, 158]
  assert patch_positions(552) == [0, 56, 112, 168, 224, 280, 327]


def test_h5_reader_skips_empty_samples_and_names_keys(tmp_path):
  make_dummy_data.write_h5_files(tmp_path, num_train=4, num_val=3)
  train = ddff.DDFFH5(tmp_path / 'ddff-dataset-trainval.h5', 'train')
  assert len(train) == 3 and train[0]['index'] == 1  # sample 0 is all zero
  item = train[0]
  assert item['stack'].shape == (10, 32, 32, 3) and item['stack'].dtype == np.uint8
  assert item['disparity'].dtype == np.float32
  test = ddff.DDFFH5(tmp_path / 'ddff-dataset-test.h5', 'test')
  assert len(test) == 6 and 'disparity' not in test[0]
  import h5py
  with h5py.File(tmp_path / 'wrong.h5', 'w') as f:
    f.create_dataset('stacks_train', data=np.zeros((1, 2, 4, 4, 3), np.uint8))
  with pytest.raises(KeyError, match="no dataset 'stack_train'.*stacks_train"):
    ddff.DDFFH5(tmp_path / 'wrong.h5', 'train')
  with pytest.raises(FileNotFoundError, match='ddff-dataset-test.h5'):
    ddff.DDFFH5(tmp_path / 'missing.h5', 'test')


def test_depth_png_to_disparity_applies_the_protocol():
  depth = np.array([[0, 500, 1000], [7000, 9000, 400]], np.uint16)
  disp = ddff.depth_png_to_disparity(depth)
  bf = optics.DDFF_CAMERA.baseline_focal_px_m
  np.testing.assert_allclose(disp, [[0, bf / 0.5, bf / 1.0], [bf / 7.0, 0, 0]], rtol=1e-5)


def test_builder_h5_config(tmp_path):
  make_dummy_data.write_h5_files(tmp_path / 'manual', num_train=4, num_val=3, test_size=(40, 56))
  builder = _build('h5', tmp_path, tmp_path / 'manual')
  splits = builder.info.splits
  assert (splits['train'].num_examples, splits['validation'].num_examples, splits['test'].num_examples) == (3, 3, 6)
  source = builder.as_data_source()
  example = source['train'][0]
  assert example['stack'].shape == (10, 32, 32, 3) and example['stack'].dtype == np.uint8
  assert example['disparity'].shape == (32, 32) and example['disparity'].max() <= 0.2825
  np.testing.assert_allclose(example['focus_disparities'], optics.DDFF_CAMERA.focal_stack_disparities(10), rtol=1e-6)
  scenes = sorted({source['test'][i]['scene'] for i in range(6)})
  assert [s.decode() if isinstance(s, bytes) else s for s in scenes] == sorted(ddff.TEST_SCENES)
  assert source['test'][0]['stack'].shape == (10, 40, 56, 3) and not source['test'][0]['disparity'].any()


def test_builder_lightfield_config(tmp_path):
  manual = tmp_path / 'manual'
  make_dummy_data.write_raw_light_fields(manual, ('glassroom',), per_scene=1, size=(230, 240), grid=3)
  make_dummy_data.write_raw_light_fields(manual, ('lockeroom',), per_scene=1, size=(40, 48), grid=3, seed=1)
  builder = _build('lightfield_s5', tmp_path, manual)
  source = builder.as_data_source()
  assert len(source['train']) == 4  # rows {0, 5} × columns {0, 15}, all >= 80 % valid
  assert len(source['test']) == 1
  patch = source['train'][0]
  assert patch['stack'].shape == (5, 224, 224, 3)
  valid = patch['disparity'][patch['disparity'] > 0]
  assert valid.min() >= 0.0202 and valid.max() <= 0.2825
  assert source['test'][0]['stack'].shape == (5, 40, 48, 3)
  # The stack is the library's refocus of the raw light field (rounded to uint8).
  lf = np.load(manual / 'lockeroom' / 'LF_0001.npy')
  expected = np.asarray(optics.to_uint8(optics.refocus(lf, optics.DDFF_CAMERA.focal_stack_disparities(5)), 'round'))
  np.testing.assert_array_equal(source['test'][0]['stack'], expected)


def test_tfds_load_when_tensorflow_is_installed(tmp_path):
  pytest.importorskip('tensorflow', reason='tensorflow not installed (optional extra "tf")')
  import tensorflow_datasets as tfds
  import ddff_jax  # noqa: F401
  ds = tfds.load('ddff12scene/synthetic', split='test', data_dir=str(tmp_path / 'tfds'))
  assert sum(1 for _ in ds) == 16


def test_synthetic_disparity_agrees_with_the_refocus():
  config = synthetic.SceneConfig(48, 48)
  errors, spread = [], []
  for i in range(3):
    stack, disp, focus = synthetic.sample_light_field_stack(jax.random.PRNGKey(i), config)
    est = np.asarray(optics.depth_from_focus(stack, focus, window=5))
    errors.append(np.median(np.abs(est - np.asarray(disp))))
    spread.append(np.median(np.abs(np.asarray(disp) - np.median(disp))))
    assert disp.shape == (48, 48) and stack.shape == (10, 48, 48, 3)
    assert 0.0202 <= float(disp.min()) and float(disp.max()) <= 0.2825
  # The sharpest slice tracks the rendered disparity far better than a constant guess.
  assert np.mean(errors) < 0.6 * np.mean(spread)


def test_synthetic_is_seeded_and_thin_lens_stacks_have_metric_depth():
  config = synthetic.SceneConfig(32, 32)
  a = synthetic.sample_light_field_stack(jax.random.PRNGKey(5), config, 5)
  b = synthetic.sample_light_field_stack(jax.random.PRNGKey(5), config, 5)
  np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
  stack, depth, aif = synthetic.sample_thin_lens_stack(jax.random.PRNGKey(1), config)
  assert stack.shape == (5, 32, 32, 3) and 0.1 <= float(depth.min()) and float(depth.max()) <= 3.0


def test_pipeline_is_a_pure_function_of_the_step():
  n, batch = 10, 4
  seen = np.concatenate([pipeline.batch_indices(n, batch, s, seed=3) for s in range(5)])
  assert sorted(seen[:10]) == list(range(10))  # the first epoch visits every example once
  np.testing.assert_array_equal(pipeline.batch_indices(n, batch, 3, seed=3), seen[12:16])
  source = pipeline.ArraySource(stack=np.random.rand(n, 2, 8, 8, 3), disparity=np.random.rand(n, 8, 8))
  augment = pipeline.Augment(crop=(6, 5), flip=True)
  one = pipeline.host_batch(source, 7, batch, 3, augment)
  two = pipeline.host_batch(source, 7, batch, 3, augment)
  np.testing.assert_array_equal(one['stack'], two['stack'])
  assert one['stack'].shape == (4, 2, 6, 5, 3) and one['disparity'].shape == (4, 6, 5)
  halves = [pipeline.host_batch(source, 7, batch, 3, augment, process_index=p, process_count=2) for p in (0, 1)]
  np.testing.assert_array_equal(np.concatenate([h['stack'] for h in halves]), one['stack'])


def test_concat_source_repeats_each_part_and_crops_even_out_their_sizes():
  small = pipeline.ArraySource(stack=np.zeros((3, 1, 8, 8, 3)), disparity=np.arange(3.0)[:, None, None] * np.ones((8, 8)))
  large = pipeline.ArraySource(stack=np.ones((2, 1, 12, 12, 3)), disparity=10 + np.arange(2.0)[:, None, None]
                               * np.ones((12, 12)))
  mixed = pipeline.ConcatSource((small, 1), (large, 3), (pipeline.ArraySource(x=np.zeros((0, 1))), 2))
  assert len(mixed) == 3 + 2 * 3
  assert [float(mixed[i]['disparity'][0, 0]) for i in range(len(mixed))] == [0, 1, 2, 10, 11, 10, 11, 10, 11]
  with pytest.raises(IndexError):
    mixed[9]
  batch = pipeline.host_batch(mixed, 0, 9, 0, pipeline.Augment(crop=(8, 8)))
  assert batch['stack'].shape == (9, 1, 8, 8, 3)
  assert sorted(batch['disparity'][:, 0, 0].tolist()) == [0, 1, 2, 10, 10, 10, 11, 11, 11]  # one epoch: all of it


def test_augmentation_keeps_stack_and_disparity_aligned():
  rng = np.random.default_rng(0)
  disp = rng.random((8, 9))
  stack = np.repeat(np.repeat(disp[None, :, :, None], 3, -1), 2, 0)  # (2, 8, 9, 3): every slice/channel = the map
  for seed in range(6):
    out = pipeline.Augment(crop=(5, 7))({'stack': stack, 'disparity': disp}, np.random.default_rng(seed))
    for s in range(2):
      np.testing.assert_array_equal(out['stack'][s, ..., 1], out['disparity'])


def test_grain_loader_yields_the_same_batches_and_resumes():
  source = pipeline.ArraySource(stack=np.random.rand(10, 2, 8, 8, 3), disparity=np.random.rand(10, 8, 8))
  augment = pipeline.Augment(crop=(6, 6))
  it = iter(pipeline.grain_batches(source, 4, 3, augment, start_step=2, num_steps=8))
  for step in (2, 3, 4):
    np.testing.assert_array_equal(next(it)['stack'], pipeline.host_batch(source, step, 4, 3, augment)['stack'])
  state = it.get_state()
  expected = next(it)['disparity']
  again = iter(pipeline.grain_batches(source, 4, 3, augment, start_step=2, num_steps=8))
  again.set_state(state)
  np.testing.assert_array_equal(next(again)['disparity'], expected)


def test_synthetic_planes_stay_inside_their_nearness_band():
  """Slanted planes are limited so that nearness stays in [0, 1] everywhere (it once reached -0.035, which
  maps to depths beyond the far limit or negative)."""
  config = synthetic.SceneConfig(height=48, width=48, num_objects=3)
  for i in range(60):
    _, t = synthetic.render_centre(synthetic.sample_scene(jax.random.PRNGKey(i), config), config)
    assert -1e-6 <= float(t.min()) and float(t.max()) <= 1 + 1e-6, i


def test_camera_and_focus_distances_from_the_command_line():
  from ddff_jax import errors
  from ddff_jax.data import inputs
  camera = inputs.parse_camera('focal_length_mm=2.9,f_number=1.0,pixel_pitch_um=5.6')
  assert (camera.focal_length_m, camera.f_number, camera.pixel_pitch_m) == pytest.approx((2.9e-3, 1.0, 5.6e-6))
  np.testing.assert_allclose(inputs.parse_focus_distances('0.1, 0.3,1.5'), [0.1, 0.3, 1.5], rtol=1e-6)
  with pytest.raises(errors.UserError, match='lacks pixel_pitch_um'):
    inputs.parse_camera('focal_length_mm=2.9,f_number=1.0')
  with pytest.raises(errors.UserError, match="'aperture=2' is not one of them"):
    inputs.parse_camera('focal_length_mm=2.9,aperture=2')
  with pytest.raises(errors.UserError, match='positive metres'):
    inputs.parse_focus_distances('0.1,-0.3')
