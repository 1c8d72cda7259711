"""Every shipped config builds its model and data, and the paper config trains from the ddff12scene builder."""
import numpy as np

import pytest

from ddff_jax.configs import ddffnet, default
from ddff_jax.data import sources
from ddff_jax.ddff12scene import make_dummy_data


def test_paper_config_has_the_papers_hyper_parameters():
  c = ddffnet.get_config()
  assert (c.train.optimizer, c.train.learning_rate, c.train.momentum, c.train.batch_size) == ('sgd', 1e-3, 0.9, 2)
  assert (c.train.weight_decay, c.train.lr_decay, c.train.lr_decay_epochs, c.train.grad_clip) == (5e-4, 0.9, 4, 5.0)
  assert c.model.skips == ('cc3',) and c.model.upsample == 'upconv' and c.model.normalization == 'raw255'


@pytest.mark.parametrize('variant, skips, upsample', [
    ('cc1-unpool', ('cc1',), 'unpool'), ('CC2-bilinear', ('cc2',), 'bilinear'), ('none-upconv', (), 'upconv')])
def test_every_variant_of_the_papers_ablation_has_a_config_that_builds(variant, skips, upsample):
  from ddff_jax.models.registry import build_model
  c = ddffnet.get_config(variant)
  assert tuple(c.model.skips) == skips and c.model.upsample == upsample
  assert c.train.learning_rate == 1e-3 and c.data.source == 'ddff12scene'
  c.model.width = 0.0625
  from flax import nnx
  model = nnx.eval_shape(lambda: build_model(c.model))  # shapes only: the config builds this variant
  assert model.skips == skips and model.upsample == upsample


def test_an_unknown_variant_is_a_clear_error():
  with pytest.raises(ValueError, match="expected '<skip>-<upsampling>'"):
    ddffnet.get_config('cc4-upconv')


def test_ddff12scene_source_reads_the_h5_builder(tmp_path):
  make_dummy_data.write_h5_files(tmp_path / 'manual', num_train=3, num_val=2)
  c = ddffnet.get_config()
  c.data.update(data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path / 'manual'))
  train, val = (sources.build_split(c.data, 0, split) for split in ('train', 'validation'))
  assert len(train) == 2 and len(val) == 2  # the zero padding sample is skipped
  example = train[0]
  assert example['stack'].shape == (10, 32, 32, 3) and example['stack'].dtype == np.float32
  assert 0 <= example['stack'].min() and example['stack'].max() <= 1
  assert val[0:2]['disparity'].shape == (2, 32, 32) and sources.data_spec(c.data).num_slices == 10


def test_default_config_is_small():
  c = default.get_config()
  assert c.data.source == 'synthetic_lf' and c.model.width < 1


def test_synthetic_light_fields_follow_the_configured_scene_depth_range():
  """`near_m`/`far_m` move the scenes (and the stack's focus) closer: disparity B·f/Z with B·f = 0.1412376 m·px, so
  0.125-1.75 m gives 4× DDFF 12-Scene's disparities; the stacks carry the matching defocus (the sharpest slice
  tracks the ground truth to a fraction of the focus spacing), and the metrics clip to that range."""
  import ml_collections
  from ddff_jax import optics, tasks
  c = default.get_config()
  c.data.update(num_train=2, num_val=3, near_m=0.125, far_m=1.75)
  val, spec = sources.build_split(c.data, 0, 'validation'), sources.data_spec(c.data)
  lo, hi = 0.1412376 / 1.75, 0.1412376 / 0.125
  np.testing.assert_allclose(spec.valid_range, (lo, hi), rtol=1e-5)
  np.testing.assert_allclose(spec.focus, np.linspace(hi, lo, 10), rtol=1e-5)
  disp = val[0:3]['disparity']
  assert lo - 1e-6 <= disp.min() and disp.max() <= hi + 1e-6 and disp.max() > 0.2825  # beyond DDFF's range
  errors = [np.median(np.abs(np.asarray(optics.depth_from_focus(val[i]['stack'], spec.focus_array,
                                                                 window=5)) - disp[i])) for i in range(3)]
  assert np.mean(errors) < 0.4 * (hi - lo) / 9  # within a fraction of the focus spacing
  task = tasks.build_task(spec)
  # Hand case: both pixels lie beyond DDFF's 0.2825 px yet inside this camera's range, so both count.
  m = task.image_metrics(np.array([[0.6, 1.0]]), np.array([[0.5, 1.0]]))
  np.testing.assert_allclose([m['mse'], m['badpix']], [0.005, 50.0], rtol=1e-5)
  c.data = ml_collections.ConfigDict(dict(source='synthetic_lf', height=32, width=32, num_slices=10, num_objects=2,
                                          num_train=1, num_val=1))
  assert sources.data_spec(c.data).valid_range == optics.DDFF_CAMERA.disparity_range


def test_hci_config_selects_the_papers_variants():
  from ddff_jax.configs import hci
  assert tuple(hci.get_config().model.skips) == ('cc3',) and hci.get_config().model.upsample == 'upconv'
  c = hci.get_config('cc1-bilinear')
  assert tuple(c.model.skips) == ('cc1',) and c.model.upsample == 'bilinear'
  assert c.data.source == 'hci_mix' and c.data.num_slices == c.model.num_slices == 10


def test_learning_rate_schedules():
  from ddff_jax import errors, train
  from ddff_jax.configs import hci
  c = hci.get_config().train
  _, schedule = train.make_optimizer(c, steps_per_epoch=300)
  assert float(schedule(0)) == pytest.approx(c.learning_rate)
  assert float(schedule(c.num_steps // 2)) == pytest.approx(c.learning_rate / 2, rel=1e-4)  # (1 + cos π/2) / 2
  assert float(schedule(c.num_steps)) == pytest.approx(0.0, abs=1e-9)
  c.schedule = 'staircase'  # × lr_decay every lr_decay_epochs epochs
  _, schedule = train.make_optimizer(c, steps_per_epoch=300)
  assert float(schedule(4 * 300 - 1)) == pytest.approx(c.learning_rate)
  assert float(schedule(4 * 300)) == pytest.approx(c.learning_rate * c.lr_decay)
  c.schedule = 'linear'
  with pytest.raises(errors.UserError, match="'staircase' or 'cosine'"):
    train.make_optimizer(c, steps_per_epoch=300)
