"""Finite-difference gradient check (deeplearning.ai course 2, week 1; CS231n "gradient checking").

For every parameter θᵢ the central difference ĝᵢ = (J(θ + εeᵢ) − J(θ − εeᵢ)) / 2ε is compared with the
backpropagated gᵢ. Per parameter array (each layer's W, b, γ, β) the relative error is
‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), and the check returns the largest. In float64 with ε = 1e-6, a correct backward pass
gives about 1e-9 or less; 1e-5 and above means a bug.

Rounding puts an absolute noise of about 1e-10 on every ĝᵢ, so an array whose gradient is tiny next to
the rest (batch norm after a width-1 layer, say) would show a large relative error from noise alone. The
denominator therefore never drops below 1e-2 of the whole gradient's ‖g‖ + ‖ĝ‖: such an array is judged
on the scale of the network's gradient.

J is evaluated in training mode (batch statistics for batch norm); the dropout generator and the running
averages are restored before each evaluation, so every J sees the same dropout mask and nothing changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.nn._validation import check_nonnegative
from descentlab.nn.network import Network

#: The denominator of an array's relative error is at least this fraction of the whole ‖g‖ + ‖ĝ‖ …
RELATIVE_FLOOR = 1e-2
#: … and at least this, so that an all-zero gradient compares in absolute terms (no 0/0).
NORM_FLOOR = 1e-8


def gradcheck(net: Network, X: Any, y: Any, loss: str = "ce", eps: float = 1e-6, l2: float = 0.0) -> float:
    """Largest relative error between backpropagation and central differences over the parameter arrays.

    ``net`` must be float64 (in float32 the differences drown in rounding). Costs 2·P forward passes: use a
    small network and batch. The network's parameters, running averages and generator are left unchanged,
    also when the check is interrupted. A gradient with NaN or Inf on either side raises ``ValueError`` naming
    the parameter arrays that hold them (its relative error would be NaN, which no threshold catches).
    """
    owner = "gradcheck"
    if not isinstance(net, Network):
        raise TypeError(f"{owner}: net must be a descentlab.nn.Network, got {type(net).__name__}")
    if net.dtype != np.float64:
        raise TypeError(
            f"{owner}: the network computes in {net.dtype.name}; gradient checks need float64 "
            f"(build it with dtype='float64')"
        )
    eps = check_nonnegative("eps", eps, owner=owner)
    if eps == 0:
        raise ValueError(f"{owner}: eps must be > 0, e.g. 1e-6")
    l2 = check_nonnegative("l2", l2, owner=owner)
    X, loss_fn, targets = net._prepare(X, y, loss, owner)
    snapshot = net._snapshot()
    params_before = net.params.copy()
    grads_before = net.grads.copy()
    theta = net.params
    numeric = np.empty_like(theta)
    try:
        net.loss_and_grad(X, y, loss=loss, l2=l2)
        analytic = net.grads.copy()
        for i in range(theta.size):
            original = theta[i]
            theta[i] = original + eps
            net._restore(snapshot)
            plus = net._training_loss(X, loss_fn, targets, l2)
            theta[i] = original - eps
            net._restore(snapshot)
            minus = net._training_loss(X, loss_fn, targets, l2)
            theta[i] = original
            numeric[i] = (plus - minus) / (2 * eps)
    finally:  # also on an exception or Ctrl-C in a forward pass: θ may hold θᵢ ± ε at that moment
        theta[...] = params_before
        net._restore(snapshot)
        net.grads[...] = grads_before
    _check_finite(net, analytic, numeric, owner)
    floor = max(RELATIVE_FLOOR * (float(np.linalg.norm(analytic)) + float(np.linalg.norm(numeric))), NORM_FLOOR)
    errors = []
    for record in net.layout:
        g, n = analytic[record.slice], numeric[record.slice]
        scale = float(np.linalg.norm(g)) + float(np.linalg.norm(n))
        errors.append(float(np.linalg.norm(g - n)) / max(scale, floor))
    return float(np.max(errors, initial=0.0))  # np.max, unlike max(), propagates a NaN instead of dropping it


def _check_finite(net: Network, analytic: np.ndarray, numeric: np.ndarray, owner: str) -> None:
    """Refuse NaN or Inf on either side: its relative error is NaN, which must never read as a pass."""
    sides = (
        ("backpropagation gives", analytic, "a layer's backward pass is broken"),
        ("central differences give", numeric, "the loss is not finite near θ: check the forward pass and the data"),
    )
    problems = []
    for side, gradient, hint in sides:
        arrays = [f"{r.layer}.{r.name}" for r in net.layout if not np.isfinite(gradient[r.slice]).all()]
        if arrays:
            problems.append(f"{side} NaN or Inf in {', '.join(arrays)} ({hint})")
    if problems:
        raise ValueError(f"{owner}: {'; '.join(problems)}")
