"""Shared fixtures: the real HCI data in ../shared/data (read in place, never copied), the `slow` marker, and one
XLA compilation cache per test session (shared with the subprocesses the tests start, so that a program compiled
once, e.g. the tiny training step, is not compiled again by every run that uses it)."""
import contextlib
import fcntl
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest

if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='ddff_jax_xla_cache_')
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0.2'
# JAX's original threefry in the tests: XLA:CPU (jaxlib 0.10.2) compiles the partitionable form's random draws many
# times slower (20 s instead of 1 s for a 4-layer initialiser), and no test draws sharded random numbers. The library
# keeps JAX's default, so that seeded runs reproduce the documented figures.
os.environ.setdefault('JAX_THREEFRY_PARTITIONABLE', '0')


def xla_flags(*flags: str) -> str:
  """This process's XLA_FLAGS with `flags` added, for subprocesses that simulate devices."""
  return ' '.join((os.environ.get('XLA_FLAGS', ''),) + flags).strip()


REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get('DDFF_SHARED_DATA', REPO.parent / 'shared' / 'data'))
HCI_ROOT = SHARED_DATA / 'hci'


def pytest_addoption(parser):
  parser.addoption('--runslow', action='store_true', default=False, help='also run tests marked slow')


@contextlib.contextmanager
def _exclusive(path):
  with open(path, 'w') as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    yield


def build_once(tmp_path_factory, name: str, build) -> pathlib.Path:
  """A folder `name` that `build(folder)` fills once per test session, also under pytest-xdist, whose workers share
  the parent of their temporary folders: the first worker to need it builds it while the others wait."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    base = base.parent
  root = base / name
  with _exclusive(f'{root}.lock'):
    if not (root / '.built').exists():
      shutil.rmtree(root, ignore_errors=True)  # what a failed attempt left
      root.mkdir()
      build(root)
      (root / '.built').touch()
  return root


def pytest_collection_modifyitems(config, items):
  if config.getoption('--runslow'):
    for item in items:
      item.own_markers = [m for m in item.own_markers if m.name != 'slow']
  # The tests that read the README's tool-line folder go first: pytest-xdist hands each worker a first chunk of
  # consecutive tests, so one worker builds the folder and runs them while the other gets on with the rest, instead
  # of idling on the folder's lock when they meet later.
  items.sort(key=lambda item: 'readme_folder' not in getattr(item, 'fixturenames', ()))


def hci_scene_path(name: str) -> pathlib.Path:
  """Path of an HCI scene such as 'stratified/backgammon'; skips the test with a clear reason when absent."""
  path = HCI_ROOT / name
  if not (path / 'input_Cam040.png').is_file():
    pytest.skip(f'real HCI scene {name!r} not found at {path} (set DDFF_SHARED_DATA to the shared data folder)')
  return path


@pytest.fixture(scope='session')
def backgammon():
  from ddff_jax.data.hci import read_hci_scene
  return read_hci_scene(hci_scene_path('stratified/backgammon'))


@pytest.fixture(scope='session')
def antinous():
  from ddff_jax.data.hci import read_hci_scene
  return read_hci_scene(hci_scene_path('additional/antinous'))


README = (REPO / 'README.md').read_text()
# Appended to the README's `ddff_jax.train` lines in tests (the last value of a flag wins): a run of seconds, with
# the programs of tests/train_tiny.py's run, so that one compilation serves both (the session's XLA cache).
TINY_TRAIN = ['--noprogress', '--config.model.width=0.0625', '--config.data.height=32', '--config.data.width=32',
              '--config.data.num_train=8', '--config.data.num_val=2', '--config.train.num_steps=4',
              '--config.train.batch_size=4', '--config.train.optimizer=sgd', '--config.train.learning_rate=0.05',
              '--config.eval_every=2', '--config.checkpoint_every=2', '--config.log_every=2']


def readme_blocks(language: str) -> list[str]:
  return re.findall(rf'```{language}\n(.*?)```', README, re.S)


def readme_commands(block: str) -> list[list[str]]:
  """The commands of a bash block: continuation lines joined, comments dropped."""
  text = re.sub(r'\\\n\s*', ' ', block)
  return [shlex.split(line, comments=True) for line in text.splitlines() if shlex.split(line, comments=True)]


def run_command(argv, cwd=None, env=None, timeout=900):
  """A command as a user types it (`python3` is this interpreter)."""
  if argv[0] == 'python3':
    argv = [sys.executable] + argv[1:]
  return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope='session')
def readme_folder(tmp_path_factory):
  """A folder `work/` with `../shared` pointing at the real data, where the README's command-line tool lines have
  run (those that read the real HCI scenes only where they are present). Its `runs/default` is the tiny trained
  workdir the tool tests use."""
  return build_once(tmp_path_factory, 'readme', _run_readme_tool_lines) / 'work'


def _run_readme_tool_lines(root):
  have_data = (SHARED_DATA / 'hci' / 'stratified' / 'backgammon' / 'input_Cam040.png').is_file()
  (root / 'shared').symlink_to(SHARED_DATA.parent, target_is_directory=True)
  work = root / 'work'
  work.mkdir()
  (work / 'ddff_jax').symlink_to(REPO / 'ddff_jax', target_is_directory=True)  # the configs' paths resolve
  tools = [b for b in readme_blocks('bash') if 'ddff_jax.evaluate' in b and 'ddff_jax.predict' in b]
  assert len(tools) == 1, 'the README has one block of command-line tools'
  for argv in readme_commands(tools[0]):
    if not have_data and any('../shared' in a or a.startswith('--input=stack') for a in argv):
      continue
    if argv[1:3] == ['-m', 'ddff_jax.train']:
      argv = argv + TINY_TRAIN
    result = run_command(argv, work)
    assert result.returncode == 0, f'{shlex.join(argv)}\n{result.stderr[-3000:]}'


@pytest.fixture(scope='session')
def cli_workdir(readme_folder):
  """The tiny DDFFNet workdir that the README's `python3 -m ddff_jax.train` line wrote."""
  return readme_folder / 'runs' / 'default'
