"""Generating synthetic DDFF-style samples: a 9×9×256×256 light field rendered from a procedural scene and its
10-slice focal stack (ddff_jax.data.synthetic.sample_light_field_stack), N samples in a row, jit-compiled.
Run: python -m benchmarks.synthetic [--num 100]
"""
from benchmarks import _harness

MODULE = 'benchmarks.synthetic'


def generate(args):
  import jax
  from ddff_jax.data import synthetic
  config = synthetic.SceneConfig(256, 256)
  key = jax.random.PRNGKey(0)
  jax.block_until_ready(synthetic.sample_light_field_stack(key, config))  # compile outside the timing

  def run():
    for i in range(args.num):
      jax.block_until_ready(synthetic.sample_light_field_stack(jax.random.fold_in(key, i), config))

  return run, 0, f'{args.num} samples of 9×9×256×256×3 + 10-slice stacks'


CONTENDERS = {'synthetic_light_field_stacks': generate}


def add_arguments(parser):
  parser.add_argument('--num', type=int, default=100)


def report(results, args):
  r = results['synthetic_light_field_stacks']
  print(f'{args.num} samples: {r["first_call_seconds"]:.1f} s ({r["first_call_seconds"] / args.num:.2f} s per sample), '
        f'peak +{r["peak_extra_mb"]:.0f} MB')


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report)
