"""Input checks shared by the optics kernels.

Checks on shapes and dtypes run at trace time (shapes are static), so they cost nothing inside `jit`.
Checks on values (NaN/Inf) run only on concrete arrays: under `jit` the values are not known yet.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors


def check_rank(x, ranks: int | Sequence[int], name: str, layout: str) -> None:
  """Raises ValueError unless `x.ndim` is one of `ranks`; `layout` describes the expected axes."""
  ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
  shape = np.shape(x)
  if len(shape) not in ranks:
    raise errors.UserError(f'{name} must have shape {layout}, got an array of shape {shape}.')
  if any(s == 0 for s in shape):
    raise errors.UserError(f'{name} must not be empty: expected {layout}, got shape {shape}.')


def is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def check_finite(x, name: str) -> None:
  """Raises ValueError if a concrete array holds NaN or Inf (no-op for tracers)."""
  if is_concrete(x):
    arr = np.asarray(x)
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
      bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
      raise errors.UserError(f'{name} contains {bad} NaN/Inf value(s); expected finite numbers.')


# Integer image dtypes and the factor that maps them onto [0, 1]: the package's one uint8/uint16 -> float rule.
_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _dtype(x) -> np.dtype:
  return np.dtype(x.dtype if hasattr(x, 'dtype') else np.asarray(x).dtype)


def float_image_spec(x, name: str):
  """(float dtype, scale) that turn `x` into a [0, 1] float image; raises on dtypes that are not images."""
  dtype = _dtype(x)
  if dtype in _FULL_SCALE:
    return jnp.float32, 1.0 / _FULL_SCALE[dtype]
  if np.issubdtype(dtype, np.floating):
    return (jnp.float64 if dtype == np.float64 and jax.config.jax_enable_x64 else jnp.float32), 1.0
  raise errors.WrongDtype(f'{name} must be uint8, uint16 or floating point in [0, 1]; got dtype {dtype}.')


def as_float_image(x, name: str) -> jax.Array:
  """uint8/uint16 -> float32 in [0, 1]; floats pass through (float64 stays float64 under x64)."""
  dtype, scale = float_image_spec(x, name)
  if scale == 1.0:
    check_finite(x, name)
    return jnp.asarray(x).astype(dtype)
  return jnp.asarray(x, dtype) / _FULL_SCALE[_dtype(x)]


def to_unit_float(x, name: str = 'images') -> np.ndarray:
  """Host-side (NumPy) form of `as_float_image` for data pipelines: float32 in [0, 1] (floats are clipped)."""
  x = np.asarray(x)
  _, scale = float_image_spec(x, name)
  if scale == 1.0:
    check_finite(x, name)
    return np.clip(x.astype(np.float32), 0.0, 1.0)
  return x.astype(np.float32) / np.float32(_FULL_SCALE[x.dtype])


def as_float_vector(x, name: str) -> jax.Array:
  """A 1-D float vector (scalars become length 1); raises on empty or non-finite input."""
  x = jnp.atleast_1d(jnp.asarray(x))
  check_rank(x, 1, name, '(N,)')
  check_finite(x, name)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  return x


def raise_if_not_finite(all_finite, name: str) -> None:
  """Raises for a concrete False flag computed inside a kernel (`jnp.all(jnp.isfinite(x))`)."""
  if is_concrete(all_finite) and not bool(all_finite):
    raise errors.UserError(f'{name} contains NaN/Inf value(s); expected finite numbers.')
