"""Gradient harness: every layer and every loss against central differences, and a PyTorch twin.

Gradient checks run in float64 on small networks; a correct backward pass gives relative errors near 1e-9
(the threshold is 1e-6). Parameters are perturbed away from the initial zeros of the biases so that no
ReLU pre-activation sits exactly on its kink (where the two one-sided derivatives differ).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab.nn import BatchNorm, Dense, Dropout, LeakyReLU, Network, ReLU, Sigmoid, Softmax, Tanh

if TYPE_CHECKING:
    import torch

TOLERANCE = 1e-6
N, D, K = 12, 4, 3

# The registry of layers: a hidden block built around each layer type, checked inside a small network.
HIDDEN_BLOCKS = {
    "ReLU": lambda: [Dense(D, 5), ReLU()],
    "LeakyReLU": lambda: [Dense(D, 5), LeakyReLU(0.2)],
    "Sigmoid": lambda: [Dense(D, 5), Sigmoid()],
    "Tanh": lambda: [Dense(D, 5), Tanh()],
    "BatchNorm": lambda: [Dense(D, 5, bias=False), BatchNorm(5), Tanh()],
    "BatchNorm+ReLU": lambda: [Dense(D, 5), BatchNorm(5, momentum=0.3), ReLU()],
    "Dropout": lambda: [Dense(D, 5), Tanh(), Dropout(0.4)],
    "Dense(no bias)": lambda: [Dense(D, 5, bias=False), Tanh()],
}

# The registry of losses: (loss, output layer or None, number of outputs, target maker).
LOSS_CASES = {
    "bce": ("bce", Sigmoid, 1, lambda rng: rng.integers(0, 2, N)),
    "bce-multilabel": ("bce", Sigmoid, K, lambda rng: rng.integers(0, 2, (N, K))),
    "ce-labels": ("ce", Softmax, K, lambda rng: rng.integers(0, K, N)),
    "ce-onehot": ("ce", Softmax, K, lambda rng: np.eye(K)[rng.integers(0, K, N)]),
    "mse-linear": ("mse", None, 2, lambda rng: rng.standard_normal((N, 2))),
    "mse-sigmoid": ("mse", Sigmoid, 1, lambda rng: rng.random(N)),
    "mse-softmax": ("mse", Softmax, K, lambda rng: np.eye(K)[rng.integers(0, K, N)]),
    "mae-linear": ("mae", None, 1, lambda rng: rng.standard_normal(N)),
}


@pytest.fixture(params=["fused", "numpy"])
def nn_path(request, monkeypatch) -> str:
    """Run a check on the fused kernels (nn/_kernels.py) and on the NumPy code of the layers and losses."""
    if request.param == "fused":
        pytest.importorskip("numba")
        monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    else:
        monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")
    return request.param


def _network(block: list, outputs: int, output_layer, seed: int = 0) -> Network:
    layers = [*block, Dense(5, 4), Tanh(), Dense(4, outputs)]
    if output_layer is not None:
        layers.append(output_layer())
    net = Network(layers, dtype="float64", seed=seed)
    net.params += 0.1 * np.random.default_rng(seed + 100).standard_normal(net.n_params)
    return net


@pytest.mark.parametrize("block", HIDDEN_BLOCKS)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_every_layer_passes_the_gradient_check(block: str, l2: float, nn_path: str) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, K, N)
    net = _network(HIDDEN_BLOCKS[block](), K, Softmax)
    assert dl.nn.gradcheck(net, X, y, loss="ce", l2=l2) <= TOLERANCE


@pytest.mark.parametrize("case", LOSS_CASES)
def test_every_loss_passes_the_gradient_check(case: str, nn_path: str) -> None:
    loss, output_layer, outputs, make_targets = LOSS_CASES[case]
    rng = np.random.default_rng(2)
    X = rng.standard_normal((N, D))
    net = _network([Dense(D, 5), Tanh()], outputs, output_layer)
    assert dl.nn.gradcheck(net, X, make_targets(rng), loss=loss, l2=0.05) <= TOLERANCE


@pytest.mark.parametrize("activation", sorted(dl.nn.ACTIVATIONS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_mlp_configurations_pass_the_gradient_check(activation: str, batch_norm: bool) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, 2, N)
    net = dl.nn.mlp([D, 6, 5, 1], activation=activation, output="sigmoid", batch_norm=batch_norm, dtype="float64")
    net.params += 0.1 * rng.standard_normal(net.n_params)
    assert dl.nn.gradcheck(net, X, y, loss="bce", l2=0.1) <= TOLERANCE


def test_gradcheck_detects_a_wrong_gradient() -> None:
    class WrongTanh(Tanh):
        def backward(self, delta, need_input_grad=True):
            return super().backward(delta, need_input_grad) * 1.01

    rng = np.random.default_rng(4)
    net = Network([Dense(D, 5), WrongTanh(), Dense(5, K), Softmax()], dtype="float64")
    assert dl.nn.gradcheck(net, rng.standard_normal((N, D)), rng.integers(0, K, N), loss="ce") > 1e-3


def test_gradcheck_detects_a_wrong_bias_gradient() -> None:
    class WrongBias(Dense):
        def backward(self, delta, need_input_grad=True):
            dx = super().backward(delta, need_input_grad)
            self.db *= 1.1
            return dx

    rng = np.random.default_rng(4)
    net = Network([WrongBias(D, 5), Tanh(), Dense(5, K), Softmax()], dtype="float64")
    assert dl.nn.gradcheck(net, rng.standard_normal((N, D)), rng.integers(0, K, N), loss="ce") > 1e-3


@pytest.mark.parametrize("factor", [np.nan, np.inf])
def test_gradcheck_refuses_non_finite_gradients(factor: float) -> None:
    class BrokenTanh(Tanh):
        def backward(self, delta, need_input_grad=True):
            return super().backward(delta, need_input_grad) * factor

    rng = np.random.default_rng(4)
    net = Network([Dense(D, 5), BrokenTanh(), Dense(5, K), Softmax()], dtype="float64")
    broken_backward = np.errstate(invalid="ignore")  # inf · 0 in the matmuls downstream of the broken layer
    with broken_backward, pytest.raises(ValueError, match=r"backpropagation gives NaN or Inf in dense0\.W, dense0\.b"):
        dl.nn.gradcheck(net, rng.standard_normal((N, D)), rng.integers(0, K, N), loss="ce")


def test_gradcheck_leaves_the_network_unchanged() -> None:
    rng = np.random.default_rng(5)
    net = dl.nn.mlp([D, 5, K], output="softmax", batch_norm=True, dropout=0.3, dtype="float64")
    X, y = rng.standard_normal((N, D)), rng.integers(0, K, N)
    params, stats = net.params.copy(), {k: v.copy() for k, v in net.state_arrays().items()}
    rng_state = net.rng.bit_generator.state
    dl.nn.gradcheck(net, X, y, loss="ce")
    assert np.array_equal(net.params, params)
    assert all(np.array_equal(v, stats[k]) for k, v in net.state_arrays().items())
    assert net.rng.bit_generator.state == rng_state


def test_gradcheck_interrupted_leaves_the_parameters_unchanged() -> None:
    class Interrupted(Tanh):
        """Stands in for Ctrl-C: raises on its 6th forward pass, while θ holds θᵢ ± ε."""

        calls = 0

        def forward(self, x, training=False):
            Interrupted.calls += 1
            if Interrupted.calls == 6:
                raise KeyboardInterrupt
            return super().forward(x, training)

    rng = np.random.default_rng(0)
    net = Network([Dense(3, 4), Interrupted(), Dense(4, K), Softmax()], dtype="float64")
    params, grads = net.params.copy(), net.grads.copy()
    with pytest.raises(KeyboardInterrupt):
        dl.nn.gradcheck(net, rng.standard_normal((8, 3)), rng.integers(0, K, 8), loss="ce")
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.grads, grads)


def test_loss_values_match_their_textbook_formulas() -> None:
    rng = np.random.default_rng(6)
    X = rng.standard_normal((N, D))
    linear = dl.nn.mlp([D, 5, 2], output="linear", dtype="float64")
    z = linear.forward(X)
    targets = rng.standard_normal((N, 2))
    assert linear.loss(X, targets, loss="mse") == pytest.approx(np.mean((z - targets) ** 2), rel=1e-12)
    assert linear.loss(X, targets, loss="mae") == pytest.approx(np.mean(np.abs(z - targets)), rel=1e-12)

    binary = dl.nn.mlp([D, 5, 1], output="sigmoid", dtype="float64")
    p = binary.predict_proba(X)
    labels = rng.integers(0, 2, N)
    bce = -np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    assert binary.loss(X, labels, loss="bce") == pytest.approx(bce, rel=1e-12)

    multi = dl.nn.mlp([D, 5, K], output="softmax", dtype="float64")
    p = multi.predict_proba(X)
    classes = rng.integers(0, K, N)
    assert multi.loss(X, classes, loss="ce") == pytest.approx(-np.mean(np.log(p[np.arange(N), classes])), rel=1e-12)
    weights = sum(float(np.sum(layer.W**2)) for layer in multi.layers if isinstance(layer, Dense))
    assert multi.loss(X, classes, loss="ce", l2=0.7) == pytest.approx(
        multi.loss(X, classes, loss="ce") + 0.35 * weights, rel=1e-12
    )


def test_bce_on_logits_is_finite_where_the_naive_formula_overflows() -> None:
    net = Network([Dense(1, 1), Sigmoid()], dtype="float64")
    net.layers[0].W[...] = 1000.0
    X = np.array([[1.0], [-1.0]])
    loss = net.loss_and_grad(X, [0, 1], loss="bce")
    assert loss == pytest.approx(1000.0)  # both samples are confidently wrong by a logit of 1000
    assert np.all(np.isfinite(net.grads))


def _torch_twin(net: Network) -> torch.nn.Sequential:
    import torch  # optional: the one test that calls this skips without PyTorch

    modules = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            linear = torch.nn.Linear(layer.fan_in, layer.fan_out, bias=layer.bias, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.W.T.copy()))
                if layer.bias:
                    linear.bias.copy_(torch.from_numpy(layer.b.copy()))
            modules.append(linear)
        elif isinstance(layer, BatchNorm):
            bn = torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum, dtype=torch.float64)
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(layer.gamma.copy()))
                bn.bias.copy_(torch.from_numpy(layer.beta.copy()))
            modules.append(bn)
        elif isinstance(layer, ReLU):
            modules.append(torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def test_matches_a_pytorch_twin_with_batch_norm() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    net = dl.nn.mlp([D, 7, 6, K], activation="relu", output="softmax", batch_norm=True, dtype="float64", seed=3)
    net.params += 0.1 * rng.standard_normal(net.n_params)
    twin = _torch_twin(net)
    X, y = rng.standard_normal((N, D)), rng.integers(0, K, N)

    loss = net.loss_and_grad(X, y, loss="ce", l2=0.01)
    twin.train()
    torch_loss = torch.nn.functional.cross_entropy(twin(torch.from_numpy(X)), torch.from_numpy(y))
    torch_loss = torch_loss + 0.005 * sum((m.weight**2).sum() for m in twin if isinstance(m, torch.nn.Linear))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)

    torch_layers = [m for m in twin if not isinstance(m, torch.nn.ReLU)]
    ours = [layer for layer in net.layers if layer.param_shapes()]
    for layer, module in zip(ours, torch_layers, strict=True):
        if isinstance(layer, Dense):
            np.testing.assert_allclose(layer.dW, module.weight.grad.numpy().T, rtol=1e-10, atol=1e-13)
            if layer.bias:
                np.testing.assert_allclose(layer.db, module.bias.grad.numpy(), rtol=1e-10, atol=1e-13)
        else:
            np.testing.assert_allclose(layer.dgamma, module.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(layer.dbeta, module.bias.grad.numpy(), rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(layer.running_mean, module.running_mean.numpy(), rtol=1e-12)
            np.testing.assert_allclose(layer.running_var, module.running_var.numpy(), rtol=1e-12)

    twin.eval()
    with torch.no_grad():
        expected = twin(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net.forward(X), expected, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    widths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    activation=st.sampled_from(sorted(dl.nn.ACTIVATIONS)),
    head=st.sampled_from(["bce", "ce", "mse", "mae"]),
    batch_norm=st.booleans(),
    dropout=st.sampled_from([0.0, 0.3]),
    n=st.integers(2, 9),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_pass_the_gradient_check(widths, activation, head, batch_norm, dropout, n, seed) -> None:
    rng = np.random.default_rng(seed)
    output, outputs = {"bce": ("sigmoid", 1), "ce": ("softmax", 3), "mse": ("linear", 2), "mae": ("linear", 1)}[head]
    net = dl.nn.mlp(
        [3, *widths, outputs],
        activation=activation,
        output=output,
        batch_norm=batch_norm,
        dropout=dropout,
        dtype="float64",
        seed=seed,
    )
    net.params += 0.1 * rng.standard_normal(net.n_params)
    X = rng.standard_normal((n, 3))
    y = {
        "bce": lambda: rng.integers(0, 2, n),
        "ce": lambda: rng.integers(0, 3, n),
        "mse": lambda: rng.standard_normal((n, 2)),
        "mae": lambda: rng.standard_normal(n),
    }[head]()
    assert dl.nn.gradcheck(net, X, y, loss=head, l2=0.01) <= TOLERANCE
