"""DDFFNet-CC3 (full width) against the same network written plainly in PyTorch, and the DDFS forward pass.

  ddffnet_cc3_forward     ddff_jax, eval forward of one 1×10×384×576 stack (the DDFF test size after padding)
  torch_cc3_forward       benchmarks/torch_ddffnet.py, the same (torch.inference_mode)
  ddffnet_cc3_train_step  ddff_jax, one step of the paper's training (configs/ddffnet.py: SGD momentum 0.9, L2 5e-4,
                          clip 5, MSE) on a 2×10×224×224 batch: the step `python -m ddff_jax.train` runs
  torch_cc3_train_step    the same step in PyTorch
  ddfs                    DDFSNet on a 64-hypothesis 256×256 cost volume + image
The JAX and PyTorch contenders also run alternately in one process (`--paired-rounds`, 2 by default), and their
ratios are taken from that run: separate processes minutes apart meet different loads on a shared machine.
Parameter counts are asserted equal. PyTorch is the optional `bench` extra (pip install -e ".[bench]"); without it
the PyTorch contenders are skipped with a message.
On a GPU, give --torch-device=cuda (JAX takes its default device); peak memory is then the host's, not the GPU's.
Run: python -m benchmarks.models [--repeats 2] [--dtype bfloat16] [--forward-size 384x576] [--train-size 224x224]
"""
import importlib.util

from benchmarks import _harness

MODULE = 'benchmarks.models'
SLICES = 10
HAVE_TORCH = importlib.util.find_spec('torch') is not None


def _size(text: str) -> tuple[int, int]:
  h, _, w = text.partition('x')
  return int(h), int(w)


def _paper_config(args):
  from ddff_jax.configs import ddffnet
  config = ddffnet.get_config()
  config.model.dtype = args.dtype
  return config


def _inputs(batch: int, size, seed: int = 0):
  """Seeded stack (B, S, H, W, 3) in [0, 1] and disparity (B, H, W) within the DDFF range, as NumPy."""
  import numpy as np
  rng = np.random.default_rng(seed)
  stack = rng.random((batch, SLICES) + size + (3,), dtype=np.float32)
  disparity = rng.uniform(0.03, 0.27, (batch,) + size).astype(np.float32)
  return stack, disparity


def ddffnet_cc3_forward(args):
  import jax
  from flax import nnx
  from ddff_jax import compiler
  from ddff_jax.models.registry import build_model
  model = nnx.jit(lambda: build_model(_paper_config(args).model))()
  model.eval()
  graphdef, state = nnx.split(model)
  stack = jax.numpy.asarray(_inputs(1, _size(args.forward_size))[0])
  # As predict and evaluate compile it (methods.from_model).
  forward = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x), compiler_options=compiler.options())
  return (lambda: jax.block_until_ready(forward(state, stack))), args.repeats, f'1×{SLICES}×{args.forward_size}'


def ddffnet_cc3_train_step(args):
  import jax
  from benchmarks import device
  sizes = {'width': 1.0, 'train_size': _size(args.train_size)}
  step, state, batch = device.train_setup(sizes, args.dtype, 2, jax.devices()[:1])
  holder = [state]

  def run():
    holder[0], stats = step(holder[0], batch)
    jax.block_until_ready(stats)

  return run, args.repeats, f'2×{SLICES}×{args.train_size}, SGD'


def _torch_model(train: bool, device: str = 'cpu'):
  import torch
  from benchmarks.torch_ddffnet import DDFFNetCC3
  torch.manual_seed(0)
  model = DDFFNetCC3(SLICES).to(device)
  return model.train() if train else model.eval()


def _to_torch(stack, device: str = 'cpu'):
  import torch
  return torch.from_numpy(stack).permute(0, 1, 4, 2, 3).contiguous().to(device)  # (B, S, 3, H, W)


def _torch_sync(device: str) -> None:
  """Waits for the device's queued kernels, as block_until_ready does on the JAX side."""
  import torch
  if device.startswith('cuda'):
    torch.cuda.synchronize(device)


def _torch_note(device: str) -> str:
  import torch
  return f'{torch.get_num_threads()} threads' if device == 'cpu' else torch.cuda.get_device_name(device)


def torch_cc3_forward(args):
  import torch
  device = args.torch_device
  model = _torch_model(train=False, device=device)
  stack = _to_torch(_inputs(1, _size(args.forward_size))[0], device)

  def run():
    with torch.inference_mode():
      out = model(stack * 255.0)  # the paper config's raw 0-255 input, as the JAX model scales inside
    _torch_sync(device)
    return out

  return run, args.repeats, f'1×{SLICES}×{args.forward_size}, {_torch_note(device)}'


def torch_cc3_train_step(args):
  import torch
  device = args.torch_device
  model = _torch_model(train=True, device=device)
  optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
  stack, disparity = _inputs(2, _size(args.train_size))
  stack, disparity = _to_torch(stack, device), torch.from_numpy(disparity).to(device)

  def run():
    optimizer.zero_grad(set_to_none=True)
    loss = torch.mean((model(stack * 255.0) - disparity) ** 2)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optimizer.step()
    _torch_sync(device)

  return run, args.repeats, f'2×{SLICES}×{args.train_size}, SGD, {_torch_note(device)}'


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


PAIRS = (('ddffnet_cc3_forward', 'torch_cc3_forward'), ('ddffnet_cc3_train_step', 'torch_cc3_train_step'))
CONTENDERS = {'ddffnet_cc3_forward': ddffnet_cc3_forward, 'ddffnet_cc3_train_step': ddffnet_cc3_train_step,
              'ddfs': ddfs}
if HAVE_TORCH:
  CONTENDERS.update(torch_cc3_forward=torch_cc3_forward, torch_cc3_train_step=torch_cc3_train_step)


def parameter_counts() -> tuple[int, int]:
  """(ddff_jax, PyTorch) trainable parameters of DDFFNet-CC3 at full width."""
  import jax
  import numpy as np
  from flax import nnx
  from ddff_jax.configs import ddffnet
  from ddff_jax.models.registry import build_model
  from benchmarks.torch_ddffnet import parameter_count
  model = nnx.eval_shape(lambda: build_model(ddffnet.get_config().model))
  ours = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  return ours, parameter_count(_torch_model(train=False))


def add_arguments(parser):
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                      help='compute dtype of the ddff_jax model (parameters stay float32)')
  parser.add_argument('--forward-size', default='384x576', help='H×W of the forward pass (multiples of 32)')
  parser.add_argument('--train-size', default='224x224', help='H×W of the training batch (multiples of 32)')
  parser.add_argument('--torch-device', default='cpu',
                      help="PyTorch's device, e.g. cuda (ddff_jax takes JAX's default device)")


def report(results, args):
  for name, r in results.items():
    if name != 'paired':
      print(f'{name}: {r["seconds"]:.2f} s, peak +{r["peak_extra_mb"]:.0f} MB')
  if not HAVE_TORCH:
    print('PyTorch is not installed (pip install -e ".[bench]"): the PyTorch contenders were skipped.')
    return
  ours, theirs = parameter_counts()
  assert ours == theirs, f'parameter counts differ: ddff_jax {ours:,} vs PyTorch {theirs:,}'
  print(f'parameters: {ours:,} in both')
  for jax_name, torch_name in PAIRS:
    if jax_name in results and torch_name in results:
      separate = results[jax_name]['seconds'] / results[torch_name]['seconds']
      line = f'{jax_name} / {torch_name}: {separate:.3f}× (separate processes)'
      paired = results.get('paired', {})
      if jax_name in paired and torch_name in paired:
        line += f', {paired[jax_name] / paired[torch_name]:.3f}× (alternating in one process)'
      print(line)


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report, paired=PAIRS if HAVE_TORCH else None,
                paired_rounds=2)
