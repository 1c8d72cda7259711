"""Refocusing a DDFF-sized light field (9×9×383×552×3) to 10 slices.

Contenders (same seeded light field):
  numpy_toolbox   the DDFF toolbox algorithm in NumPy: per slice and per view fft2 → phase ramp → ifft2 →
                  |·| clipped, averaged (1,620 FFT pairs). Timed on `--reference-slices` slices and scaled to S
                  (every slice costs the same); `--reference-slices 10` times it whole.
  jax_linear      ddff_jax.optics.refocus (default linear Fourier form), jit-compiled.
  jax_toolbox     ddff_jax.optics.refocus(mode='toolbox'), jit-compiled.
  fft_floor       only the FFTs any exact method needs: 81 forward real FFTs + 10 inverse, jit-compiled.
Run: python -m benchmarks.refocus [--slices 10] [--reference-slices 2]
"""
import numpy as np

from benchmarks import _harness

MODULE = 'benchmarks.refocus'
U = V = 9
H, W, C = 383, 552, 3


def _inputs(args):
  lf = np.random.default_rng(0).integers(0, 256, (U, V, H, W, C), dtype=np.uint8)
  bf = 0.14123756568252838
  return lf, np.linspace(bf / 0.5, bf / 7.0, args.slices)


def numpy_toolbox(args):
  lf, disparities = _inputs(args)
  views = lf.astype(np.float32) / 255.0
  ky = np.fft.fftfreq(H) * H
  kx = np.fft.fftfreq(W) * W
  n = min(args.reference_slices, args.slices)

  def run():
    for d in disparities[:n]:
      acc = np.zeros((H, W, C))
      for u in range(U):
        for v in range(V):
          ramp = np.exp(-2j * np.pi * (ky[:, None] * (u - 4) * d / H + kx[None, :] * (v - 4) * d / W))
          shifted = np.fft.ifft2(np.fft.fft2(views[u, v], axes=(0, 1)) * ramp[..., None], axes=(0, 1))
          acc += np.clip(np.abs(shifted), 0, 1)
    return acc

  return run, 0, f'timed on {n} of {args.slices} slices, scaled to {args.slices}'


def _jax_refocus(mode):
  def contender(args):
    import jax
    import jax.numpy as jnp
    from ddff_jax import optics
    lf, disparities = _inputs(args)
    lf, disparities = jnp.asarray(lf), jnp.asarray(disparities, jnp.float32)
    return (lambda: jax.block_until_ready(optics.refocus(lf, disparities, mode=mode))), args.repeats, mode
  return contender


def fft_floor(args):
  import jax
  import jax.numpy as jnp
  lf, _ = _inputs(args)
  lf = jnp.asarray(lf)
  floor = jax.jit(lambda x: jnp.fft.irfft2(jnp.fft.rfft2(jnp.moveaxis(x.astype(jnp.float32), -1, 2))[0, :args.slices],
                                           s=(H, W)))
  return (lambda: jax.block_until_ready(floor(lf))), args.repeats, f'{U * V} rfft2 + {args.slices} irfft2'


CONTENDERS = {'numpy_toolbox': numpy_toolbox, 'jax_linear': _jax_refocus('linear'),
              'jax_toolbox': _jax_refocus('toolbox'), 'fft_floor': fft_floor}


def add_arguments(parser):
  parser.add_argument('--slices', type=int, default=10)
  parser.add_argument('--reference-slices', type=int, default=2)
  parser.add_argument('--repeats', type=int, default=5)


def report(results, args):
  n = min(args.reference_slices, args.slices)
  reference = results['numpy_toolbox']['seconds'] * args.slices / n
  linear = results['jax_linear']['seconds']
  print(f'numpy toolbox algorithm (S={args.slices}): {reference:.2f} s')
  print(f'speed-up jax_linear vs numpy toolbox:  {reference / linear:7.1f}x   (target >= 50x)')
  print(f'speed-up jax_toolbox vs numpy toolbox: {reference / results["jax_toolbox"]["seconds"]:7.1f}x')
  paired = results['paired']
  print(f'jax_linear / fft_floor, alternating:   {paired["jax_linear"] / paired["fft_floor"]:7.2f}    (target <= 2)')
  print(f'jax_linear / fft_floor, separate runs: {linear / results["fft_floor"]["seconds"]:7.2f}')


if __name__ == '__main__':
  _harness.main(MODULE, CONTENDERS, add_arguments, report, paired=('jax_linear', 'fft_floor'))
