"""Atomic writes: every file a tool writes appears whole or not at all (a crash leaves the previous version)."""
from __future__ import annotations

import contextlib
import json
import math
import os


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path beside `path` (same extension, so format-sniffing writers behave); renames it onto
  `path` when the block succeeds, removes it when the block raises."""
  path = os.fspath(path)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  root, ext = os.path.splitext(path)
  tmp = f'{root}.tmp{os.getpid()}{ext}'
  try:
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path, text: str) -> None:
  with atomic_path(path) as tmp, open(tmp, 'w') as f:
    f.write(text)


def _strict(value):
  """`value` with every non-finite float as None: JSON has no NaN, and undefined metrics (AbsRel of signed
  disparities) are NaN."""
  if isinstance(value, dict):
    return {k: _strict(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_strict(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def json_text(data, **kwargs) -> str:
  """Standard JSON (undefined values as null, which jq and browsers read; Python's default writes NaN)."""
  return json.dumps(_strict(data), allow_nan=False, **kwargs)


def write_json(path, data) -> None:
  write_text(path, json_text(data, indent=2, sort_keys=True))


def save_npy(path, array) -> None:
  import numpy as np
  with atomic_path(path) as tmp:
    np.save(tmp, array)


def save_npz(path, **arrays) -> None:
  import numpy as np
  with atomic_path(path) as tmp:
    np.savez_compressed(tmp, **arrays)
