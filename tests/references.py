"""Independent NumPy/SciPy statements of the maths, used as references by the tests (never by the library)."""
import numpy as np
from scipy import integrate


def refocus_per_view(lf, disparities, mode):
  """The DDFF toolbox algorithm in float64: per slice and view fft2 -> phase ramp -> ifft2.

  mode 'linear' keeps the real part, 'toolbox' the magnitude clipped to [0, 1]. lf (U, V, H, W, C) in [0, 1].
  """
  lf = np.asarray(lf, np.float64)
  nu, nv, h, w, c = lf.shape
  ky = np.fft.fftfreq(h) * h
  kx = np.fft.fftfreq(w) * w
  out = np.zeros((len(disparities), h, w, c))
  for s, d in enumerate(disparities):
    for u in range(nu):
      for v in range(nv):
        ty, tx = (u - nu // 2) * d, (v - nv // 2) * d
        ramp = np.exp(-2j * np.pi * (ky[:, None] * ty / h + kx[None, :] * tx / w))
        view = np.fft.ifft2(np.fft.fft2(lf[u, v], axes=(0, 1)) * ramp[..., None], axes=(0, 1))
        out[s] += view.real if mode == 'linear' else np.clip(np.abs(view), 0, 1)
  return out / (nu * nv)


def disk_area(radius, i, j):
  """Area of the disk of `radius` centred at 0 inside pixel [j-.5, j+.5] x [i-.5, i+.5], by quadrature."""
  def height(x):
    s = np.sqrt(max(radius * radius - x * x, 0.0))
    return max(0.0, min(i + 0.5, s) - max(i - 0.5, -s))
  lo, hi = max(j - 0.5, -radius), min(j + 0.5, radius)
  if hi <= lo:
    return 0.0
  return integrate.quad(height, lo, hi, epsabs=1e-13, epsrel=1e-12, limit=200)[0]


def disk_psf_quadrature(radius, size):
  half = size // 2
  k = np.array([[disk_area(radius, i, j) for j in range(-half, half + 1)] for i in range(-half, half + 1)])
  return k / k.sum()
