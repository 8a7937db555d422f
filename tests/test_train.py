"""descentlab.train: the fit loop, its records and safeguards, resuming, and the learning-rate range test."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import descentlab as dl
from descentlab.optim import schedules
from descentlab.train import EarlyStopping, evaluate, fit, lr_find


@pytest.fixture(scope="module")
def moons():
    return dl.data.moons(n_samples=200, noise=0.2, seed=0)


def small_net(activation="tanh", dtype="float64", **options):
    return dl.nn.mlp([2, 16, 1], activation=activation, output="sigmoid", seed=0, dtype=dtype, **options)


# -- proof: digits against scikit-learn ---------------------------------------------------------------------
def test_digits_mlp_with_adam_matches_sklearn():
    """One hidden ReLU layer of 64, Adam α = 1e-3, batches of 32, 30 epochs, no penalty, Glorot-uniform weights
    (scikit-learn's initialization) on 70/30 stratified, standardized digits. Initialization alone moves test
    accuracy by about a point, so the comparison is of the mean over three seeds."""
    MLPClassifier = pytest.importorskip("sklearn.neural_network").MLPClassifier

    X, y = dl.data.digits()
    ours, theirs = [], []
    for seed in range(3):
        (X_train, y_train), (X_test, y_test) = dl.data.train_val_split(X, y, fraction=0.3, stratify=True, seed=seed)
        X_train, X_test, _ = dl.data.standardize(X_train, X_test)
        net = dl.nn.mlp([64, 64, 10], activation="relu", output="softmax", init="xavier_uniform", seed=seed)
        history = fit(
            net, X_train, y_train, loss="ce", optimizer=dl.optim.Adam(lr=1e-3), epochs=30, batch_size=32, seed=seed
        )
        assert history.stopped_reason == "completed 30 epochs" and history.train_accuracy[-1] > 0.99
        ours.append(evaluate(net, X_test, y_test, loss="ce")["accuracy"])
        reference = MLPClassifier(
            hidden_layer_sizes=(64,),
            activation="relu",
            solver="adam",
            learning_rate_init=1e-3,
            batch_size=32,
            max_iter=30,
            alpha=0.0,
            tol=0.0,
            n_iter_no_change=1000,
            random_state=seed,
        )
        with pytest.warns(UserWarning):  # ConvergenceWarning: the fixed budget of 30 epochs is the point
            reference.fit(X_train, y_train)
        theirs.append(reference.score(X_test, y_test))
    assert min(ours) >= 0.95
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.01


# -- the three regimes --------------------------------------------------------------------------------------
def test_three_regimes_full_batch_is_monotone_stochastic_is_noisy(moons):
    X, y = moons
    full = fit(small_net(), X, y, loss="bce", optimizer=dl.optim.GD(lr=0.1), epochs=150, batch_size=None)
    stochastic = fit(small_net(), X, y, loss="bce", optimizer=dl.optim.GD(lr=0.1), epochs=1, batch_size=1)
    mini = fit(small_net(), X, y, loss="bce", optimizer=dl.optim.GD(lr=0.1), epochs=6, batch_size=8)
    assert len(full.step_loss) == 150 and len(stochastic.step_loss) == 200 and len(mini.step_loss) == 6 * 25
    assert np.all(np.diff(full.step_loss) <= 0)  # a small enough step on the exact gradient only descends
    noise = {
        name: np.std(np.diff(h.step_loss[:150])) for name, h in [("full", full), ("sgd", stochastic), ("mini", mini)]
    }
    # the spread of a batch-mean falls like 1/√k: √8 ≈ 2.8 between batches of 1 and of 8
    assert noise["sgd"] > 2 * noise["mini"] and noise["mini"] > 10 * noise["full"]
    assert full.config["steps_per_epoch"] == 1 and stochastic.config["steps_per_epoch"] == 200


# -- early stopping -----------------------------------------------------------------------------------------
def test_early_stopping_restores_the_best_epoch():
    X, y = dl.data.moons(n_samples=40, noise=0.35, seed=1)
    X_val, y_val = dl.data.moons(n_samples=300, noise=0.35, seed=2)
    net = dl.nn.mlp([2, 64, 64, 1], seed=0)
    history = fit(
        net, X, y, loss="bce", optimizer=dl.optim.Adam(lr=1e-3), epochs=400, batch_size=8,
        validation=(X_val, y_val), early_stopping=EarlyStopping(patience=10),
    )  # fmt: skip
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best and 0 < best < len(history.epoch) - 1 < 399
    assert len(history.epoch) == best + 11
    assert evaluate(net, X_val, y_val)["loss"] == history.val_loss[best]
    assert "early stopping: val_loss did not improve" in history.stopped_reason
    assert f"restored the weights of epoch {best}" in history.stopped_reason


def test_early_stopping_patience_as_int_falls_back_to_train_loss(moons):
    X, y = moons
    history = fit(small_net(), X, y, loss="bce", optimizer=dl.optim.GD(lr=0.0), epochs=50, early_stopping=3)
    assert len(history.epoch) == 4 and history.best_epoch == 0  # lr 0: the train loss never improves
    with pytest.raises(ValueError, match="early stopping monitors 'val_accuracy' but no validation"):
        fit(small_net(), X, y, early_stopping=EarlyStopping(monitor="val_accuracy"))


# -- divergence ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("optimizer", "name", "rate"), [(dl.optim.Adam(lr=3000.0), "Adam", "3000"), (dl.optim.GD(lr=1e6), "GD", "1e+06")]
)
def test_divergence_stops_and_keeps_finite_weights(moons, optimizer, name, rate):
    X, y = moons
    net = small_net(activation="relu")
    start = net.params.copy()
    history = fit(net, X, y, loss="bce", optimizer=optimizer, epochs=20)
    assert history.diverged and history.epoch == []
    assert f"The learning rate {rate} is likely too large for {name} here" in history.stopped_reason
    assert np.all(np.isfinite(net.params)) and np.array_equal(net.params, start)


def test_divergence_after_good_epochs_restores_a_validated_epoch():
    X, y = dl.data.sine(n_samples=100, seed=0)
    net = dl.nn.mlp([1, 16, 1], activation="tanh", output="linear", seed=0, dtype="float64")
    ramp = schedules.Warmup(schedules.Constant(50.0), steps=1000)  # α_t = 0.05 (t + 1): fine first, then too large
    history = fit(net, X, y, loss="mse", optimizer="gd", epochs=200, batch_size=None, schedule=ramp)
    assert history.diverged and len(history.epoch) >= 5
    last = history.epoch[-1]
    assert f"diverged at epoch {last + 1}, step 0" in history.stopped_reason
    assert f"Restored the weights from the end of epoch {last - 1}" in history.stopped_reason
    assert np.all(np.isfinite(net.params)) and math.isfinite(evaluate(net, X, y, loss="mse")["loss"])


def test_unscaled_inputs_are_named_in_the_divergence_message(moons):
    X, y = moons
    history = fit(small_net(activation="relu"), X * 1e4, y, loss="bce", optimizer=dl.optim.GD(lr=10.0), epochs=5)
    assert history.diverged and "standardize the inputs" in history.stopped_reason


# -- schedules, plateau, resume -----------------------------------------------------------------------------
def test_schedule_by_step_and_by_epoch(moons):
    X, y = moons
    cosine = schedules.Cosine(lr0=0.1, steps=40)
    by_step = fit(small_net(), X, y, loss="bce", optimizer="gd", epochs=5, batch_size=25, schedule=cosine)
    assert np.allclose(by_step.step_lr, [cosine(t) for t in range(40)])
    by_epoch = fit(
        small_net(), X, y, loss="bce", optimizer="gd", epochs=5, batch_size=25, schedule=cosine, schedule_unit="epoch"
    )
    assert np.allclose(by_epoch.step_lr, np.repeat([cosine(e) for e in range(5)], 8))


def test_reduce_on_plateau_observes_the_validation_loss(moons):
    X, y = moons
    plateau = schedules.ReduceOnPlateau(0.05, factor=0.5, patience=0, threshold=0.5)  # demands halving each epoch
    history = fit(
        small_net(), X, y, loss="bce", optimizer="gd", epochs=6, batch_size=50, schedule=plateau, validation=(X, y)
    )
    assert plateau.reductions >= 3
    assert plateau(0) == pytest.approx(0.05 * 0.5**plateau.reductions)  # the rate of the next epoch
    assert np.all(np.diff(history.lr) <= 0) and np.count_nonzero(np.diff(history.lr)) >= 2


def test_reduce_on_plateau_inside_another_schedule_is_observed(moons):
    X, y = moons
    plateau = schedules.ReduceOnPlateau(0.05, factor=0.5, patience=0, threshold=0.5)
    warmed = schedules.ReduceOnPlateau(schedules.Warmup(plateau, steps=2), factor=0.5, patience=0, threshold=0.5)
    fit(small_net(), X, y, loss="bce", optimizer="gd", epochs=6, batch_size=50, schedule=warmed)
    assert warmed.reductions >= 3 and plateau.reductions >= 3  # every plateau of the chain observes the loss
    assert warmed(24) == pytest.approx(0.05 * 0.5 ** (plateau.reductions + warmed.reductions))


@pytest.mark.parametrize(
    "schedule",
    [
        lambda: schedules.ReduceOnPlateau(0.05, mode="max"),
        lambda: schedules.Warmup(schedules.ReduceOnPlateau(0.05, mode="max"), steps=2),
    ],
)
def test_reduce_on_plateau_in_max_mode_is_refused_before_training(moons, schedule):
    X, y = moons
    net = small_net()
    before = net.params.copy()
    message = r"ReduceOnPlateau\(mode='max'\).*observes the validation loss.*use mode='min'"
    with pytest.raises(ValueError, match=message):
        fit(net, X, y, schedule=schedule(), validation=(X, y), epochs=2)
    assert np.array_equal(net.params, before)


def test_resume_from_checkpoint_is_bit_identical(tmp_path, moons):
    X, y = moons
    X_val, y_val = dl.data.moons(n_samples=60, noise=0.2, seed=5)

    def parts():
        net = dl.nn.mlp([2, 32, 16, 1], activation="relu", seed=3, dropout=0.2, batch_norm=True)
        sched = schedules.ReduceOnPlateau(schedules.Warmup(schedules.Cosine(0.01, steps=150), steps=10), patience=0)
        return net, dl.optim.Adam(lr=0.01), sched

    def run(net, opt, sched, start, stop):
        return fit(
            net, X, y, loss="bce", optimizer=opt, schedule=sched, epochs=stop, initial_epoch=start, batch_size=16,
            validation=(X_val, y_val), clip_norm=5.0, seed=11,
        )  # fmt: skip

    net, opt, sched = parts()
    straight = run(net, opt, sched, 0, 6)
    first_net, first_opt, first_sched = parts()
    first = run(first_net, first_opt, first_sched, 0, 3)
    path = dl.nn.save(tmp_path / "ckpt", first_net, optimizer=first_opt, schedule=first_sched, extra={"epoch": 3})
    checkpoint = dl.nn.load(path)
    second = run(checkpoint.net, checkpoint.optimizer, checkpoint.schedule, checkpoint.extra["epoch"], 6)
    assert np.array_equal(checkpoint.net.params, net.params)
    assert np.array_equal(np.concatenate([first.step_loss, second.step_loss]), straight.step_loss)
    assert np.array_equal(np.concatenate([first.step_lr, second.step_lr]), straight.step_lr)
    assert first.val_loss + second.val_loss == straight.val_loss and second.epoch == [3, 4, 5]


# -- learning-rate range test -------------------------------------------------------------------------------
def test_lr_find_suggests_a_sensible_rate_and_leaves_everything_as_it_was(moons):
    X, y = moons
    net = small_net(activation="relu", dropout=0.1)
    params, rng_state = net.params.copy(), net.rng.bit_generator.state
    adam = dl.optim.Adam(lr=1e-3)
    result = lr_find(net, X, y, loss="bce", optimizer=adam, lr_min=1e-6, lr_max=1e3, steps=100)
    assert 1e-3 <= result.suggested_lr <= 1.0
    assert result.diverged_at is not None and result.diverged_at > result.lr_at_min > result.suggested_lr
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) < 100
    assert np.allclose(np.diff(np.log(result.lrs)), np.log(1e9) / 99)
    assert np.array_equal(net.params, params) and net.rng.bit_generator.state == rng_state
    assert adam.state is None and adam.lr == 1e-3
    tenth = lr_find(net, X, y, loss="bce", optimizer=adam, lr_min=1e-6, lr_max=1e3, method="min/10")
    assert tenth.suggested_lr == pytest.approx(tenth.lr_at_min / 10)
    json.dumps(result.to_dict())


# -- records ------------------------------------------------------------------------------------------------
def test_history_diagnostics_and_serialization(tmp_path, moons):
    X, y = moons
    history = fit(
        small_net(activation="relu", dtype="float32"), X, y, loss="bce", optimizer=dl.optim.GD(lr=0.05),
        epochs=3, batch_size=64, validation=(X[:50], y[:50]),
    )  # fmt: skip
    layers = ["dense0", "dense1"]
    assert list(history.grad_norms) == layers and all(len(v) == 3 for v in history.grad_norms.values())
    assert all(0 < r < 1 for values in history.update_ratio.values() for r in values)
    # plain GD moves each parameter by exactly α·|g|: the effective step is α everywhere
    assert np.allclose(history.effective_step["median"], 0.05, rtol=1e-3)
    assert np.allclose(history.effective_step["max"], 0.05, rtol=0.02)  # float32 rounding of small Δθ
    assert list(history.effective_step_by_layer) == layers
    assert all(np.allclose(values, 0.05, rtol=1e-3) for values in history.effective_step_by_layer.values())
    assert set(history.activations["relu0"]) == {"mean", "std", "dead_fraction"}
    assert len(history.val_accuracy) == 3 and history.skipped_steps == [0, 0, 0]
    document = json.loads(history.to_json(tmp_path / "h.json"))
    assert document["epoch"] == [0, 1, 2] and len(document["step_loss"]) == 12
    table = history.to_csv(tmp_path / "h.csv").splitlines()
    assert table[0].startswith(
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,skipped_steps,grad_norm/dense0"
    )
    assert len(table) == 4 and (tmp_path / "h.csv").read_text().splitlines() == table
    assert history.to_csv(table="steps").splitlines()[0] == "step,loss,lr"
    quiet = fit(small_net(), X, y, loss="bce", epochs=1, diagnostics=False)
    assert quiet.grad_norms == {} and quiet.activations == {} and quiet.train_accuracy


def test_dead_relus_are_counted(moons):
    X, y = moons
    net = small_net(activation="relu")
    net.layers[0].b[:8] = -100.0  # half the hidden units can never fire
    history = fit(net, X, y, loss="bce", optimizer="gd", epochs=1)
    assert history.activations["relu0"]["dead_fraction"] == [0.5]


def test_clipping_bounds_the_step_and_callbacks_can_stop(moons):
    X, y = moons
    net = small_net()
    start = net.params.copy()
    fit(net, X, y, loss="bce", optimizer=dl.optim.GD(lr=1.0), epochs=1, batch_size=None, clip_norm=1e-3)
    assert np.linalg.norm(net.params - start) <= 1e-3 * (1 + 1e-9)
    net = small_net()
    fit(net, X, y, loss="bce", optimizer=dl.optim.GD(lr=1.0), epochs=1, batch_size=None, clip_value=1e-4)
    assert np.max(np.abs(net.params - start)) <= 1e-4 * (1 + 1e-9)
    calls = []

    def stop_at_two(history, network):
        calls.append(history.epoch[-1])
        return len(history.epoch) == 2

    history = fit(small_net(), X, y, loss="bce", epochs=10, callbacks=[stop_at_two])
    assert calls == [0, 1] and history.stopped_reason == "stopped by callback stop_at_two"


@pytest.mark.parametrize(
    ("output", "loss", "targets"),
    [
        ("sigmoid", "bce", lambda y: y),
        ("softmax", "ce", lambda y: y),  # integer labels
        ("softmax", "ce", lambda y: np.eye(2)[y]),  # one-hot rows
        ("linear", "mse", lambda y: y.astype(float)),
        ("linear", "mae", lambda y: y.astype(float)),
    ],
)
def test_fit_steps_are_the_checked_loss_and_grad_steps(moons, output, loss, targets):
    """fit checks its data once and runs the network's unchecked pass per batch; the steps are the same."""
    X, y = moons
    Y = targets(y)
    width = 2 if output == "softmax" else 1
    nets = [dl.nn.mlp([2, 8, width], activation="tanh", output=output, seed=0, dtype="float64") for _ in range(2)]
    optimizers = [dl.optim.Adam(lr=0.01) for _ in range(2)]
    fit(nets[0], X, Y, loss=loss, optimizer=optimizers[0], epochs=2, batch_size=32, l2=1e-3, seed=3, progress=False)
    for epoch in range(2):
        for index in dl.data.batches(len(X), 32, seed=np.random.default_rng([3, epoch])):
            nets[1].loss_and_grad(X[index], Y[index], loss=loss, l2=1e-3)
            optimizers[1].step(nets[1].params, nets[1].grads)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)


def test_regression_and_multiclass_targets():
    X, y = dl.data.sine(n_samples=100, noise=0.05, seed=0)
    net = dl.nn.mlp([1, 32, 1], activation="tanh", output="linear", seed=0)
    history = fit(net, X, y, loss="mse", optimizer=dl.optim.Adam(lr=1e-2), epochs=60, batch_size=20)
    assert history.train_accuracy == [] and history.train_loss[-1] < 0.05
    X, y = dl.data.blobs(n_samples=90, seed=0)
    net = dl.nn.mlp([2, 8, 3], output="softmax", seed=0)
    history = fit(net, X, y, loss="ce", optimizer=dl.optim.Adam(lr=0.02), epochs=30, validation=(X, np.eye(3)[y]))
    assert history.val_accuracy[-1] > 0.9


def test_skip_policy_counts_non_finite_steps():
    X, y = dl.data.sine(n_samples=100, seed=0)
    y = y.astype(np.float32)
    y[17] = 3e38  # (a − y)² overflows float32: that batch's loss and gradient are infinite
    net = dl.nn.mlp([1, 8, 1], output="linear", seed=0)
    skip = dl.optim.Adam(lr=1e-2, nonfinite="skip")
    history = fit(net, X, y, loss="mse", optimizer=skip, epochs=2, batch_size=10)
    assert not history.diverged and history.skipped_steps == [1, 1] and np.all(np.isfinite(net.params))
    assert np.count_nonzero(~np.isfinite(history.step_loss)) == 2
    history = fit(net, X, np.full(100, 3e38), loss="mse", optimizer=dl.optim.Adam(nonfinite="skip"), epochs=2)
    assert history.diverged and "every step of the epoch was skipped as non-finite" in history.stopped_reason
    history = fit(net, X, y, loss="mse", optimizer=dl.optim.Adam(lr=1e-2), epochs=2, batch_size=10)
    assert history.diverged and "the batch loss became inf" in history.stopped_reason


# -- progress bar -------------------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("progress", "stdout", "drawn"),
    [(None, _Terminal, True), (None, io.StringIO, False), (True, io.StringIO, True), (False, _Terminal, False)],
)
def test_progress_bar_shows_on_a_terminal_by_default(moons, monkeypatch, progress, stdout, drawn):
    pytest.importorskip("rich")
    out = stdout()
    monkeypatch.setattr(sys, "stdout", out)
    fit(small_net(), *moons, epochs=2, progress=progress)
    assert ("epoch" in out.getvalue() and "2/2" in out.getvalue()) is drawn


def test_progress_without_rich_is_an_error_only_when_forced(moons, monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # import rich.progress now fails
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(ImportError, match=r"pip install 'descentlab\[cli\]'"):
        fit(small_net(), *moons, epochs=1, progress=True)
    assert fit(small_net(), *moons, epochs=1).stopped_reason == "completed 1 epochs" and out.getvalue() == ""
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        fit(small_net(), *moons, epochs=1, progress="yes")


# -- checks at the door -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda X, y: (X, y[:-1]), ValueError, r"y has shape \(199,\) but the inputs have 200 samples"),
        (lambda X, y: (X[:, :1], y), ValueError, "X has 1 features per sample, but the network's input width is 2"),
        (lambda X, y: (np.where(np.arange(200)[:, None] == 7, np.nan, X), y), ValueError, "X holds 2 NaN"),
        (lambda X, y: (X, y + 1), ValueError, r"loss='bce' needs labels in \{0, 1\}"),
        (lambda X, y: (X.astype(str), y), TypeError, "X has dtype <U"),
        (lambda X, y: (X > 0, y), TypeError, r"X has dtype bool; expected real numbers .*X.astype\(np.float64\)"),
        (lambda X, y: ([[0.0, 1.0], [2.0]], [0, 1]), ValueError, "X must be a 2-D array of numbers.*equal length"),
        (lambda X, y: (X[:2], [[0], [1, 1]]), ValueError, "y must be an array of numbers.*equal length"),
    ],
)
def test_bad_inputs_are_named(moons, change, error, message):
    X, y = change(*moons)
    with pytest.raises(error, match=message):
        fit(small_net(), X, y, loss="bce", epochs=1)


def test_fit_and_predict_check_inputs_at_one_door(moons):
    """Training and prediction refuse the same inputs with the same words (fit took boolean X, which predict
    then refused)."""
    X, y = moons
    net = small_net()
    for bad in (X > 0, X[:, :1], np.full_like(X, np.nan)):
        with pytest.raises((TypeError, ValueError)) as by_fit:
            fit(net, bad, y, epochs=1, progress=False)
        with pytest.raises(type(by_fit.value)) as by_predict:
            net.predict(bad)
        assert (
            str(by_fit.value).split(": ", 1)[1].split("; impute")[0]
            == (str(by_predict.value).split(": ", 1)[1].split("; impute")[0])
        )


def test_bad_options_are_named(moons):
    X, y = moons
    with pytest.raises(ValueError, match="loss='ce' expects a softmax output, but the network's output is 'sigmoid'"):
        fit(small_net(), X, y, loss="ce")
    with pytest.raises(ValueError, match="loss='ce' needs class labels in \\[0, 3\\)"):
        fit(dl.nn.mlp([2, 4, 3], output="softmax"), X, y + 2, loss="ce")
    with pytest.raises(ValueError, match="initial_epoch=5 must be smaller than epochs=5"):
        fit(small_net(), X, y, epochs=5, initial_epoch=5)
    with pytest.raises(ValueError, match="schedule_unit='batch' is not one of"):
        fit(small_net(), X, y, schedule_unit="batch")
    with pytest.raises(ValueError, match="Newton's method needs the Hessian"):
        fit(small_net(), X, y, optimizer="newton")
    with pytest.raises(ValueError, match="clip_norm=-1 must be a finite number > 0"):
        fit(small_net(), X, y, clip_norm=-1)
    with pytest.raises(ValueError, match="need 0 < lr_min < lr_max"):
        lr_find(small_net(), X, y, lr_min=1.0, lr_max=0.1)
    with pytest.raises(TypeError, match=r"validation must be a pair \(X_val, y_val\), got a tuple of 1"):
        fit(small_net(), X, y, validation=(X,))
    with pytest.raises(TypeError, match=r"validation must be a pair \(X_val, y_val\), got ndarray"):
        fit(small_net(), X, y, validation=X)
    with pytest.raises(TypeError, match="pass a single function as callbacks=\\[f\\]"):
        fit(small_net(), X, y, callbacks=lambda history, net: None)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda X, y: fit(small_net(), X, y, divergence_factor=0), r"divergence_factor=0 .* > 0 \(training stops"),
        (lambda X, y: fit(small_net(), X, y, clip_value=0.0), r"clip_value=0.0 .* \(or None for no clipping\)"),
        (lambda X, y: lr_find(small_net(), X, y, lr_min=0), r"lr_min=0 .* > 0 \(the test sweeps the learning rate"),
        (lambda X, y: lr_find(small_net(), X, y, diverge_factor=-1), r"diverge_factor=-1 .* \(the test stops at"),
        (lambda X, y: lr_find(small_net(), X, y, beta=1.0), r"beta=1.0 must lie in \[0, 1\)"),
        (lambda X, y: lr_find(small_net(), X, y, l2=-0.1), "l2=-0.1 must be a finite number ≥ 0"),
        (lambda X, y: evaluate(small_net(), np.full_like(X, np.nan), y), "impute or drop them before evaluating"),
    ],
)
def test_each_parameter_has_its_own_message(moons, call, message):
    with pytest.raises(ValueError, match=message):
        call(*moons)


def test_numpy_scalars_and_no_callbacks_are_accepted(moons):
    X, y = moons
    history = fit(small_net(), X, y, epochs=2, l2=np.float32(0.1), clip_norm=np.float64(1.0), callbacks=None)
    assert history.config["l2"] == pytest.approx(0.1) and len(history.epoch) == 2
    assert fit(small_net(), X, y, epochs=3, early_stopping=EarlyStopping(2, min_delta=np.float32(0.0))).epoch
    found = lr_find(small_net(), X, y, lr_min=np.float32(1e-5), beta=np.float32(0.9), l2=np.float64(0.01), steps=20)
    assert found.lrs[0] == pytest.approx(1e-5) and found.suggested_lr > 0


@pytest.mark.parametrize(
    ("n", "batch_size", "message"),
    [
        (100, 33, r"n=100 with batch_size=33 leaves a last batch of 1 sample; use drop_last=True .*batch_size=34"),
        (100, 1, r"n=100 with batch_size=1 gives batches of 1 sample; use batch_size=None or an integer ≥ 2"),
        (1, None, r"n=1 with batch_size=None gives batches of 1 sample; train on at least 2 samples"),
    ],
)
def test_batch_norm_refuses_a_batch_of_one_before_the_first_step(moons, n, batch_size, message):
    X, y = moons[0][:n], moons[1][:n]
    net = small_net(batch_norm=True)
    before = net.params.copy()
    adam = dl.optim.Adam()
    with pytest.raises(ValueError, match=message):
        fit(net, X, y, batch_size=batch_size, optimizer=adam)
    assert adam.step_count == 0 and np.array_equal(net.params, before)  # no step was taken
    if n > 1:
        with pytest.raises(ValueError, match=message):
            lr_find(net, X, y, batch_size=batch_size)


def test_batch_norm_trains_when_the_last_batch_of_one_is_dropped(moons):
    X, y = moons[0][:100], moons[1][:100]
    history = fit(small_net(batch_norm=True), X, y, epochs=2, batch_size=33, drop_last=True)
    assert history.config["steps_per_epoch"] == 3 and not history.diverged


def test_a_batch_size_above_n_is_capped_at_n_with_or_without_drop_last(moons):
    """fit follows data.batches: batch_size > n is one full batch of n, which drop_last keeps."""
    X, y = moons[0][:200], moons[1][:200]
    runs = {}
    for batch_size, drop_last in [(300, True), (300, False), (200, True)]:
        net = small_net()
        history = fit(net, X, y, epochs=3, batch_size=batch_size, drop_last=drop_last, progress=False)
        assert history.config["steps_per_epoch"] == 1
        runs[batch_size, drop_last] = (net.params, history.train_loss)
    reference_params, reference_loss = runs[200, True]
    assert reference_loss[-1] < reference_loss[0]
    for params, train_loss in runs.values():
        assert np.array_equal(params, reference_params) and train_loss == reference_loss


def test_evaluate_with_the_training_l2_reproduces_the_recorded_validation_loss(moons):
    X, y = moons
    X_val, y_val = X[:50], y[:50]
    net = small_net()
    history = fit(net, X[50:], y[50:], epochs=3, l2=0.1, validation=(X_val, y_val), progress=False)
    assert evaluate(net, X_val, y_val, l2=0.1)["loss"] == history.val_loss[-1]
    assert evaluate(net, X_val, y_val)["loss"] < history.val_loss[-1]  # without the penalty
    with pytest.raises(ValueError, match="evaluate: l2=-1 must be a finite number ≥ 0"):
        evaluate(net, X_val, y_val, l2=-1)


def test_submodules_are_attributes_after_a_plain_import():
    """``import descentlab as dl; dl.train.EarlyStopping`` works without importing descentlab.train first, and
    ``import descentlab`` itself still imports none of the lazy parts."""
    script = (
        "import sys, descentlab as dl\n"
        "assert 'descentlab.train' not in sys.modules and 'descentlab.nn' not in sys.modules\n"
        "assert dl.train.EarlyStopping(patience=2).patience == 2 and callable(dl.train.evaluate)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_binary_accuracy_breaks_the_p_half_tie_as_predict_does():
    # W = 0 and a tiny negative bias: z < 0, but σ(z) rounds to exactly ½ in float32, which predict calls 1.
    net = dl.nn.mlp([2, 1], output="sigmoid", seed=0)
    net.params[:] = 0
    net.layers[0].b[:] = -1e-7
    X = np.ones((4, 2), np.float32)
    y = np.array([1, 1, 0, 1], np.float32)
    assert net.predict(X).tolist() == [1, 1, 1, 1]
    assert dl.train.evaluate(net, X, y, loss="bce")["accuracy"] == np.mean(net.predict(X) == y) == 0.75
