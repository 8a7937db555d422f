"""descentlab.sklearn: scikit-learn's estimator checks, and the estimators inside scikit-learn's tools."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")  # every test here runs scikit-learn; without it the module is skipped

from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import descentlab as dl
from descentlab.optim import schedules
from descentlab.sklearn import DescentClassifier, DescentRegressor
from descentlab.train import EarlyStopping

# Small and quick, yet able to pass the checks that demand a good fit (check_classifiers_train asks for
# accuracy ≥ 0.83 on three blobs, check_regressors_train for R² > 0.5). Every check passes: no expected failures.
CHECKED = [
    DescentClassifier(hidden_layer_sizes=(16,), lr=1e-2, epochs=30, random_state=0),
    DescentRegressor(hidden_layer_sizes=(16,), lr=1e-2, epochs=30, random_state=0),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def wine():
    return dl.data.wine()


def test_classifier_in_pipeline_and_cross_validation(wine):
    X, y = wine
    model = make_pipeline(
        StandardScaler(), DescentClassifier(hidden_layer_sizes=(16,), lr=1e-2, epochs=40, random_state=0)
    )
    scores = cross_val_score(model, X, y, cv=3)
    assert scores.mean() > 0.9
    fitted = model.fit(X, y)[-1]
    assert fitted.n_features_in_ == 13 and list(fitted.classes_) == [0, 1, 2]
    assert fitted.n_iter_ == 40 and len(fitted.history_.train_loss) == 40
    probabilities = model.predict_proba(X)
    assert probabilities.shape == (178, 3) and np.allclose(probabilities.sum(axis=1), 1)


def test_grid_search_over_optimizer_and_rate(wine):
    X, y = wine
    X = StandardScaler().fit_transform(X)
    search = GridSearchCV(
        DescentClassifier(hidden_layer_sizes=(8,), epochs=20, random_state=0),
        {"optimizer": ["gd", "adam"], "lr": [1e-4, 1e-2]},
        cv=3,
    )
    search.fit(X, y)
    assert search.best_params_ == {"lr": 1e-2, "optimizer": "adam"}
    assert search.best_score_ > 0.9


def test_binary_string_labels_optimizer_object_schedule_and_early_stopping():
    X, y = dl.data.moons(n_samples=200, noise=0.2, seed=0)
    labels = np.array(["left", "right"])[y]
    adam = dl.optim.Adam(lr=0.02)
    plateau = schedules.ReduceOnPlateau(0.02, patience=2)
    model = DescentClassifier(
        hidden_layer_sizes=(16, 16), optimizer=adam, schedule=plateau, epochs=200,
        early_stopping=EarlyStopping(patience=5), random_state=1,
    )  # fmt: skip
    model.fit(X, labels)
    assert adam.state is None and plateau.reductions == 0  # the given objects are copied, never trained
    assert model.n_iter_ < 200 and model.history_.best_epoch is not None
    assert set(model.predict(X)) <= {"left", "right"} and model.score(X, labels) > 0.85
    assert model.predict_proba(X).shape == (200, 2)
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(clone.predict_proba(X), model.predict_proba(X))
    assert np.shares_memory(clone.net_.layers[0].W, clone.net_.params)  # rebuilt as views of θ


def test_regressor_single_and_multi_output():
    X, y = dl.data.sine(n_samples=200, noise=0.05, seed=0)
    model = DescentRegressor(hidden_layer_sizes=(32,), activation="tanh", lr=1e-2, epochs=60, random_state=0)
    assert model.fit(X, y).score(X, y) > 0.9 and model.predict(X).shape == (200,)
    both = np.column_stack([y, -y])
    assert model.fit(X, both).predict(X).shape == (200, 2)


def test_random_state_makes_fits_repeatable():
    X, y = dl.data.blobs(n_samples=60, seed=0)
    first = DescentClassifier(hidden_layer_sizes=(4,), epochs=3, random_state=7).fit(X, y)
    second = DescentClassifier(hidden_layer_sizes=(4,), epochs=3, random_state=7).fit(X, y)
    other = DescentClassifier(hidden_layer_sizes=(4,), epochs=3, random_state=8).fit(X, y)
    assert np.array_equal(first.net_.params, second.net_.params)
    assert not np.array_equal(first.net_.params, other.net_.params)
    with pytest.raises(ValueError, match="only one class"):
        DescentClassifier().fit(X, np.zeros(60))
    with pytest.raises(TypeError, match="optimizer must be a name such as 'adam'"):
        DescentClassifier(optimizer=3).fit(X, y)


def test_estimators_train_without_a_progress_bar_even_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    X, y = dl.data.blobs(n_samples=60, seed=0)
    DescentClassifier(hidden_layer_sizes=(4,), epochs=3, random_state=0).fit(X, y)
    DescentRegressor(hidden_layer_sizes=(4,), epochs=3, random_state=0).fit(X, y.astype(float))
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("parameters", "error", "message"),
    [
        ({"hidden_layer_sizes": "10"}, TypeError, r"hidden_layer_sizes='10' must be a tuple of positive integers"),
        ({"hidden_layer_sizes": (10.7,)}, TypeError, r"hidden_layer_sizes=\(10.7,\) must be a tuple of positive"),
        ({"hidden_layer_sizes": (8, 0)}, ValueError, r"hidden_layer_sizes=\(8, 0\) .* widths ≥ 1 .*\(64, 32\)"),
        (
            {"early_stopping": True},
            TypeError,
            r"early_stopping=True is not a switch here but a patience: .*e.g. early_stopping=10",
        ),
        ({"early_stopping": 2.5}, TypeError, r"early_stopping=2.5 .* patience"),
        ({"early_stopping": 0}, ValueError, r"early_stopping=0 must be an integer patience ≥ 1"),
        (
            {"early_stopping": 3, "validation_fraction": 1.5},
            ValueError,
            r"validation_fraction=1.5 must lie in \(0, 1\)",
        ),
        (
            {"early_stopping": 3, "validation_fraction": 0.001},
            ValueError,
            r"validation_fraction=0.001 of the 60 training samples holds out none .*raise it to at least 0.0167",
        ),
        (
            {"early_stopping": 3, "validation_fraction": 0.999},
            ValueError,
            r"validation_fraction=0.999 of the 60 training samples holds out all of them .*lower it",
        ),
    ],
)
def test_estimator_parameters_are_checked_in_fit_with_their_own_names(parameters, error, message):
    X, y = dl.data.blobs(n_samples=60, seed=0)
    for estimator in (DescentClassifier, DescentRegressor):
        model = estimator(epochs=1, random_state=0, **parameters)  # __init__ only stores
        with pytest.raises(error, match=f"^{estimator.__name__}: {message}"):
            model.fit(X, y)


def test_a_stratified_hold_out_leaves_each_class_a_training_sample_or_is_refused_by_name():
    X = np.random.default_rng(0).normal(size=(10, 2))
    model = DescentClassifier(hidden_layer_sizes=(4,), epochs=1, early_stopping=2, random_state=0)
    with pytest.raises(ValueError, match=r"^DescentClassifier: validation_fraction=0.6 .* each of the 5 classes"):
        model.set_params(validation_fraction=0.6).fit(X, np.arange(10) % 5)
    assert model.set_params(validation_fraction=0.5).fit(X, np.arange(10) % 5).n_iter_ == 1


def test_hidden_layer_sizes_may_be_one_integer_or_an_integer_array():
    X, y = dl.data.blobs(n_samples=60, seed=0)
    for sizes in (4, np.int64(4), np.array([4])):
        model = DescentClassifier(hidden_layer_sizes=sizes, epochs=1, random_state=0).fit(X, y)
        assert model.net_.layers[0].fan_out == 4


def test_binary_predict_breaks_the_tie_at_one_half_as_the_network_does():
    X, y = dl.data.moons(n_samples=40, seed=0)
    labels = np.array(["no", "yes"])[y]
    model = DescentClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, labels)
    model.net_.params[...] = 0.0  # every logit 0: p = σ(0) = 0.5 exactly
    assert np.all(model.predict_proba(X) == 0.5)
    assert np.all(model.net_.predict(X) == 1)
    assert np.all(model.predict(X) == "yes")


def test_the_estimators_module_is_an_attribute_after_a_plain_import():
    script = "import descentlab as dl\nassert dl.sklearn.DescentClassifier().epochs == 200\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_partial_fit_continues_as_one_fit_over_the_same_epochs():
    # Epoch e shuffles with the seed and e alike in both, and the optimizer and schedule carry on between calls:
    # three partial_fit calls over the whole data are fit(epochs=3), bit for bit.
    X, y = dl.data.blobs(n_samples=90, seed=0)
    decay = schedules.Step(0.05, every=4, factor=0.5)
    settings = {"hidden_layer_sizes": (8,), "lr": 0.05, "schedule": decay, "batch_size": 16, "random_state": 3}
    whole = DescentClassifier(epochs=3, **settings).fit(X, y)
    parts = DescentClassifier(**settings)
    for _ in range(3):
        parts.partial_fit(X, y, classes=[0, 1, 2])
    assert np.array_equal(parts.net_.params, whole.net_.params)
    assert parts.n_iter_ == 3 and parts.optimizer_.state.step == whole.optimizer_.state.step
    assert parts.loss_ == whole.loss_ and parts.history_.epoch == [2]
    clone = pickle.loads(pickle.dumps(parts))  # the optimizer's state travels too: both continue alike
    assert np.array_equal(clone.partial_fit(X, y).net_.params, parts.partial_fit(X, y).net_.params)


def test_partial_fit_learns_from_a_stream_of_parts():
    X, y = dl.data.blobs(n_samples=300, seed=1)
    model = DescentClassifier(hidden_layer_sizes=(16,), lr=0.02, random_state=0)
    for _ in range(10):
        for part in np.array_split(np.arange(300), 6):
            model.partial_fit(X[part], y[part], classes=np.unique(y))
    assert model.n_iter_ == 60 and model.score(X, y) > 0.9
    regressor = DescentRegressor(hidden_layer_sizes=(16,), activation="tanh", lr=0.01, random_state=0)
    Xs, ys = dl.data.sine(n_samples=200, noise=0.05, seed=0)
    for _ in range(40):
        regressor.partial_fit(Xs, ys)
    assert regressor.predict(Xs).shape == (200,) and regressor.score(Xs, ys) > 0.8


def test_partial_fit_refuses_what_it_cannot_continue_and_changes_nothing():
    X, y = dl.data.blobs(n_samples=60, seed=0)
    model = DescentClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match=r"first call needs classes=\.\.\..*np.unique\(y_all\)"):
        model.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"classes=\[0\] names fewer than 2 classes"):
        model.partial_fit(X, y, classes=[0])
    with pytest.raises(ValueError, match=r"y holds labels \[2\] outside classes \[0, 1\]"):
        model.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(model, "net_") and not hasattr(model, "n_features_in_")
    model.partial_fit(X, y, classes=[0, 1, 2])
    before = model.net_.params.copy()
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2, 3\] differs from the classes of the fitted network"):
        model.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="X has 1 features, but DescentClassifier is expecting 2"):
        model.partial_fit(X[:, :1], y)
    assert np.array_equal(model.net_.params, before) and model.n_iter_ == 1
    regressor = DescentRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match=r"partial_fit: y has 2 target column\(s\) but the fitted network predicts 1"):
        regressor.partial_fit(X, np.column_stack([y, y]).astype(float))


def test_warm_start_continues_from_the_fitted_weights_with_a_fresh_optimizer():
    X, y = dl.data.blobs(n_samples=90, seed=0)
    model = DescentClassifier(hidden_layer_sizes=(8,), lr=0.05, epochs=2, random_state=4, warm_start=True)
    model.fit(X, y)
    start, first_optimizer = dl.nn.Network.from_config(model.net_.config()), model.optimizer_
    start.params[...] = model.net_.params
    model.fit(X, y)
    assert model.n_iter_ == 4 and model.optimizer_ is not first_optimizer
    expected = dl.train.fit(start, X, y, loss="ce", optimizer=dl.optim.Adam(lr=0.05), epochs=2, seed=4, progress=False)
    assert np.array_equal(model.net_.params, start.params) and model.loss_ == expected.train_loss[-1]
    with pytest.raises(ValueError, match=r"warm_start=True continues .* classes \[0, 1, 2\], but y holds \[0, 1\]"):
        model.fit(X[y < 2], y[y < 2])
    assert model.n_iter_ == 4
    cold = model.set_params(warm_start=False).fit(X[y < 2], y[y < 2])
    assert cold.n_iter_ == 2 and cold.classes_.tolist() == [0, 1]
    with pytest.raises(TypeError, match=r"warm_start='yes' must be True .* or False"):
        DescentRegressor(warm_start="yes").fit(X, y.astype(float))


def test_continuing_refuses_parameters_that_describe_another_network():
    X, y = dl.data.blobs(n_samples=60, seed=0)
    model = DescentClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    before = model.net_.params.copy()
    for change in ({"hidden_layer_sizes": (8,)}, {"activation": "tanh"}, {"dtype": "float32"}):
        model.set_params(**change)
        with pytest.raises(ValueError, match=r"partial_fit: hidden_layer_sizes=.* describe another network"):
            model.partial_fit(X, y)
        with pytest.raises(ValueError, match=r"\(warm_start=True\): .* fit afresh \(warm_start=False\)"):
            model.set_params(warm_start=True).fit(X, y)
        model.set_params(hidden_layer_sizes=(4,), activation="relu", dtype="float64", warm_start=False)
    model.set_params(init="xavier", warm_start=True).fit(X, y)  # how weights were first drawn does not matter
    assert model.n_iter_ == 2 and not np.array_equal(model.net_.params, before)


def test_a_refused_fit_keeps_the_fitted_model():
    X, y = dl.data.blobs(n_samples=60, seed=0)
    model = DescentClassifier(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y)
    net, predicted = model.net_, model.predict(X)
    wider = np.column_stack([X, X])
    with pytest.raises(ValueError, match="batch_size"):
        model.set_params(batch_size=0).fit(wider, y)  # refused by fit after X was checked
    assert model.n_features_in_ == 2 and model.net_ is net and np.array_equal(model.predict(X), predicted)
    regressor = DescentRegressor(hidden_layer_sizes=(4,), epochs=1, random_state=0).fit(X, y.astype(float))
    with pytest.raises(ValueError, match="batch_size"):
        regressor.set_params(batch_size=0).fit(wider, np.column_stack([y, y]).astype(float))
    assert regressor.n_features_in_ == 2 and regressor.predict(X).shape == (60,)
