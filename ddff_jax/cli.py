"""What the command-line tools share: one-line errors for the user's mistakes, and the flags that choose a method.

A tool's module defines its flags in `define_flags()` (only when run as a program: absl flags are global) and ends
with `cli.run(main, define_flags)`. A `UserError` (bad path, shape, key, flag or config value) ends the program
with `error: <message>` on stderr and exit status 2; any other exception is a programming error and keeps its
traceback.
"""
from __future__ import annotations

import contextlib
import functools
import re
import sys

from ddff_jax import errors

EXIT_USAGE = 2


def fail(message: str):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(EXIT_USAGE)


def one_line_errors(fn):
  """Runs `fn`, turning a UserError into `error: …` and exit status 2 (and quieting absl's INFO logging, where
  orbax reports every save)."""
  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    try:
      return fn(*args, **kwargs)
    except errors.UserError as e:
      fail(str(e).strip() or type(e).__name__)
  return wrapped


@contextlib.contextmanager
def _flag_errors(argv):
  """One-line errors while flags are defined and parsed: unknown flags, bad values, and `--config.<path>`
  overrides that name no config field or do not parse (ml_collections raises these while defining the config
  flag, as it reads the overrides from argv)."""
  from absl import flags
  try:
    yield
  except flags.Error as e:
    fail(str(e).splitlines()[0])
  except (AttributeError, KeyError, ValueError, TypeError) as e:
    overrides = [a.split('=', 1)[0] for a in argv[1:] if a.startswith('--config.')]
    field = str(e).strip('"\' ')
    named = [o for o in overrides if re.search(rf'\.{re.escape(field)}$', o)] if field else []
    where = named[0] if named else (', '.join(overrides) or 'the config')
    fail(f'{where}: the config has no such field, or the value does not fit it ({field or type(e).__name__}).')


def _parse_flags(argv):
  from absl import flags
  with _flag_errors(argv):
    return flags.FLAGS(argv)


def run(main, define_flags) -> None:
  """`python -m ddff_jax.<tool>`: defines the tool's flags, parses them, runs `main` with one-line errors."""
  from absl import app
  with _flag_errors(sys.argv):
    define_flags()

  def checked_main(argv):
    if len(argv) > 1:
      fail(f'unexpected arguments: {" ".join(argv[1:])}')
    return one_line_errors(main)(argv)

  app.run(checked_main, flags_parser=_parse_flags)


def loaded_config(config):
  """The value of a `config_flags` flag, or a one-line error when its file did not load (ml_collections defers
  that error to the first access)."""
  try:
    config.keys()
  except OSError as e:
    detail = ' '.join(line.strip() for line in str(e).splitlines() if line.strip())
    fail(f'--config could not be loaded: {detail.split("failure to load: ")[-1]}')
  return config


def define_method_flags() -> None:
  """The flags that choose a method, shared by `predict` and `evaluate`."""
  from absl import flags
  from ddff_jax import methods
  flags.DEFINE_enum('method', 'checkpoint', list(methods.METHODS),
                    'A trained model (--workdir), the classical DFF, a whole DDFFNet weights file (--weights), '
                    'the DDFFNet shipped with the package for real light fields (pretrained), or the DDFS shipped '
                    'for focal stacks with known focus distances and camera (pretrained_ddfs).')
  flags.DEFINE_string('workdir', None, 'Training workdir holding the model (for --method=checkpoint).')
  flags.DEFINE_enum('which', 'best', ['best', 'latest'], 'Which checkpoint of the workdir.')
  flags.DEFINE_string('weights', None, 'For --method=weights: a whole-DDFFNet weights file, e.g. the released TF '
                      'export ddffnet-cc3-snapshot-121256.npz.')
  flags.DEFINE_string('variant', 'cc3-upconv', "For --method=weights: the DDFFNet variant of the file, "
                      "'<cc1|cc2|cc3|none>-<upconv|unpool|bilinear>'.")


def method_from_flags(values):
  from ddff_jax import methods
  return methods.from_name(values.method, workdir=values.workdir, which=values.which, weights=values.weights,
                           variant=values.variant)
