"""Runs train.py's step on a 4-device mesh and on one device with the same global batches, and on one device with
each batch permuted (BatchNorm and the loss are permutation invariant, so only float summation order changes).
Prints the norms of the two update differences. Run with XLA_FLAGS=--xla_force_host_platform_device_count=4."""

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

from ddff_jax import metrics, tasks, train
from ddff_jax.data.spec import FocalStackSpec
from ddff_jax.models.registry import build_model
from train_tiny import tiny_config


def run(mode, steps=3):
  config = tiny_config()
  model = build_model(config.model, 0)
  tx, _ = train.make_optimizer(config.train, 2)
  optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
  graphdef, state = nnx.split({'model': model, 'optimizer': optimizer})
  init = np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(nnx.state(model, nnx.Param))])
  spec = FocalStackSpec('disparity', np.linspace(0.28, 0.02, 10), metrics.DDFF_DISPARITY_RANGE)
  step = train.make_train_step(graphdef, tasks.build_task(spec))
  mesh = train.make_mesh()
  if mode == 'mesh':
    state = jax.device_put(state, NamedSharding(mesh, P()))
  losses = []
  for i in range(steps):
    rng = np.random.default_rng(i)
    batch = {'stack': rng.random((4, 10, 32, 32, 3), np.float32),
             'disparity': rng.uniform(0.02, 0.28, (4, 32, 32)).astype(np.float32)}
    if mode == 'permuted':
      batch = {k: v[[2, 0, 3, 1]] for k, v in batch.items()}
    if mode == 'mesh':
      batch = {k: jax.device_put(v, NamedSharding(mesh, P('data'))) for k, v in batch.items()}
    state, stats = step(state, batch)
    losses.append(float(stats['loss']))
  model = nnx.merge(graphdef, state)['model']
  return losses[0], np.concatenate([np.asarray(x).ravel() for x in jax.tree.leaves(nnx.state(model, nnx.Param))]) - init


if __name__ == '__main__':
  assert jax.device_count() == 4, jax.devices()
  (loss_single, single), (loss_mesh, mesh), (_, permuted) = run('single'), run('mesh'), run('permuted')
  print(loss_single, loss_mesh, np.linalg.norm(mesh - single), np.linalg.norm(permuted - single),
        np.linalg.norm(single))
