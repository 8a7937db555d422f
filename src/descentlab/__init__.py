"""descentlab: a laboratory for the optimization algorithms that train neural networks.

``descentlab.optim`` needs NumPy only. The other parts are imported on first use, so that importing
descentlab does not pull in matplotlib, scikit-learn or numba until they are needed.
"""

from importlib import import_module
from typing import Any

from descentlab import optim

__version__ = "0.1.0"

_LAZY_MODULES = ("nn", "data", "surfaces", "search", "train", "plots", "experiments")
#: Reachable as ``dl.sklearn`` but left out of ``__all__``: it needs scikit-learn, which ``import *`` must not.
_LAZY_EXTRAS = ("sklearn",)
_LAZY_NAMES = {"fit": "descentlab.train", "lr_find": "descentlab.train"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES or name in _LAZY_EXTRAS:
        return import_module(f"descentlab.{name}")
    if name in _LAZY_NAMES:
        return getattr(import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")


__all__ = ["__version__", "fit", "lr_find", "optim", *_LAZY_MODULES]
