"""One process of a 2-process `jax.distributed` training run on localhost:
`python tests/distributed_tiny.py PORT PROCESS_ID WORKDIR`."""
import sys

import jax


if __name__ == '__main__':
  port, process_id, workdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
  jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=process_id)
  assert jax.process_count() == 2 and jax.device_count() == 2, (jax.process_count(), jax.devices())
  from ddff_jax import train
  from train_tiny import tiny_config
  train.train_and_evaluate(tiny_config(4), workdir, progress=False)
  jax.distributed.shutdown()
