"""Initializers: published variances, determinism, and the symmetry problem of constant initialization."""

from __future__ import annotations

import math

import numpy as np
import pytest

import descentlab as dl

FAN_IN, FAN_OUT = 1000, 500

# name -> (initializer, expected std, uniform half-width or None); formulas from the cited papers.
INITIALIZER_CASES = {
    "too_small": (dl.nn.too_small, 0.01, None),
    "too_large": (dl.nn.too_large, 10.0, None),
    "normal(0.3)": (dl.nn.normal(0.3), 0.3, None),
    "uniform": (dl.nn.uniform, 1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
    "xavier_uniform": (dl.nn.xavier_uniform, math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "xavier_normal": (dl.nn.xavier_normal, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    "he_normal": (dl.nn.he_normal, math.sqrt(2 / FAN_IN), None),
    "he_uniform": (dl.nn.he_uniform, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    "lecun_normal": (dl.nn.lecun_normal, math.sqrt(1 / FAN_IN), None),
}


@pytest.mark.parametrize("case", INITIALIZER_CASES)
def test_initializer_statistics_match_the_published_formulas(case: str) -> None:
    init, std, limit = INITIALIZER_CASES[case]
    W = init((FAN_IN, FAN_OUT), np.random.default_rng(0), np.float64)
    assert W.shape == (FAN_IN, FAN_OUT)
    assert abs(W.std() / std - 1) < 0.03
    assert abs(W.mean()) < 0.03 * std
    if limit is not None:
        assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit


@pytest.mark.parametrize("name", sorted(dl.nn.INITIALIZERS))
def test_initializers_are_deterministic_and_respect_dtype(name: str) -> None:
    init = dl.nn.get_initializer(name)
    a = init((30, 20), np.random.default_rng(3), np.float32)
    b = init((30, 20), np.random.default_rng(3), np.float32)
    c = init((30, 20), np.random.default_rng(3), np.float64)
    assert a.dtype == np.float32 and c.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c.astype(np.float32))  # drawn in float64, then cast


def test_names_aliases_and_constant_initializers() -> None:
    assert dl.nn.get_initializer("he") is dl.nn.he_normal
    assert dl.nn.get_initializer("xavier") is dl.nn.xavier_normal
    assert np.all(dl.nn.zeros((3, 2), np.random.default_rng(0)) == 0)
    assert np.all(dl.nn.constant(0.5)((3, 2), np.random.default_rng(0)) == 0.5)
    net = dl.nn.mlp([3, 4, 1], init="zeros")
    assert not net.params.any()
    custom = dl.nn.mlp([3, 4, 1], init=dl.nn.constant(0.25))
    assert np.all(custom.layers[0].W == 0.25) and np.all(custom.layers[0].b == 0)  # biases start at zero
    assert custom.config()["layers"][0]["init"] == "constant(0.25)"  # the name a checkpoint records
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match=r"initializer <lambda> returned NaN, Inf .* shape \(2, 3\)"):
            dl.nn.mlp([2, 3, 1], init=lambda shape, rng, dtype, bad=bad: np.full(shape, bad))


def test_same_seed_same_network_and_float32_float64_agree() -> None:
    a = dl.nn.mlp([5, 7, 2], seed=11, dtype="float32")
    b = dl.nn.mlp([5, 7, 2], seed=11, dtype="float32")
    c = dl.nn.mlp([5, 7, 2], seed=11, dtype="float64")
    d = dl.nn.mlp([5, 7, 2], seed=12, dtype="float32")
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.params, c.params.astype(np.float32))
    assert not np.array_equal(a.params, d.params)
    rng = np.random.default_rng(4)
    e = dl.nn.mlp([5, 7, 2], seed=np.random.default_rng(4))
    f = dl.nn.mlp([5, 7, 2], seed=rng)
    np.testing.assert_array_equal(e.params, f.params)


@pytest.mark.parametrize("init", ["zeros", dl.nn.constant(0.3)])
def test_symmetric_initialization_keeps_hidden_units_identical(init) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = dl.nn.mlp([3, 6, 5, 1], activation="tanh", output="sigmoid", init=init, dtype="float64")
    opt = dl.optim.GD(lr=0.5)
    for _ in range(20):
        net.loss_and_grad(X, y, loss="bce")
        opt.step(net.params, net.grads)
    for layer in (net.layers[0], net.layers[2]):
        W = layer.W
        np.testing.assert_allclose(W, np.repeat(W[:, :1], W.shape[1], axis=1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.b, layer.b[0], rtol=1e-12, atol=1e-15)
    if init == "zeros":
        assert not net.layers[0].W.any()  # with tanh(0) = 0 and zero weights the first layer never moves
    else:
        assert np.ptp(net.layers[0].W) > 0  # it moved, but every unit moved the same way


def test_random_initialization_breaks_the_symmetry() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 3)), rng.integers(0, 2, 64)
    net = dl.nn.mlp([3, 6, 1], activation="tanh", init="he", dtype="float64")
    opt = dl.optim.GD(lr=0.5)
    for _ in range(5):
        net.loss_and_grad(X, y, loss="bce")
        opt.step(net.params, net.grads)
    W = net.layers[0].W
    assert np.min(np.abs(W[:, 1:] - W[:, :1]).max(axis=0)) > 1e-3
