"""Where DDFFNet-CC3's training step spends its time: one step of the paper's training (full width, the step that
`benchmarks.models` times) traced with `jax.profiler`, each XLA thunk's time mapped to the JAX operation it came
from through the optimised HLO, then summed by pass (forward, backward) and kind (convolution, kernel gradient, …).

Run: python -m benchmarks.profile_step [--train-size 224x224] [--top 25] [--output-dir DIR]

XLA:CPU names a thunk after its HLO instruction (`ynn_fusion.115`, `dot_general.227`, …); the instruction's
`op_name` metadata ("jit(train_step)/transpose(jvp())/…/conv_general_dilated") says whether it belongs to the
forward pass (`jvp(`) or the backward pass (`transpose(`) and which operation it computes. Thunks the CPU runtime
does not trace (some library calls) are missing from the sums: compare their total with the step's time.
"""
import argparse
import collections
import gzip
import json
import os
import re
import sys
import tempfile
import time


def kind_of(op_name: str, instruction: str) -> str:
  """'conv', 'kernel gradient' (the taps of `layers.conv_stride1`, inside a scan), or the operation's last name."""
  if 'conv_general_dilated' in op_name:
    return 'conv'
  if '/while/' in op_name or instruction.startswith('while'):
    return 'kernel gradient'
  return op_name.rsplit('/', 1)[-1][:40] or '?'


def pass_of(op_name: str) -> str:
  return 'backward' if 'transpose(' in op_name else ('forward' if 'jvp(' in op_name else 'other')


def thunk_times(trace_dir: str) -> collections.Counter:
  """Total microseconds per traced name in the newest perfetto trace under `trace_dir`."""
  paths = [os.path.join(d, f) for d, _, fs in os.walk(trace_dir) for f in fs if f.endswith('.trace.json.gz')]
  if not paths:
    raise FileNotFoundError(f'no perfetto trace under {trace_dir}')
  with gzip.open(max(paths, key=os.path.getmtime)) as f:
    events = json.load(f)['traceEvents']
  totals = collections.Counter()
  for e in events:
    if e.get('ph') == 'X':
      totals[e['name']] += e['dur']
  return totals


def hlo_op_names(dump_dir: str) -> dict[str, str]:
  """HLO instruction name -> op_name metadata, from the step's optimised HLO dump."""
  paths = [f for f in os.listdir(dump_dir) if f.endswith('train_step.cpu_after_optimizations.txt')]
  if not paths:
    raise FileNotFoundError(f'no optimised train_step HLO in {dump_dir}')
  with open(os.path.join(dump_dir, paths[0])) as f:
    text = f.read()
  return dict(re.findall(r'^\s*%?([\w.-]+) = [^\n]*?op_name="([^"]*)"', text, re.M))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--train-size', default='224x224', help='H×W of the 2×10-slice training batch')
  parser.add_argument('--top', type=int, default=25, help='how many single thunks to list')
  parser.add_argument('--output-dir', default=None, help='keep the trace and HLO dump here (default: a temp dir)')
  args = parser.parse_args(argv)
  out = args.output_dir or tempfile.mkdtemp(prefix='profile_step_')
  dump = os.path.join(out, 'hlo')
  # Must be set before JAX starts its CPU backend.
  os.environ['XLA_FLAGS'] = ' '.join((os.environ.get('XLA_FLAGS', ''), f'--xla_dump_to={dump}',
                                      '--xla_dump_hlo_as_text', '--xla_dump_hlo_module_re=train_step')).strip()
  import jax
  from benchmarks import device
  h, _, w = args.train_size.partition('x')
  step, state, batch = device.train_setup({'width': 1.0, 'train_size': (int(h), int(w))}, 'float32', 2,
                                          jax.devices()[:1])
  state, stats = step(state, batch)  # compile and warm up
  jax.block_until_ready(stats)
  jax.profiler.start_trace(os.path.join(out, 'trace'), create_perfetto_trace=True)
  start = time.perf_counter()
  state, stats = step(state, batch)
  jax.block_until_ready(stats)
  seconds = time.perf_counter() - start
  jax.profiler.stop_trace()

  totals, names = thunk_times(os.path.join(out, 'trace')), hlo_op_names(dump)
  ops = {k: v for k, v in totals.items() if k in names or k.startswith('while')}
  groups = collections.Counter()
  for k, v in ops.items():
    op = names.get(k, '')
    groups[(pass_of(op), kind_of(op, k))] += v
  print(f'one 2×10×{args.train_size} step: {seconds:.2f} s; traced XLA thunks: {sum(ops.values()) / 1e6:.2f} s')
  print('by pass and kind:')
  for (p, kind), v in groups.most_common():
    if v >= 1e4:
      print(f'  {v / 1e6:8.3f} s  {p:8s} {kind}')
  print(f'the {args.top} slowest thunks:')
  for k, v in collections.Counter(ops).most_common(args.top):
    print(f'  {v / 1e6:8.3f} s  {k:28s} {names.get(k, "")[-90:]}')
  print(f'trace and HLO: {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
