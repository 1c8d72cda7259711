"""Forward pass of the full-width networks on CPU (jit-compiled, eval mode): time and peak memory.

  ddffnet_cc3  DDFFNet-CC3 (UpConv) on one 10×384×576 focal stack (the DDFF test size after padding)
  ddfs         DDFSNet on a 64-hypothesis 256×256 cost volume + image
Run: python -m benchmarks.models [--repeats 2]
"""
from benchmarks import _harness

MODULE = 'benchmarks.models'


def ddffnet_cc3(args):
  import jax
  from flax import nnx
  from ddff_jax.models.ddffnet import DDFFNet
  model = DDFFNet(10, rngs=nnx.Rngs(0))
  model.eval()
  stack = jax.random.uniform(jax.random.PRNGKey(0), (1, 10, 384, 576, 3))
  forward = nnx.jit(lambda m, x: m(x))
  return (lambda: jax.block_until_ready(forward(model, stack))), args.repeats, '1×10×384×576×3'


def ddfs(args):
  import jax
  import jax.numpy as jnp
  from flax import nnx
  from ddff_jax.models.ddfs import DDFSNet
  model = DDFSNet(64, rngs=nnx.Rngs(0))
  model.eval()
  image = jax.random.uniform(jax.random.PRNGKey(0), (1, 256, 256, 3))
  cost = jax.random.uniform(jax.random.PRNGKey(1), (1, 64, 256, 256))
  hyps = jnp.linspace(0.1, 3.0, 64)
  forward = nnx.jit(lambda m, x, c: m(x, c, hyps)[-1])
  return (lambda: jax.block_until_ready(forward(model, image, cost))), args.repeats, '1×256×256, D = 64'


CONTENDERS = {'ddffnet_cc3': ddffnet_cc3, 'ddfs': ddfs}


def add_arguments(parser):
  parser.add_argument('--repeats', type=int, default=2)


def report(results, args):
  for name, r in results.items():
    print(f'{name}: {r["seconds"]:.2f} s per forward, peak +{r["peak_extra_mb"]:.0f} MB')


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report)
