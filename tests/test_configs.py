"""Every shipped config builds its model and data, and the paper config trains from the ddff12scene builder."""
import numpy as np

from ddff_jax.configs import ddffnet_cc3, default
from ddff_jax.data import sources
from ddff_jax.ddff12scene import make_dummy_data


def test_paper_config_has_the_papers_hyper_parameters():
  c = ddffnet_cc3.get_config()
  assert (c.train.optimizer, c.train.learning_rate, c.train.momentum, c.train.batch_size) == ('sgd', 1e-3, 0.9, 2)
  assert (c.train.weight_decay, c.train.lr_decay, c.train.lr_decay_epochs, c.train.grad_clip) == (5e-4, 0.9, 4, 5.0)
  assert c.model.skips == ('cc3',) and c.model.upsample == 'upconv' and c.model.normalization == 'raw255'


def test_ddff12scene_source_reads_the_h5_builder(tmp_path):
  make_dummy_data.write_h5_files(tmp_path / 'manual', num_train=3, num_val=2)
  c = ddffnet_cc3.get_config()
  c.data.update(data_dir=str(tmp_path / 'tfds'), manual_dir=str(tmp_path / 'manual'))
  train, val, info = sources.build_sources(c.data, 0)
  assert len(train) == 2 and len(val) == 2  # the zero padding sample is skipped
  example = train[0]
  assert example['stack'].shape == (10, 32, 32, 3) and example['stack'].dtype == np.float32
  assert 0 <= example['stack'].min() and example['stack'].max() <= 1
  assert val[0:2]['disparity'].shape == (2, 32, 32) and info['focus_disparities'].shape == (10,)


def test_default_config_is_small():
  c = default.get_config()
  assert c.data.source == 'synthetic_lf' and c.model.width < 1
