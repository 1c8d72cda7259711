"""The benchmarks' own correctness: the PyTorch contender is the same network (same weights give the same output),
and the accelerator benchmark runs end to end at tiny sizes on CPU devices."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(__file__))


def _jax_to_torch(model, torch_model):
  """Copies ddff_jax DDFFNet-CC3 weights (HWIO kernels, lax.conv_transpose upconvs) into the PyTorch module."""
  import torch
  t = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a)))
  pairs = []
  for ours, theirs in zip(model.encoder, torch_model.encoder):
    pairs += list(zip(ours, theirs))
  for ours, theirs in zip(model.decoder, torch_model.decoder):
    pairs += list(zip(ours, theirs))
  with torch.no_grad():
    for ours, (conv, bn, _) in pairs:
      conv.weight.copy_(t(np.transpose(ours.conv.kernel.value, (3, 2, 0, 1))))
      bn.weight.copy_(t(ours.bn.scale.value))
      bn.bias.copy_(t(ours.bn.bias.value))
      bn.running_mean.copy_(t(ours.bn.mean.value))
      bn.running_var.copy_(t(ours.bn.var.value))
    for ours, theirs in zip(model.upconvs, torch_model.upconvs):
      # lax.conv_transpose correlates the zero-dilated input; PyTorch's transposed convolution is its adjoint with
      # the kernel flipped: w[i, o, y, x] = k[3 - y, 3 - x, i, o].
      theirs.weight.copy_(t(np.transpose(np.asarray(ours.kernel.value)[::-1, ::-1], (2, 3, 0, 1))))
    torch_model.scorer.weight.copy_(t(np.transpose(model.scorer.kernel.value, (3, 2, 0, 1))))


def test_the_pytorch_contender_is_the_same_network():
  torch = pytest.importorskip('torch', reason='PyTorch is the optional bench extra (pip install -e ".[bench]")')
  import jax
  from flax import nnx
  from benchmarks import models as bench
  from benchmarks.torch_ddffnet import DDFFNetCC3
  from ddff_jax.configs import ddffnet
  from ddff_jax.models.registry import build_model
  ours, theirs = bench.parameter_counts()
  assert ours == theirs
  config = ddffnet.get_config()
  model = nnx.jit(lambda: build_model(config.model))()
  # Non-trivial BatchNorm statistics, so that their mapping is checked too.
  rng = np.random.default_rng(0)
  for _, var in nnx.iter_graph(model):
    if isinstance(var, nnx.BatchNorm):
      var.mean.value = jax.numpy.asarray(rng.normal(0, 0.1, var.mean.value.shape), np.float32)
      var.var.value = jax.numpy.asarray(rng.uniform(0.5, 2.0, var.var.value.shape), np.float32)
  model.eval()
  torch_model = DDFFNetCC3(10).eval()
  _jax_to_torch(model, torch_model)
  stack = rng.random((1, 10, 64, 96, 3), dtype=np.float32)
  expected = np.asarray(nnx.jit(lambda m, x: m(x))(model, stack))
  with torch.inference_mode():
    got = torch_model(torch.from_numpy(stack).permute(0, 1, 4, 2, 3).contiguous() * 255.0).numpy()
  scale = float(np.sqrt(np.mean(expected ** 2)))
  np.testing.assert_allclose(got, expected, atol=1e-3 * scale)


@pytest.mark.slow  # ~8 compilations of the network, ~90 s on 2 cores
def test_device_benchmark_runs_at_tiny_sizes_on_two_cpu_devices(tmp_path):
  out = tmp_path / 'device.json'
  env = dict(os.environ, XLA_FLAGS=os.environ.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count=2')
  result = subprocess.run([sys.executable, '-m', 'benchmarks.device', '--tiny', '--repeats=1', f'--output={out}'],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(out.read_text())
  assert report['devices'] == 2 and report['tiny']
  assert [r['dtype'] for r in report['inference']] == ['float32', 'bfloat16']
  assert all(r['seconds'] > 0 for r in report['inference'] + report['training'])
  assert {(r['dtype'], r['batch']) for r in report['training']} == {('float32', 2), ('bfloat16', 2)}
  assert set(report['kernels']) == {'refocus', 'cost_volume'}
  assert [r['devices'] for r in report['scaling']] == [1, 2]
  assert report['scaling'][0]['efficiency'] == pytest.approx(1.0)
  assert all(r['stacks_per_second'] > 0 for r in report['scaling'])
