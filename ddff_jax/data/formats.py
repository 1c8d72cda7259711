"""Readers and writers of the image file formats the field uses (one implementation per format)."""
from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image

from ddff_jax import errors
from ddff_jax import files


def read_pfm(path) -> np.ndarray:
  """Reads a PFM image ('Pf' grayscale or 'PF' colour) as float32 (H, W) or (H, W, 3), top row first.

  PFM stores rows bottom-up and marks little-endian data with a negative scale; both are undone here.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise errors.InputNotFound(f'PFM file not found: {path}')
  with open(path, 'rb') as f:
    header = f.readline().strip()
    if header not in (b'PF', b'Pf'):
      raise errors.UserError(f'{path} is not a PFM file: first line {header[:20]!r}, expected b"PF" or b"Pf".')
    dims = f.readline()
    while dims.startswith(b'#'):
      dims = f.readline()
    match = re.match(rb'^\s*(\d+)\s+(\d+)\s*$', dims)
    if not match:
      raise errors.UserError(f'{path}: malformed PFM size line {dims[:40]!r}, expected "<width> <height>".')
    width, height = int(match.group(1)), int(match.group(2))
    scale = float(f.readline().strip())
    dtype = '<f4' if scale < 0 else '>f4'
    channels = 3 if header == b'PF' else 1
    data = np.frombuffer(f.read(), dtype=dtype)
  expected = width * height * channels
  if data.size < expected:
    raise errors.UserError(f'{path}: PFM data holds {data.size} floats, expected {expected} '
                           f'({width}x{height}x{channels}).')
  data = data[:expected].reshape(height, width, channels) if channels == 3 else data[:expected].reshape(height, width)
  return np.ascontiguousarray(np.flipud(data)).astype(np.float32)


def write_pfm(path, image) -> None:
  """Writes float (H, W) or (H, W, 3) as little-endian PFM (rows bottom-up, as the format stores them)."""
  image = np.asarray(image, np.float32)
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
    raise errors.UserError(f'PFM holds (H, W) or (H, W, 3) images, got shape {image.shape}.')
  header = b'PF' if image.ndim == 3 else b'Pf'
  with files.atomic_path(path) as tmp, open(tmp, 'wb') as f:
    f.write(header + b'\n' + f'{image.shape[1]} {image.shape[0]}\n'.encode() + b'-1\n')
    f.write(np.flipud(image).astype('<f4').tobytes())


def read_image(path) -> np.ndarray:
  """Reads a PNG/JPEG/TIFF image as an array: uint8 RGB (H, W, 3), or uint16/uint8 (H, W) for one-channel images."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise errors.InputNotFound(f'image file not found: {path}')
  with Image.open(path) as img:
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
      return np.asarray(img, dtype=np.uint16) if img.mode != 'I' else np.asarray(img).astype(np.uint16)
    if img.mode in ('L', 'RGB'):
      return np.asarray(img)
    return np.asarray(img.convert('RGB'))


def write_png(path, image) -> None:
  """Writes uint8 (H, W[, 3]) or uint16 (H, W) as PNG atomically (temporary file + rename)."""
  image = np.asarray(image)
  if image.dtype not in (np.uint8, np.uint16):
    raise TypeError(f'PNG writing needs uint8 or uint16 data, got {image.dtype}.')
  with files.atomic_path(path) as tmp:
    Image.fromarray(image).save(tmp, format='PNG')
