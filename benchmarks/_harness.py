"""Runs each contender in its own subprocess (so peak memory is its own) on identical seeded inputs.

A benchmark module defines `CONTENDERS: dict[name, callable(args) -> (setup_fn, run_fn)]`; `run_fn()` must block
until its result is ready. Timing = min over repeats after one warm-up (compilation excluded, reported apart).
Peak memory = the process's peak RSS growth over the RSS right after the inputs were built. CPU seconds = the
process's CPU time in that fastest run: CPU / wall says how many cores the contender kept busy.
A module may also name `paired` contenders (kernel, floor, ...), or several such groups: each group then runs again in
one process, alternately, and its ratios are taken from that run too. Separate processes run minutes apart on a shared machine, and a ratio of their
minimums moves with whatever else the machine was doing (1.04–2.11 for the same code here); alternating in one
process exposes both to the same conditions.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _peak_rss_mb() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(run, repeats: int) -> dict:
  base = _rss_mb()
  t0, c0 = time.perf_counter(), time.process_time()
  run()
  first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
  runs = []  # (wall, cpu) seconds
  for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    run()
    runs.append((time.perf_counter() - t0, time.process_time() - c0))
  wall, cpu = min(runs) if runs else (first, first_cpu)
  return {'seconds': wall, 'cpu_seconds': cpu, 'first_call_seconds': first,
          'peak_extra_mb': max(0.0, _peak_rss_mb() - base)}


def child(contenders, name: str, args) -> None:
  run, repeats, note = contenders[name](args)
  result = measure(run, repeats)
  result['note'] = note
  print('RESULT ' + json.dumps(result))


def paired_child(contenders, names, args) -> None:
  runs = [contenders[name](args)[0] for name in names]
  for run in runs:  # warm-up: compilation
    run()
  seconds = [[] for _ in names]
  for _ in range(args.paired_rounds):
    for times, run in zip(seconds, runs):
      t0 = time.perf_counter()
      run()
      times.append(time.perf_counter() - t0)
  print('RESULT ' + json.dumps({name: min(times) for name, times in zip(names, seconds)}))


def _run_child(module: str, flag: list, argv) -> dict:
  proc = subprocess.run([sys.executable, '-m', module] + flag + argv, capture_output=True, text=True)
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  if proc.returncode != 0 or not line:
    killed = ' (killed: out of memory?)' if proc.returncode == -9 else ''
    raise RuntimeError(f'{" ".join(flag)} failed with exit code {proc.returncode}{killed}:\n{proc.stdout}\n'
                       f'{proc.stderr}')
  return json.loads(line[-1][len('RESULT '):])


def parent(module: str, contenders, args, argv) -> dict:
  results = {}
  for name in contenders:
    results[name] = r = _run_child(module, ['--child', name], argv)
    print(f'  {name:<28} {r["seconds"]:9.4f} s   cpu/wall {r["cpu_seconds"] / r["seconds"]:4.2f}   '
          f'(first call {r["first_call_seconds"]:.2f} s)   '
          f'peak +{r["peak_extra_mb"]:.0f} MB   {r["note"]}', flush=True)
  return results


def main(module: str, contenders, add_arguments, report, paired=None, paired_rounds: int = 15) -> None:
  """paired: None, a tuple of contender names, or a tuple of such tuples (groups alternated separately)."""
  groups = () if not paired else ((paired,) if isinstance(paired[0], str) else tuple(paired))
  parser = argparse.ArgumentParser(prog=f'python -m {module}')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  parser.add_argument('--paired-child', type=int, help=argparse.SUPPRESS)
  parser.add_argument('--paired-rounds', type=int, default=paired_rounds,
                      help='alternating runs of each paired group in one process' if groups else argparse.SUPPRESS)
  parser.add_argument('--only', default='', help='comma-separated contenders to run (default: all)')
  add_arguments(parser)
  args, _ = parser.parse_known_args()
  if args.paired_rounds < 0:
    parser.error(f'--paired-rounds must be >= 0, got {args.paired_rounds}.')
  if args.only:
    unknown = set(args.only.split(',')) - set(contenders)
    if unknown:
      parser.error(f'--only: unknown contenders {sorted(unknown)}; expected some of {sorted(contenders)}.')
    contenders = {k: v for k, v in contenders.items() if k in args.only.split(',')}
  groups = tuple(g for g in groups if set(g) <= set(contenders))
  if args.child:
    child(contenders, args.child, args)
    return
  if args.paired_child is not None:
    paired_child(contenders, groups[args.paired_child], args)
    return
  argv = [a for a in sys.argv[1:]]
  import platform
  print(f'{module}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s)')
  results = parent(module, contenders, args, argv)
  if args.paired_rounds:
    results['paired'] = {}
    for i, group in enumerate(groups):
      times = _run_child(module, ['--paired-child', str(i)], argv)
      results['paired'].update(times)
      print(f'  alternating in one process ({args.paired_rounds} rounds): '
            + ', '.join(f'{name} {times[name]:.4f} s' for name in group), flush=True)
  report(results, args)
