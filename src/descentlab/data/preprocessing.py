"""Standardization fitted on the training set, and a (stratified) train/validation split."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab.data._validation import Seed, check_flag, check_real, check_xy, rng_from

#: float64's machine epsilon ε: the relative rounding error of one operation.
EPS = float(np.finfo(np.float64).eps)


def _features(X: Any, *, owner: str, name: str = "X", width: int | None = None) -> np.ndarray:
    """``X`` as a 2-D numeric array of finite values (with ``width`` columns when given)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(
            f"{owner}: {name} must be a 2-D numeric array (n_samples, n_features); got shape {X.shape} and dtype "
            f"{X.dtype}"
        )
    if width is not None and X.shape[1] != width:
        raise ValueError(f"{owner}: {name} has shape {X.shape}; the standardizer was fitted on {width} features")
    if not np.isfinite(X).all():
        raise ValueError(f"{owner}: {name} holds NaN or Inf; impute or drop them first")
    return X


def _vector(name: str, value: Any) -> np.ndarray:
    """One of the Standardizer's fields as a 1-D float64 array of finite values (a copy)."""
    try:
        vector = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"Standardizer: {name} must be a 1-D array of numbers, got {reprlib.repr(value)}") from error
    if vector.ndim != 1:
        raise ValueError(f"Standardizer: {name} must be a 1-D array (one value per feature); got shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise ValueError(f"Standardizer: {name} holds NaN or Inf; μ and σ must be finite")
    return vector


@dataclass(frozen=True)
class Standardizer:
    """x' = (x − μ) / σ per feature, with μ and σ measured on the training set only.

    A feature that is constant in the training set carries no information: its σ is recorded as 0 and it maps
    to 0, on the training set and on any later data alike (scikit-learn's ``StandardScaler`` divides it by 1
    instead, which passes later values through as x − μ). Constant allows for rounding: the computed σ of n
    equal values is not 0 but the rounding error of their mean, which is at most about n·ε·|μ| (ε = 2.2e-16,
    float64's machine epsilon), so a feature with σ ≤ n·ε·|μ| counts as constant (scikit-learn's test).

    Built directly (or by :meth:`from_dict`), ``mean`` and ``scale`` become 1-D float64 arrays of one length;
    μ must be finite and σ finite and ≥ 0.
    """

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        mean, scale = _vector("mean", self.mean), _vector("scale", self.scale)
        if mean.shape != scale.shape or mean.size == 0:
            raise ValueError(
                f"Standardizer: mean and scale need one value per feature; got {mean.size} and {scale.size} values"
            )
        if (scale < 0).any():
            raise ValueError(f"Standardizer: scale={scale.tolist()} holds a negative σ; a standard deviation is ≥ 0")
        object.__setattr__(self, "mean", mean)  # frozen: the fields are set once, here
        object.__setattr__(self, "scale", scale)

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """Measure μ and σ (population standard deviation, ddof = 0) of each column of ``X``."""
        X = _features(X, owner="Standardizer.fit").astype(np.float64)
        if X.shape[0] == 0:
            raise ValueError("Standardizer.fit: X has no rows; fit on a non-empty training set")
        mean = X.mean(axis=0)
        scale = X.std(axis=0)
        scale[scale <= X.shape[0] * EPS * np.abs(mean)] = 0.0
        return cls(mean=mean, scale=scale)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Standardizer:
        """The inverse of :meth:`to_dict`: ``Standardizer.from_dict(s.to_dict())`` transforms exactly as ``s``."""
        if not isinstance(record, dict) or set(record) != {"mean", "scale"}:
            got = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise ValueError(f"Standardizer.from_dict: expected the dict to_dict() returns (mean, scale); got {got}")
        return cls(mean=record["mean"], scale=record["scale"])

    def transform(self, X: Any) -> np.ndarray:
        """Apply the training set's μ and σ; floating inputs keep their dtype (float32 stays float32)."""
        X = _features(X, owner="Standardizer.transform", width=self.mean.size)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        standardized = np.divide(X - self.mean, self.scale, out=np.zeros(X.shape), where=self.scale > 0)
        return standardized.astype(dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """x = x'·σ + μ (a constant feature comes back as its μ); floating inputs keep their dtype."""
        X = _features(X, owner="Standardizer.inverse_transform", width=self.mean.size)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        return (X * self.scale + self.mean).astype(dtype, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready: ``{"mean": [...], "scale": [...]}``; :meth:`from_dict` reads it back."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


def standardize(train: Any, *others: Any) -> tuple[Any, ...]:
    """Fit a :class:`Standardizer` on ``train`` and apply it to ``train`` and to each of ``others``.

    Returns ``(train', *others', standardizer)``, e.g. ``Xtr, Xte, scaler = standardize(Xtr, Xte)``.
    Fitting on the training set alone keeps the validation and test sets unseen.
    """
    width = _features(train, owner="standardize", name="train").shape[1]
    for position, X in enumerate(others, start=2):
        _features(X, owner="standardize", name=f"argument {position}", width=width)
    standardizer = Standardizer.fit(train)
    return (standardizer.transform(train), *(standardizer.transform(X) for X in others), standardizer)


def _stratified(
    codes: np.ndarray, n_classes: int, fraction: float, n_val: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and training indices that keep each class's share.

    Class c of n_c members gives ⌊fraction·n_c⌋ samples to validation; the rest of the ``n_val`` go one at a
    time to the classes of largest remainder fraction·n_c − ⌊fraction·n_c⌋, ties drawn from ``rng``. A class
    never gives its last member, so every class keeps a training sample (a class of one stays in training).
    """
    members = [rng.permutation(np.flatnonzero(codes == c)) for c in range(n_classes)]
    sizes = np.array([len(m) for m in members])
    exact = fraction * sizes
    take = np.minimum(np.floor(exact), sizes - 1).astype(int)
    order = np.lexsort((rng.random(n_classes), take - exact))  # largest remainder first, ties at random
    while take.sum() < n_val:
        for c in order:
            if take.sum() < n_val and take[c] < sizes[c] - 1:
                take[c] += 1
    val_index = np.concatenate([m[:k] for m, k in zip(members, take, strict=True)])
    train_index = np.concatenate([m[k:] for m, k in zip(members, take, strict=True)])
    return rng.permutation(val_index), rng.permutation(train_index)


def train_val_split(
    X: Any,
    y: Any,
    fraction: float = 0.2,
    stratify: bool | None = None,
    seed: Seed = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split into ``((X_train, y_train), (X_val, y_val))`` with ``round(fraction·n)`` validation samples.

    ``stratify=True`` keeps each class's share in both parts (each class contributes ``⌊fraction·n_c⌋``
    samples, the total brought to the target by largest remainder, ties broken at random from ``seed``) and
    leaves every class at least one training sample; it needs class labels (integers or strings) and refuses
    continuous targets. ``None`` stratifies when ``y`` is 1-D integer labels and not otherwise. Both parts keep
    a random order drawn from ``seed``.
    """
    owner = "train_val_split"
    X, y = check_xy(X, y, owner=owner)
    fraction = check_real("fraction", fraction, owner=owner, low=0.0, high=1.0)
    n = X.shape[0]
    n_val = round(fraction * n)
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"{owner}: fraction={fraction:g} of {n} samples leaves {n_val} for validation and {n - n_val} for "
            f"training; both parts need at least one sample"
        )
    rng = rng_from(seed, owner=owner)
    is_labels = y.ndim == 1 and y.dtype.kind in "biu"
    stratify = is_labels if stratify is None else check_flag("stratify", stratify, owner=owner)
    if not stratify:
        order = rng.permutation(n)
        val_index, train_index = order[:n_val], order[n_val:]
        return (X[train_index], y[train_index]), (X[val_index], y[val_index])
    if y.ndim != 1:
        raise ValueError(f"{owner}: stratify=True needs 1-D class labels; y has shape {y.shape}")
    if y.dtype.kind not in "biuUS":
        raise ValueError(
            f"{owner}: stratify=True needs class labels (integers or strings), but y holds {y.dtype} values, "
            f"which look like regression targets; pass stratify=False (or y.astype(int) if they are labels)"
        )
    classes, codes = np.unique(y, return_inverse=True)
    if n_val > n - len(classes):
        raise ValueError(
            f"{owner}: fraction={fraction:g} puts {n_val} of {n} samples in validation, but stratifying keeps a "
            f"training sample of each of the {len(classes)} classes (at most {n - len(classes)} for validation); "
            f"lower fraction or pass stratify=False"
        )
    val_index, train_index = _stratified(codes, len(classes), fraction, n_val, rng)
    return (X[train_index], y[train_index]), (X[val_index], y[val_index])
