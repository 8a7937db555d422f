"""Losses J(θ) with their gradient with respect to the network's last pre-activation z (the logits).

Every loss is a mean over the batch (n rows, k outputs):

- ``bce``  binary cross-entropy on logits, fused with the sigmoid output:
  J = (1/nk) Σ [max(z, 0) − z·y + log(1 + e^(−|z|))]  (= −y log σ(z) − (1 − y) log(1 − σ(z)), without
  overflow or log 0);  ∂J/∂z = (σ(z) − y)/(nk).  Labels y ∈ {0, 1}.
- ``ce``   categorical cross-entropy fused with softmax: J = −(1/n) Σᵢ Σⱼ yᵢⱼ log softmax(zᵢ)ⱼ computed as
  logsumexp(zᵢ) − zᵢ·yᵢ;  ∂J/∂z = (p − y)/n.  y = integer labels in [0, k) or one-hot rows.
- ``mse``  J = (1/nk) Σ (a − y)²;  ∂J/∂a = 2(a − y)/(nk), a = the output activation of z.
- ``mae``  J = (1/nk) Σ |a − y|;  ∂J/∂a = sign(a − y)/(nk).

and the L2 penalty (weight decay as a loss term) adds (λ/2) Σ_layers ‖W‖² (weights only) to J and λW to
∂J/∂W — see :meth:`descentlab.nn.Network.loss_and_grad`.

The fused losses write their gradient over the logits buffer, so one pass produces both value and δ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from descentlab.nn._validation import all_finite, as_array
from descentlab.nn.layers import Activation

Scratch = Callable[[str, tuple[int, ...]], np.ndarray]


@dataclass
class Targets:
    """Validated targets: ``values`` float (n, k), or ``labels`` integer (n,) for ``ce``."""

    values: np.ndarray | None = None
    labels: np.ndarray | None = None


def _as_array(y: Any, owner: str) -> np.ndarray:
    y = as_array("y", y, owner=owner, expected="an array of numbers, one target (or one-hot row) per sample")
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: y has dtype {y.dtype}; expected numbers (labels or target values)")
    return y


def _check_length(y: np.ndarray, n: int, owner: str) -> None:
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(f"{owner}: y has shape {y.shape} but X has {n} samples; they must have the same length")


def _as_matrix(y: np.ndarray, n: int, k: int, owner: str, loss: str) -> np.ndarray:
    if y.ndim == 1 and k == 1:
        return y.reshape(n, 1)
    if y.ndim == 2 and y.shape[1] == k:
        return y
    raise ValueError(
        f"{owner}: y has shape {y.shape}; loss={loss!r} with a network of {k} output(s) expects shape "
        + (f"({n},) or ({n}, 1)" if k == 1 else f"({n}, {k})")
    )


class Loss:
    """A loss: target validation, then value and ∂J/∂z from the logits z."""

    name: ClassVar[str] = ""
    #: The output activation the loss is fused with (None: any output, applied before the loss).
    output: ClassVar[str | None] = None

    def targets(self, y: Any, n: int, k: int, dtype: np.dtype, owner: str) -> Targets:
        raise NotImplementedError

    def evaluate(
        self,
        z: np.ndarray,
        targets: Targets,
        output_layer: Activation | None,
        scratch: Scratch,
        want_grad: bool,
    ) -> tuple[float, np.ndarray | None]:
        """Return J and (when ``want_grad``) δ = ∂J/∂z; ``z`` may be overwritten."""
        raise NotImplementedError


class BinaryCrossEntropy(Loss):
    name = "bce"
    output = "sigmoid"

    def targets(self, y, n, k, dtype, owner):
        y = _as_array(y, owner)
        _check_length(y, n, owner)
        y = _as_matrix(y, n, k, owner, self.name)
        if not np.all((y == 0) | (y == 1)):
            bad = y[(y != 0) & (y != 1)].ravel()[:3]
            raise ValueError(
                f"{owner}: loss='bce' needs labels in {{0, 1}}, got values such as {bad.tolist()}; "
                f"map the classes to 0/1 (for more than two classes use a softmax output and loss='ce')"
            )
        return Targets(values=y.astype(dtype, copy=False))

    def evaluate(self, z, targets, output_layer, scratch, want_grad):
        y = targets.values
        size = z.size
        work = scratch("bce", z.shape)
        # J = mean(max(z, 0) − z·y + log1p(e^(−|z|)))
        np.abs(z, out=work)
        np.negative(work, out=work)
        np.exp(work, out=work)
        np.log1p(work, out=work)
        total = float(np.add.reduce(work, axis=None))
        np.maximum(z, 0, out=work)
        total += float(np.add.reduce(work, axis=None))
        np.multiply(z, y, out=work)
        total -= float(np.add.reduce(work, axis=None))
        if not want_grad:
            return total / size, None
        with np.errstate(over="ignore"):
            np.negative(z, out=z)
            np.exp(z, out=z)
        np.add(z, 1, out=z)
        np.reciprocal(z, out=z)
        np.subtract(z, y, out=z)
        np.multiply(z, 1.0 / size, out=z)
        return total / size, z


class CategoricalCrossEntropy(Loss):
    name = "ce"
    output = "softmax"

    def targets(self, y, n, k, dtype, owner):
        y = _as_array(y, owner)
        _check_length(y, n, owner)
        if y.ndim == 1:
            if y.dtype.kind == "f":
                integral = np.floor(y) == y  # False for NaN; ±Inf is caught by the range check below
                if not np.all(integral):
                    bad = y[~integral][:3]
                    raise ValueError(
                        f"{owner}: loss='ce' needs integer class labels 0, 1, …, {k - 1} (one per output), got "
                        f"non-integer values such as {bad.tolist()}; round or encode the labels as integers"
                    )
            elif y.dtype.kind == "b":
                raise TypeError(f"{owner}: loss='ce' needs integer class labels in [0, {k}), got a boolean array")
            low, high = y.min(), y.max()
            if low < 0 or high >= k:
                raise ValueError(
                    f"{owner}: loss='ce' needs class labels in [0, {k}) for a network with {k} outputs, "
                    f"got labels from {low} to {high}"
                )
            return Targets(labels=y.astype(np.intp, copy=False))
        if y.ndim == 2 and y.shape[1] == k:
            if not all_finite(y) or y.min() < 0 or y.max() > 1 or not np.allclose(y.sum(axis=1), 1.0, atol=1e-6):
                raise ValueError(
                    f"{owner}: loss='ce' with 2-D y needs one-hot (or probability) rows in [0, 1] summing to 1"
                )
            return Targets(values=y.astype(dtype, copy=False))
        raise ValueError(
            f"{owner}: loss='ce' expects y as integer labels of shape ({n},) or one-hot rows of shape "
            f"({n}, {k}); got shape {y.shape}"
        )

    def evaluate(self, z, targets, output_layer, scratch, want_grad):
        n = z.shape[0]
        # The network hands its layers the fused kernels of the pass (nn/_fused.py); the softmax carries them here.
        fused = None if output_layer is None else output_layer.fused
        if fused is not None and targets.labels is not None:
            value = fused.softmax_cross_entropy(z, targets.labels, want_grad)
            return value, (z if want_grad else None)
        row = scratch("ce_row", (n, 1))
        np.max(z, axis=1, keepdims=True, out=row)
        np.subtract(z, row, out=z)  # shifted logits: softmax and logsumexp without overflow
        if targets.labels is not None:
            picked = float(np.add.reduce(z[np.arange(n), targets.labels]))
        else:
            work = scratch("ce_work", z.shape)
            np.multiply(z, targets.values, out=work)
            picked = float(np.add.reduce(work, axis=None))
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=row)
        log_sum = scratch("ce_log", (n, 1))
        value = (float(np.add.reduce(np.log(row, out=log_sum), axis=None)) - picked) / n
        if not want_grad:
            return value, None
        np.divide(z, row, out=z)  # p = softmax(z)
        if targets.labels is not None:
            z[np.arange(n), targets.labels] -= 1
        else:
            np.subtract(z, targets.values, out=z)
        np.multiply(z, 1.0 / n, out=z)
        return value, z


class _Regression(Loss):
    def targets(self, y, n, k, dtype, owner):
        y = _as_array(y, owner)
        _check_length(y, n, owner)
        y = _as_matrix(y, n, k, owner, self.name)
        if not all_finite(y):
            raise ValueError(f"{owner}: y holds NaN or Inf values; loss={self.name!r} needs finite targets")
        return Targets(values=y.astype(dtype, copy=False))

    def evaluate(self, z, targets, output_layer, scratch, want_grad):
        a = z if output_layer is None else output_layer.forward(z, training=want_grad)
        diff = scratch("residual", z.shape)
        np.subtract(a, targets.values, out=diff)
        value = self._value(diff) / z.size
        if not want_grad:
            return value, None
        self._gradient(diff)
        np.multiply(diff, 1.0 / z.size, out=diff)
        if output_layer is not None:
            diff = output_layer.backward(diff)
        return value, diff

    def _value(self, diff: np.ndarray) -> float:
        raise NotImplementedError

    def _gradient(self, diff: np.ndarray) -> None:
        raise NotImplementedError


class MeanSquaredError(_Regression):
    name = "mse"

    def _value(self, diff):
        flat = diff.reshape(-1)
        return float(np.dot(flat, flat))

    def _gradient(self, diff):
        np.multiply(diff, 2, out=diff)


class MeanAbsoluteError(_Regression):
    name = "mae"

    def _value(self, diff):
        return float(np.add.reduce(np.abs(diff), axis=None))

    def _gradient(self, diff):
        np.sign(diff, out=diff)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (BinaryCrossEntropy(), CategoricalCrossEntropy(), MeanSquaredError(), MeanAbsoluteError())
}


def get_loss(name: str, *, owner: str) -> Loss:
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"{owner}: loss={name!r} is not one of {', '.join(map(repr, LOSSES))}")
    return LOSSES[name]
