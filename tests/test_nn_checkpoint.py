"""Checkpoints: round trip of every piece of state, bit-identical continuation, refusal of pickles."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import descentlab as dl

BATCH = 16


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((128, 5)).astype(np.float32), rng.integers(0, 3, 128)


def _train(net, opt, schedule, X, y, steps, start):
    losses = []
    for t in range(start, start + steps):
        rows = slice((t * BATCH) % len(X), (t * BATCH) % len(X) + BATCH)
        opt.lr = schedule(t)
        losses.append(net.loss_and_grad(X[rows], y[rows], loss="ce", l2=1e-4))
        opt.step(net.params, net.grads)
    return losses


def _setup():
    net = dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=True, dropout=0.25, seed=3)
    opt = dl.optim.Adam(lr=1e-2, amsgrad=True)
    schedule = dl.optim.schedules.Warmup(dl.optim.schedules.Exponential(lr0=1e-2, k=0.01), steps=5)
    return net, opt, schedule


@pytest.mark.parametrize("into", [False, True])
def test_training_resumed_from_a_checkpoint_is_bit_identical(tmp_path, into: bool) -> None:
    X, y = _data()
    net, opt, schedule = _setup()
    _train(net, opt, schedule, X, y, steps=12, start=0)
    path = dl.nn.save(tmp_path / "run", net, optimizer=opt, schedule=schedule, extra={"step": 12})
    assert path.suffix == ".npz" and path.exists()
    uninterrupted = _train(net, opt, schedule, X, y, steps=10, start=12)

    if into:
        target = dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=True, dropout=0.25, seed=99)
        ck = dl.nn.load(tmp_path / "run", into=target)
        assert ck.net is target
    else:
        ck = dl.nn.load(path)
    assert ck.extra == {"step": 12}
    resumed = _train(ck.net, ck.optimizer, ck.schedule, X, y, steps=10, start=ck.extra["step"])
    assert resumed == uninterrupted
    np.testing.assert_array_equal(ck.net.params, net.params)
    for key, array in net.state_arrays().items():
        np.testing.assert_array_equal(ck.net.state_arrays()[key], array)
    assert ck.optimizer.state_dict()["step"] == opt.state_dict()["step"]


def test_round_trip_restores_every_piece_of_state(tmp_path) -> None:
    X, y = _data()
    net, opt, _ = _setup()
    schedule = dl.optim.schedules.ReduceOnPlateau(dl.optim.schedules.Constant(0.1), patience=0)
    schedule.observe(1.0)
    schedule.observe(2.0)
    _train(net, opt, dl.optim.schedules.Constant(1e-2), X, y, steps=3, start=0)
    history = np.linspace(0, 1, 7)
    dl.nn.save(tmp_path / "c.npz", net, opt, schedule, extra={"history": history, "name": "demo", "epoch": 2})
    ck = dl.nn.load(tmp_path / "c.npz")
    assert ck.net.config() == net.config() and ck.net.layout == net.layout
    assert ck.net.params.dtype == np.float32
    np.testing.assert_array_equal(ck.net.params, net.params)
    assert ck.net.rng.bit_generator.state == net.rng.bit_generator.state
    saved, loaded = opt.state_dict(), ck.optimizer.state_dict()
    assert saved["hyperparameters"] == loaded["hyperparameters"] and saved["step"] == loaded["step"]
    for key in saved["arrays"]:
        np.testing.assert_array_equal(saved["arrays"][key], loaded["arrays"][key])
    assert ck.schedule.state_dict() == schedule.state_dict() and ck.schedule(0) == schedule(0)
    np.testing.assert_array_equal(ck.extra["history"], history)
    assert ck.extra["name"] == "demo" and ck.extra["epoch"] == 2
    bare = dl.nn.load(dl.nn.save(tmp_path / "bare", dl.nn.mlp([2, 3, 1])))
    assert bare.optimizer is None and bare.schedule is None and bare.extra == {}


def test_checkpoint_holds_plain_arrays_and_json(tmp_path) -> None:
    net, opt, schedule = _setup()
    path = dl.nn.save(tmp_path / "plain", net, opt, schedule)
    with np.load(path, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)
        meta = json.loads(str(data["metadata"]))
    assert meta["network"]["layers"][0]["type"] == "Dense"
    assert [tuple(r[2]) for r in meta["layout"]] == [r.shape for r in net.layout]


def test_pickled_content_is_refused(tmp_path) -> None:
    net = dl.nn.mlp([2, 3, 1])
    path = dl.nn.save(tmp_path / "ok", net)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["params"] = np.array([{"payload": "not an array"}], dtype=object)
    evil = tmp_path / "evil.npz"
    np.savez(evil, **arrays)  # savez pickles the object array
    with pytest.raises(ValueError, match="pickled"):
        dl.nn.load(evil)
    single = tmp_path / "single.npy"
    np.save(single, np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        dl.nn.load(single)


def test_files_that_are_not_checkpoints_are_refused(tmp_path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a descentlab checkpoint"):
        dl.nn.load(path)
    with zipfile.ZipFile(tmp_path / "x.npz", "w"):
        pass
    with pytest.raises(ValueError, match="not a descentlab checkpoint"):
        dl.nn.load(tmp_path / "x.npz")
    for metadata in ("not json", "[1, 2]"):
        np.savez(path, params=np.zeros(3), metadata=np.array(metadata))
        with pytest.raises(ValueError, match=r"not a descentlab checkpoint \(unreadable metadata\)"):
            dl.nn.load(path)
    np.save(tmp_path / "weights.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"weights\.npy is a single \.npy array, not a descentlab checkpoint"):
        dl.nn.load(tmp_path / "weights.npy")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not an \.npz checkpoint file \(it is empty\)"),
        (b"weights: 1, 2, 3\n", r"not an \.npz checkpoint file \(it starts with b'weig', not the zip signature"),
        (None, r"not a readable \.npz checkpoint file \(damaged zip archive"),
    ],
)
def test_files_that_are_not_npz_are_named_as_such(tmp_path, content, message) -> None:
    path = tmp_path / "broken.npz"
    if content is None:  # a real checkpoint cut in half
        content = dl.nn.save(tmp_path / "whole", dl.nn.mlp([2, 3, 1])).read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as caught:
        dl.nn.load(path)
    assert str(path) in str(caught.value) and "pickled" not in str(caught.value)


def _damaged_copy(path, edit):
    """A copy of the checkpoint at ``path`` after ``edit(meta, arrays)`` changed its metadata or arrays."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    meta = json.loads(str(arrays["metadata"]))
    edit(meta, arrays)
    arrays["metadata"] = np.array(json.dumps(meta))
    damaged = path.with_name("damaged.npz")
    np.savez(damaged, **arrays)
    return damaged


@pytest.mark.parametrize("key", ["hyperparameters", "step", "scalars"])
def test_a_damaged_optimizer_state_names_the_missing_key(tmp_path, key) -> None:
    net, opt, _ = _setup()
    X, y = _data()
    _train(net, opt, dl.optim.schedules.Constant(1e-2), X, y, steps=2, start=0)
    path = _damaged_copy(dl.nn.save(tmp_path / "ck", net, opt), lambda meta, arrays: meta["optimizer"].pop(key))
    with pytest.raises(ValueError, match=f"its optimizer state has no '{key}' entry"):
        dl.nn.load(path)


def _other_networks_optimizer_state(meta, arrays):
    other = dl.nn.mlp([5, 30, 3], output="softmax")
    opt = dl.optim.Adam(lr=1e-2, amsgrad=True)
    opt.step(other.params, np.ones_like(other.params))
    arrays.update({f"optimizer/{key}": value for key, value in opt.state_dict()["arrays"].items()})


# Each edit damages one piece that is read after θ: the refusal must come before anything is written.
DAMAGED_PIECES = {
    "unknown optimizer": (lambda meta, arrays: meta["optimizer"].update(optimizer="Lion"), "unknown optimizer 'Lion'"),
    "optimizer lr=-1": (lambda meta, arrays: meta["optimizer"]["hyperparameters"].update(lr=-1), "lr=-1"),
    "optimizer state NaN": (
        lambda meta, arrays: arrays["optimizer/m"].fill(np.nan),
        "optimizer state that is refused.*'m' holds NaN",
    ),
    "optimizer of another network": (
        _other_networks_optimizer_state,
        r"made for another one: the optimizer state 'm' has shape \(273,\) float32 but the network's θ is \(223,\)",
    ),
    "unknown schedule": (
        lambda meta, arrays: meta.update(schedule={"config": {"type": "OneCycle"}, "state": {}}),
        "schedule that is refused.*'OneCycle'",
    ),
    "extra array missing": (lambda meta, arrays: meta["extra_arrays"].append("history"), "no 'extra/history' array"),
    "running mean missing": (
        lambda meta, arrays: arrays.pop("state/batchnorm0.running_mean"),
        "no 'state/batchnorm0.running_mean' array",
    ),
    "running mean misshapen": (
        lambda meta, arrays: arrays.update({"state/batchnorm0.running_mean": np.ones(1, np.float32)}),
        r"state/batchnorm0.running_mean has shape \(1,\).*expects \(12,\)",
    ),
    "generator state": (lambda meta, arrays: meta["rng"].update(bit_generator="seed"), "names no NumPy bit generator"),
}


@pytest.mark.parametrize("piece", DAMAGED_PIECES)
def test_a_refused_file_leaves_the_target_network_unchanged(tmp_path, piece) -> None:
    edit, message = DAMAGED_PIECES[piece]
    X, y = _data()
    net, opt, schedule = _setup()
    _train(net, opt, schedule, X, y, steps=3, start=0)
    path = _damaged_copy(dl.nn.save(tmp_path / "ck", net, opt, schedule, extra={"step": 3}), edit)
    target = dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=True, dropout=0.25, seed=99)
    params, stats = target.params.copy(), {k: v.copy() for k, v in target.state_arrays().items()}
    rng_state = target.rng.bit_generator.state
    with pytest.raises(ValueError, match=message):
        dl.nn.load(path, into=target)
    np.testing.assert_array_equal(target.params, params)
    for key, array in target.state_arrays().items():
        np.testing.assert_array_equal(array, stats[key])
    assert target.rng.bit_generator.state == rng_state


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (lambda: dl.nn.mlp([4, 8, 3], output="softmax"), r"dense0.*W of shape \(5, 12\).*\(4, 8\)|input width"),
        (
            lambda: dl.nn.mlp([5, 12, 9, 3], output="softmax", batch_norm=True, dropout=0.25),
            r"dense1.*\(12, 8\).*\(12, 9\)",
        ),
        (lambda: dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=False, dropout=0.25), "dense0.*bias=False"),
        (lambda: dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=True, dropout=0.5), "rate=0.25"),
        (lambda: dl.nn.mlp([5, 12, 8, 3], output="softmax", batch_norm=True, dropout=0.25, dtype="float64"), "float32"),
        (lambda: dl.nn.mlp([5, 12, 3], output="softmax", batch_norm=True, dropout=0.25), r"\(12, 8\).*\(12, 3\)"),
    ],
)
def test_architecture_mismatch_names_the_first_difference(tmp_path, other, message) -> None:
    net, _, _ = _setup()
    path = dl.nn.save(tmp_path / "arch", net)
    target = other()
    before = target.params.copy()
    with pytest.raises(ValueError, match=message):
        dl.nn.load(path, into=target)
    np.testing.assert_array_equal(target.params, before)  # nothing was written


def test_save_validates_its_arguments(tmp_path) -> None:
    net = dl.nn.mlp([2, 3, 1])
    with pytest.raises(TypeError, match="Network"):
        dl.nn.save(tmp_path / "a", "net")
    with pytest.raises(TypeError, match="optimizer"):
        dl.nn.save(tmp_path / "a", net, optimizer="adam")
    with pytest.raises(TypeError, match="JSON"):
        dl.nn.save(tmp_path / "a", net, extra={"bad": object()})
    with pytest.raises(FileNotFoundError, match=r"the folder .*runs does not exist; create it first"):
        dl.nn.save(tmp_path / "runs" / "ck", net)
    other = dl.nn.mlp([2, 9, 1])
    for theta in (other.params, net.params.astype(np.float64)):  # another network's θ, a float64 copy of this one
        opt = dl.optim.Adam(lr=1e-2)
        opt.step(theta, np.ones_like(theta))
        with pytest.raises(
            ValueError, match=r"optimizer state 'm' has shape .* but the network's θ is \(13,\) float32"
        ):
            dl.nn.save(tmp_path / "a", net, optimizer=opt)
    assert not list(tmp_path.iterdir())  # no partial files left behind


def test_the_dropout_generator_round_trips_whatever_its_bit_generator(tmp_path) -> None:
    X, y = _data()
    seed = np.random.Generator(np.random.MT19937(7))
    net = dl.nn.mlp([5, 6, 3], output="softmax", dropout=0.5, seed=seed)
    assert type(net.rng.bit_generator).__name__ == "MT19937"
    ck = dl.nn.load(dl.nn.save(tmp_path / "mt", net))
    assert type(ck.net.rng.bit_generator).__name__ == "MT19937"
    assert ck.net.loss_and_grad(X, y, loss="ce") == net.loss_and_grad(X, y, loss="ce")  # same dropout mask
    np.testing.assert_array_equal(ck.net.grads, net.grads)
