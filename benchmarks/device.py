"""The accelerator benchmark: what ddff_jax does on whatever `jax.devices()` gives (a GPU, or the CPU with --tiny).

  inference    DDFFNet-CC3 (full width) eval forward of one 10-slice 383×552 stack (padded to 384×576 inside), the
               DDFF paper's test size (it reports 0.58 s on a Titan X), float32 and bfloat16 compute
  training     the paper's training step (configs/ddffnet.py: SGD momentum, L2, clip, MSE, dropout, BatchNorm) on
               10×224×224 stacks at batch 2, 8 and 16, float32 and bfloat16: stacks per second
  kernels      refocusing a 9×9×383×552×3 light field to 10 slices; the 64-hypothesis DDFS cost volume of a
               5×256×256×3 stack
  scaling      the training step data-parallel over 1, 2, 4, … of the visible devices at a fixed per-device batch:
               stacks per second and the efficiency against one device

Times are the median of --repeats runs after a compiling warm-up (reported apart); peak memory is the device's
`peak_bytes_in_use` where it reports one, the process's peak RSS otherwise.
Run: python -m benchmarks.device [--output=benchmarks/results/device.json]   (--tiny: small sizes, for CPUs and tests)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from ddff_jax import files, metrics, optics, tasks, train
from ddff_jax.configs import ddffnet
from ddff_jax.data.spec import FocalStackSpec
from ddff_jax.models.registry import build_model

SLICES = 10
FULL = dict(width=1.0, inference_size=(383, 552), train_size=(224, 224), batches=(2, 8, 16),
            light_field=(9, 383, 552), cost_volume=(5, 256, 256, 64), scaling_batch=8)
TINY = dict(width=0.0625, inference_size=(63, 92), train_size=(32, 32), batches=(2,),
            light_field=(5, 48, 64), cost_volume=(3, 32, 32, 8), scaling_batch=2)
DTYPES = ('float32', 'bfloat16')


def _timed(run, repeats: int) -> dict:
  t0 = time.perf_counter()
  run()
  first = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
  return {'seconds': statistics.median(times), 'first_call_seconds': first}


def _peak_mb() -> float:
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    return stats['peak_bytes_in_use'] / 2**20
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_config(sizes, dtype: str):
  config = ddffnet.get_config()
  config.model.update(width=sizes['width'], dtype=dtype)
  return config


def inference(sizes, dtype: str, repeats: int) -> dict:
  model = nnx.jit(lambda: build_model(_model_config(sizes, dtype).model))()
  model.eval()
  stack = jnp.asarray(np.random.default_rng(0).random((1, SLICES) + sizes['inference_size'] + (3,), np.float32))
  forward = nnx.jit(lambda m, x: m(x))
  result = _timed(lambda: jax.block_until_ready(forward(model, stack)), repeats)
  return {**result, 'shape': [1, SLICES, *sizes['inference_size']], 'dtype': dtype}


def train_setup(sizes, dtype: str, batch: int, devices):
  """The paper's step, its replicated state and one batch sharded over `devices`."""
  config = _model_config(sizes, dtype)
  tx, _ = train.make_optimizer(config.train, steps_per_epoch=1000)

  def create():
    model = build_model(config.model)
    return {'model': model, 'optimizer': nnx.Optimizer(model, tx, wrt=nnx.Param)}

  mesh = jax.make_mesh((len(devices),), ('data',), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)
  graphdef, _ = nnx.split(nnx.eval_shape(create))
  state = jax.jit(lambda: nnx.state(create()), out_shardings=NamedSharding(mesh, P()))()
  task = tasks.build_task(FocalStackSpec('disparity', [0.0] * SLICES, metrics.DDFF_DISPARITY_RANGE))
  rng = np.random.default_rng(0)
  batch = {'stack': rng.random((batch, SLICES) + sizes['train_size'] + (3,), np.float32),
           'disparity': rng.uniform(0.03, 0.27, (batch,) + sizes['train_size']).astype(np.float32)}
  batch = jax.device_put(batch, NamedSharding(mesh, P('data')))
  return train.make_train_step(graphdef, task), state, batch


def training(sizes, dtype: str, batch: int, repeats: int, devices=None) -> dict:
  devices = devices or jax.devices()[:1]
  step, state, data = train_setup(sizes, dtype, batch, devices)
  holder = [state]

  def run():
    holder[0], stats = step(holder[0], data)
    jax.block_until_ready(stats)

  result = _timed(run, repeats)
  return {**result, 'batch': batch, 'dtype': dtype, 'devices': len(devices),
          'stacks_per_second': batch / result['seconds']}


def kernels(sizes, repeats: int) -> dict:
  rng = np.random.default_rng(0)
  grid, h, w = sizes['light_field']
  light_field = jnp.asarray(rng.random((grid, grid, h, w, 3), np.float32))
  disparities = jnp.linspace(-2.5, 2.5, SLICES)
  refocus = jax.jit(optics.refocus)
  k, ch, cw, hypotheses = sizes['cost_volume']
  stack = jnp.asarray(rng.random((k, ch, cw, 3), np.float32))
  focus = np.geomspace(0.1, 1.5, k)
  depths = np.linspace(0.1, 3.0, hypotheses)
  return {
      'refocus': {**_timed(lambda: jax.block_until_ready(refocus(light_field, disparities)), repeats),
                  'shape': [grid, grid, h, w, 3], 'slices': SLICES},
      'cost_volume': {**_timed(lambda: jax.block_until_ready(
          optics.defocus_cost_volume(stack, focus, optics.DEFOCUSNET_CAMERA, depths)), repeats),
          'shape': [k, ch, cw, 3], 'hypotheses': hypotheses}}


def scaling(sizes, repeats: int, measured: list[dict]) -> list[dict]:
  """Weak scaling: per-device batch `scaling_batch` on 1, 2, 4, … devices (and all of them).

  The one-device row is taken from `measured` (the float32 training rows) when it holds it: same step, same batch.
  """
  available = jax.devices()
  counts = sorted({n for n in (2 ** i for i in range(8)) if n <= len(available)} | {len(available)})
  rows = []
  for n in counts:
    batch = sizes['scaling_batch'] * n
    known = [row for row in measured if (row['devices'], row['batch'], row['dtype']) == (n, batch, 'float32')]
    rows.append(dict(known[0]) if known else training(sizes, 'float32', batch, repeats, available[:n]))
  base = rows[0]['stacks_per_second']
  for row in rows:
    row['efficiency'] = row['stacks_per_second'] / (base * row['devices'])
  return rows


def run(args) -> dict:
  """Runs every part, writing the results so far to --output after each measurement (a cut-short run keeps them)."""
  sizes = TINY if args.tiny else FULL
  device = jax.devices()[0]
  results = {'device': f'{device.platform}: {device.device_kind}', 'devices': jax.device_count(),
             'jax': jax.__version__, 'tiny': bool(args.tiny), 'width': sizes['width']}

  def save():
    results['peak_memory_mb'] = _peak_mb()
    if args.output:
      files.write_json(args.output, results)

  print(f'{results["device"]} × {results["devices"]}, jax {results["jax"]}', flush=True)
  results['inference'] = []
  for dtype in DTYPES:
    row = inference(sizes, dtype, args.repeats)
    results['inference'].append(row)
    save()
    print(f'inference {row["dtype"]:>8} {row["shape"]}: {row["seconds"] * 1e3:.1f} ms '
          f'(first call {row["first_call_seconds"]:.1f} s)', flush=True)
  results['kernels'] = kernels(sizes, args.repeats)
  save()
  for name, row in results['kernels'].items():
    print(f'{name}: {row["seconds"] * 1e3:.1f} ms', flush=True)
  results['training'] = []
  for dtype in DTYPES:
    for batch in sizes['batches']:
      row = training(sizes, dtype, batch, args.repeats)
      results['training'].append(row)
      save()
      print(f'training  {dtype:>8} batch {batch:>2}: {row["stacks_per_second"]:.2f} stacks/s '
            f'(first call {row["first_call_seconds"]:.1f} s)', flush=True)
  results['scaling'] = scaling(sizes, args.repeats, results['training'])
  save()
  for row in results['scaling']:
    print(f'scaling {row["devices"]} device(s), batch {row["batch"]}: {row["stacks_per_second"]:.2f} stacks/s, '
          f'efficiency {row["efficiency"]:.2f}', flush=True)
  return results


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.device', description=__doc__.split('\n')[0])
  parser.add_argument('--tiny', action='store_true', help='small sizes and 1/16 width: CPUs and tests')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--output', default='', help='also write the results as JSON here (atomically)')
  args = parser.parse_args(argv)
  if args.repeats < 1:
    parser.error(f'--repeats must be >= 1, got {args.repeats}.')
  if args.output:
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
  results = run(args)
  print(json.dumps({'peak_memory_mb': round(results['peak_memory_mb'])}))
  return results


if __name__ == '__main__':
  main()
