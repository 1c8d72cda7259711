"""The 64-hypothesis DDFS cost volume of a 5×256×256×3 focal stack.

Contenders (same seeded stack, DefocusNet camera, focus 0.1, 0.15, 0.3, 0.7, 1.5 m, depths linspace(0.1, 3, 64)):
  skimage_reference  the DDFS reference loop: one `skimage.restoration.wiener` call per (hypothesis, image,
                     channel) with the exact-area disk PSF, `scipy.ndimage.gaussian_filter` windows.
  jax_cost_volume    ddff_jax.optics.defocus_cost_volume, jit-compiled.
  jax_reblur_cost_volume  the same with criterion='reblur' (the re-blur residual: same number of transforms, a
                     joint estimate instead of K Wiener filters); printed as a ratio to the paper's criterion.
  ifft_floor         only the 960 inverse real FFTs (64·5·3 of 256×256) that any exact method needs.
  packed_ifft_floor  the same 960 real planes as 480 complex inverse FFTs, two real planes per transform (for real,
                     even Wiener gains g_a, g_b: ifft2((g_a + i·g_b)·Y) = I'_a + i·I'_b). Printed for information:
                     it shows how far below `ifft_floor` a method could go by packing.
Run: python -m benchmarks.cost_volume   (the floor ratios are taken from the three run alternately in one process)
"""
import numpy as np

from benchmarks import _harness

MODULE = 'benchmarks.cost_volume'
K, H, W, C, D = 5, 256, 256, 3, 64
FOCUS = np.array([0.1, 0.15, 0.3, 0.7, 1.5])


def _inputs():
  stack = np.random.default_rng(0).random((K, H, W, C)).astype(np.float32)
  return stack, FOCUS, np.linspace(0.1, 3.0, D)


def skimage_reference(args):
  from scipy import ndimage
  from skimage import restoration
  from ddff_jax import optics
  stack, focus, depths = _inputs()
  cam = optics.DEFOCUSNET_CAMERA
  radii = np.asarray(cam.psf_radius_px(depths[:, None], focus[None, :], 10.0))
  # PSFs are prepared outside the timed loop (the reference reads them from pre-computed kernel files).
  psfs = [[np.asarray(optics.disk_psf(float(r)), np.float64) for r in row] for row in radii]

  def run():
    costs = []
    for i in range(D):
      deblurred = np.stack([np.stack([restoration.wiener(stack[k, ..., c], psfs[i][k], 0.01, clip=False)
                                      for c in range(C)], -1) for k in range(K)])
      mu = ndimage.gaussian_filter(deblurred.mean(0), sigma=(1, 1, 0), truncate=4.0)
      var = ndimage.gaussian_filter(((deblurred - mu) ** 2).mean(0), sigma=(1, 1, 0), truncate=4.0)
      costs.append(np.sqrt(var).sum(-1))
    return np.stack(costs)

  return run, args.reference_repeats, f'{D * K * C} wiener calls'


def jax_cost_volume(args):
  import jax
  from ddff_jax import optics
  stack, focus, depths = _inputs()
  stack = jax.numpy.asarray(stack)
  cam = optics.DEFOCUSNET_CAMERA
  return (lambda: jax.block_until_ready(optics.defocus_cost_volume(stack, focus, cam, depths))), args.repeats, ''


def jax_reblur_cost_volume(args):
  import jax
  from ddff_jax import optics
  stack, focus, depths = _inputs()
  stack = jax.numpy.asarray(stack)
  cam = optics.DEFOCUSNET_CAMERA
  return (lambda: jax.block_until_ready(optics.defocus_cost_volume(stack, focus, cam, depths, criterion='reblur'))
          ), args.repeats, ''


def ifft_floor(args):
  import jax
  import jax.numpy as jnp
  spectra = jnp.fft.rfft2(jnp.moveaxis(jnp.asarray(_inputs()[0]), -1, 1))  # (K, C, H, Wr)
  weights = jnp.linspace(0.5, 1.5, D)
  # The 960 inverse FFTs one hypothesis (15 planes) at a time: the fastest grouping on CPU (4 at a time is ~1.5x
  # slower here; 15 separate one-plane transforms per step, as the kernel issues them, ~1.9x), so the floor is the
  # best any grouping tried can do.
  floor = jax.jit(lambda s: jax.lax.map(lambda w: jnp.sum(jnp.fft.irfft2(w * s, s=(H, W))), weights, batch_size=1))
  return (lambda: jax.block_until_ready(floor(spectra))), args.repeats, f'{D * K * C} irfft2'


def _sum_parts(z):
  # Both planes of every transform, as a kernel would use them (summing `.real` alone, XLA:CPU split the part
  # extraction over threads and the loop then ran its transforms on one core: cpu/wall 1.2-1.6 instead of ~1.9).
  return z.real.sum() + z.imag.sum()


def packed_ifft_floor(args):
  import jax
  import jax.numpy as jnp
  planes = jnp.moveaxis(jnp.asarray(_inputs()[0]), -1, 1).reshape(K * C, H, W)
  spectra = jnp.fft.fft2(planes.astype(jnp.complex64))  # full spectra of the 15 real planes
  gains = jnp.linspace(0.5, 1.5, D).reshape(D // 2, 2)
  # One pair of hypotheses (15 transforms) per step, batched: as fast as this grouping gets here.
  floor = jax.jit(lambda s: jax.lax.map(
      lambda g: _sum_parts(jnp.fft.ifft2(jax.lax.complex(g[0], g[1]) * s)), gains, batch_size=1))
  return (lambda: jax.block_until_ready(floor(spectra))), args.repeats, f'{D * K * C // 2} complex ifft2'


CONTENDERS = {'skimage_reference': skimage_reference, 'jax_cost_volume': jax_cost_volume,
              'jax_reblur_cost_volume': jax_reblur_cost_volume, 'ifft_floor': ifft_floor,
              'packed_ifft_floor': packed_ifft_floor}


def add_arguments(parser):
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--reference-repeats', type=int, default=1)


def report(results, args):
  if {'jax_cost_volume', 'jax_reblur_cost_volume'} <= set(results):
    reblur = results['jax_reblur_cost_volume']['seconds'] / results['jax_cost_volume']['seconds']
    print(f'reblur / variance criterion:       {reblur:6.2f}')
  if not {'skimage_reference', 'jax_cost_volume', 'ifft_floor', 'packed_ifft_floor'} <= set(results):
    return
  ref, ours, floor = (results[k]['seconds'] for k in ('skimage_reference', 'jax_cost_volume', 'ifft_floor'))
  print(f'speed-up jax vs skimage reference: {ref / ours:6.1f}x   (target >= 5x)')
  paired = results['paired']
  print(f'jax / ifft floor, alternating:     {paired["jax_cost_volume"] / paired["ifft_floor"]:6.2f}    (target <= 1.5)')
  print(f'jax / ifft floor, separate runs:   {ours / floor:6.2f}')
  # Wall time depends on how many cores XLA:CPU's runtime puts on each (cpu/wall above; see the README): the CPU-time
  # ratio compares the work itself.
  cpu_ratio = results['jax_cost_volume']['cpu_seconds'] / results['ifft_floor']['cpu_seconds']
  print(f'jax / ifft floor in CPU seconds:   {cpu_ratio:6.2f}')
  packed_cpu = results['packed_ifft_floor']['cpu_seconds'] / results['ifft_floor']['cpu_seconds']
  print(f'packed / ifft floor, alternating:  {paired["packed_ifft_floor"] / paired["ifft_floor"]:6.2f}    '
        f'(information; {packed_cpu:.2f} in CPU seconds)')


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report,
                paired=('jax_cost_volume', 'ifft_floor', 'packed_ifft_floor'))
