"""Models by name. `build_model(config.model)` is `MODELS[config.model.name](**the other fields, rngs=...)`.

A model registers itself with `@register('<name>')` in `ddff_jax/models/<name>.py`, which `build_model` imports on
first use: adding a model touches its own module and its config only. Every registered model follows one protocol,
so that tasks, training, evaluation and prediction never ask which model they hold:

    targets: tuple[str, ...]            what it can predict: 'disparity' (px) and/or 'depth' (m)
    output_range: (lo, hi) | None       values it can reach (targets outside are left out of the loss)
    forward(stack, focus, *, camera=None, depth_scale=None) -> tuple of (B, h, w) maps, coarse to fine, the
        prediction last; the loss averages over all of them (deep supervision)
        stack (B, S, H, W, 3) in [0, 1]; focus (S,) or (B, S) the slices' focus disparities (px) or distances (m);
        camera the thin-lens camera of depth data; depth_scale (B,) the DDFS depth-scale augmentation's factors.
"""
from __future__ import annotations

import importlib

from flax import nnx

from ddff_jax import errors

MODELS: dict[str, type] = {}


def register(name: str):
  """Class decorator: makes the model buildable as `model.name = '<name>'` in a config."""
  def add(cls):
    if name in MODELS and MODELS[name] is not cls:
      raise RuntimeError(f'model name {name!r} is already registered by {MODELS[name].__qualname__}.')
    MODELS[name] = cls
    return cls
  return add


def model_class(name: str) -> type:
  if name not in MODELS:
    try:
      importlib.import_module(f'ddff_jax.models.{name}')
    except ModuleNotFoundError as e:
      if e.name != f'ddff_jax.models.{name}':
        raise
  if name not in MODELS:
    raise errors.UserError(f'unknown model name {name!r}; expected one of {sorted(MODELS) or ["ddffnet", "ddfs"]} '
                           f'(a model registers itself in ddff_jax/models/<name>.py).')
  return MODELS[name]


def build_model(model_config, seed: int = 0) -> nnx.Module:
  """The model of a config's `model` section, initialised from `seed` (dropout streams from seed + 1)."""
  fields = dict(model_config)
  cls = model_class(fields.pop('name'))
  fields = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}  # JSON round trips make lists
  try:
    return cls(**fields, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
  except TypeError as e:
    if 'unexpected keyword argument' in str(e) or 'missing' in str(e) and 'required' in str(e):
      raise errors.UserError(f'model config {dict(model_config)} does not fit {cls.__name__}: {e}.') from e
    raise
