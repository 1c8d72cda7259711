"""XLA compile options for the library's jitted steps: on the CPU, convolutions through oneDNN.

XLA:CPU hands convolutions to YNNPACK by default. Routing them to oneDNN (the library PyTorch's CPU build uses) and
leaving YNNPACK the matrix products, elementwise ops and reductions makes DDFFNet's forward and training step
faster on the CPU (benchmarks/README.md). The options are passed per compiled function (`jax.jit(...,
compiler_options=options())`), so a user's own programs keep XLA's defaults. A jaxlib that does not know them gets
None, and with it XLA's defaults; so does `DDFF_JAX_ONEDNN=0` in the environment (oneDNN's convolutions take more
memory in training: +3 GB on the paper's 2×10×224×224 step).
"""
from __future__ import annotations

import functools
import os

ONEDNN_CONVOLUTIONS = {
    'xla_cpu_experimental_onednn_fusion_type': 'LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION',
    'xla_cpu_experimental_ynn_fusion_type': ','.join(
        f'LIBRARY_FUSION_TYPE_{kind}' for kind in ('DOT', 'INDIVIDUAL_DOT', 'ELTWISE', 'REDUCE')),
}


@functools.cache
def options() -> dict | None:
  """The `compiler_options` for `jax.jit` on the default backend: `ONEDNN_CONVOLUTIONS` on a CPU whose jaxlib
  accepts them (unless DDFF_JAX_ONEDNN=0), None (XLA's defaults) otherwise."""
  import jax
  import numpy as np
  if jax.default_backend() != 'cpu' or os.environ.get('DDFF_JAX_ONEDNN', '1') == '0':
    return None
  try:
    jax.jit(lambda x: x + 1, compiler_options=ONEDNN_CONVOLUTIONS).lower(np.zeros(1, np.float32)).compile()
  except jax.errors.JaxRuntimeError:  # an unknown option or enum value in this jaxlib
    return None
  return dict(ONEDNN_CONVOLUTIONS)


def native_kernel_gradients() -> bool:
  """Whether a training step compiled with `options()` should take XLA's own kernel gradients of convolutions:
  through oneDNN they beat `layers.conv_stride1`'s per-tap products, which under XLA's defaults are the faster
  ones (4.5× on a 112×112×64 layer)."""
  return options() is not None
