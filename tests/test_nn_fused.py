"""The fused kernels of the network's elementwise passes (nn/_kernels.py) against the NumPy code they replace.

ReLU and the bias passes must give the NumPy code's bits, special values included; the softmax
cross-entropy agrees to rounding. Then whole networks on both paths, and the switch between them.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

pytest.importorskip("numba")

import descentlab as dl
from descentlab.nn import _fused, _kernels
from descentlab.nn.layers import ReLU
from descentlab.nn.losses import Targets, get_loss

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.0, -3.0]
DTYPES = [np.float32, np.float64]


def _with_specials(rng, shape, dtype):
    values = rng.standard_normal(shape).astype(dtype)
    flat = values.reshape(-1)
    flat[: len(SPECIAL)] = SPECIAL
    rng.shuffle(flat)
    return values


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_kernels_give_numpys_bits(dtype):
    rng = np.random.default_rng(0)
    z = _with_specials(rng, (16, 9), dtype)
    delta = _with_specials(rng, (16, 9), dtype)
    expected_a = np.maximum(z, 0)
    a = z.copy()
    _kernels.relu_forward(a)
    np.testing.assert_array_equal(a, expected_a)
    assert (np.signbit(a) == np.signbit(expected_a)).all()
    with np.errstate(invalid="ignore"):
        expected_delta = delta * (expected_a > 0)
    got = delta.copy()
    _kernels.relu_backward(got, a)
    np.testing.assert_array_equal(got, expected_delta)
    assert (np.signbit(got) == np.signbit(expected_delta)).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_kernels_give_numpys_bits(dtype):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((128, 37)).astype(dtype) * 1e3
    b = rng.standard_normal(37).astype(dtype)
    expected = z + b
    _kernels.add_bias(z, b)
    np.testing.assert_array_equal(z, expected)
    sums = np.empty(37, dtype)
    _kernels.column_sums(z, sums)
    np.testing.assert_array_equal(sums, np.sum(z, axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("want_grad", [False, True])
def test_softmax_cross_entropy_agrees_with_the_numpy_loss(dtype, want_grad):
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((50, 7)) * 10).astype(dtype)
    z[3, 2] = 80.0  # a row whose unshifted exp would overflow float32
    labels = rng.integers(0, 7, 50).astype(np.intp)
    ce = get_loss("ce", owner="test")
    numpy_z, fused_z = z.copy(), z.copy()
    expected, expected_grad = ce.evaluate(numpy_z, Targets(labels=labels), None, _scratch(dtype), want_grad)
    value = _kernels.softmax_cross_entropy(fused_z, labels, want_grad)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert value == pytest.approx(expected, rel=rtol)
    if want_grad:
        np.testing.assert_allclose(fused_z, expected_grad, rtol=rtol, atol=rtol / 50)


def test_softmax_cross_entropy_of_a_nan_row_is_nan():
    z = np.zeros((3, 4))
    z[1, 2] = np.nan
    assert np.isnan(_kernels.softmax_cross_entropy(z, np.array([0, 1, 2]), True))
    assert np.isnan(z[1]).all() and np.isfinite(z[[0, 2]]).all()


def _scratch(dtype):
    buffers = {}

    def scratch(key, shape):
        return buffers.setdefault((key, shape), np.empty(shape, dtype))

    return scratch


def _network_gradients(monkeypatch, portable: bool, dtype: str, **options):
    if portable:
        monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")
    else:
        monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((96, 6))
    y = rng.integers(0, 4, 96)
    net = dl.nn.mlp([6, 32, 16, 4], output="softmax", seed=0, dtype=dtype, **options)
    value = net.loss_and_grad(X, y, loss="ce", l2=1e-3)
    return value, net.grads.copy(), net.layers[0].fused


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [{}, {"batch_norm": True}, {"activation": "tanh", "dropout": 0.2}])
def test_a_network_computes_the_same_on_both_paths(monkeypatch, dtype, options):
    numpy_value, numpy_grads, numpy_kernels = _network_gradients(monkeypatch, True, dtype, **options)
    fused_value, fused_grads, fused_kernels = _network_gradients(monkeypatch, False, dtype, **options)
    assert numpy_kernels is None and fused_kernels is _kernels
    rtol = 1e-5 if dtype == "float32" else 1e-12
    assert fused_value == pytest.approx(numpy_value, rel=rtol)
    np.testing.assert_allclose(fused_grads, numpy_grads, rtol=rtol, atol=rtol * np.abs(numpy_grads).max())


def test_the_switch_and_the_dtypes_that_take_the_fused_path(monkeypatch):
    monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    assert _fused.kernels(np.dtype(np.float32)) is _kernels
    assert _fused.kernels(np.dtype(np.float16)) is None
    monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")
    assert _fused.kernels(np.dtype(np.float64)) is None


def test_a_layer_outside_a_network_runs_the_numpy_code():
    layer = ReLU()
    assert layer.fused is None
    x = np.array([[-1.0, 2.0]])
    assert layer.forward(x, training=True).tolist() == [[0.0, 2.0]]


def test_a_network_that_ran_a_pass_still_copies_and_pickles(monkeypatch):
    monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    X, y = dl.data.moons(n_samples=64, seed=0)
    net = dl.nn.mlp([2, 8, 1], seed=0)
    value = net.loss_and_grad(X, y)
    assert net.layers[1].fused is _kernels
    for twin in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert twin.layers[1].fused is None  # set again by the twin's next pass
        assert twin.loss_and_grad(X, y) == value
        assert twin.layers[1].fused is _kernels
