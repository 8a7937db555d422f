"""Gradient clipping: by value, and by global norm (Pascanu, Mikolov & Bengio 2013)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from descentlab.optim._base import NonFiniteGradientError
from descentlab.optim._validation import check_float_array, check_range


def global_norm(grads: np.ndarray | Sequence[np.ndarray]) -> float:
    """‖g‖₂ over all entries of one array or of several arrays taken together.

    Each array's sum of squares is accumulated in its own dtype (BLAS's dot, as PyTorch does for float32 and
    float64), except float16: its squares pass its largest number, 65504, as soon as ‖g‖ > 256, so they are
    summed in float64.
    """
    arrays = [grads] if isinstance(grads, np.ndarray) else list(grads)
    return math.sqrt(sum(_sum_of_squares(a.ravel()) for a in arrays))


def _sum_of_squares(flat: np.ndarray) -> float:
    if flat.dtype.itemsize < 4:
        return float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    return float(np.vdot(flat, flat).real)


def by_norm(grads: np.ndarray | Sequence[np.ndarray], max_norm: float) -> float:
    """Rescale in place so that the global norm is at most ``max_norm``; return the norm before clipping.

        if ‖g‖ > c:  g ← (c / ‖g‖) · g

    The direction is kept, only the length shrinks. With a flat parameter vector (descentlab's networks) the
    global norm is the norm of ``net.grads``; several arrays are clipped by their joint norm.
    """
    max_norm = check_range("max_norm", max_norm, 0.0, math.inf, low_open=True, owner="clip.by_norm", hint="e.g. 1.0")
    arrays = _float_arrays("clip.by_norm", grads)
    norm = global_norm(arrays)
    if not math.isfinite(norm):
        raise NonFiniteGradientError(
            f"clip.by_norm: the gradient norm is {norm}; the gradient holds NaN/Inf or overflows, and clipping "
            f"cannot repair it. Lower the learning rate or look for log(0) in the loss."
        )
    if norm > max_norm:
        scale = max_norm / norm
        for a in arrays:
            a *= scale
    return norm


def by_value(grads: np.ndarray | Sequence[np.ndarray], clip_value: float) -> float:
    """Clamp every entry to [−c, c] in place; return the global norm before clipping.

    Unlike clipping by norm this changes the gradient's direction.
    """
    clip_value = check_range(
        "clip_value", clip_value, 0.0, math.inf, low_open=True, owner="clip.by_value", hint="e.g. 0.5"
    )
    arrays = _float_arrays("clip.by_value", grads)
    norm = global_norm(arrays)
    for a in arrays:
        np.clip(a, -clip_value, clip_value, out=a)
    return norm


def _float_arrays(owner: str, grads) -> list[np.ndarray]:
    arrays = [grads] if isinstance(grads, np.ndarray) else list(grads)
    for i, a in enumerate(arrays):
        check_float_array(f"grads[{i}]" if len(arrays) > 1 else "grads", a, owner=owner)
        if not a.flags.writeable:
            raise ValueError(f"{owner}: the gradient is read-only; clipping works in place (pass a copy)")
    return arrays
