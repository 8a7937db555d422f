"""Data sets, preprocessing and batching.

    X, y = dl.data.moons(n_samples=500, noise=0.2, seed=0)          # synthetic, seeded
    X, y = dl.data.load("digits")                                    # bundled with scikit-learn, offline
    (Xtr, ytr), (Xva, yva) = dl.data.train_val_split(X, y, fraction=0.3, seed=0)   # stratified for labels
    Xtr, Xva, scaler = dl.data.standardize(Xtr, Xva)                 # fitted on the training part only
    for index in dl.data.batches(len(Xtr), batch_size=32, seed=0):   # None: full batch, 1: stochastic
        ...

``DATASETS`` maps every name :func:`load` accepts to a :class:`DatasetInfo` (task, sizes, description).
MNIST and Fashion-MNIST come from IDX files you already have: :func:`load_idx`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab.data.batching import batch_count, batches
from descentlab.data.idx import FASHION_CLASSES, load_idx, read_idx
from descentlab.data.preprocessing import Standardizer, standardize, train_val_split
from descentlab.data.real import breast_cancer, diabetes, digits, iris, mnist1d, wine
from descentlab.data.synthetic import blobs, circles, moons, sine, spirals, xor


@dataclass(frozen=True)
class DatasetInfo:
    """A named data set: its loader, task (``"binary"``, ``"multiclass"``, ``"regression"``) and shape."""

    name: str
    loader: Callable[..., tuple[np.ndarray, np.ndarray]]
    task: str
    n_features: int
    n_outputs: int  # classes for classification, target columns for regression
    synthetic: bool
    description: str

    @property
    def loss(self) -> str:
        """The loss that fits the task: ``bce`` (binary), ``ce`` (multiclass), ``mse`` (regression)."""
        return {"binary": "bce", "multiclass": "ce", "regression": "mse"}[self.task]


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("moons", moons, "binary", 2, 2, True, "two interleaving half circles"),
        DatasetInfo("circles", circles, "binary", 2, 2, True, "two concentric circles"),
        DatasetInfo("spirals", spirals, "binary", 2, 2, True, "two interleaved spiral arms"),
        DatasetInfo("xor", xor, "binary", 2, 2, True, "XOR of the coordinates' signs"),
        DatasetInfo("blobs", blobs, "multiclass", 2, 3, True, "three Gaussian clusters"),
        DatasetInfo("sine", sine, "regression", 1, 1, True, "1-D regression y = sin(x) + noise"),
        DatasetInfo("digits", digits, "multiclass", 64, 10, False, "8×8 handwritten digits (scikit-learn)"),
        DatasetInfo("breast_cancer", breast_cancer, "binary", 30, 2, False, "Wisconsin breast cancer (scikit-learn)"),
        DatasetInfo("iris", iris, "multiclass", 4, 3, False, "Fisher's iris (scikit-learn)"),
        DatasetInfo("wine", wine, "multiclass", 13, 3, False, "wine recognition (scikit-learn)"),
        DatasetInfo("diabetes", diabetes, "regression", 10, 1, False, "diabetes progression (scikit-learn)"),
        DatasetInfo("mnist1d", mnist1d, "multiclass", 40, 10, False, "MNIST-1D, generated locally (Greydanus 2020)"),
    )
}


def load(name: str, **options: Any) -> tuple[np.ndarray, np.ndarray]:
    """Load a data set of :data:`DATASETS` by name; ``options`` go to its function (``n_samples``, ``seed``…).

    ``load("digits")`` is ``digits()``; ``load("moons", n_samples=1000, noise=0.2, seed=1)`` is ``moons(...)``.
    An option the data set's function does not take raises ``ValueError`` listing the ones it does.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"load: unknown data set {name!r}; available: {', '.join(DATASETS)}")
    loader = DATASETS[name].loader
    accepted = list(inspect.signature(loader).parameters)
    unknown = [key for key in options if key not in accepted]
    if unknown:
        takes = f"accepts {', '.join(accepted)}" if accepted else "takes no options (it is a fixed data set)"
        raise ValueError(f"load: {name!r} {takes}; got {', '.join(unknown)}")
    return loader(**options)


__all__ = [
    "DATASETS",
    "FASHION_CLASSES",
    "DatasetInfo",
    "Standardizer",
    "batch_count",
    "batches",
    "blobs",
    "breast_cancer",
    "circles",
    "diabetes",
    "digits",
    "iris",
    "load",
    "load_idx",
    "mnist1d",
    "moons",
    "read_idx",
    "sine",
    "spirals",
    "standardize",
    "train_val_split",
    "wine",
    "xor",
]
