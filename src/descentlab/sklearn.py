"""scikit-learn estimators around :func:`descentlab.fit`: ``DescentClassifier`` and ``DescentRegressor``.

They follow scikit-learn's conventions, so they work in ``Pipeline``, ``cross_val_score`` and
``GridSearchCV``: ``__init__`` only stores its arguments, fitted state ends in ``_`` (``net_``,
``history_``, ``optimizer_``, ``schedule_``, ``classes_``, ``n_features_in_``, ``n_iter_``, ``loss_``), and every random
choice derives from ``random_state``.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), DescentClassifier(hidden_layer_sizes=(64,), optimizer="adam",
                                                              lr=1e-3, epochs=50, random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)

A binary problem gets one sigmoid output unit and ``bce``; more classes a softmax layer and ``ce``; the
regressor a linear output and ``mse``. The network computes in ``dtype`` (float64 by default, as
scikit-learn's own ``MLPClassifier`` does; ``"float32"`` trains faster).

Continuing, as in ``MLPClassifier``: ``warm_start=True`` makes ``fit`` start from the fitted weights (with a fresh
optimizer and schedule); ``partial_fit`` runs one epoch per call and carries the optimizer's state and the
schedule on between calls, so k calls over the same data equal ``fit`` with ``epochs=k``. Both refuse
parameters that describe another network than the fitted one. A refused call leaves the fitted model as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from descentlab import nn
from descentlab._numbers import is_integer, is_real
from descentlab.data.preprocessing import train_val_split
from descentlab.optim import Optimizer, make_optimizer
from descentlab.optim.schedules import Schedule, from_config
from descentlab.train import EarlyStopping, fit


def _seed_from(random_state: Any) -> int:
    """An integer seed: the int itself, one drawn from a RandomState/Generator, or fresh entropy for None."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if is_integer(random_state):
        if random_state < 0:
            raise ValueError(f"random_state={random_state!r} must be ≥ 0")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63 - 1))
    raise ValueError(f"random_state={random_state!r} must be None, an int, a RandomState or a Generator")


def _architecture(net: nn.Network) -> dict[str, Any]:
    """A network's configuration without how its weights were first drawn (``init``)."""
    config = net.config()
    layers = [{key: value for key, value in layer.items() if key != "init"} for layer in config["layers"]]
    return {**config, "layers": layers}


def _head(classes: np.ndarray) -> tuple[str, int, str]:
    """Output activation, width and loss for a classifier of ``classes``: one sigmoid unit and bce for two
    classes, a softmax over them and ce for more."""
    if len(classes) == 2:
        return "sigmoid", 1, "bce"
    return "softmax", len(classes), "ce"


class _DescentEstimator(BaseEstimator):
    """Shared parameters and the fit procedure; subclasses define the head, loss and target encoding."""

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        optimizer: str | Optimizer = "adam",
        lr: float = 1e-3,
        batch_size: int | None = 32,
        epochs: int = 200,
        init: str = "he",
        schedule: Schedule | None = None,
        early_stopping: int | EarlyStopping | None = None,
        validation_fraction: float = 0.1,
        l2: float = 0.0,
        dtype: str = "float64",
        random_state: Any = None,
        warm_start: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.init = init
        self.schedule = schedule
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.l2 = l2
        self.dtype = dtype
        self.random_state = random_state
        self.warm_start = warm_start

    # -- parameters, checked in fit (scikit-learn's convention: __init__ only stores them) -------------------
    def _hidden_sizes(self) -> list[int]:
        """``hidden_layer_sizes`` as a list of widths: a tuple, list or 1-D array of integers ≥ 1, or one integer."""
        owner, sizes = type(self).__name__, self.hidden_layer_sizes
        widths = [sizes] if is_integer(sizes) else sizes
        if isinstance(widths, np.ndarray):
            widths = widths.tolist() if widths.ndim == 1 else None
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not all(map(is_integer, widths)):
            raise TypeError(
                f"{owner}: hidden_layer_sizes={sizes!r} must be a tuple of positive integers such as (64, 32), "
                f"the widths of the hidden layers"
            )
        if any(width < 1 for width in widths):
            raise ValueError(
                f"{owner}: hidden_layer_sizes={sizes!r} must hold widths ≥ 1 (units per hidden layer), such as (64, 32)"
            )
        return [int(width) for width in widths]

    def _early_stopping(self) -> int | EarlyStopping | None:
        """``early_stopping``: None (or False) for none, a patience ≥ 1, or an :class:`EarlyStopping`."""
        owner, rule = type(self).__name__, self.early_stopping
        if rule is None or rule is False or isinstance(rule, EarlyStopping):
            return rule or None
        patience = (
            "a patience: the number of epochs without improvement of the loss on validation_fraction of the "
            "training data to wait before stopping; use e.g. early_stopping=10, an EarlyStopping(...), or None"
        )
        if isinstance(rule, (bool, np.bool_)):
            raise TypeError(f"{owner}: early_stopping={rule!r} is not a switch here but {patience}")
        if not is_integer(rule):
            raise TypeError(f"{owner}: early_stopping={rule!r} must be {patience}")
        if rule < 1:
            raise ValueError(f"{owner}: early_stopping={rule!r} must be an integer patience ≥ 1 ({patience})")
        return int(rule)

    def _validation_fraction(self, n: int, classes: int = 0) -> float:
        """``validation_fraction`` (used with early stopping): in (0, 1), holding out some of the n samples, not
        all, and (stratified over ``classes`` classes) leaving one of each class to train on."""
        owner, fraction = type(self).__name__, self.validation_fraction
        if not (is_real(fraction) and 0 < fraction < 1):
            raise ValueError(
                f"{owner}: validation_fraction={fraction!r} must lie in (0, 1): the share of the training data held "
                f"out for early stopping, e.g. 0.1"
            )
        held_out = round(fraction * n)  # as train_val_split counts them
        if held_out < 1:
            raise ValueError(
                f"{owner}: validation_fraction={fraction:g} of the {n} training samples holds out none for early "
                f"stopping's validation set; raise it to at least {1 / n:.3g}"
            )
        if held_out == n:
            raise ValueError(
                f"{owner}: validation_fraction={fraction:g} of the {n} training samples holds out all of them for "
                f"early stopping's validation set, leaving none to train on; lower it, e.g. to 0.1"
            )
        if held_out > n - classes:
            raise ValueError(
                f"{owner}: validation_fraction={fraction:g} of the {n} training samples holds out {held_out} for "
                f"early stopping's validation set, but the split keeps a training sample of each of the {classes} "
                f"classes (at most {n - classes} held out); lower it to at most {(n - classes) / n:.3g}"
            )
        return float(fraction)

    @contextmanager
    def _unchanged_if_refused(self) -> Iterator[None]:
        """Put back what scikit-learn's ``validate_data`` records of X (``n_features_in_``, ``feature_names_in_``)
        when the call then fails: the estimator's own fitted state is only assigned once training has run."""
        recorded = ("n_features_in_", "feature_names_in_")
        saved = {name: self.__dict__[name] for name in recorded if name in self.__dict__}
        try:
            yield
        except BaseException:
            for name in recorded:
                self.__dict__.pop(name, None)
            self.__dict__.update(saved)
            raise

    def _warm_start(self) -> bool:
        """``warm_start``: a bool."""
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise TypeError(
                f"{type(self).__name__}: warm_start={self.warm_start!r} must be True (continue from the fitted "
                f"network) or False (start afresh)"
            )
        return bool(self.warm_start)

    # -- pieces ------------------------------------------------------------------------------------------
    def _make_optimizer(self) -> Optimizer:
        """A fresh optimizer: by name with ``lr``, or a stateless copy of the given object (its own lr)."""
        if isinstance(self.optimizer, str):
            return make_optimizer(self.optimizer, lr=self.lr)
        if isinstance(self.optimizer, Optimizer):
            return type(self.optimizer)(**self.optimizer.hyperparameters())
        raise TypeError(
            f"{type(self).__name__}: optimizer must be a name such as 'adam' or a descentlab.optim optimizer, "
            f"got {self.optimizer!r}"
        )

    def _network(self, features: int, output: str, width: int, seed: int) -> nn.Network:
        """A fresh network for ``features`` inputs and ``width`` outputs, as these parameters describe it."""
        return nn.mlp(
            [features, *self._hidden_sizes(), width],
            activation=self.activation,
            output=output,
            init=self.init,
            seed=seed,
            dtype=self.dtype,
        )

    def _check_continuable(self, owner: str) -> None:
        """Continuing (``warm_start``, a later ``partial_fit``) keeps the fitted network, so the parameters that
        shape one (``hidden_layer_sizes``, ``activation``, ``dtype``) must still describe it."""
        net = self.net_
        if _architecture(self._network(net.input_dim, net.output, net.output_dim, 0)) != _architecture(net):
            raise ValueError(
                f"{owner}: hidden_layer_sizes={self.hidden_layer_sizes!r}, activation={self.activation!r} and "
                f"dtype={self.dtype!r} describe another network than the fitted one, which continuing would keep; "
                f"fit afresh (warm_start=False) to change them"
            )

    def _make_schedule(self) -> Schedule | None:
        """A fresh copy of ``schedule`` (the given object is never stepped)."""
        return None if self.schedule is None else from_config(self.schedule.config())

    def _run(
        self, net: nn.Network, optimizer: Optimizer, schedule: Schedule | None, epochs_before: int, **fit_args: Any
    ) -> None:
        """:func:`fit` ``net``, then record the fitted state. fit checks its arguments before its first step, so
        a refused call leaves the estimator as it was."""
        history = fit(
            net,
            optimizer=optimizer,
            schedule=schedule,
            batch_size=self.batch_size,
            l2=self.l2,
            diagnostics=False,
            progress=False,  # estimators train quietly, inside pipelines and cross-validation alike
            **fit_args,
        )
        self.net_, self.optimizer_, self.schedule_, self.history_ = net, optimizer, schedule, history
        self.n_iter_ = epochs_before + len(history.epoch)
        self.loss_ = history.train_loss[-1] if history.train_loss else float("nan")

    def _train(
        self, X: np.ndarray, targets: np.ndarray, output: str, width: int, loss: str, stratify: bool, warm: bool
    ) -> None:
        """Train for ``epochs`` with a fresh optimizer and schedule; from the fitted network when ``warm``, else
        from a new one."""
        early_stopping = self._early_stopping()
        classes = len(np.unique(targets)) if stratify else 0
        validation_fraction = self._validation_fraction(X.shape[0], classes) if early_stopping is not None else None
        seed = _seed_from(self.random_state)
        if warm:
            self._check_continuable(f"{type(self).__name__} (warm_start=True)")
            net, epochs_before = self.net_, self.n_iter_
        else:
            net, epochs_before = self._network(X.shape[1], output, width, seed), 0
        validation = None
        if validation_fraction is not None:
            (X, targets), validation = train_val_split(
                X, targets, fraction=validation_fraction, stratify=stratify, seed=seed
            )
        self._run(
            net,
            self._make_optimizer(),
            self._make_schedule(),
            epochs_before,
            X=X,
            y=targets,
            loss=loss,
            epochs=self.epochs,
            validation=validation,
            early_stopping=early_stopping,
            seed=seed % (2**63),
        )

    def _train_one_epoch(self, X: np.ndarray, targets: np.ndarray, output: str, width: int, loss: str) -> None:
        """``partial_fit``'s pass: one epoch over (X, targets), continuing the network, optimizer and schedule
        (built on the first call). Epochs are numbered on, so each call shuffles anew and the schedule runs on;
        ``early_stopping`` does not apply (as in scikit-learn's own partial_fit)."""
        seed = _seed_from(self.random_state)
        if hasattr(self, "net_"):
            self._check_continuable(f"{type(self).__name__}.partial_fit")
            net, optimizer, schedule, epochs_before = self.net_, self.optimizer_, self.schedule_, self.n_iter_
        else:
            net, optimizer, schedule = (
                self._network(X.shape[1], output, width, seed),
                self._make_optimizer(),
                self._make_schedule(),
            )
            epochs_before = 0
        self._run(
            net,
            optimizer,
            schedule,
            epochs_before,
            X=X,
            y=targets,
            loss=loss,
            epochs=epochs_before + 1,
            initial_epoch=epochs_before,
            seed=seed % (2**63),
        )

    # Pickling (joblib, cross-validation workers): the network travels as its architecture and arrays and is
    # rebuilt on load, so its layers are views of θ again and its work buffers are fresh and writable.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        net = state.pop("net_", None)
        if net is not None:
            state["_net_arrays"] = {
                "config": net.config(),
                "params": net.params.copy(),
                "state": {key: array.copy() for key, array in net.state_arrays().items()},
                "rng": net.rng.bit_generator.state,
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_net_arrays", None)
        super().__setstate__(state)
        if saved is not None:
            net = nn.Network.from_config(saved["config"])
            net.params[...] = saved["params"]
            for key, array in net.state_arrays().items():
                array[...] = saved["state"][key]
            net.rng.bit_generator.state = saved["rng"]
            self.net_ = net

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class DescentClassifier(ClassifierMixin, _DescentEstimator):
    """A multilayer perceptron classifier trained by :func:`descentlab.fit`.

    Parameters: ``hidden_layer_sizes`` (widths of the hidden layers), ``activation`` (``relu``, ``tanh``,
    ``sigmoid``, ``leaky_relu`` …), ``optimizer`` (a name such as ``"adam"`` with learning rate ``lr``, or a
    :mod:`descentlab.optim` optimizer object, copied without its state at each fit), ``batch_size``
    (``None`` full batch, ``1`` stochastic), ``epochs``, ``init`` (weight initialization), ``schedule``
    (a learning-rate schedule, copied at each fit), ``early_stopping`` (a patience in epochs such as 10,
    not a switch, or a :class:`descentlab.train.EarlyStopping`; it holds out ``validation_fraction`` of the
    training data, stratified), ``l2`` (penalty λ/2·‖W‖²), ``dtype``, ``random_state`` and ``warm_start``
    (``fit`` continues from the fitted weights).
    """

    def fit(self, X: Any, y: Any) -> DescentClassifier:
        """Train for ``epochs`` with a fresh optimizer: from new weights, or with ``warm_start=True`` from the
        fitted network (the classes must then be the same)."""
        warm = self._warm_start() and hasattr(self, "net_")
        with self._unchanged_if_refused():
            X, y = validate_data(self, X, y, reset=not warm, dtype=(np.float64, np.float32))
            check_classification_targets(y)
            classes, encoded = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"DescentClassifier: the training data holds only one class ({classes[0]!r}); "
                    f"a classifier needs at least 2 classes"
                )
            if warm and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"DescentClassifier: warm_start=True continues the fitted network, whose outputs are the "
                    f"classes {self.classes_.tolist()}, but y holds {classes.tolist()}; set warm_start=False to fit "
                    f"afresh"
                )
            self._train(X, encoded, *_head(classes), stratify=True, warm=warm)
        self.classes_ = classes
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> DescentClassifier:
        """One epoch over (X, y), continuing the network, optimizer and schedule of the earlier calls (or of
        ``fit``); for data that arrives in parts or does not fit in memory.

        The first call needs ``classes``, every label any call will bring (e.g. ``np.unique(y_all)``): it sizes
        the output layer. ``early_stopping`` does not apply, as in scikit-learn's own ``partial_fit``.
        """
        first = not hasattr(self, "net_")
        if first and classes is None:
            raise ValueError(
                "DescentClassifier.partial_fit: the first call needs classes=..., every label the calls will "
                "bring (e.g. np.unique(y_all)); it sizes the output layer"
            )
        known = np.unique(classes) if first else self.classes_
        if first and len(known) < 2:
            raise ValueError(
                f"DescentClassifier.partial_fit: classes={known.tolist()} names fewer than 2 classes; "
                f"a classifier needs at least 2"
            )
        if not first and classes is not None and not np.array_equal(np.unique(classes), known):
            raise ValueError(
                f"DescentClassifier.partial_fit: classes={np.unique(classes).tolist()} differs from the classes "
                f"of the fitted network, {known.tolist()}; a new set of classes needs a fresh fit"
            )
        with self._unchanged_if_refused():
            X, y = validate_data(self, X, y, reset=first, dtype=(np.float64, np.float32))
            check_classification_targets(y)
            unknown = np.setdiff1d(y, known)
            if unknown.size:
                raise ValueError(
                    f"DescentClassifier.partial_fit: y holds labels {unknown.tolist()} outside classes "
                    f"{known.tolist()}; pass every label on the first call (classes=np.unique(y_all))"
                )
            self._train_one_epoch(X, np.searchsorted(known, y), *_head(known))
        self.classes_ = known
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        probabilities = self.net_.predict_proba(X).astype(np.float64)
        if len(self.classes_) == 2:
            return np.column_stack([1.0 - probabilities, probabilities])
        return probabilities

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample (labels from ``classes_``), by the network's own rule: for two
        classes ``classes_[1]`` when p ≥ 0.5 (the tie p = 0.5 included, as ``fit``'s accuracy counts it)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.classes_[self.net_.predict(X)]


class DescentRegressor(RegressorMixin, _DescentEstimator):
    """A multilayer perceptron regressor (linear output, mean squared error) trained by :func:`descentlab.fit`.

    Same parameters as :class:`DescentClassifier`; ``y`` may be 1-D or have several target columns.
    """

    def fit(self, X: Any, y: Any) -> DescentRegressor:
        """Train for ``epochs`` with a fresh optimizer: from new weights, or with ``warm_start=True`` from the
        fitted network (y must then have as many target columns)."""
        warm = self._warm_start() and hasattr(self, "net_")
        with self._unchanged_if_refused():
            X, targets, single_output = self._checked(X, y, reset=not warm, owner="DescentRegressor")
            self._train(X, targets, "linear", targets.shape[1], "mse", stratify=False, warm=warm)
        self._single_output = single_output
        return self

    def partial_fit(self, X: Any, y: Any) -> DescentRegressor:
        """One epoch over (X, y), continuing the network, optimizer and schedule of the earlier calls (or of
        ``fit``); for data that arrives in parts or does not fit in memory. The first call fixes the number of
        target columns. ``early_stopping`` does not apply, as in scikit-learn's own ``partial_fit``."""
        first = not hasattr(self, "net_")
        with self._unchanged_if_refused():
            X, targets, single_output = self._checked(X, y, reset=first, owner="DescentRegressor.partial_fit")
            self._train_one_epoch(X, targets, "linear", targets.shape[1], "mse")
        if first:
            self._single_output = single_output
        return self

    def _checked(self, X: Any, y: Any, reset: bool, owner: str) -> tuple[np.ndarray, np.ndarray, bool]:
        """X, the targets as columns (n, k) and whether y was 1-D; when continuing (not ``reset``), k must be
        the fitted network's."""
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32), y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        if not reset and targets.shape[1] != self.net_.output_dim:
            raise ValueError(
                f"{owner}: y has {targets.shape[1]} target column(s) but the fitted network predicts "
                f"{self.net_.output_dim}; continuing needs the same targets (fit afresh with warm_start=False)"
            )
        return X, targets, y.ndim == 1

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n,) when fitted on 1-D y, else (n, n_targets)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        values = np.asarray(self.net_.predict(X), dtype=np.float64)
        if self._single_output:
            return values.reshape(-1)
        return values.reshape(X.shape[0], -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


__all__ = ["DescentClassifier", "DescentRegressor"]
