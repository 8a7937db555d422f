"""scikit-learn estimators around :func:`descentlab.fit`: ``DescentClassifier`` and ``DescentRegressor``.

They follow scikit-learn's conventions, so they work in ``Pipeline``, ``cross_val_score`` and
``GridSearchCV``: ``__init__`` only stores its arguments, fitted state ends in ``_`` (``net_``,
``history_``, ``optimizer_``, ``classes_``, ``n_features_in_``, ``n_iter_``, ``loss_``), and every random
choice derives from ``random_state``.

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    model = make_pipeline(StandardScaler(), DescentClassifier(hidden_layer_sizes=(64,), optimizer="adam",
                                                              lr=1e-3, epochs=50, random_state=0))
    model.fit(X_train, y_train).score(X_test, y_test)

A binary problem gets one sigmoid output unit and ``bce``; more classes a softmax layer and ``ce``; the
regressor a linear output and ``mse``. The network computes in ``dtype`` (float64 by default, as
scikit-learn's own ``MLPClassifier`` does; ``"float32"`` trains faster).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from descentlab.train import EarlyStopping, History, fit


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

    def _validation_fraction(self, n: int) -> float:
        """``validation_fraction`` (used with early stopping): in (0, 1), holding out some of the n samples, not all."""
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
        return float(fraction)

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

    def _train(self, X: np.ndarray, targets: np.ndarray, output: str, width: int, loss: str, stratify: bool) -> None:
        hidden_sizes = self._hidden_sizes()
        early_stopping = self._early_stopping()
        validation_fraction = self._validation_fraction(X.shape[0]) if early_stopping is not None else None
        seed = _seed_from(self.random_state)
        self.net_ = nn.mlp(
            [X.shape[1], *hidden_sizes, width],
            activation=self.activation,
            output=output,
            init=self.init,
            seed=seed,
            dtype=self.dtype,
        )
        self.optimizer_ = self._make_optimizer()
        schedule = None if self.schedule is None else from_config(self.schedule.config())
        validation = None
        if validation_fraction is not None:
            (X, targets), validation = train_val_split(
                X, targets, fraction=validation_fraction, stratify=stratify, seed=seed
            )
        self.history_: History = fit(
            self.net_,
            X,
            targets,
            loss=loss,
            optimizer=self.optimizer_,
            epochs=self.epochs,
            batch_size=self.batch_size,
            schedule=schedule,
            validation=validation,
            early_stopping=early_stopping,
            seed=seed % (2**63),
            l2=self.l2,
            diagnostics=False,
            progress=False,  # estimators train quietly, inside pipelines and cross-validation alike
        )
        self.n_iter_ = len(self.history_.epoch)
        self.loss_ = self.history_.train_loss[-1] if self.history_.train_loss else float("nan")

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
    training data, stratified), ``l2`` (penalty λ/2·‖W‖²), ``dtype`` and ``random_state``.
    """

    def fit(self, X: Any, y: Any) -> DescentClassifier:
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"DescentClassifier: the training data holds only one class ({self.classes_[0]!r}); "
                f"a classifier needs at least 2 classes"
            )
        if len(self.classes_) == 2:
            self._train(X, encoded, "sigmoid", 1, "bce", stratify=True)
        else:
            self._train(X, encoded, "softmax", len(self.classes_), "ce", stratify=True)
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
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), y_numeric=True, multi_output=True)
        y = np.asarray(y, dtype=np.float64)
        self._single_output = y.ndim == 1
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        self._train(X, targets, "linear", targets.shape[1], "mse", stratify=False)
        return self

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
