"""Trains a tiny DDFFNet with ddff_jax.train and saves its parameters: `python tests/train_tiny.py WORKDIR OUT.npz
[num_steps]`. Run in a subprocess so that XLA_FLAGS (simulated device count) take effect."""
import sys

import jax
import numpy as np


def tiny_config(num_steps=4):
  from ddff_jax.configs import default
  c = default.get_config()
  c.model.width = 0.0625
  c.data.update(height=32, width=32, num_train=8, num_val=2)
  # SGD: its update is linear in the gradient, so summation-order differences between device counts stay at float
  # level (Adam's first step maps any tiny gradient to ±lr and would amplify them).
  c.train.update(batch_size=4, num_steps=num_steps, optimizer='sgd', learning_rate=0.05)
  c.update(log_every=1, eval_every=2, checkpoint_every=2, keep_checkpoints=5)
  return c


if __name__ == '__main__':
  from flax import nnx
  from ddff_jax import checkpoints, train
  workdir, out = sys.argv[1], sys.argv[2]
  steps = int(sys.argv[3]) if len(sys.argv) > 3 else 4
  train.train_and_evaluate(tiny_config(steps), workdir, progress=False)
  restored = checkpoints.load(workdir, 'latest')
  leaves = jax.tree_util.tree_leaves_with_path(nnx.state(restored.model, nnx.Param))
  np.savez(out, step=restored.step, devices=jax.device_count(),
           **{jax.tree_util.keystr(p): np.asarray(v) for p, v in leaves})
