"""When the network's elementwise passes run as fused numba kernels (:mod:`descentlab.nn._kernels`).

The NumPy code in :mod:`descentlab.nn.layers` and :mod:`descentlab.nn.losses` defines each operation and is
the portable path. :func:`kernels` returns the compiled module when numba can be imported (the ``[fast]``
extra), ``DESCENTLAB_PORTABLE`` is not set and the network computes in float32 or float64. The network asks
once per forward pass and hands the answer to its layers (``layer.fused``), whose buffers are C-contiguous
by construction; reading the environment per layer would cost ~1 µs a call. numba is imported on the
first forward pass, not with descentlab: ~0.4 s once per process (a training step's optimizer imports it
anyway), plus ~3 s of compilation once per machine (the kernels are cached on disk, ``cache=True``).

Measured on the benchmark's epoch (784-256-128-10 ReLU, softmax cross-entropy, Adam, batch 128, 60 000
samples; interleaved rounds): 552 ms fused against 613 ms with the NumPy passes (best of 8; medians 618
against 776 on a noisy machine). In the loop the NumPy softmax cross-entropy took ~53 µs a batch and the
two ReLUs ~57 µs forward and backward; fused, ~14 µs and ~23 µs.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from descentlab._switches import FAST_DTYPES, compiled_module, portable_forced


def kernels(dtype: np.dtype) -> ModuleType | None:
    """The kernel module if the fused path applies to arrays of ``dtype``, else ``None`` (the NumPy code)."""
    if dtype not in FAST_DTYPES or portable_forced():
        return None
    return compiled_module("descentlab.nn._kernels")
