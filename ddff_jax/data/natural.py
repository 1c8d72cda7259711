"""Light fields of natural-looking layered scenes at HCI geometry, for training models that run on real light fields.

A scene is a background and `num_layers − 1` objects composited far to near. Each layer carries

  * a shape: the whole image (background), an ellipse, a rotated rectangle, or a thin bar (0.5–2.5 px half-width);
  * a surface: nearness t(p) = t_c + g·n + k·|n|² over normalised image coordinates n (slanted and curved), clipped
    to [0, 1] and mapped affinely to disparity over the scene's own span inside `disparity_range`;
  * a texture: a patch of a photograph (`texture_bank`), scaled, rotated and contrast-scaled, or a flat colour.

View o = (u − c_u, v − c_v) shows at pixel p the layer point q with q = p + o·d(q), the convention
`ddff_jax.optics.refocus` inverts (checked on the HCI scenes: larger disparity is nearer). Slanted and curved layers
make this implicit; four fixed-point steps from q = p solve it (each multiplies the error by |o·∇d| ≤ 0.25 for
the slopes drawn here, from at most 4·|d| px). Every view gets sensor noise and 8-bit quantisation before refocusing, as a camera's views do.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np

from ddff_jax import errors
from ddff_jax.data import synthetic

# skimage.data photographs bundled with scikit-image (no download): natural scenes, materials, microscopy.
SKIMAGE_TEXTURES = ('astronaut', 'camera', 'coffee', 'chelsea', 'rocket', 'coins', 'moon', 'brick', 'grass', 'gravel',
                    'immunohistochemistry', 'hubble_deep_field', 'cell', 'text', 'page')


@dataclasses.dataclass(frozen=True)
class SceneConfig:
  size: int = 96
  grid: int = 9
  num_layers: int = 6
  disparity_range: tuple[float, float] = (-3.5, 3.0)
  min_span: float = 0.5  # smallest disparity span of a scene (px)
  textureless_prob: float = 0.15
  thin_prob: float = 0.2  # chance that an object is a thin bar
  max_slope: float = 0.8  # largest change of t across the image (slanted layers)
  max_curvature: float = 0.6
  max_noise: float = 0.02  # per-view Gaussian noise σ is drawn in [0, max_noise]
  contrast_range: tuple[float, float] = (0.3, 1.3)  # a textured layer's contrast scale, uniform in this range
  texture_scale_range: tuple[float, float] = (0.5, 2.0)  # texture px per image px, log-uniform (< 1 magnifies)


def _as_rgb_float(image) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  return image[..., :3].astype(np.float32) / 255.0


def texture_images(rgbd_root: str | None = None, skimage_names=SKIMAGE_TEXTURES) -> list[np.ndarray]:
  """Photographs to cut textures from: the `image.png` of every scene under `rgbd_root` (real RGB-D scenes) and
  the named scikit-image sample images, each (H, W, 3) float32 in [0, 1]."""
  from ddff_jax.data import formats
  images = []
  if rgbd_root:
    paths = sorted(glob.glob(os.path.join(rgbd_root, '*', 'image.png')))
    if not paths:
      raise errors.InputNotFound(f'no <scene>/image.png under {rgbd_root} to cut textures from.')
    images += [_as_rgb_float(formats.read_image(p)) for p in paths]
  if skimage_names:
    try:
      import skimage.data
    except ImportError as e:
      raise errors.UserError('textures from scikit-image need it installed: pip install scikit-image.') from e
    for name in skimage_names:
      if not hasattr(skimage.data, name):
        raise errors.UserError(f'skimage.data has no image {name!r}.')
      images.append(_as_rgb_float(getattr(skimage.data, name)()))
  if not images:
    raise errors.UserError('no texture images: give an RGB-D folder or scikit-image names.')
  return images


def texture_bank(images, num: int, size: int, seed: int) -> np.ndarray:
  """`num` patches (num, size, size, 3) float32 cut at random places and scales (1–2× downsampled by box
  averaging) from `images`, round-robin over the images."""
  rng = np.random.default_rng(seed)
  bank = np.empty((num, size, size, 3), np.float32)
  for i in range(num):
    image = images[i % len(images)]
    h, w = image.shape[:2]
    factor = int(rng.integers(1, 3)) if min(h, w) >= 2 * size else 1
    if min(h, w) < size * factor:
      raise errors.UserError(f'texture image of {h}x{w} px is smaller than a {size}-px patch.')
    y, x = rng.integers(0, h - size * factor + 1), rng.integers(0, w - size * factor + 1)
    patch = image[y:y + size * factor, x:x + size * factor]
    bank[i] = patch.reshape(size, factor, size, factor, 3).mean(axis=(1, 3))
  return bank


def sample_scene(key, num_textures: int, config: SceneConfig) -> dict[str, jax.Array]:
  """Random parameters of one scene (layer 0 = background, then objects far to near)."""
  num = config.num_layers
  k = iter(jax.random.split(key, 24))
  u = lambda shape=(num,), lo=0.0, hi=1.0: jax.random.uniform(next(k), shape, minval=lo, maxval=hi)
  t_centre = jnp.sort(jnp.concatenate([u((1,), 0.0, 0.3), u((num - 1,), 0.15, 1.0)]))
  t_centre = t_centre.at[0].set(jnp.minimum(t_centre[0], 0.3))
  slope = u((num, 2), -1.0, 1.0) * config.max_slope * jax.random.bernoulli(next(k), 0.6, (num, 1))
  curvature = u((num,), -1.0, 1.0) * config.max_curvature * jax.random.bernoulli(next(k), 0.3, (num,))
  lo, hi = config.disparity_range
  span = u((), config.min_span, hi - lo)
  d_far = u((), lo, hi - span)
  # Shapes: 0 ellipse, 1 rectangle, 2 thin bar; layer 0 covers everything.
  kind = jnp.where(u() < config.thin_prob, 2, jnp.where(u() < 0.5, 0, 1))
  half = u((num, 2), 0.08, 0.35) * config.size
  half = half.at[:, 1].set(jnp.where(kind == 2, u((num,), 0.5, 2.5), half[:, 1]))
  half = half.at[:, 0].set(jnp.where(kind == 2, u((num,), 0.3, 0.8) * config.size, half[:, 0]))
  flat = jax.random.bernoulli(next(k), config.textureless_prob, (num,))
  return dict(
      t_centre=t_centre, slope=slope, curvature=curvature, d_far=d_far, span=span, kind=kind, half=half,
      centre=u((num, 2), -0.1, 1.1) * config.size, angle=u((num,), 0.0, np.pi),
      texture=jax.random.randint(next(k), (num,), 0, num_textures),
      tex_scale=jnp.exp(u((num,), *np.log(config.texture_scale_range))), tex_angle=u((num,), 0.0, 2 * np.pi),
      tex_offset=u((num, 2), 0.0, 1.0), contrast=jnp.where(flat, 0.0, u((num,), *config.contrast_range)),
      flat_colour=u((num, 3), 0.1, 0.9), gain=u((), 0.7, 1.2), noise=u((), 0.0, config.max_noise))


def _nearness(scene, q, size: int):
  """t of every layer at positions q (L, H, W, 2) -> (L, H, W)."""
  n = q / size - 0.5
  col = lambda a: a[:, None, None]
  t = (col(scene['t_centre']) + col(scene['slope'][:, 0]) * n[..., 0] + col(scene['slope'][:, 1]) * n[..., 1]
       + col(scene['curvature']) * jnp.sum(n * n, axis=-1))
  return jnp.clip(t, 0.0, 1.0)


def _to_disparity(scene, t):
  return scene['d_far'] + t * scene['span']


def _coverage(scene, q):
  """Anti-aliased coverage (L, H, W) of every layer's shape at its own positions q (L, H, W, 2)."""
  col = lambda a: a[:, None, None]
  rel = q - scene['centre'][:, None, None, :]
  c, s = jnp.cos(col(scene['angle'])), jnp.sin(col(scene['angle']))
  a = c * rel[..., 0] + s * rel[..., 1]
  b = -s * rel[..., 0] + c * rel[..., 1]
  ha, hb = col(scene['half'][:, 0]), col(scene['half'][:, 1])
  ellipse = (1.0 - jnp.sqrt((a / ha) ** 2 + (b / hb) ** 2)) * jnp.minimum(ha, hb)
  rect = jnp.minimum(ha - jnp.abs(a), hb - jnp.abs(b))
  sdf = jnp.where(col(scene['kind']) == 0, ellipse, rect)
  alpha = jnp.clip(sdf + 0.5, 0.0, 1.0)
  return alpha.at[0].set(1.0)


def _colour(scene, bank, q):
  """Texture colour (L, H, W, 3) at layer positions q (L, H, W, 2): bilinear, mirrored at the patch border."""
  size = bank.shape[1]
  col = lambda a: a[:, None, None]
  c, s = jnp.cos(col(scene['tex_angle'])), jnp.sin(col(scene['tex_angle']))
  scale = col(scene['tex_scale'])
  ty = (c * q[..., 0] - s * q[..., 1]) * scale + col(scene['tex_offset'][:, 0]) * size
  tx = (s * q[..., 0] + c * q[..., 1]) * scale + col(scene['tex_offset'][:, 1]) * size

  texture = _bilinear_mirrored(bank[scene['texture']], ty, tx)
  mean = jnp.mean(bank[scene['texture']], axis=(1, 2))[:, None, None, :]
  contrast = col(scene['contrast'])[..., None]
  flat = col(scene['contrast'] == 0.0)[..., None]
  coloured = mean + contrast * (texture - mean)
  return jnp.clip(jnp.where(flat, col(scene['flat_colour']), coloured), 0.0, 1.0)


def _bilinear_mirrored(patches, y, x):
  """Bilinear samples (L, H, W, 3) of patches (L, P, P, 3) at (y, x) (L, H, W), the patches mirrored at their
  borders (period 2(P − 1)): four gathers of whole RGB triples."""
  size = patches.shape[1]
  period = 2 * (size - 1)

  def mirror(i):
    i = jnp.mod(i, period)
    return jnp.where(i >= size, period - i, i)

  y0, x0 = jnp.floor(y), jnp.floor(x)
  wy, wx = (y - y0)[..., None], (x - x0)[..., None]
  y0, x0 = y0.astype(jnp.int32), x0.astype(jnp.int32)
  layer = jnp.arange(patches.shape[0])[:, None, None]
  at = lambda yy, xx: patches[layer, mirror(yy), mirror(xx)]
  return ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1))
          + wy * ((1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)))


def render_scene(scene, bank, config: SceneConfig, noise_key=None):
  """The light field (U, V, H, W, 3) uint8 of given scene parameters (as `sample_scene` draws them) and its
  centre-view disparity (H, W) float32 (px). Without `noise_key` the views are noise-free."""
  size, grid, num = config.size, config.grid, scene['t_centre'].shape[0]
  p = jnp.stack(jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32),
                             indexing='ij'), -1)
  p = jnp.broadcast_to(p, (num, size, size, 2))
  offsets = np.arange(grid, dtype=np.float32) - grid // 2
  view_offsets = jnp.asarray(np.stack(np.meshgrid(offsets, offsets, indexing='ij'), -1).reshape(-1, 2))

  def view(args):
    offset, vkey = args
    q = p
    for _ in range(4):  # q = p + o·d(q) by fixed-point steps from q = p, each shrinking the error by |o·∇d|
      q = p + offset * _to_disparity(scene, _nearness(scene, q, size))[..., None]
    image = synthetic.composite(_colour(scene, bank, q), _coverage(scene, q)) * scene['gain']
    if noise_key is not None:
      image = image + scene['noise'] * jax.random.normal(vkey, image.shape)
    return jnp.clip(jnp.round(image * 255.0), 0, 255).astype(jnp.uint8)

  keys = jax.random.split(jax.random.PRNGKey(0) if noise_key is None else noise_key, grid * grid)
  lf = jax.lax.map(view, (view_offsets, keys)).reshape(grid, grid, size, size, 3)
  alpha = _coverage(scene, p)
  front = (num - 1) - jnp.argmax((alpha >= 0.5)[::-1], axis=0)
  t = jnp.take_along_axis(_nearness(scene, p, size), front[None], axis=0)[0]
  return lf, _to_disparity(scene, t).astype(jnp.float32)


@functools.partial(jax.jit, static_argnums=(2,))
def render(key, bank, config: SceneConfig):
  """One random scene: light field (U, V, H, W, 3) uint8 with sensor noise, centre-view disparity (H, W) (px)."""
  scene_key, noise_key = jax.random.split(key)
  return render_scene(sample_scene(scene_key, bank.shape[0], config), bank, config, noise_key)


def focal_stacks(num: int, seed: int, bank: np.ndarray, focus, config: SceneConfig, chunk: int = 16):
  """`num` scenes refocused to `focus` (S,) px: stacks (N, S, H, W, 3) float16 in [0, 1] (half the memory; the
  8-bit views carry less precision) and disparities (N, H, W) float32."""
  from ddff_jax import optics
  bank = jnp.asarray(bank)
  focus = np.asarray(focus, np.float32)
  root = jax.random.PRNGKey(seed)

  render_chunk = jax.jit(jax.vmap(lambda k: render(k, bank, config)))
  stacks, disparities = [], []
  for start in range(0, num, chunk):
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(start, min(num, start + chunk)))
    lfs, d = render_chunk(keys)
    stacks.append(np.asarray(jnp.clip(optics.refocus(lfs, focus), 0.0, 1.0), np.float16))
    disparities.append(np.asarray(d))
  return np.concatenate(stacks), np.concatenate(disparities)


def all_in_focus_scenes(num: int, seed: int, bank: np.ndarray, config: SceneConfig, depth_range_m,
                        chunk: int = 16):
  """`num` scenes seen by one pinhole view, for thin-lens rendering: all-in-focus images (N, H, W, 3) float32 in
  [0, 1] (8-bit, noise-free) and metric depth (N, H, W). The layers' nearness (disparity_range is read as (0, 1):
  0 = far, 1 = near; `min_span` is then a fraction of it) maps to inverse depth over `depth_range_m`, as in
  `synthetic.sample_thin_lens_stack`."""
  near, far = (float(v) for v in depth_range_m)
  if not 0 < near < far:
    raise errors.UserError(f'depth_range_m must be (near, far) with 0 < near < far, got {tuple(depth_range_m)}.')
  config = dataclasses.replace(config, grid=1, disparity_range=(0.0, 1.0))
  bank = jnp.asarray(bank)
  root = jax.random.PRNGKey(seed)
  render_chunk = jax.jit(jax.vmap(lambda k: render_scene(sample_scene(k, bank.shape[0], config), bank, config)))
  images, depths = [], []
  for start in range(0, num, chunk):
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(start, min(num, start + chunk)))
    views, nearness = render_chunk(keys)
    images.append(np.asarray(views[:, 0, 0], np.float32) / 255.0)
    depths.append(1.0 / (1.0 / far + np.asarray(nearness, np.float64) * (1.0 / near - 1.0 / far)))
  return np.concatenate(images), np.concatenate(depths).astype(np.float32)
