"""Training: data parallelism, resume, checkpoint robustness, and the entry points end to end (the command lines in
subprocesses; what they call, in process, on the runs the README's command lines made)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from flax import nnx

from ddff_jax import checkpoints
from ddff_jax import errors
from ddff_jax.models.registry import build_model, register
from conftest import build_once, xla_flags
from train_tiny import tiny_config

HERE = os.path.dirname(__file__)
ENV = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get('PYTHONPATH', ''))


def _run(args, env=None, timeout=900, cwd=None):
  return subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=timeout, env=env or ENV,
                        cwd=cwd)


def _train_tiny(workdir, out, steps=4, devices=1):
  env = dict(ENV, XLA_FLAGS=xla_flags(f'--xla_force_host_platform_device_count={devices}'))
  result = _run([os.path.join(HERE, 'train_tiny.py'), str(workdir), str(out), str(steps)], env)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(np.load(out))


def _assert_same_params(a, b, atol):
  keys = [k for k in a if k not in ('step', 'devices')]
  assert keys and set(keys) == {k for k in b if k not in ('step', 'devices')}
  for k in keys:
    np.testing.assert_allclose(a[k], b[k], atol=atol, rtol=0, err_msg=k)


@pytest.mark.slow  # three compiled runs in a subprocess, ~90 s on 2 cores
def test_four_devices_train_like_one_device_with_the_same_global_batch():
  """train.py's step on a 4-device mesh vs one device, same global batches. The 1-device run with each batch
  permuted measures the float noise floor: summation order alone moves this 30-layer BatchNorm/ReLU network's
  gradients by ~0.3 %. Per-device BatchNorm statistics or unreduced gradients would differ far beyond it."""
  env = dict(ENV, XLA_FLAGS=xla_flags('--xla_force_host_platform_device_count=4'))
  result = _run([os.path.join(HERE, 'parallel_parity.py')], env)
  assert result.returncode == 0, result.stderr[-3000:]
  loss_single, loss_mesh, mesh_diff, noise_floor, update = map(float, result.stdout.split()[-5:])
  assert loss_mesh == pytest.approx(loss_single, rel=1e-5)  # same forward pass: BatchNorm over the global batch
  assert 0 < update and mesh_diff < 3 * noise_floor + 1e-7


RESUME_STEPS = 6


@pytest.fixture(scope='session')
def reference_run(tmp_path_factory):
  """An uninterrupted tiny run of RESUME_STEPS steps (checkpoints at 2, 4, 6): its workdir and final parameters."""
  root = build_once(tmp_path_factory, 'reference_run',
                    lambda root: _train_tiny(root / 'run', root / 'run.npz', steps=RESUME_STEPS))
  return root / 'run', dict(np.load(root / 'run.npz'))


@pytest.mark.slow  # three training subprocesses (~80 s on 2 cores)
def test_killed_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path, reference_run):
  _, reference = reference_run
  workdir = tmp_path / 'killed'
  proc = subprocess.Popen([sys.executable, os.path.join(HERE, 'train_tiny.py'), str(workdir),
                           str(tmp_path / 'unused.npz'), str(RESUME_STEPS)], env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  while not (workdir / 'checkpoints' / '2').exists() and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert (workdir / 'checkpoints' / '2').exists()
  resumed = _train_tiny(workdir, tmp_path / 'resumed.npz', steps=RESUME_STEPS)
  assert int(resumed['step']) == RESUME_STEPS
  _assert_same_params(reference, resumed, atol=1e-6)
  steps_logged = [r['step'] for r in map(eval_json, open(workdir / 'metrics.jsonl')) if 'train_loss' in r]
  assert steps_logged == sorted(set(steps_logged)) and steps_logged[-1] == RESUME_STEPS  # no duplicates


def eval_json(line):
  import json
  return json.loads(line)


@pytest.mark.slow  # shares the slow reference run above
def test_damaged_checkpoint_falls_back_and_a_mismatched_one_is_refused(tmp_path, reference_run):
  import shutil
  workdir = tmp_path / 'w'
  shutil.copytree(reference_run[0], workdir)
  latest, _ = checkpoints.managers(str(workdir), keep=5)
  assert latest.all_steps() == [2, 4, 6]
  for root, _, files in os.walk(workdir / 'checkpoints' / '6' / 'model'):
    for f in files:
      with open(os.path.join(root, f), 'wb') as handle:
        handle.write(b'garbage')  # a damaged (not merely unfinished) checkpoint
  model = build_model(tiny_config().model)
  latest, _ = checkpoints.managers(str(workdir), keep=5)
  step, items = checkpoints.restore_newest_readable(latest, {'model': nnx.state(model)})
  assert step == 4 and items is not None
  # Each step describes itself: its config and its data (focus disparities, valid range).
  restored = checkpoints.load(str(workdir), 'latest')
  assert restored.step == 4 and restored.config.model.width == tiny_config().model.width
  assert restored.spec.num_slices == 10 and restored.spec.target == 'disparity'
  # A readable checkpoint of another model (here: twice the width) is not damage: a clear error, no silent restart.
  wider = tiny_config().model
  wider.width = 0.125
  with pytest.raises(checkpoints.CheckpointMismatch, match='does not fit this model'):
    checkpoints.restore_newest_readable(latest, {'model': nnx.state(build_model(wider))})


@pytest.mark.slow
def test_training_on_four_devices_runs_end_to_end(tmp_path):
  four = _train_tiny(tmp_path / 'four', tmp_path / 'four.npz', devices=4)
  assert int(four['devices']) == 4 and int(four['step']) == 4


def test_a_workdir_of_an_incompatible_config_is_refused(tmp_path):
  config = tiny_config()
  checkpoints.prepare_workdir(str(tmp_path), config)
  config.model.width = 0.5
  with pytest.raises(ValueError, match='incompatible config.*model'):
    checkpoints.prepare_workdir(str(tmp_path), config)


def test_fields_added_after_a_run_was_written_are_not_a_difference_at_their_old_behaviour(tmp_path):
  """A workdir written before the texture options existed resumes under a config that states the old behaviour
  (SceneConfig's defaults, written out here), and is refused under one that changes it."""
  import json
  config = tiny_config()
  checkpoints.prepare_workdir(str(tmp_path), config)
  config.data.update(textureless_prob=0.15, contrast_range=(0.3, 1.3), texture_scale_range=(0.5, 2.0),
                     stretch_depth=False)
  config.model.local_radius = 1
  checkpoints.prepare_workdir(str(tmp_path), config)
  assert json.loads((tmp_path / 'config.json').read_text())['data']['contrast_range'] == [0.3, 1.3]
  config.data.textureless_prob = 0.05
  with pytest.raises(ValueError, match='incompatible config.*data'):
    checkpoints.prepare_workdir(str(tmp_path), config)


def test_train_cli_writes_checkpoints_metrics_and_pictures(cli_workdir):
  assert (cli_workdir / 'checkpoints' / '4').is_dir() and (cli_workdir / 'best').is_dir()
  assert (cli_workdir / 'final_metrics.json').is_file()
  assert any(p.suffix == '.png' for p in (cli_workdir / 'pictures').iterdir())
  lines = (cli_workdir / 'metrics.jsonl').read_text().splitlines()
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


def test_train_cli_logs_the_same_scalars_to_tensorboard(cli_workdir):
  pytest.importorskip('tensorboardX')
  scalars = _tensorboard_scalars(cli_workdir / 'tensorboard')
  records = [eval_json(l) for l in open(cli_workdir / 'metrics.jsonl')]
  expected = {(k, r['step']): v for r in records for k, v in r.items() if k != 'step'}
  assert expected and set(expected) <= set(scalars)
  for key, value in expected.items():
    assert scalars[key] == pytest.approx(value, rel=1e-6), key


def test_evaluate_reproduces_the_classical_figures_of_the_training_report(cli_workdir, tmp_path):
  """The classical DFF on the run's validation split, clipped to the run's disparity range (the default job's scenes
  reach 1.13 px, beyond DDFF 12-Scene's 0.2825), scores what the training run reported for it: the same data and
  method, the validation split rebuilt from the workdir's config without its training split."""
  import json
  from ddff_jax import evaluate, methods
  dataset = evaluate.open_dataset('synthetic', str(cli_workdir))
  assert dataset.size == 2 and dataset.spec.valid_range[1] > 1.0
  report = evaluate.evaluate(methods.classical(), dataset, str(tmp_path), num_panels=1, progress=False)
  reported = json.loads((cli_workdir / 'final_metrics.json').read_text())['classical_dff']
  for name in ('mse', 'badpix', 'delta1'):
    assert report['metrics'][name] == pytest.approx(reported[name], rel=1e-5), name
  assert (tmp_path / 'panel_000.png').is_file() and (tmp_path / 'badpix_curve.png').is_file()


def test_a_trained_model_predicts_a_stack_file_with_its_own_focus_settings(cli_workdir, tmp_path):
  from ddff_jax import methods, predict
  method = methods.trained(str(cli_workdir))
  assert method.target == 'disparity' and method.spec.num_slices == 10
  stack = np.random.default_rng(0).random((10, 40, 50, 3)).astype(np.float32)
  np.save(tmp_path / 'stack.npy', stack)
  out = predict.predict_one(method, tmp_path / 'stack.npy', output_dir=str(tmp_path / 'pred'))
  assert np.load(tmp_path / 'pred' / 'disparity.npy').shape == (40, 50)
  np.testing.assert_allclose(out['disparity'], method(stack), rtol=1e-6)
  assert (tmp_path / 'pred' / 'disparity.png').is_file() and not (tmp_path / 'pred' / 'depth.npy').exists()
  with pytest.raises(ValueError, match='the stack has 5 slices but 10 focus values'):
    method(stack[:5])


@pytest.mark.parametrize('args, message', [
    (['-m', 'ddff_jax.predict', '--input=/no/such/file.npy', '--method=classical'], 'input not found'),
    (['-m', 'ddff_jax.predict', '--input=/tmp', '--method=checkpoint'], 'needs --workdir'),
    (['-m', 'ddff_jax.evaluate', '--method=classical', '--dataset=nonsense'], "--dataset must be"),
    (['-m', 'ddff_jax.refocus', '--input=/no/such/dir'], 'input not found'),
    (['-m', 'ddff_jax.train', '--workdir=/etc/hostname'], 'is a file, not a directory'),
    (['-m', 'ddff_jax.predict', '--input=/tmp', '--method=weights'], 'needs --weights'),
    (['-m', 'ddff_jax.train', '--config.train.nosuchkey=1'], '--config.train.nosuchkey: the config has no such field'),
    (['-m', 'ddff_jax.train', '--config.train.num_steps=-5'], 'must be a positive integer, got -5'),
    (['-m', 'ddff_jax.train', '--config=/no/such/config.py'], '--config could not be loaded'),
    (['-m', 'ddff_jax.predict', '--input=/tmp', '--nosuchflag'], "Unknown command line flag 'nosuchflag'"),
])
def test_bad_arguments_give_one_line_errors(args, message, tmp_path):
  result = _run(args, cwd=tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
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
  env = dict(ENV, XLA_FLAGS=xla_flags('--xla_force_host_platform_device_count=1'))
  procs = [subprocess.Popen([sys.executable, os.path.join(HERE, 'distributed_tiny.py'), str(port), str(i),
                             str(tmp_path / 'two')], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outputs = [p.communicate(timeout=900) for p in procs]
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  single = _train_tiny(tmp_path / 'one', tmp_path / 'one.npz', steps=4)
  restored = checkpoints.load(str(tmp_path / 'two'), 'latest')  # the jointly written checkpoint reads back
  step = restored.step
  import jax
  leaves = jax.tree_util.tree_leaves_with_path(nnx.state(restored.model, nnx.Param))
  params = {jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves}
  assert step == 4 and set(params) == set(single) - {'step', 'devices'}
  assert all(np.all(np.isfinite(v)) for v in params.values())
  losses = lambda w: [r['train_loss'] for r in map(eval_json, open(w / 'metrics.jsonl')) if 'train_loss' in r]
  # Same first step: each process fed its half of the same global batch, BatchNorm saw the whole batch. (Later
  # steps differ by float summation order, which test_four_devices_train_like_one_device... bounds.)
  assert losses(tmp_path / 'two')[0] == pytest.approx(losses(tmp_path / 'one')[0], rel=1e-5)
  assert len(losses(tmp_path / 'two')) == 4


def _tiny_ddfs_config():
  from ddff_jax.configs import camera_invariance
  config = camera_invariance.get_config('ddfs')
  config.data.update(height=32, width=32, num_train=8, num_val=2)
  config.model.num_hypotheses = 8
  return config


def _check_ddfs_route(method, workdir, tmp_path) -> dict:
  """evaluate (the DDFS metrics of `method` and the classical DFF on the workdir's validation split) and predict
  (metric depth with the run's focus distances and camera); -> the two evaluation reports."""
  from ddff_jax import evaluate, methods, predict
  reports = {}
  for name, m in (('model', method), ('classical', methods.classical('depth'))):
    reports[name] = evaluate.evaluate(m, evaluate.open_dataset('synthetic', str(workdir)), str(tmp_path / name),
                                      num_panels=1, progress=False)
    assert reports[name]['metrics']['num_images'] == 2 and reports[name]['target'] == 'depth'
    assert all(np.isfinite(reports[name]['metrics'][k]) for k in ('mae', 'rmse', 'abs_rel', 'scale_invariant'))
    assert (tmp_path / name / 'panel_000.png').is_file() and not (tmp_path / name / 'badpix_curve.png').exists()
  stack = np.random.default_rng(1).random((3, 32, 32, 3)).astype(np.float32)  # the shape evaluate compiled for
  np.save(tmp_path / 's3.npy', stack)
  predict.predict_one(method, tmp_path / 's3.npy', output_dir=str(tmp_path / 'pred'))
  depth = np.load(tmp_path / 'pred' / 'depth.npy')
  assert depth.shape == (32, 32) and 0.1 <= depth.min() and depth.max() <= 3.0  # soft-argmin over [0.1, 3] m
  assert (tmp_path / 'pred' / 'depth.png').is_file() and not (tmp_path / 'pred' / 'disparity.npy').exists()
  # Another camera and other focus distances, as given on the command line, change what the cost volume sees.
  from ddff_jax.data import inputs
  phone = inputs.parse_camera('focal_length_mm=4.3,f_number=1.9,pixel_pitch_um=4.48')
  predict.predict_one(method, tmp_path / 's3.npy', output_dir=str(tmp_path / 'pred_phone'),
                      focus_distances_m=inputs.parse_focus_distances('0.15,0.5,2.0'), camera=phone)
  other = np.load(tmp_path / 'pred_phone' / 'depth.npy')
  assert other.shape == (32, 32) and np.all(np.isfinite(other)) and not np.allclose(other, depth)
  with pytest.raises(errors.UserError, match='3 slices but 2 focus'):
    predict.predict_one(method, tmp_path / 's3.npy', output_dir=str(tmp_path / 'x'),
                        focus_distances_m=np.array([0.2, 0.5], np.float32))
  with pytest.raises(errors.UserError, match='exceed the focal length'):
    predict.predict_one(method, tmp_path / 's3.npy', output_dir=str(tmp_path / 'x'),
                        focus_distances_m=np.array([0.002, 0.5, 1.0], np.float32))
  return reports


@pytest.mark.slow  # trains DDFS in a subprocess (~60 s on 2 cores)
def test_a_ddfs_workdir_predicts_and_evaluates_through_its_task(tmp_path):
  """A DDFS workdir as train.py leaves one (config.json, a self-describing checkpoint), here of the freshly
  initialised model, through the one route to predictions: evaluate (the DDFS metrics for the model and the
  classical DFF on its validation split) and predict (metric depth with the run's focus distances and camera)."""
  import optax
  from ddff_jax import methods
  from ddff_jax.data import sources
  config, workdir = _tiny_ddfs_config(), tmp_path / 'ddfs'
  checkpoints.prepare_workdir(str(workdir), config)
  model = nnx.jit(lambda: build_model(config.model, config.seed))()
  state = nnx.state({'model': model, 'optimizer': nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)})
  latest, _ = checkpoints.managers(str(workdir))
  checkpoints.save(latest, 1, state, config, sources.data_spec(config.data))
  latest.wait_until_finished()

  method = methods.trained(str(workdir))
  assert method.target == 'depth' and method.spec.camera == sources.thin_lens_camera(config.data.camera)
  assert method.spec.focus == pytest.approx((0.1, 0.3, 1.5))
  _check_ddfs_route(method, workdir, tmp_path)


@pytest.mark.slow
def test_ddfs_config_trains_from_the_command_line_and_predicts_and_evaluates_through_its_task(tmp_path):
  """The DDFS config end to end: train from the command line (cost volumes built in the step, depth-scale
  augmentation), then the workdir through the one route to predictions: evaluate (the DDFS metrics, model and
  classical DFF on the same validation split) and predict (metric depth, with the run's focus distances and camera)."""
  import json
  from ddff_jax import methods
  workdir = tmp_path / 'ddfs'
  config = os.path.join(os.path.dirname(HERE), 'ddff_jax', 'configs', 'camera_invariance.py')
  result = _run(['-m', 'ddff_jax.train', f'--config={config}:ddfs', f'--workdir={workdir}',
                 '--noprogress', '--config.data.height=32', '--config.data.width=32', '--config.data.num_train=8',
                 '--config.data.num_val=2', '--config.model.num_hypotheses=8', '--config.train.num_steps=2',
                 '--config.eval_every=2', '--config.checkpoint_every=2', '--config.log_every=1'])
  assert result.returncode == 0, result.stderr[-3000:]
  final = json.loads((workdir / 'final_metrics.json').read_text())
  assert final['selection_metric'] == 'mae' and np.isfinite(final['model']['mae'])
  model = methods.trained(str(workdir))
  assert model.target == 'depth' and model.spec.camera is not None
  assert model.spec.focus == pytest.approx((0.1, 0.3, 1.5))
  reports = _check_ddfs_route(model, workdir, tmp_path)
  # Train's final report and evaluate agree: the same data, method and (for the model) checkpoint.
  assert reports['classical']['metrics']['mae'] == pytest.approx(final['classical_dff']['mae'], rel=1e-5)
  assert reports['model']['metrics']['mae'] == pytest.approx(final['model']['mae'], rel=1e-4)


@register('tiny_disparity_test')
class TinyDisparityNet(nnx.Module):
  """A registry-protocol model that compiles in a moment: a 3×3 convolution of the slices' mean image, BatchNorm,
  a 1×1 convolution to disparity."""
  targets, output_range = ('disparity',), None

  def __init__(self, *, rngs):
    self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
    self.norm = nnx.BatchNorm(4, rngs=rngs)
    self.out = nnx.Conv(4, 1, (1, 1), rngs=rngs)

  def forward(self, stack, focus=None, **unused):
    return (self.out(self.norm(self.conv(stack.mean(1))))[..., 0],)


def test_the_weight_average_follows_its_recurrence_and_is_what_a_checkpoint_loads(tmp_path):
  """train.ema_decay d: after update t, ema ← dₜ·ema + (1 − dₜ)·model, dₜ = min(d, (1 + t)/(10 + t)), for every
  parameter and BatchNorm statistic, from the initial model (stated in NumPy over three steps, d = 0.2 so that
  both branches of the min are taken); `checkpoints.load` gives a checkpoint's 'ema' item when the run averages."""
  import jax
  import ml_collections
  from ddff_jax import metrics, tasks, train
  from ddff_jax.data.spec import FocalStackSpec
  decay = 0.2
  config = tiny_config()
  config.train.ema_decay = decay
  model = TinyDisparityNet(rngs=nnx.Rngs(0))
  tx, _ = train.make_optimizer(config.train, 2)
  graphdef, state = nnx.split({'model': model, 'optimizer': nnx.Optimizer(model, tx, wrt=nnx.Param),
                               'ema': nnx.clone(model)})
  state = jax.tree.map(lambda x: x.copy(), state)  # the clone shares the model's buffers; the step donates them
  spec = FocalStackSpec('disparity', np.linspace(0.28, 0.02, 10), metrics.DDFF_DISPARITY_RANGE)
  step = train.make_train_step(graphdef, tasks.build_task(spec), decay)
  weights = lambda module: [np.array(x) for x in jax.tree.leaves(nnx.state(module, train.weights_filter()))]
  want = weights(model)
  assert len(want) == 8  # two kernels and biases, BatchNorm scale and bias, mean and variance
  for i in range(3):
    rng = np.random.default_rng(i)
    batch = {'stack': rng.random((4, 10, 16, 16, 3), np.float32),
             'disparity': rng.uniform(0.02, 0.28, (4, 16, 16)).astype(np.float32)}
    state, _ = step(state, batch)
    d = min(decay, (2 + i) / (11 + i))  # after update t = i + 1: min(d, (1 + t) / (10 + t))
    want = [d * a + (1 - d) * x for a, x in zip(want, weights(nnx.merge(graphdef, state)['model']))]
  for g, w in zip(weights(nnx.merge(graphdef, state)['ema']), want):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
  # A run that averages: the checkpoint's 'ema' item is the model that load gives (here: the weights plus one).
  config.model = ml_collections.ConfigDict({'name': 'tiny_disparity_test'})
  ema = build_model(config.model, 0)
  nnx.update(ema, jax.tree.map(lambda x: x + 1.0, nnx.state(ema, nnx.Param)))
  latest, _ = checkpoints.managers(str(tmp_path))
  checkpoints.save(latest, 3, {'model': nnx.state(build_model(config.model, 0)), 'ema': nnx.state(ema)}, config,
                   spec)
  latest.wait_until_finished()
  for g, w in zip(weights(checkpoints.load(str(tmp_path), 'latest').model), weights(ema)):
    np.testing.assert_array_equal(g, w)
  config.train.ema_decay = 1.0
  with pytest.raises(errors.UserError, match='ema_decay must be in'):
    train.check_config(config)
