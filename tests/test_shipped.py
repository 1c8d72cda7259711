"""Models shipped inside the package: the file format, and `predict --method=pretrained` reproducing the figures
recorded in the shipped file on a real HCI scene, with no training and no flags beyond input and output."""
import json
import os

import ml_collections
import numpy as np
import pytest

from ddff_jax import errors
from ddff_jax import metrics
from ddff_jax import shipped
from ddff_jax.configs import hci as hci_config
from ddff_jax.data.spec import FocalStackSpec
from ddff_jax.models.registry import build_model
from conftest import hci_scene_path


def test_a_written_model_reads_back_with_its_spec_and_predicts_the_same(tmp_path):
  config = ml_collections.ConfigDict({'seed': 3, 'model': hci_config.get_config().model.to_dict()})
  config.model.width = 0.0625
  from flax import nnx
  model = nnx.jit(lambda: build_model(config.model, 3))()  # one compiled initialisation, not one per initialiser
  model.eval()
  spec = FocalStackSpec('disparity', np.linspace(-2.5, 2.5, 10), None)
  path = str(tmp_path / 'm.npz')
  shipped.write(path, model, config, spec, {'workdir': 'x'}, {'scene': {'mse': 1.0}})
  loaded = shipped.load_file(path)
  assert loaded.spec == spec and loaded.meta['recorded'] == {'scene': {'mse': 1.0}}
  stack = np.random.default_rng(0).uniform(0, 1, (1, 10, 32, 32, 3)).astype(np.float32)
  forward = nnx.jit(lambda m, x: m(x))
  np.testing.assert_allclose(np.asarray(forward(loaded.model, stack)), np.asarray(forward(model, stack)), atol=1e-6)
  np.savez(tmp_path / 'plain.npz', a=np.zeros(2))
  with pytest.raises(errors.MissingKey, match='not a shipped ddff_jax model'):
    shipped.load_file(str(tmp_path / 'plain.npz'))
  with pytest.raises(errors.InputNotFound, match="no shipped model 'nonexistent'"):
    shipped.load('nonexistent')


def test_the_shipped_file_is_small_and_describes_itself():
  path = shipped.path_of(shipped.METHODS['pretrained'])
  assert os.path.getsize(path) < 25e6
  meta = shipped.load_file(path).meta
  assert meta['spec']['target'] == 'disparity' and meta['spec']['valid_range'] is None
  np.testing.assert_allclose(meta['spec']['focus'], np.linspace(-2.5, 2.5, 10), atol=1e-6)
  assert {'backgammon', 'antinous'} <= set(meta['recorded'])


def test_predict_pretrained_on_an_hci_folder_reproduces_the_recorded_figures(readme_folder):
  """The README's line `predict --method=pretrained --input=<backgammon> --output_dir=pred_shipped`, run verbatim by
  the readme_folder fixture."""
  folder = hci_scene_path('stratified/backgammon')
  out = readme_folder / 'pred_shipped'
  disparity = np.load(out / 'disparity.npy')
  assert disparity.shape == (512, 512) and (out / 'disparity.png').is_file()
  from ddff_jax.data import formats
  gt = formats.read_pfm(folder / 'gt_disp_lowres.pfm')
  recorded = shipped.load(shipped.METHODS['pretrained']).meta['recorded']['backgammon']
  # Independent of the library's metrics: the plain statements of MSE and BadPix(0.07).
  assert np.mean((disparity - gt) ** 2) == pytest.approx(recorded['mse'], rel=1e-3)
  assert 100 * np.mean(np.abs(disparity - gt) > 0.07) == pytest.approx(recorded['badpix'], abs=0.05)
  assert float(metrics.ddff_image_metrics(disparity, gt, valid_range=None)['bumpiness']) == pytest.approx(
      recorded['bumpiness'], rel=1e-3)
