"""Flat θ, buffers and dtype, inference vs training behaviour (batch norm, dropout), diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

import descentlab as dl
from descentlab.nn import BatchNorm, Dense, Dropout, LeakyReLU, Network, ReLU, Sigmoid, Softmax, Tanh


def _data(n=32, d=4, k=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, k, n)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_layer_arrays_are_views_into_the_flat_vectors(batch_norm: bool) -> None:
    net = dl.nn.mlp([4, 8, 6, 3], output="softmax", batch_norm=batch_norm)
    assert net.params.ndim == 1 and net.params.flags.c_contiguous and net.grads.shape == net.params.shape
    offset = 0
    for record in net.layout:
        layer = next(layer for layer in net.layers if layer.name == record.layer)
        view, grad = getattr(layer, record.name), getattr(layer, "d" + record.name)
        assert record.offset == offset and view.shape == record.shape
        assert np.shares_memory(view, net.params) and np.shares_memory(grad, net.grads)
        np.testing.assert_array_equal(view.ravel(), net.params[record.slice])
        offset += record.size
    assert offset == net.n_params
    net.params[:] = 7.0  # writing θ is writing every layer
    assert all(np.all(getattr(layer, key) == 7.0) for layer in net.layers for key in layer.param_shapes())
    X, y = _data()
    net.loss_and_grad(X, y, loss="ce")
    for record in net.layout:  # gradients land in the flat vector
        layer = next(layer for layer in net.layers if layer.name == record.layer)
        np.testing.assert_array_equal(getattr(layer, "d" + record.name).ravel(), net.grads[record.slice])


def test_parameter_count_layout_groups_and_summary() -> None:
    net = dl.nn.mlp([2, 16, 16, 1], seed=0)
    assert net.n_params == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    groups = net.param_groups()
    assert list(groups) == ["dense0", "dense1", "dense2"]
    assert groups["dense0"] == slice(0, 48) and groups["dense2"].stop == net.n_params
    summary = net.summary()
    for text in ("dense0", "relu1", "sigmoid0", "(n, 16)", f"{net.n_params:,}"):
        assert text in summary
    bn = dl.nn.mlp([2, 4, 1], batch_norm=True)
    assert [(r.layer, r.name) for r in bn.layout] == [
        ("dense0", "W"),
        ("batchnorm0", "gamma"),
        ("batchnorm0", "beta"),
        ("dense1", "W"),
        ("dense1", "b"),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_everywhere(dtype: str) -> None:
    net = dl.nn.mlp([4, 8, 3], output="softmax", batch_norm=True, dropout=0.2, dtype=dtype)
    X, y = _data(dtype=np.float64)  # float64 input to a float32 net is converted, never computed in float64
    loss = net.loss_and_grad(X, y, loss="ce", l2=1e-3)
    assert isinstance(loss, float)
    assert net.params.dtype == net.grads.dtype == np.dtype(dtype)
    assert net.forward(X).dtype == np.dtype(dtype) and net.predict_proba(X).dtype == np.dtype(dtype)
    for layer in net.layers:
        assert all(buffer.dtype in (np.dtype(dtype), np.dtype(bool)) for buffer in layer._buffers.values())
        assert all(array.dtype == np.dtype(dtype) for array in layer.state_arrays().values())


def test_buffers_are_reused_per_batch_size_and_bounded() -> None:
    net = dl.nn.mlp([4, 8, 8, 3], output="softmax")
    X, y = _data(n=64)
    net.loss_and_grad(X[:16], y[:16], loss="ce")
    first = {id(b) for layer in net.layers for b in layer._buffers.values()}
    net.loss_and_grad(X[16:32], y[16:32], loss="ce")
    assert {id(b) for layer in net.layers for b in layer._buffers.values()} == first
    for n in range(2, 2 + 2 * dl.nn.network.CACHED_BATCH_SIZES):
        net.loss_and_grad(X[:n], y[:n], loss="ce")
    sizes = {key[1][0] for layer in net.layers for key in layer._buffers if key[1]}
    assert len(sizes) <= dl.nn.network.CACHED_BATCH_SIZES


def test_inputs_are_never_modified_and_outputs_are_fresh_arrays() -> None:
    net = Network([Tanh(), Dense(4, 3), Softmax()], input_dim=4)  # an in-place layer first
    X, y = _data()
    copy = X.copy()
    net.loss_and_grad(X, y, loss="ce")
    out = net.forward(X)
    net.forward(X * 2)
    np.testing.assert_array_equal(X, copy)
    np.testing.assert_array_equal(out, net.forward(X))


def test_batch_norm_uses_batch_statistics_in_training_and_running_averages_in_inference() -> None:
    rng = np.random.default_rng(1)
    X = (3.0 + 2.0 * rng.standard_normal((256, 5))).astype(np.float64)
    net = Network([BatchNorm(5, momentum=0.1)], input_dim=5, dtype="float64")
    bn = net.layers[0]
    bn.gamma[...] = 2.0
    bn.beta[...] = -1.0
    out = net.forward(X, training=True)
    np.testing.assert_allclose(out.mean(axis=0), -1.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 2.0 * np.sqrt(X.var(axis=0) / (X.var(axis=0) + 1e-5)), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean, 0.1 * X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * X.var(axis=0, ddof=1), rtol=1e-12)
    for _ in range(200):
        net.forward(X, training=True)
    np.testing.assert_allclose(bn.running_mean, X.mean(axis=0), rtol=1e-6)
    inference = net.forward(X[:3])  # per sample: does not depend on the rest of the batch
    expected = 2.0 * (X[:3] - bn.running_mean) / np.sqrt(bn.running_var + 1e-5) - 1.0
    np.testing.assert_allclose(inference, expected, rtol=1e-12)
    np.testing.assert_allclose(net.forward(X[:1]), expected[:1], rtol=1e-12)
    running = bn.running_mean.copy()
    net.loss(X, X, loss="mse")
    np.testing.assert_array_equal(bn.running_mean, running)  # inference leaves the averages alone


def test_dropout_is_inverted_seeded_and_inactive_at_inference() -> None:
    X = np.ones((400, 50))
    net = Network([Dropout(0.3)], input_dim=50, dtype="float64", seed=5)
    out = net.forward(X, training=True)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    assert not np.array_equal(out, net.forward(X, training=True))  # a fresh mask each pass
    np.testing.assert_array_equal(net.forward(X), X)  # identity at inference
    again = Network([Dropout(0.3)], input_dim=50, dtype="float64", seed=5)
    np.testing.assert_array_equal(again.forward(X, training=True), out)  # same seed, same masks
    other = Network([Dropout(0.3)], input_dim=50, dtype="float64", seed=6)
    assert not np.array_equal(other.forward(X, training=True), out)


def test_dropout_network_inference_equals_the_same_network_without_dropout() -> None:
    with_dropout = dl.nn.mlp([4, 8, 3], output="softmax", dropout=0.5, seed=2)
    without = dl.nn.mlp([4, 8, 3], output="softmax", dropout=0.0, seed=2)
    np.testing.assert_array_equal(with_dropout.params, without.params)
    X, y = _data()
    np.testing.assert_array_equal(with_dropout.predict_proba(X), without.predict_proba(X))
    assert with_dropout.loss(X, y, loss="ce") == without.loss(X, y, loss="ce")
    assert with_dropout.loss_and_grad(X, y, loss="ce") != without.loss_and_grad(X, y, loss="ce")


def test_predictions_have_documented_shapes_and_values() -> None:
    X, _ = _data()
    binary = dl.nn.mlp([4, 5, 1], output="sigmoid")
    p = binary.predict_proba(X)
    assert p.shape == (32,) and np.all((p > 0) & (p < 1))
    np.testing.assert_array_equal(binary.predict(X), (p >= 0.5).astype(int))
    multi = dl.nn.mlp([4, 5, 3], output="softmax")
    p = multi.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(multi.predict(X), p.argmax(axis=1))
    regression = dl.nn.mlp([4, 5, 2], output="linear")
    np.testing.assert_array_equal(regression.predict(X), regression.forward(X))
    assert dl.nn.mlp([4, 5, 1], output="linear").predict(X).shape == (32,)


def test_a_small_network_learns_xor_with_adam() -> None:
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0])
    net = dl.nn.mlp([2, 8, 1], activation="tanh", output="sigmoid", init="xavier", seed=0)
    opt = dl.optim.Adam(lr=0.05)
    for _ in range(300):
        net.loss_and_grad(X, y, loss="bce")
        opt.step(net.params, net.grads)
    assert net.loss(X, y, loss="bce") < 0.05
    np.testing.assert_array_equal(net.predict(X), y)


def test_layer_stats_and_gradient_norms() -> None:
    net = dl.nn.mlp([4, 16, 8, 3], output="softmax", seed=0)
    assert net.layer_stats() == []
    X, y = _data(n=64)
    net.loss_and_grad(X, y, loss="ce")
    stats = net.layer_stats()
    assert [s["layer"] for s in stats] == ["relu0", "relu1"]
    hidden = np.maximum(X @ net.layers[0].W + net.layers[0].b, 0)
    assert stats[0]["mean"] == pytest.approx(float(hidden.mean()), rel=1e-5)
    assert stats[0]["std"] == pytest.approx(float(hidden.std()), rel=1e-5)
    net.layers[2].b[...] = -1e3  # kill every unit of the second hidden layer
    net.loss_and_grad(X, y, loss="ce")
    assert net.layer_stats()[1]["dead_fraction"] == 1.0
    norms = net.layer_grad_norms()
    assert set(norms) == {"dense0", "dense1", "dense2"} and set(norms["dense0"]) == {"W", "b"}
    assert norms["dense1"]["W"] == 0.0  # dead units pass no gradient
    assert norms["dense2"]["W"] == pytest.approx(float(np.linalg.norm(net.layers[4].dW)), rel=1e-6)


def test_network_rejects_reused_layers_and_inconsistent_widths() -> None:
    relu = ReLU()
    Network([Dense(2, 3), relu])
    with pytest.raises(ValueError, match="one network only"):
        Network([Dense(2, 3), relu])
    first = Dense(2, 3)
    with pytest.raises(ValueError, match="fan_in=3"):
        Network([first, Dense(4, 1)])
    assert Network([first, Dense(3, 1)]).n_params == 13  # a failed construction does not claim its layers
    with pytest.raises(ValueError, match="input_dim"):
        Network([ReLU()])


def test_the_callers_array_survives_networks_without_buffers_of_their_own() -> None:
    X, y = _data(k=4)
    X = X[:, :4].copy()
    copy = X.copy()
    net = Network([Dropout(0.5), Softmax()], input_dim=4)
    net.loss(X, y, loss="ce")  # the fused loss overwrites the logits it is given
    net.predict_proba(X)
    np.testing.assert_array_equal(X, copy)


# Layers that hand their input on unchanged (dropout at inference or of rate 0, any number of them) and then
# an activation that works in place: the activation must not write into the caller's X.
PASS_THROUGH_STACKS = {
    "dropout, tanh": lambda: [Dropout(0.2), Tanh(), Dense(4, 8), ReLU(), Dense(8, 1), Sigmoid()],
    "dropout 0, relu": lambda: [Dropout(0.0), ReLU(), Dense(4, 1), Sigmoid()],
    "two dropouts, tanh": lambda: [Dropout(0.0), Dropout(0.3), Tanh(), Dense(4, 1), Sigmoid()],
    "dropout 0, batch norm, leaky relu": lambda: [Dropout(0.0), BatchNorm(4), LeakyReLU(), Dense(4, 1), Sigmoid()],
}
CALLS = {
    "fit": lambda net, X, y: dl.fit(net, X, y, epochs=2, batch_size=8, progress=False),
    "fit full batch": lambda net, X, y: dl.fit(net, X, y, epochs=2, batch_size=None, progress=False),
    "predict": lambda net, X, y: net.predict(X),
    "predict_proba": lambda net, X, y: net.predict_proba(X),
    "forward": lambda net, X, y: net.forward(X, training=True),
    "loss": lambda net, X, y: net.loss(X, y),
    "loss_and_grad": lambda net, X, y: net.loss_and_grad(X, y),
    "evaluate": lambda net, X, y: dl.train.evaluate(net, X, y),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("stack", PASS_THROUGH_STACKS)
def test_in_place_layers_after_pass_through_layers_leave_the_callers_X_intact(stack: str, call: str) -> None:
    X, _ = _data(n=32)  # float32: the network's dtype, so no conversion copy protects X
    y = (X[:, 0] > 0).astype(int)
    copy = X.copy()
    CALLS[call](Network(PASS_THROUGH_STACKS[stack](), input_dim=4), X, y)
    np.testing.assert_array_equal(X, copy)


def test_a_network_that_starts_with_a_dense_layer_never_copies_X() -> None:
    net = dl.nn.mlp([4, 8, 1], dropout=0.2, batch_norm=True)
    X, _ = _data()
    y = (X[:, 0] > 0).astype(int)
    net.loss_and_grad(X, y)
    net.predict(X)
    assert not any(key == "input" for key, _ in net._scratch_buffers)


def test_mlp_takes_its_sizes_as_a_list_tuple_or_integer_array() -> None:
    reference = dl.nn.mlp([4, 3, 1], seed=1)
    for sizes in ((4, 3, 1), np.array([4, 3, 1]), np.array([4, 3, 1], dtype=np.int32)):
        net = dl.nn.mlp(sizes, seed=1)
        assert repr(net) == repr(reference) and np.array_equal(net.params, reference.params)
