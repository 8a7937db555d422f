"""Standardization fitted on the training set, and a (stratified) train/validation split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab.data._validation import Seed, check_real, check_xy, rng_from


@dataclass(frozen=True)
class Standardizer:
    """x' = (x − μ) / σ per feature, with μ and σ measured on the training set only.

    A feature that is constant in the training set has σ = 0; it is divided by 1 instead (so it becomes 0),
    as scikit-learn's ``StandardScaler`` does.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """Measure μ and σ (population standard deviation, ddof = 0) of each column of ``X``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"Standardizer.fit: X must be a non-empty 2-D array; got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("Standardizer.fit: X holds NaN or Inf; impute or drop them first")
        scale = X.std(axis=0)
        scale[scale == 0.0] = 1.0
        return cls(mean=X.mean(axis=0), scale=scale)

    def transform(self, X: Any) -> np.ndarray:
        """Apply the training set's μ and σ; floating inputs keep their dtype (float32 stays float32)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"Standardizer.transform: X has shape {X.shape}; it was fitted on {self.mean.shape[0]} features"
            )
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        return ((X - self.mean) / self.scale).astype(dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """x = x'·σ + μ."""
        X = np.asarray(X)
        return X * self.scale + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready: ``{"mean": [...], "scale": [...]}``."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


def standardize(train: Any, *others: Any) -> tuple[Any, ...]:
    """Fit a :class:`Standardizer` on ``train`` and apply it to ``train`` and to each of ``others``.

    Returns ``(train', *others', standardizer)``, e.g. ``Xtr, Xte, scaler = standardize(Xtr, Xte)``.
    Fitting on the training set alone keeps the validation and test sets unseen.
    """
    standardizer = Standardizer.fit(train)
    return (standardizer.transform(train), *(standardizer.transform(X) for X in others), standardizer)


def train_val_split(
    X: Any,
    y: Any,
    fraction: float = 0.2,
    stratify: bool | None = None,
    seed: Seed = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split into ``((X_train, y_train), (X_val, y_val))`` with ``round(fraction·n)`` validation samples.

    ``stratify=True`` keeps each class's share in both parts (each class contributes ``round(fraction·n_c)``
    samples, the total adjusted to the target by largest remainder); ``None`` stratifies when ``y`` is 1-D
    integer labels and not otherwise. Both parts keep a random order drawn from ``seed``.
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
    if stratify is None:
        stratify = is_labels
    if stratify and y.ndim != 1:
        raise ValueError(f"{owner}: stratify=True needs 1-D class labels; y has shape {y.shape}")
    if stratify:
        classes, codes = np.unique(y, return_inverse=True)
        members = [rng.permutation(np.flatnonzero(codes == c)) for c in range(len(classes))]
        exact = np.array([fraction * len(m) for m in members])
        take = np.floor(exact).astype(int)
        remainder_order = np.argsort(-(exact - take), kind="stable")
        for c in remainder_order[: n_val - int(take.sum())]:
            take[c] += 1
        val_index = np.concatenate([m[:k] for m, k in zip(members, take, strict=True)])
        train_index = np.concatenate([m[k:] for m, k in zip(members, take, strict=True)])
        val_index = rng.permutation(val_index)
        train_index = rng.permutation(train_index)
    else:
        order = rng.permutation(n)
        val_index, train_index = order[:n_val], order[n_val:]
    return (X[train_index], y[train_index]), (X[val_index], y[val_index])
