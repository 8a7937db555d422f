"""Fused numba passes for the network's elementwise work; :mod:`descentlab.nn._fused` decides when they run.

Each kernel computes what the NumPy code of :mod:`descentlab.nn.layers` / :mod:`descentlab.nn.losses`
computes, in one pass over the batch instead of one NumPy call per operation (each call a pass of its own
plus ~1 µs of dispatch). ReLU's and the bias kernels give the same bits as the NumPy code; the softmax
cross-entropy differs from it in the last bits (another ``exp``, another summation order).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def relu_forward(x):
    """a = max(z, 0) in place, as ``np.maximum(z, 0)``: NaN stays NaN, −0 becomes +0."""
    flat = x.reshape(-1)
    for i in range(flat.size):
        if flat[i] <= 0:
            flat[i] = 0


@numba.njit(cache=True, nogil=True)
def relu_backward(delta, a):
    """δ ← δ · [a > 0] in place, as ``delta * (a > 0)``: where a ≤ 0 or NaN, δ·0 (NaN for an infinite δ)."""
    d = delta.reshape(-1)
    out = a.reshape(-1)
    for i in range(d.size):
        if not out[i] > 0:
            d[i] = d[i] * 0


@numba.njit(cache=True, nogil=True)
def add_bias(z, b):
    """z ← z + b, b added to every row."""
    for row in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[row, j] += b[j]


@numba.njit(cache=True, nogil=True)
def column_sums(delta, out):
    """out ← Σᵢ δᵢ (the bias gradient), rows added in order as NumPy adds them along axis 0."""
    out[:] = delta[0]
    for row in range(1, delta.shape[0]):
        for j in range(delta.shape[1]):
            out[j] += delta[row, j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def softmax_cross_entropy(z, labels, want_grad):
    """J = (1/n) Σᵢ [log Σⱼ e^(zᵢⱼ − mᵢ) − (z_{i,yᵢ} − mᵢ)], mᵢ the row's max (NaN if the row holds one);
    with ``want_grad`` z is overwritten with ∂J/∂z = (softmax(zᵢ) − onehot(yᵢ))/n. Sums in float64."""
    n, k = z.shape
    inv_n = 1.0 / n
    total = 0.0
    for i in range(n):
        top = z[i, 0]
        for j in range(1, k):
            if z[i, j] > top or z[i, j] != z[i, j]:
                top = z[i, j]
        total -= z[i, labels[i]] - top
        s = 0.0
        for j in range(k):
            z[i, j] = np.exp(z[i, j] - top)
            s += z[i, j]
        total += math.log(s)
        if want_grad:
            for j in range(k):
                z[i, j] = z[i, j] / s
            z[i, labels[i]] -= 1
            for j in range(k):
                z[i, j] = z[i, j] * inv_n
    return total / n
