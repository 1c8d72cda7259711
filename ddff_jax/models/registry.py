"""Builds a model from its config section (the config is stored with every checkpoint)."""
from __future__ import annotations

from flax import nnx

from ddff_jax.models.ddffnet import DDFFNet
from ddff_jax.models.ddfs import DDFSNet


def build_model(model_config, seed: int = 0):
  name = model_config.name
  if name == 'ddffnet':
    return DDFFNet(model_config.num_slices, upsample=model_config.upsample, skips=tuple(model_config.skips),
                   width=model_config.width, dropout=model_config.dropout, bilinear_init=model_config.bilinear_init,
                   normalization=model_config.normalization, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
  if name == 'ddfs':
    return DDFSNet(model_config.num_hypotheses, width=model_config.width, rngs=nnx.Rngs(params=seed))
  raise ValueError(f"unknown model name {name!r}; expected 'ddffnet' or 'ddfs'.")
