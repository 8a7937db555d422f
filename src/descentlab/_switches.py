"""What more than one layer of descentlab asks of its environment: the portable switch, the optional
compiled modules and the dtypes they take (so this module sits below all of them)."""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

import numpy as np

#: The dtypes the numba kernels (optimizer steps, the network's passes) are compiled for.
FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def portable_forced() -> bool:
    """Whether ``DESCENTLAB_PORTABLE`` is set (to anything but "", 0, false, no): run the NumPy code, never the
    numba kernels (optimizer steps, races, the network's elementwise passes). Read at every call, so it can be
    set or cleared while a program runs."""
    return os.environ.get("DESCENTLAB_PORTABLE", "").strip().lower() not in ("", "0", "false", "no")


@functools.cache
def compiled_module(name: str) -> ModuleType | None:
    """The module of numba kernels ``name``, imported on first use (importing numba takes 0.2–0.5 s, so it is
    not done with descentlab), or ``None`` when numba is not installed. Tried once per process."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
