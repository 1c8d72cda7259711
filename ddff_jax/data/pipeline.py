"""Deterministic, resumable input pipeline over random-access sources.

The batch at step t is a pure function of (seed, t): the example order is a fresh permutation each epoch, and
augmentations (random crops, flips) are keyed by (seed, step, position). The iterator state to checkpoint is therefore
the step alone, and a resumed run sees exactly the batches an uninterrupted run would have. Each host reads only its
contiguous share of the global batch; `to_global` assembles the shares into one array sharded over the mesh.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import jax
import numpy as np

from ddff_jax import errors

# A source: `len(source)` and `source[i]` -> dict of numpy arrays (one example).
Source = Sequence[Mapping[str, np.ndarray]]


class ArraySource:
  """Examples held as stacked arrays: `ArraySource(stack=(N, ...), disparity=(N, ...))`."""

  def __init__(self, **arrays):
    sizes = {len(v) for v in arrays.values()}
    if len(sizes) != 1:
      sizes = {k: len(v) for k, v in arrays.items()}
      raise errors.UserError(f'all arrays need the same number of examples, got {sizes}.')
    self.arrays = arrays

  def __len__(self):
    return len(next(iter(self.arrays.values())))

  def __getitem__(self, index):
    return {k: v[index] for k, v in self.arrays.items()}


class ConcatSource:
  """Several sources as one, each repeated `repeats` times per epoch (with random crops, repeats differ):
  `ConcatSource((natural, 1), (renders, 4))`. Their examples may differ in size when the crop evens them out."""

  def __init__(self, *parts: tuple[Source, int]):
    self.parts = [(source, int(repeats)) for source, repeats in parts if len(source) and repeats > 0]
    if not self.parts:
      raise errors.UserError('ConcatSource needs at least one non-empty source with repeats > 0.')

  def __len__(self):
    return sum(len(source) * repeats for source, repeats in self.parts)

  def __getitem__(self, index: int):
    for source, repeats in self.parts:
      size = len(source) * repeats
      if index < size:
        return source[index % len(source)]
      index -= size
    raise IndexError(index)


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(num_examples)


def batch_indices(num_examples: int, global_batch: int, step: int, seed: int) -> np.ndarray:
  """Example indices of the global batch at `step`: consecutive slices of per-epoch permutations."""
  start = step * global_batch
  out, position = [], start
  while len(out) < global_batch:
    epoch, offset = divmod(position, num_examples)
    take = min(global_batch - len(out), num_examples - offset)
    out.extend(epoch_permutation(num_examples, seed, epoch)[offset:offset + take])
    position += take
  return np.asarray(out)


@dataclasses.dataclass(frozen=True)
class Augment:
  """Random crop to (crop_h, crop_w) (0 = no crop), horizontal/vertical flips and (with `transpose`) a swap of the
  image axes, applied alike to every image-like field. `image_fields` have (..., H, W, C) layout, `map_fields`
  (..., H, W). With the flips, the transpose completes the eight rotations and mirrorings of a square crop.

  On a focal stack refocused from a light field with a square, centred view grid, flipping or transposing the
  stack is the same as refocusing the light field with its images and its view grid flipped or transposed alike
  (`tests/test_natural.py` checks it), so the augmented stacks are those of real rotated light fields.

  `depth_scales` (DDFS depth-scale augmentation): each example gets a 'depth_scale' σ drawn from them. The images
  stay as they are: a scene σ times farther, seen by a camera with σ times the focal length and 1/σ the pixel density
  and focused σ times farther, has the same blur (`ThinLensCamera.scaled`); the task scales the target and the cost
  volume's settings.
  """
  crop: tuple[int, int] = (0, 0)
  flip: bool = True
  transpose: bool = False
  image_fields: tuple[str, ...] = ('stack',)
  map_fields: tuple[str, ...] = ('disparity',)
  depth_scales: tuple[float, ...] = ()

  def __call__(self, example, rng: np.random.Generator):
    example = dict(example)
    ref = example[self.map_fields[0]]
    h, w = ref.shape[-2:]
    ch, cw = self.crop
    if ch and cw:
      if ch > h or cw > w:
        raise errors.UserError(f'crop {ch}x{cw} is larger than the {h}x{w} examples.')
      y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
      for k in self.image_fields:
        example[k] = example[k][..., y:y + ch, x:x + cw, :]
      for k in self.map_fields:
        example[k] = example[k][..., y:y + ch, x:x + cw]
    if self.flip:
      for axis_img, axis_map in ((-2, -1), (-3, -2)):
        if rng.random() < 0.5:
          for k in self.image_fields:
            example[k] = np.flip(example[k], axis_img)
          for k in self.map_fields:
            example[k] = np.flip(example[k], axis_map)
    if self.transpose and rng.random() < 0.5:
      for k in self.image_fields:
        example[k] = np.swapaxes(example[k], -3, -2)
      for k in self.map_fields:
        example[k] = np.swapaxes(example[k], -2, -1)
    example = {k: np.ascontiguousarray(v) for k, v in example.items()}
    if self.depth_scales:  # a 0-d array (np.ascontiguousarray would make it 1-d)
      example['depth_scale'] = np.asarray(self.depth_scales[rng.integers(len(self.depth_scales))], np.float32)
    return example


def host_batch(source: Source, step: int, global_batch: int, seed: int,
               augment: Callable | None = None, process_index: int | None = None,
               process_count: int | None = None) -> dict[str, np.ndarray]:
  """This host's share of the global batch at `step` (stacked numpy arrays)."""
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if global_batch % process_count:
    raise errors.UserError(f'global batch {global_batch} does not split over {process_count} hosts.')
  per_host = global_batch // process_count
  indices = batch_indices(len(source), global_batch, step, seed)
  examples = []
  for position in range(process_index * per_host, (process_index + 1) * per_host):
    example = source[int(indices[position])]
    if augment is not None:
      example = augment(example, np.random.default_rng([seed, step, position, 7]))
    examples.append(example)
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def to_global(batch: Mapping[str, np.ndarray], sharding) -> dict[str, jax.Array]:
  """Per-host numpy shares -> global arrays laid out by `sharding` (batch on the mesh's data axis)."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


def grain_batches(source: Source, global_batch: int, seed: int, augment: Callable | None = None, *,
                  start_step: int = 0, num_steps: int | None = None, num_threads: int = 2, prefetch: int = 4):
  """This host's batches for steps start_step, start_step + 1, … as a grain `IterDataset`.

  The batches are exactly `host_batch(source, step, …)`; grain reads and augments them on `num_threads` threads
  ahead of the training loop. The iterator's `get_state()`/`set_state()` can be checkpointed, but the step alone
  already determines the stream, so a resumed run simply starts a new dataset at its restored step.
  """
  import grain
  steps = grain.MapDataset.range(start_step, num_steps if num_steps is not None else 2**62)
  batches = steps.map(lambda step: host_batch(source, int(step), global_batch, seed, augment))
  return batches.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch))
