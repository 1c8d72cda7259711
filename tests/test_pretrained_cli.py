"""Pretrained weights through the entry points: `train.init_weights` starts a run from a file, and
`predict --method=weights` runs a whole-DDFFNet file (the layout of the released TF export)."""

import numpy as np
import pytest
from flax import nnx

from ddff_jax import checkpoints
from ddff_jax.configs import ddffnet as ddffnet_config
from ddff_jax.configs import default
from ddff_jax.models import pretrained
from ddff_jax.models.registry import build_model
from test_train import _run


def _write_tf_export(model, path, seed):
  """The model's variables under the export's key names, perturbed so that nothing equals a fresh initialisation;
  transposed-conv filters stored the TF way ((h, w, out, in), spatially flipped). -> the arrays as the model holds them."""
  rng = np.random.default_rng(seed)
  arrays = {}
  for key, variable in pretrained.export_keys(model).items():
    value = np.asarray(variable.value) + rng.standard_normal(variable.value.shape).astype(np.float32) * 0.01
    arrays[key] = np.abs(value) + 0.5 if 'moving_variance' in key else value
  np.savez(path, **{k: np.transpose(v, (0, 1, 3, 2))[::-1, ::-1] if 'up_filter' in k else v for k, v in arrays.items()})
  return arrays


@pytest.mark.slow  # compiles the replicated training state (~35 s on 2 cores)
def test_init_weights_replace_the_initial_state_and_bad_files_are_named(tmp_path):
  """What train does on a fresh run with `train.init_weights`: the replicated state built in one compiled call, then
  every weight (BatchNorm statistics included) taken from the file."""
  import jax
  import optax
  from jax.sharding import NamedSharding, PartitionSpec as P
  from ddff_jax import train
  config = default.get_config()
  config.model.width = 0.0625

  def create():
    model = build_model(config.model, config.seed)
    return {'model': model, 'optimizer': nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)}

  replicated = NamedSharding(train.make_mesh(), P())
  graphdef, _ = nnx.split(nnx.eval_shape(create))
  state = jax.jit(lambda: nnx.state(create()), out_shardings=replicated)()
  # The export differs from `state`: every value perturbed.
  arrays = _write_tf_export(nnx.merge(graphdef, state)['model'], tmp_path / 'export.npz', seed=0)
  config.train.init_weights = str(tmp_path / 'export.npz')
  model = nnx.merge(graphdef, train.load_initial_weights(graphdef, state, config, replicated))['model']
  for key, variable in pretrained.export_keys(model).items():
    np.testing.assert_array_equal(np.asarray(variable.value), arrays[key], err_msg=key)
    assert variable.value.sharding == replicated, key
  np.savez(tmp_path / 'unknown.npz', something=np.zeros(3))
  for name, message in (('unknown.npz', 'train.init_weights: cannot tell what these weights are'),
                        ('missing.npz', 'train.init_weights: weights file not found')):
    config.train.init_weights = str(tmp_path / name)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
      train.load_initial_weights(graphdef, state, config, replicated)


@pytest.mark.slow
def test_a_fresh_run_starts_from_init_weights_and_a_bad_file_is_one_line(tmp_path):
  config = default.get_config()
  config.model.width = 0.0625
  source = build_model(config.model, seed=5)
  arrays = _write_tf_export(source, tmp_path / 'export.npz', seed=0)
  workdir = tmp_path / 'run'
  common = ['-m', 'ddff_jax.train', f'--workdir={workdir}', '--noprogress', '--config.model.width=0.0625',
            '--config.data.height=32', '--config.data.width=32', '--config.data.num_train=4', '--config.data.num_val=2',
            '--config.train.num_steps=1', '--config.train.batch_size=2', '--config.train.learning_rate=0']
  result = _run(common + [f'--config.train.init_weights={tmp_path / "export.npz"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'initialised' in result.stdout
  restored = checkpoints.load(str(workdir), 'latest')
  model, step = restored.model, restored.step
  assert step == 1
  # With a zero learning rate the weights after one step are the file's (BatchNorm statistics move in training mode).
  for key, variable in pretrained.export_keys(model).items():
    if 'moving_' not in key:
      np.testing.assert_array_equal(np.asarray(variable.value), arrays[key], err_msg=key)
  np.savez(tmp_path / 'unknown.npz', something=np.zeros(3))
  result = _run(common + [f'--workdir={tmp_path / "run2"}', f'--config.train.init_weights={tmp_path / "unknown.npz"}'])
  assert result.returncode != 0 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  assert 'cannot tell what these weights are' in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_predict_runs_a_whole_ddffnet_weights_file(tmp_path):
  """A full-size DDFFNet-CC3 written in the export layout, read back by `predict --method=weights`: the same
  disparity as the source model (raw 0–255 input, as the paper config and the released model)."""
  config = ddffnet_config.get_config()
  source = build_model(config.model, seed=3)
  _write_tf_export(source, tmp_path / 'cc3.npz', seed=1)
  pretrained.load_ddffnet_tf_export(source, pretrained.read_arrays(tmp_path / 'cc3.npz'))
  source.eval()
  stack = np.random.default_rng(2).random((10, 32, 32, 3)).astype(np.float32)
  np.save(tmp_path / 'stack.npy', stack)
  result = _run(['-m', 'ddff_jax.predict', '--method=weights', f'--weights={tmp_path / "cc3.npz"}',
                 f'--input={tmp_path / "stack.npy"}', f'--output_dir={tmp_path / "out"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  expected = np.asarray(source(stack[None]))[0]
  np.testing.assert_allclose(np.load(tmp_path / 'out' / 'disparity.npy'), expected, rtol=1e-4, atol=1e-5)
  # A VGG-16 file holds no decoder: refused in one line.
  np.savez(tmp_path / 'vgg.npz', **{'features.0.weight': np.zeros((64, 3, 3, 3), np.float32)})
  result = _run(['-m', 'ddff_jax.predict', '--method=weights', f'--weights={tmp_path / "vgg.npz"}',
                 f'--input={tmp_path / "stack.npy"}', f'--output_dir={tmp_path / "out2"}'])
  assert result.returncode == 2 and 'encoder weights only' in result.stderr.strip().splitlines()[-1]
