"""Environment switches that more than one layer of descentlab reads (so this module sits below all of them)."""

from __future__ import annotations

import os


def portable_forced() -> bool:
    """Whether ``DESCENTLAB_PORTABLE`` is set (to anything but "", 0, false, no): run the NumPy code, never the
    numba kernels (optimizer steps, races, the network's elementwise passes). Read at every call, so it can be
    set or cleared while a program runs."""
    return os.environ.get("DESCENTLAB_PORTABLE", "").strip().lower() not in ("", "0", "false", "no")
