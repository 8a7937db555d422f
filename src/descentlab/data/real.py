"""Real data sets that need no network: scikit-learn's bundled ones and MNIST-1D generated locally.

scikit-learn ships five small data sets inside its package (read from disk, never downloaded):

| name            | samples | features | target                              |
|-----------------|---------|----------|-------------------------------------|
| ``digits``      | 1797    | 64       | 10 classes (8×8 handwritten digits, pixel values 0–16) |
| ``breast_cancer`` | 569   | 30       | 2 classes (malignant 0 / benign 1)  |
| ``iris``        | 150     | 4        | 3 classes                           |
| ``wine``        | 178     | 13       | 3 classes                           |
| ``diabetes``    | 442     | 10       | regression (disease progression)    |

MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439) is a 1-D analogue of MNIST:
10 classes of 40-point signals made from 10 templates by random padding, translation, shear, scaling and
correlated noise. The ``mnist1d`` package generates it from a seed with its own code (no download here).
"""

from __future__ import annotations

import importlib
import random
from typing import Any

import numpy as np

from descentlab._numbers import is_integer
from descentlab.data._validation import Seed, check_count

SKLEARN_DATASETS = {
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
    "iris": "load_iris",
    "wine": "load_wine",
    "diabetes": "load_diabetes",
}


def _sklearn_datasets(owner: str) -> Any:
    try:
        return importlib.import_module("sklearn.datasets")
    except ImportError as error:  # pragma: no cover - scikit-learn is part of the data extra
        raise ImportError(
            f"{owner} reads scikit-learn's bundled data; install it with: pip install 'descentlab[data]'"
        ) from error


def _bundled(name: str) -> tuple[np.ndarray, np.ndarray]:
    datasets = _sklearn_datasets(name)
    bunch = getattr(datasets, SKLEARN_DATASETS[name])()
    X = np.ascontiguousarray(bunch.data, dtype=np.float64)
    target = np.asarray(bunch.target)
    y = target.astype(np.float64) if name == "diabetes" else target.astype(np.int64)
    return X, y


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits: X (1797, 64) float64 with pixel values 0–16, y int64 in 0…9."""
    return _bundled("digits")


def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Wisconsin breast cancer: X (569, 30) float64 (unscaled: standardize first), y int64 in {0, 1}."""
    return _bundled("breast_cancer")


def iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's iris: X (150, 4) float64, y int64 in 0…2."""
    return _bundled("iris")


def wine() -> tuple[np.ndarray, np.ndarray]:
    """Wine recognition: X (178, 13) float64 (unscaled: standardize first), y int64 in 0…2."""
    return _bundled("wine")


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """Diabetes regression: X (442, 10) float64 (already centred and scaled), y float64 in [25, 346]."""
    return _bundled("diabetes")


def mnist1d(n_samples: int = 5000, seed: Seed = 42, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D generated locally by the ``mnist1d`` package (Greydanus 2020).

    With the defaults (5000 samples, seed 42) the generator's arguments are those of the published data
    set; the package's own 80/20 split is kept: ``split="train"`` returns the first 80 %, ``"test"`` the
    last 20 %, ``"all"`` both (train first). X has shape (n, 40), float64, standardized over the whole set
    by the generator; y int64 in 0…9. ``n_samples`` is rounded down to a multiple of 10 (equal classes).

    The package takes an integer seed: a ``np.random.Generator`` given as ``seed`` is consumed to draw one,
    ``int(seed.integers(2**31))``. The package seeds NumPy's and Python's *global* generators with it; this
    function saves both states and restores them afterwards, so calling it leaves the caller's global
    randomness untouched.
    """
    owner = "mnist1d"
    n_samples = check_count("n_samples", n_samples, owner=owner, minimum=10)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**31))
    elif not is_integer(seed) or seed < 0:
        raise TypeError(f"{owner}: seed={seed!r} must be an integer ≥ 0 or a numpy.random.Generator")
    if split not in ("train", "test", "all"):
        raise ValueError(f"{owner}: split={split!r} is not one of 'train', 'test', 'all'")
    try:
        package = importlib.import_module("mnist1d.data")
    except ImportError as error:
        raise ImportError(
            "mnist1d: the MNIST-1D generator is the 'mnist1d' package; install it with: pip install 'descentlab[data]'"
        ) from error
    args = package.get_dataset_args()
    args.num_samples = n_samples
    args.seed = seed
    # The package draws from the legacy global generator; keep the caller's global state as it was.
    numpy_state = np.random.get_state()  # noqa: NPY002
    python_state = random.getstate()
    try:
        dataset = package.make_dataset(args)
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)
    parts = {"train": [("x", "y")], "test": [("x_test", "y_test")], "all": [("x", "y"), ("x_test", "y_test")]}[split]
    X = np.concatenate([np.asarray(dataset[xk], dtype=np.float64) for xk, _ in parts])
    y = np.concatenate([np.asarray(dataset[yk], dtype=np.int64) for _, yk in parts])
    return np.ascontiguousarray(X), y
