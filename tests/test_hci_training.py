"""The `hci_mix` training data (natural-texture light fields + real HCI scenes) and the leave-one-out protocol."""
import json
import os

import numpy as np
import pytest

from ddff_jax import errors
from ddff_jax import optics
from ddff_jax.configs import hci as hci_config
from ddff_jax.data import sources
from conftest import HCI_ROOT, hci_scene_path
from test_train import ENV, _run

HERE = os.path.dirname(__file__)


def tiny_config(tmp_path):
  config = hci_config.get_config()
  config.data.hci_root = str(HCI_ROOT)
  config.data.rgbd_root = ''  # scikit-image's photographs suffice here
  config.data.num_textures = 4
  config.data.num_synthetic = 3
  config.data.render_size = 32
  config.data.num_layers = 3
  config.data.real_repeats = 2
  config.data.crop = (32, 32)
  config.data.cache_dir = str(tmp_path / 'cache')
  return config


def test_spec_is_signed_disparity_at_the_supplement_stacks():
  spec = sources.data_spec(hci_config.get_config().data)
  assert spec.target == 'disparity' and spec.valid_range is None
  np.testing.assert_allclose(spec.focus, np.linspace(-2.5, 2.5, 10), atol=1e-6)


@pytest.mark.slow  # refocuses two real 512×512 scenes and renders the synthetic part (~25 s)
def test_held_out_scene_validates_and_never_trains(tmp_path, backgammon, antinous):
  hci_scene_path('additional/antinous')
  config = tiny_config(tmp_path)
  config.data.held_out = 'stratified/backgammon'
  train = sources.build_split(config.data, 0, 'train')
  val = sources.build_split(config.data, 0, 'validation')
  focus = np.linspace(-2.5, 2.5, 10)
  assert len(val) == 1
  np.testing.assert_array_equal(val[0]['disparity'], backgammon.disparity)
  np.testing.assert_allclose(val[0]['stack'], np.clip(optics.refocus(backgammon.light_field, focus), 0, 1),
                             atol=1e-6)
  assert len(train) == 3 + 2  # the synthetic scenes, then antinous twice (random crops differ)
  for i in (3, 4):
    np.testing.assert_array_equal(train[i]['disparity'], antinous.disparity)
  for i in range(3):
    example = train[i]
    assert example['stack'].shape == (10, 32, 32, 3) and example['stack'].dtype == np.float32
    assert -3.5 <= example['disparity'].min() and example['disparity'].max() <= 3.0
  # The synthetic part is cached: a second build reads it back instead of rendering.
  assert len(os.listdir(tmp_path / 'cache')) == 1
  again = sources.build_split(config.data, 0, 'train')
  np.testing.assert_array_equal(again[0]['stack'], train[0]['stack'])
  config.data.held_out = 'stratified/sideboard'
  with pytest.raises(errors.UserError, match='not among data.scenes'):
    sources.build_split(config.data, 0, 'train')


@pytest.mark.slow
def test_leave_one_out_trains_each_fold_without_its_scene_and_tabulates(tmp_path):
  hci_scene_path('stratified/backgammon')
  hci_scene_path('additional/antinous')
  config = tiny_config(tmp_path)
  overrides = [f'--config.data.{k}={v}' for k, v in (
      ('hci_root', config.data.hci_root), ('rgbd_root', ''), ('num_textures', 4), ('num_synthetic', 3),
      ('render_size', 32), ('num_layers', 3), ('real_repeats', 2), ('crop', '(32,32)'),
      ('cache_dir', config.data.cache_dir))]
  overrides += ['--config.train.num_steps=2', '--config.train.batch_size=2', '--config.eval_every=2',
                '--config.checkpoint_every=2', '--config.log_every=1']
  out = tmp_path / 'report'
  result = _run(['-m', 'ddff_jax.leave_one_out', f'--root={tmp_path / "loo"}', f'--output_dir={out}',
                 '--noprogress'] + overrides, ENV, cwd=os.path.dirname(HERE))
  assert result.returncode == 0, result.stderr[-3000:]
  results = json.loads((out / 'results.json').read_text())
  assert set(results) == {'backgammon', 'antinous'}
  for scene, held_out in (('backgammon', 'stratified/backgammon'), ('antinous', 'additional/antinous')):
    saved = json.loads((tmp_path / 'loo' / f'holdout_{scene}' / 'config.json').read_text())
    assert saved['data']['held_out'] == held_out
    for method in ('ddffnet', 'classical'):
      assert (out / f'{scene}_{method}.png').is_file()
      assert set(results[scene][method]) == {'mse', 'rms', 'badpix', 'bumpiness', 'slope', 'bands'}
  # The classical DFF figures are the documented ones (docs/real_light_fields.md).
  assert results['backgammon']['classical']['mse'] == pytest.approx(0.5491, abs=1e-3)
  table = (out / 'table.md').read_text()
  main, bands = table.split('By ground-truth disparity band')
  assert main.count('| backgammon |') == 2 and main.count('| antinous |') == 2 and 'AiFDepthNet' in main
  # backgammon's ground truth (−1.55 … 0.53 px) falls in four of the 1 px bands; antinous's reaches beyond the stack
  assert [b['band'] for b in results['backgammon']['classical']['bands']] == [
      [-2.5, -1.5], [-1.5, -0.5], [-0.5, 0.5], [0.5, 1.5]]
  assert results['antinous']['classical']['bands'][0]['band'] == [None, -2.5]
  for scene in results:
    assert sum(b['share'] for b in results[scene]['ddffnet']['bands']) == pytest.approx(1.0)
    assert bands.count(f'| {scene} | classical DFF |') == len(results[scene]['classical']['bands'])


def test_the_table_names_the_variant_the_folds_train():
  from ddff_jax import leave_one_out
  config = hci_config.get_config()
  assert leave_one_out.model_label(config) == ('DDFFNet-CC3, local soft-argmax scorer (mode ± 2), end hypotheses, '
                                              'local mass 0.8')
  config.model.update(scorer='softargmax', end_hypotheses=False, local_mass=0.0)
  assert leave_one_out.model_label(config) == 'DDFFNet-CC3, soft-argmax scorer'
  config = hci_config.get_config('cc1-unpool')
  config.model.scorer = 'linear'
  assert leave_one_out.model_label(config) == 'DDFFNet-CC1-unpool'
