"""The real-light-field training data: render natural-texture light fields and refocus them on the fly, or train on
precomputed stacks? Times, per stack, rendering + refocusing a 9×9×96×96 light field to 10 slices (one vmapped chunk,
as `natural.focal_stacks` does) against one training step of the `configs/hci.py` model on 64×64 crops.
Run: python -m benchmarks.hci_data [--num 16]
"""
from benchmarks import _harness

MODULE = 'benchmarks.hci_data'


def render_and_refocus(args):
  import jax
  import numpy as np
  from ddff_jax.configs import hci
  from ddff_jax.data import natural, sources
  data = hci.get_config().data
  bank = np.random.default_rng(0).uniform(0, 1, (data.num_textures, 128, 128, 3)).astype(np.float32)
  config = natural.SceneConfig(size=data.render_size, num_layers=data.num_layers,
                               disparity_range=tuple(data.disparity_range), max_noise=data.max_noise)
  focus = sources.hci_focus_disparities(data)

  def run():
    stacks, _ = natural.focal_stacks(args.num, 0, bank, focus, config, chunk=args.num)
    jax.block_until_ready(stacks)

  run()  # compile outside the timing
  return run, 2, f'{args.num} light fields rendered and refocused'


def train_steps(args):
  import jax
  import numpy as np
  from flax import nnx
  from ddff_jax import tasks, train
  from ddff_jax.configs import hci
  from ddff_jax.data import sources
  from ddff_jax.models.registry import build_model
  config = hci.get_config()
  task = tasks.build_task(sources.data_spec(config.data))
  tx, _ = train.make_optimizer(config.train, 100)

  def create():
    model = build_model(config.model, 0)
    return {'model': model, 'optimizer': nnx.Optimizer(model, tx, wrt=nnx.Param)}

  graphdef, state = nnx.split(create())
  step = train.make_train_step(graphdef, task)
  b, (h, w) = config.train.batch_size, config.data.crop
  rng = np.random.default_rng(0)
  batch = {'stack': rng.uniform(0, 1, (b, 10, h, w, 3)).astype(np.float32),
           'disparity': rng.uniform(-2, 2, (b, h, w)).astype(np.float32)}
  holder = {'state': nnx.state(create())}

  def run():
    for _ in range(args.num // b):
      holder['state'], stats = step(holder['state'], batch)
    jax.block_until_ready(stats)

  run()
  del state
  return run, 2, f'{args.num // b} steps of batch {b} ({args.num} stacks)'


CONTENDERS = {'render_and_refocus': render_and_refocus, 'train_steps': train_steps}


def add_arguments(parser):
  parser.add_argument('--num', type=int, default=16)


def report(results, args):
  data, step = results['render_and_refocus'], results['train_steps']
  per_data, per_step = data['seconds'] / args.num, step['seconds'] / args.num
  print(f'per stack: render + refocus {per_data:.3f} s, training {per_step:.3f} s; on the fly would make a step '
        f'{1 + per_data / per_step:.1f}× as long; peak +{data["peak_extra_mb"]:.0f} MB / +{step["peak_extra_mb"]:.0f} MB')


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report)
