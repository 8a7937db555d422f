"""Bad inputs, as data: each case names the call, the exception and words the message must contain."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import descentlab as dl

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 4)).astype(np.float32)
LABELS = RNG.integers(0, 3, 10)
BINARY = RNG.integers(0, 2, 10)


def softmax_net():
    return dl.nn.mlp([4, 6, 3], output="softmax")


def sigmoid_net():
    return dl.nn.mlp([4, 6, 1], output="sigmoid")


def with_nan():
    bad = X.copy()
    bad[3, 2] = np.nan
    return bad


def with_inf():
    bad = X.copy()
    bad[0, 0] = np.inf
    return bad


def labels_with_nan():
    labels = LABELS.astype(float)
    labels[[2, 5]] = np.nan
    return labels


ERROR_CASES = {
    # inputs
    "X/y lengths differ": (lambda: softmax_net().loss_and_grad(X, LABELS[:9], loss="ce"), ValueError, "same length"),
    "X too narrow": (lambda: softmax_net().loss_and_grad(X[:, :3], LABELS, loss="ce"), ValueError, "3 features.*4"),
    "X is 1-D": (lambda: softmax_net().predict(X[0]), ValueError, "^Network.predict: X has shape .*2-D.*reshape"),
    "X is 1-D, sigmoid": (lambda: sigmoid_net().predict(X[0]), ValueError, "^Network.predict: X has shape"),
    "X is 1-D, probabilities": (lambda: sigmoid_net().predict_proba(X[0]), ValueError, "^Network.predict_proba: X"),
    "X empty": (lambda: softmax_net().predict(X[:0]), ValueError, "no samples"),
    "NaN in X": (lambda: softmax_net().loss_and_grad(with_nan(), LABELS, loss="ce"), ValueError, "1 NaN"),
    "Inf in X": (lambda: sigmoid_net().predict(with_inf()), ValueError, "1 Inf"),
    "NaN in X to predict": (lambda: softmax_net().predict(with_nan()), ValueError, "drop them before predicting"),
    "ragged X": (
        lambda: softmax_net().predict([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0]]),
        ValueError,
        r"X must be a 2-D array of numbers \(n_samples, 4\) with rows of equal length",
    ),
    "X of strings": (lambda: softmax_net().forward(np.full((2, 4), "a")), TypeError, "dtype <U1"),
    "complex X": (lambda: softmax_net().forward(X.astype(complex)), TypeError, "complex128"),
    # targets
    "bce labels not 0/1": (lambda: sigmoid_net().loss_and_grad(X, BINARY * 2, loss="bce"), ValueError, r"\{0, 1\}"),
    "bce y wrong width": (lambda: sigmoid_net().loss(X, np.zeros((10, 2)), loss="bce"), ValueError, r"\(10, 2\)"),
    "ce label too large": (lambda: softmax_net().loss_and_grad(X, LABELS + 1, loss="ce"), ValueError, r"\[0, 3\)"),
    "ce negative label": (lambda: softmax_net().loss(X, LABELS - 1, loss="ce"), ValueError, "from -1"),
    "ce fractional label": (
        lambda: softmax_net().loss(X, np.r_[LABELS[:9], 1.5], loss="ce"),
        ValueError,
        r"integer class labels 0, 1, …, 2 .*non-integer values such as \[1.5\]",
    ),
    "ce NaN label": (
        lambda: softmax_net().loss_and_grad(X, labels_with_nan(), loss="ce"),
        ValueError,
        r"labels 0, 1, …, 2 .*such as \[nan, nan\]",
    ),
    "ce boolean labels": (lambda: softmax_net().loss(X, LABELS > 0, loss="ce"), TypeError, "boolean"),
    "ce rows not one-hot": (lambda: softmax_net().loss(X, np.ones((10, 3)), loss="ce"), ValueError, "summing to 1"),
    "ragged y": (
        lambda: sigmoid_net().loss_and_grad(X, [[1], [0, 1]] + [[0]] * 8),
        ValueError,
        r"^Network.loss_and_grad: y must be an array of numbers, one target \(or one-hot row\) per sample with rows "
        "of equal length",
    ),
    "y of strings": (lambda: softmax_net().loss(X, np.array(["a"] * 10), loss="ce"), TypeError, "y has dtype"),
    "mse NaN target": (
        lambda: dl.nn.mlp([4, 2, 1], output="linear").loss(X, np.full(10, np.nan), loss="mse"),
        ValueError,
        "NaN",
    ),
    # options
    "unknown loss": (lambda: softmax_net().loss(X, LABELS, loss="hinge"), ValueError, "'bce', 'ce', 'mse', 'mae'"),
    "bce on a softmax output": (lambda: softmax_net().loss(X, LABELS, loss="bce"), ValueError, "use loss='ce'"),
    "ce on a linear output": (
        lambda: dl.nn.mlp([4, 3, 3], output="linear").loss(X, LABELS, loss="ce"),
        ValueError,
        "output='softmax'",
    ),
    "negative l2": (lambda: softmax_net().loss_and_grad(X, LABELS, loss="ce", l2=-1), ValueError, "l2=-1"),
    "probabilities of a linear net": (
        lambda: dl.nn.mlp([4, 3, 2], output="linear").predict_proba(X),
        ValueError,
        "linear output",
    ),
    "batch norm on one sample": (
        lambda: dl.nn.mlp([4, 3, 1], batch_norm=True).loss_and_grad(X[:1], BINARY[:1]),
        ValueError,
        "at least 2 samples",
    ),
    # construction
    "unknown activation": (lambda: dl.nn.mlp([4, 3, 1], activation="gelu"), ValueError, "'relu'"),
    "unknown output": (lambda: dl.nn.mlp([4, 3, 1], output="tanh"), ValueError, "'sigmoid', 'softmax', 'linear'"),
    "dropout of 1": (lambda: dl.nn.mlp([4, 3, 1], dropout=1.0), ValueError, r"dropout=1 is outside \[0, 1\)"),
    "one size only": (lambda: dl.nn.mlp([4]), ValueError, "at least the input and output"),
    "one size only, as an array": (lambda: dl.nn.mlp(np.array([4])), ValueError, "at least the input and output"),
    "sizes of one number": (lambda: dl.nn.mlp(4), TypeError, r"sizes=4 must be a list of layer widths .*\[2, 16, 1\]"),
    "sizes as a string": (lambda: dl.nn.mlp("41"), TypeError, "sizes='41' must be a list of layer widths"),
    "sizes as a 2-D array": (lambda: dl.nn.mlp(np.array([[4, 3, 1]])), TypeError, r"1-D.*shape \(1, 3\)"),
    "float array of sizes": (lambda: dl.nn.mlp(np.array([4, 3.5, 1])), ValueError, r"sizes\[0\]=4.0 .* integer"),
    "zero width": (lambda: dl.nn.mlp([4, 0, 1]), ValueError, r"sizes\[1\]=0"),
    "integer dtype": (lambda: dl.nn.mlp([4, 3, 1], dtype="int32"), TypeError, "float32"),
    "softmax with one unit": (lambda: dl.nn.mlp([4, 3, 1], output="softmax"), ValueError, "at least 2 units"),
    "bad seed": (lambda: dl.nn.mlp([4, 3, 1], seed=-1), TypeError, "seed=-1"),
    "unknown initializer": (lambda: dl.nn.mlp([4, 3, 1], init="orthogonal"), ValueError, "he_normal"),
    "initializer of the wrong shape": (
        lambda: dl.nn.mlp([4, 3, 1], init=lambda shape, rng, dtype: np.zeros(3)),
        ValueError,
        "returned shape",
    ),
    "leaky slope of 1.5": (lambda: dl.nn.LeakyReLU(1.5), ValueError, "slope=1.5"),
    "batch norm momentum 2": (lambda: dl.nn.BatchNorm(3, momentum=2), ValueError, "momentum=2"),
    "batch norm eps of a string": (lambda: dl.nn.BatchNorm(3, eps="a"), TypeError, "eps must be a real number"),
    "batch norm eps inf": (lambda: dl.nn.BatchNorm(3, eps=np.inf), ValueError, "eps=inf must be a finite number > 0"),
    "batch norm eps 0": (lambda: dl.nn.BatchNorm(3, eps=0), ValueError, "eps=0.0 must be a finite number > 0"),
    "normal with std 0": (lambda: dl.nn.normal(0.0), ValueError, "std=0"),
    "normal of a string": (lambda: dl.nn.normal("a"), TypeError, "normal: std must be a real number, got 'a'"),
    "constant of a string": (lambda: dl.nn.constant("a"), TypeError, "constant: value must be a real number"),
    "constant inf": (lambda: dl.nn.constant(np.inf), ValueError, "value=inf must be finite"),
    # gradient check
    "gradcheck in float32": (lambda: dl.nn.gradcheck(softmax_net(), X, LABELS), TypeError, "float64"),
    "gradcheck eps 0": (
        lambda: dl.nn.gradcheck(dl.nn.mlp([4, 3, 3], output="softmax", dtype="float64"), X, LABELS, eps=0),
        ValueError,
        "eps",
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_input_raises_a_clear_error(case: str) -> None:
    call, exception, message = ERROR_CASES[case]
    with pytest.raises(exception, match=message):
        call()


def test_a_failed_call_leaves_gradients_untouched() -> None:
    net = softmax_net()
    net.loss_and_grad(X, LABELS, loss="ce")
    grads = net.grads.copy()
    with pytest.raises(ValueError):
        net.loss_and_grad(X, LABELS + 5, loss="ce")
    np.testing.assert_array_equal(net.grads, grads)


def test_inputs_too_large_for_the_dtype_are_refused_without_a_numpy_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's "overflow encountered in cast" would come first
        with pytest.raises(ValueError, match=r"^Network.predict: X holds 0 NaN and 8 Inf entries \(as float32\)"):
            sigmoid_net().predict(np.full((2, 4), 1e300))
