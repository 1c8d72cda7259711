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
  forward = nnx.jit(lambda m, x: m(x, spec.focus_array))  # the config's soft-argmax scorer reads the focus values
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


def test_everything_shipped_fits_in_25_mb():
  sizes = {f: os.path.getsize(os.path.join(shipped.WEIGHTS_DIR, f)) for f in os.listdir(shipped.WEIGHTS_DIR)}
  assert {f'{name}.npz' for name in shipped.METHODS.values()} <= set(sizes)
  assert sum(sizes.values()) < 25e6, sizes


def _rgbd_render(setting: str, scene: str):
  from ddff_jax.configs import rgbd_render
  from ddff_jax.data import sources
  from conftest import SHARED_DATA
  if not (SHARED_DATA / 'rgbd' / scene / 'image.png').is_file():
    pytest.skip(f'RGB-D scene {scene} not found under {SHARED_DATA / "rgbd"} (set DDFF_SHARED_DATA)')
  data = rgbd_render.get_config(setting).data
  data.update(rgbd_root=str(SHARED_DATA / 'rgbd'), scenes=(scene,))
  stacks, depths = sources.rgbd_render_arrays(data)
  return stacks[0], depths[0], data


def test_the_shipped_ddfs_reproduces_its_recorded_figures_on_a_real_scene_with_an_unseen_camera():
  """The shipped DDFS on teddy rendered with the phone camera at unseen focus distances, told those settings: the
  recorded MAE and scale-invariant error, restated here in NumPy."""
  from ddff_jax import methods
  from ddff_jax.data import inputs
  model = shipped.load(shipped.METHODS['pretrained_ddfs'])
  assert model.spec.target == 'depth' and model.meta['model']['name'] == 'ddfs'
  recorded = model.meta['recorded']['phone:unseen/teddy']
  stack, gt, data = _rgbd_render('phone:unseen', 'teddy')
  camera = inputs.parse_camera(','.join(f'{k}={v}' for k, v in data.camera.items()))
  depth = methods.from_name('pretrained_ddfs')(stack, np.asarray(data.focus_distances_m, np.float32), camera)
  known = gt > 0
  assert depth.shape == gt.shape
  assert np.mean(np.abs(depth - gt)[known]) == pytest.approx(recorded['mae'], rel=1e-3)
  log_ratio = np.log(depth[known]) - np.log(gt[known])
  assert np.sqrt(np.mean(log_ratio ** 2) - np.mean(log_ratio) ** 2) == pytest.approx(recorded['scale_invariant'],
                                                                                       rel=1e-3)


def test_predict_pretrained_ddfs_on_a_folder_of_slices_with_camera_metadata(tmp_path):
  """The issue's command line: a folder of 8-bit slices (nearest focus first), their focus distances and the
  camera; depth in metres at the slices' size, close to the figures recorded on the float stack."""
  from ddff_jax.data import formats
  from conftest import run_command
  stack, gt, data = _rgbd_render('phone:unseen', 'teddy')
  folder = tmp_path / 'slices'
  folder.mkdir()
  for i, image in enumerate(stack):
    formats.write_png(folder / f'slice_{i:02d}.png', np.round(image * 255).astype(np.uint8))
  camera = ','.join(f'{k}={v}' for k, v in data.camera.items())
  focus = ','.join(f'{f:g}' for f in data.focus_distances_m)
  result = run_command(['python3', '-m', 'ddff_jax.predict', '--method=pretrained_ddfs', f'--input={folder}',
                        f'--focus_distances_m={focus}', f'--camera={camera}', f'--output_dir={tmp_path / "out"}'])
  assert result.returncode == 0, result.stderr[-2000:]
  depth = np.load(tmp_path / 'out' / 'depth.npy')
  assert depth.shape == gt.shape and (tmp_path / 'out' / 'depth.png').is_file()
  recorded = shipped.load(shipped.METHODS['pretrained_ddfs']).meta['recorded']['phone:unseen/teddy']
  assert np.mean(np.abs(depth - gt)[gt > 0]) == pytest.approx(recorded['mae'], rel=0.05)
  bad = run_command(['python3', '-m', 'ddff_jax.predict', '--method=pretrained_ddfs', f'--input={folder}',
                     '--focus_distances_m=0.15,0.7', f'--camera={camera}', f'--output_dir={tmp_path / "x"}'])
  assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith('error: the stack has 3 slices')
