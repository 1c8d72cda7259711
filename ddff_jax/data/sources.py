"""Training/validation sources named by a config's `data` section."""
from __future__ import annotations

import jax
import numpy as np

from ddff_jax.data import synthetic
from ddff_jax.data.pipeline import ArraySource


def synthetic_light_field_arrays(num: int, seed: int, scene: synthetic.SceneConfig, num_slices: int):
  """`num` DDFF-style samples: stacks (N, S, H, W, 3) float32, disparities (N, H, W), focus disparities (S,)."""
  stacks, disps = [], []
  key = jax.random.PRNGKey(seed)
  focus = None
  for i in range(num):
    stack, disp, focus = synthetic.sample_light_field_stack(jax.random.fold_in(key, i), scene, num_slices)
    stacks.append(np.asarray(stack, np.float32))
    disps.append(np.asarray(disp, np.float32))
  return np.stack(stacks), np.stack(disps), np.asarray(focus, np.float32)


def build_sources(data_config, seed: int):
  """-> (train source, validation source, info dict with 'focus_disparities')."""
  if data_config.source == 'synthetic_lf':
    scene = synthetic.SceneConfig(height=data_config.height, width=data_config.width,
                                  num_objects=data_config.num_objects)
    # Disjoint seeds: validation scenes are never seen in training.
    train_stack, train_disp, focus = synthetic_light_field_arrays(data_config.num_train, seed, scene,
                                                                  data_config.num_slices)
    val_stack, val_disp, _ = synthetic_light_field_arrays(data_config.num_val, seed + 1_000_003, scene,
                                                          data_config.num_slices)
    return (ArraySource(stack=train_stack, disparity=train_disp), ArraySource(stack=val_stack, disparity=val_disp),
            {'focus_disparities': focus})
  raise ValueError(f"unknown data source {data_config.source!r}; expected 'synthetic_lf'.")
