"""Training: data parallelism, resume, checkpoint robustness, and the entry points end to end (subprocesses)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ddff_jax import checkpoints
from train_tiny import tiny_config

HERE = os.path.dirname(__file__)
ENV = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''))


def _run(args, env=None, timeout=900):
  return subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=timeout, env=env or ENV)


def _train_tiny(workdir, out, steps=4, devices=1):
  env = dict(ENV, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
  result = _run([os.path.join(HERE, 'train_tiny.py'), str(workdir), str(out), str(steps)], env)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(np.load(out))


def _assert_same_params(a, b, atol):
  keys = [k for k in a if k not in ('step', 'devices')]
  assert keys and set(keys) == {k for k in b if k not in ('step', 'devices')}
  for k in keys:
    np.testing.assert_allclose(a[k], b[k], atol=atol, rtol=0, err_msg=k)


def test_four_devices_train_like_one_device_with_the_same_global_batch():
  """train.py's step on a 4-device mesh vs one device, same global batches. The 1-device run with each batch
  permuted measures the float noise floor: summation order alone moves this 30-layer BatchNorm/ReLU network's
  gradients by ~0.3 %. Per-device BatchNorm statistics or unreduced gradients would differ far beyond it."""
  env = dict(ENV, XLA_FLAGS='--xla_force_host_platform_device_count=4')
  result = _run([os.path.join(HERE, 'parallel_parity.py')], env)
  assert result.returncode == 0, result.stderr[-3000:]
  loss_single, loss_mesh, mesh_diff, noise_floor, update = map(float, result.stdout.split()[-5:])
  assert loss_mesh == pytest.approx(loss_single, rel=1e-5)  # same forward pass: BatchNorm over the global batch
  assert 0 < update and mesh_diff < 3 * noise_floor + 1e-7


def test_training_on_four_devices_runs_end_to_end(tmp_path):
  four = _train_tiny(tmp_path / 'four', tmp_path / 'four.npz', devices=4)
  assert int(four['devices']) == 4 and int(four['step']) == 4


def test_killed_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
  steps = 10
  reference = _train_tiny(tmp_path / 'ref', tmp_path / 'ref.npz', steps=steps)
  workdir = tmp_path / 'killed'
  proc = subprocess.Popen([sys.executable, os.path.join(HERE, 'train_tiny.py'), str(workdir),
                           str(tmp_path / 'unused.npz'), str(steps)], env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  while not (workdir / 'checkpoints' / '4').exists() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert (workdir / 'checkpoints' / '4').exists()
  resumed = _train_tiny(workdir, tmp_path / 'resumed.npz', steps=steps)
  assert int(resumed['step']) == steps
  _assert_same_params(reference, resumed, atol=1e-6)
  steps_logged = [r['step'] for r in map(eval_json, open(workdir / 'metrics.jsonl')) if 'train_loss' in r]
  assert steps_logged == sorted(set(steps_logged)) and steps_logged[-1] == steps  # no duplicates after resume


def eval_json(line):
  import json
  return json.loads(line)


def test_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path):
  _train_tiny(tmp_path / 'w', tmp_path / 'w.npz', steps=4)
  latest, _ = checkpoints.managers(str(tmp_path / 'w'), keep=5)
  assert latest.all_steps() == [2, 4]
  for root, _, files in os.walk(tmp_path / 'w' / 'checkpoints' / '4' / 'model'):
    for f in files:
      with open(os.path.join(root, f), 'wb') as handle:
        handle.write(b'garbage')  # a damaged (not merely unfinished) checkpoint
  from ddff_jax.models.registry import build_model
  from flax import nnx
  model = build_model(tiny_config().model)
  latest, _ = checkpoints.managers(str(tmp_path / 'w'), keep=5)
  step, items = checkpoints.restore_newest_readable(latest, {'model': nnx.state(model)})
  assert step == 2 and items is not None


def test_a_workdir_of_an_incompatible_config_is_refused(tmp_path):
  config = tiny_config()
  checkpoints.prepare_workdir(str(tmp_path), config)
  config.model.width = 0.5
  with pytest.raises(ValueError, match='incompatible config.*model'):
    checkpoints.prepare_workdir(str(tmp_path), config)


@pytest.fixture(scope='module')
def trained_workdir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('cli') / 'run'
  result = _run(['-m', 'ddff_jax.train', f'--workdir={workdir}', '--noprogress', '--config.model.width=0.0625',
                 '--config.data.height=32', '--config.data.width=32', '--config.data.num_train=8',
                 '--config.data.num_val=2', '--config.train.num_steps=4', '--config.train.batch_size=2',
                 '--config.eval_every=2', '--config.checkpoint_every=2', '--config.log_every=2'])
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def test_train_cli_writes_checkpoints_metrics_and_pictures(trained_workdir):
  assert (trained_workdir / 'checkpoints' / '4').is_dir() and (trained_workdir / 'best').is_dir()
  assert (trained_workdir / 'final_metrics.json').is_file()
  assert any(p.suffix == '.png' for p in (trained_workdir / 'pictures').iterdir())
  lines = (trained_workdir / 'metrics.jsonl').read_text().splitlines()
  assert any('val_mse' in l for l in lines) and any('train_loss' in l for l in lines)


def _tensorboard_scalars(logdir):
  """{(tag, step): value} read from the TFRecord-framed event files (8-byte length, 4-byte CRC, payload, CRC)."""
  import struct
  from tensorboardX.proto import event_pb2
  out = {}
  for path in logdir.glob('events.out.tfevents.*'):
    data, i = path.read_bytes(), 0
    while i < len(data):
      n = struct.unpack('<Q', data[i:i + 8])[0]
      event = event_pb2.Event.FromString(data[i + 12:i + 12 + n])
      i += 12 + n + 4
      for value in event.summary.value:
        out[(value.tag, event.step)] = value.simple_value
  return out


def test_train_cli_logs_the_same_scalars_to_tensorboard(trained_workdir):
  pytest.importorskip('tensorboardX')
  scalars = _tensorboard_scalars(trained_workdir / 'tensorboard')
  records = [eval_json(l) for l in open(trained_workdir / 'metrics.jsonl')]
  expected = {(k, r['step']): v for r in records for k, v in r.items() if k != 'step'}
  assert expected and set(expected) <= set(scalars)
  for key, value in expected.items():
    assert scalars[key] == pytest.approx(value, rel=1e-6), key


def test_evaluate_cli(trained_workdir, tmp_path):
  result = _run(['-m', 'ddff_jax.evaluate', f'--workdir={trained_workdir}', '--dataset=synthetic',
                 f'--output_dir={tmp_path}'])
  assert result.returncode == 0, result.stderr[-3000:]
  for name in ('metrics.json', 'metrics.csv', 'badpix_curve.png', 'panel_000.png'):
    assert (tmp_path / name).is_file(), name
  import json
  report = json.loads((tmp_path / 'metrics.json').read_text())
  assert report['metrics']['num_images'] == 2 and np.isfinite(report['metrics']['mse'])
  # The classical DFF on the run's validation set, clipped to the run's disparity range (the default job's scenes
  # reach 1.13 px, beyond DDFF 12-Scene's 0.2825), scores what the training run reported for it.
  result = _run(['-m', 'ddff_jax.evaluate', '--method=classical', f'--workdir={trained_workdir}',
                 '--dataset=synthetic', f'--output_dir={tmp_path / "classical"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  classical = json.loads((tmp_path / 'classical' / 'metrics.json').read_text())['metrics']
  reported = json.loads((trained_workdir / 'final_metrics.json').read_text())['classical_dff']
  for name in ('mse', 'badpix', 'delta1'):
    assert classical[name] == pytest.approx(reported[name], rel=1e-5), name


def test_predict_cli_on_a_stack_and_on_a_real_hci_scene(trained_workdir, tmp_path):
  from conftest import hci_scene_path
  stack = np.random.default_rng(0).random((10, 40, 50, 3)).astype(np.float32)
  np.save(tmp_path / 'stack.npy', stack)
  result = _run(['-m', 'ddff_jax.predict', f'--input={tmp_path / "stack.npy"}', f'--workdir={trained_workdir}',
                 f'--output_dir={tmp_path / "pred"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  assert np.load(tmp_path / 'pred' / 'disparity.npy').shape == (40, 50)
  assert (tmp_path / 'pred' / 'disparity.png').is_file()
  scene = hci_scene_path('stratified/backgammon')
  result = _run(['-m', 'ddff_jax.predict', f'--input={scene}', '--method=classical',
                 '--disparities=linspace:-2.5,2.5,10', f'--output_dir={tmp_path / "hci"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  from ddff_jax.data import formats
  pred = np.load(tmp_path / 'hci' / 'disparity.npy')
  gt = formats.read_pfm(scene / 'gt_disp_lowres.pfm')
  assert np.median(np.abs(pred - gt)) < 0.25 and (tmp_path / 'hci' / 'panel.png').is_file()


def test_refocus_cli(tmp_path):
  from conftest import hci_scene_path
  scene = hci_scene_path('stratified/backgammon')
  result = _run(['-m', 'ddff_jax.refocus', f'--input={scene}', '--disparities=-1,0,1', f'--output_dir={tmp_path}'])
  assert result.returncode == 0, result.stderr[-3000:]
  data = np.load(tmp_path / 'stack.npz')
  assert data['stack'].shape == (3, 512, 512, 3) and (tmp_path / 'slice_02.png').is_file()


@pytest.mark.parametrize('args, message', [
    (['-m', 'ddff_jax.predict', '--input=/no/such/file.npy', '--method=classical'], 'input not found'),
    (['-m', 'ddff_jax.predict', '--input=/tmp', '--method=checkpoint'], 'needs --workdir'),
    (['-m', 'ddff_jax.evaluate', '--method=classical', '--dataset=nonsense'], "--dataset must be"),
    (['-m', 'ddff_jax.refocus', '--input=/no/such/dir'], 'input not found'),
    (['-m', 'ddff_jax.train', '--workdir=/etc/hostname'], 'is a file, not a directory'),
    (['-m', 'ddff_jax.predict', '--input=/tmp', '--method=weights'], 'needs --weights'),
])
def test_bad_arguments_give_one_line_errors(args, message):
  result = _run(args)
  assert result.returncode == 2
  assert 'Traceback' not in result.stderr
  assert message in result.stderr.strip().splitlines()[-1]


def test_predict_cli_writes_the_ddff_submission_layout(tmp_path):
  from ddff_jax.data import ddff
  from ddff_jax.ddff12scene import make_dummy_data
  make_dummy_data.write_h5_files(tmp_path, test_size=(40, 56), test_per_scene=2)
  result = _run(['-m', 'ddff_jax.predict', f'--input={tmp_path / "ddff-dataset-test.h5"}', '--method=classical',
                 f'--submission={tmp_path / "sub"}'])
  assert result.returncode == 0, result.stderr[-3000:]
  lines = (tmp_path / 'sub' / 'runtime.txt').read_text().splitlines()
  assert len(lines) == 12 and lines[0].startswith('lockeroom/DISP_0001 ') and lines[-1].startswith('magistrale/DISP_0002')
  for scene in ddff.TEST_SCENES:
    for n in (1, 2):
      disp = np.load(tmp_path / 'sub' / scene / f'DISP_{n:04d}.npy')
      assert disp.shape == (40, 56) and disp.dtype == np.float32


def _free_port():
  import socket
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_jax_distributed_run_on_localhost(tmp_path):
  """Two processes (one CPU device each) train together: each reads its half of the global batch, BatchNorm and
  gradients are reduced across processes, checkpoints are written and restored jointly."""
  port = _free_port()
  env = dict(ENV, XLA_FLAGS='--xla_force_host_platform_device_count=1')
  procs = [subprocess.Popen([sys.executable, os.path.join(HERE, 'distributed_tiny.py'), str(port), str(i),
                             str(tmp_path / 'two')], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outputs = [p.communicate(timeout=900) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  single = _train_tiny(tmp_path / 'one', tmp_path / 'one.npz', steps=4)
  model, _, step = checkpoints.load_model(str(tmp_path / 'two'), 'latest')  # the jointly written checkpoint reads back
  import jax
  from flax import nnx
  leaves = jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param))
  params = {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}
  assert step == 4 and set(params) == set(single) - {'step', 'devices'}
  assert all(np.all(np.isfinite(v)) for v in params.values())
  losses = lambda w: [r['train_loss'] for r in map(eval_json, open(w / 'metrics.jsonl')) if 'train_loss' in r]
  # Same first step: each process fed its half of the same global batch, BatchNorm saw the whole batch. (Later
  # steps differ by float summation order, which test_four_devices_train_like_one_device... bounds.)
  assert losses(tmp_path / 'two')[0] == pytest.approx(losses(tmp_path / 'one')[0], rel=1e-5)
  assert len(losses(tmp_path / 'two')) == 4


def test_ddfs_config_trains_and_evaluates_from_the_command_line(tmp_path):
  """The DDFS config end to end through the CLIs: train (cost volumes built in the step, depth-scale augmentation),
  then evaluate with the DDFS metrics — the model and the classical DFF on the same validation set."""
  workdir = tmp_path / 'ddfs'
  config = os.path.join(os.path.dirname(HERE), 'ddff_jax', 'configs', 'camera_invariance.py')
  result = _run(['-m', 'ddff_jax.train', f'--config={config}:ddfs', f'--workdir={workdir}',
                 '--noprogress', '--config.data.height=32', '--config.data.width=32', '--config.data.num_train=8',
                 '--config.data.num_val=2', '--config.model.num_hypotheses=8', '--config.train.num_steps=2',
                 '--config.eval_every=2', '--config.checkpoint_every=2', '--config.log_every=1'])
  assert result.returncode == 0, result.stderr[-3000:]
  import json
  final = json.loads((workdir / 'final_metrics.json').read_text())
  assert final['selection_metric'] == 'mae' and np.isfinite(final['model']['mae'])
  for method in ('checkpoint', 'classical'):
    out = tmp_path / method
    result = _run(['-m', 'ddff_jax.evaluate', f'--workdir={workdir}', f'--method={method}', f'--output_dir={out}'])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / 'metrics.json').read_text())
    assert report['metrics']['num_images'] == 2 and (out / 'panel_000.png').is_file()
    assert set(report['metrics']) >= {'mae', 'rmse', 'abs_rel', 'scale_invariant'}
  # The classical figure written by train's final report and by evaluate agree: the same data and method.
  assert report['metrics']['mae'] == pytest.approx(final['classical_dff']['mae'], rel=1e-5)
