"""The fit loop: batches → forward → loss → backward → clip → step → history; and the learning-rate range test.

One training step on a batch B of the data is

    J_B(θ) = (1/|B|) Σ_{i∈B} ℓ(f(xᵢ; θ), yᵢ) + (λ/2) Σ ‖W‖²      loss_and_grad: value and g = ∇θ J_B
    g ← clip(g)                                                   optional: by global norm or by value
    α ← schedule(t)                                               t = step (or epoch) count
    θ ← optimizer(θ, g, α)                                        one call over the flat vector θ

and the *regime* of gradient descent is the batch size alone (see :mod:`descentlab.data.batching`):
``batch_size=None`` is full-batch gradient descent, ``1`` stochastic, ``k`` mini-batch.

**Batch order is a function of (seed, epoch).** Epoch e shuffles with ``np.random.default_rng([seed, e])``,
never with a generator carried over from earlier epochs, so a run resumed at epoch e from a checkpoint
(:func:`descentlab.nn.save` / :func:`descentlab.nn.load` with the optimizer and schedule, then
``fit(..., initial_epoch=e)``) continues bit for bit as if it had never stopped.

**What the loop costs per step.** The data set is checked once, before the first epoch (dtype, width,
finite entries, targets); batches are then gathered with ``np.take(X, index, axis=0, out=buffer)`` into
buffers allocated once and run through the network's unchecked pass (``Network._loss_and_grad``); per
step the loop only records the loss and the learning rate into preallocated arrays. Everything else
(validation, accuracy, per-layer statistics, optimizer health) is measured once per epoch;
``diagnostics=False`` turns off the per-layer part.

Reference for :func:`lr_find`: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks",
WACV 2017, §3.3 (the "LR range test").
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab._numbers import is_integer, is_real
from descentlab.data.batching import batch_count, batches, check_batch_size
from descentlab.nn._validation import as_array, check_inputs
from descentlab.nn.layers import BatchNorm
from descentlab.nn.losses import LOSSES, Loss, Targets
from descentlab.nn.network import Network
from descentlab.optim import NonFiniteGradientError, Optimizer, clip, make_optimizer
from descentlab.optim.newton import Newton
from descentlab.optim.schedules import ReduceOnPlateau, Schedule

#: Training accuracy and activation statistics are measured at the end of each epoch, in inference mode,
#: on the first ``PROBE_SIZE`` samples of the training set (exact for sets this small or smaller).
PROBE_SIZE = 2048
SCHEDULE_UNITS = ("step", "epoch")
MONITORS = ("val_loss", "train_loss", "val_accuracy", "train_accuracy")
CLASSIFICATION_LOSSES = ("bce", "ce")

Callback = Callable[["History", Network], "bool | None"]


# -- records --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs in a row.

    ``monitor`` is ``"val_loss"`` (the default; falls back to ``"train_loss"`` when ``fit`` has no
    validation data), ``"train_loss"``, ``"val_accuracy"`` or ``"train_accuracy"`` (accuracies improve
    upwards). With ``restore_best`` the weights of the best epoch are put back when training stops.
    ``fit(..., early_stopping=10)`` is ``EarlyStopping(patience=10)``.
    """

    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    monitor: str = "val_loss"

    def __post_init__(self) -> None:
        if not is_integer(self.patience) or self.patience < 1:
            raise ValueError(f"EarlyStopping: patience={self.patience!r} must be an integer ≥ 1 (epochs to wait)")
        if not (is_real(self.min_delta) and math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise ValueError(f"EarlyStopping: min_delta={self.min_delta!r} must be a finite number ≥ 0")
        if self.monitor not in MONITORS:
            raise ValueError(f"EarlyStopping: monitor={self.monitor!r} is not one of {', '.join(map(repr, MONITORS))}")


@dataclass
class History:
    """What :func:`fit` measured. Per step: ``step_loss`` (J on the batch, before the step) and ``step_lr``.

    Per epoch (lists aligned with ``epoch``): ``train_loss`` (sample-weighted mean of the epoch's batch
    losses, the Keras convention: it mixes weights from the whole epoch), ``train_accuracy`` (inference mode,
    at the epoch's end, on the first :data:`PROBE_SIZE` training samples), ``val_loss`` / ``val_accuracy``
    (inference mode, whole validation set; empty without validation), ``lr`` (at the epoch's last step),
    ``skipped_steps`` (non-finite steps skipped in the epoch). Accuracies are recorded for ``bce``/``ce``.

    Diagnostics (``fit(..., diagnostics=True)``), per epoch, measured on the epoch's **last step**:
    ``grad_norms[layer]`` (‖∂J/∂θ_layer‖ before clipping), ``update_ratio[layer]`` (‖Δθ_layer‖ / ‖θ_layer‖,
    healthy around 1e-3 for SGD-like training), ``effective_step`` (``{"median", "mean", "max"}`` of
    |Δθᵢ| / |gᵢ| over parameters with gᵢ ≠ 0: the per-parameter learning rate an adaptive method actually
    applied; for plain GD it is α everywhere), ``effective_step_by_layer[layer]`` (the median of that ratio
    within each layer) and, from the epoch-end inference pass on the probe samples,
    ``activations[layer]`` = ``{"mean", "std", "dead_fraction"}`` (dead: a unit that is 0 for every probe sample).

    ``stopped_reason`` says in words why training ended; ``diverged`` is True when it was divergence;
    ``best_epoch`` is the epoch early stopping restored (None without early stopping).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    skipped_steps: list[int] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    update_ratio: dict[str, list[float]] = field(default_factory=dict)
    effective_step: dict[str, list[float]] = field(default_factory=dict)
    effective_step_by_layer: dict[str, list[float]] = field(default_factory=dict)
    activations: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    step_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    step_lr: np.ndarray = field(default_factory=lambda: np.empty(0))
    stopped_reason: str = ""
    diverged: bool = False
    best_epoch: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready lists, numbers and strings (non-finite numbers become None)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            out[name] = _json_ready(getattr(self, name))
        return out

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The :meth:`to_dict` document as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_csv(self, path: str | os.PathLike | None = None, table: str = "epochs") -> str:
        """A CSV table: ``"epochs"`` (one row per epoch, per-layer columns ``grad_norm/<layer>`` …) or
        ``"steps"`` (step, loss, lr). Returned as text; also written to ``path`` when given."""
        if table == "steps":
            header = ["step", "loss", "lr"]
            rows = [
                [t, *values]
                for t, values in enumerate(zip(self.step_loss.tolist(), self.step_lr.tolist(), strict=True))
            ]
        elif table == "epochs":
            columns: dict[str, list[Any]] = {"epoch": self.epoch, "train_loss": self.train_loss}
            for name in ("train_accuracy", "val_loss", "val_accuracy", "lr", "skipped_steps"):
                if getattr(self, name):
                    columns[name] = getattr(self, name)
            per_layer = (
                ("grad_norm", self.grad_norms),
                ("update_ratio", self.update_ratio),
                ("effective_step", self.effective_step_by_layer),
            )
            for prefix, mapping in per_layer:
                columns.update({f"{prefix}/{layer}": values for layer, values in mapping.items()})
            columns.update({f"effective_step/{key}": values for key, values in self.effective_step.items()})
            for layer, stats in self.activations.items():
                columns.update({f"{stat}/{layer}": values for stat, values in stats.items()})
            header = list(columns)
            rows = [
                [values[i] if i < len(values) else "" for values in columns.values()] for i in range(len(self.epoch))
            ]
        else:
            raise ValueError(f"History.to_csv: table={table!r} is not one of 'epochs', 'steps'")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text


def _json_ready(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_ready(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# -- checks at the door ---------------------------------------------------------------------------------------
def _check_features(name: str, X: Any, net: Network, owner: str, use: str = "training") -> np.ndarray:
    """X as a C-contiguous array of the network's dtype, with the network's width and finite entries."""
    return np.ascontiguousarray(check_inputs(X, net.input_dim, net.dtype, owner=owner, use=use, name=name))


def _check_loss(loss: str | Loss, net: Network, owner: str) -> Loss:
    if isinstance(loss, Loss):
        loss_fn = loss
    elif isinstance(loss, str) and loss in LOSSES:
        loss_fn = LOSSES[loss]
    else:
        raise ValueError(f"{owner}: loss={loss!r} is not one of {', '.join(map(repr, LOSSES))}")
    if loss_fn.output is not None and loss_fn.output != net.output:
        fix = {"sigmoid": "'bce'", "softmax": "'ce'", "linear": "'mse' or 'mae'"}[net.output]
        raise ValueError(
            f"{owner}: loss={loss_fn.name!r} expects a {loss_fn.output} output, but the network's output is "
            f"{net.output!r}; use loss={fix} or build the network with output={loss_fn.output!r}"
        )
    return loss_fn


def _check_targets(name: str, y: Any, n: int, loss_fn: Loss, net: Network, owner: str) -> np.ndarray:
    """Targets in the form the batches are cut from: integer labels (``ce``) or an (n, k) float array."""
    y = as_array(name, y, owner=owner, expected="an array of numbers, one target (or one-hot row) per sample")
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(
            f"{owner}: {name} has shape {y.shape} but the inputs have {n} samples; give one target per sample"
        )
    targets = loss_fn.targets(y, n, net.output_dim, net.dtype, f"{owner} ({name})")
    array = targets.labels if targets.labels is not None else targets.values
    return np.ascontiguousarray(array)


def _batch_targets(rows: np.ndarray) -> Targets:
    """The targets of a batch cut from what :func:`_check_targets` returned (integer labels or float values)."""
    return Targets(labels=rows) if rows.dtype.kind in "iu" else Targets(values=rows)


def _check_optimizer(optimizer: str | Optimizer, owner: str) -> Optimizer:
    if isinstance(optimizer, str):
        optimizer = make_optimizer(optimizer)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{owner}: optimizer must be a descentlab.optim optimizer or its name (e.g. 'adam'), "
            f"got {type(optimizer).__name__}"
        )
    if isinstance(optimizer, Newton):
        raise ValueError(
            f"{owner}: Newton's method needs the Hessian of the loss, which the network does not compute; "
            f"use a first-order optimizer (e.g. 'adam'), or dl.optim.Newton on a surface"
        )
    return optimizer


def _check_positive(name: str, value: Any, owner: str, meaning: str) -> float:
    """A finite real number > 0; ``meaning`` (what the parameter does) completes the error message."""
    if not is_real(value):
        raise TypeError(f"{owner}: {name} must be a real number ({meaning}), got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name}={value!r} must be a finite number > 0 ({meaning})")
    return float(value)


def _check_clip(name: str, value: Any, owner: str) -> float | None:
    return None if value is None else _check_positive(name, value, owner, "or None for no clipping")


def _check_l2(l2: Any, owner: str) -> float:
    if not (is_real(l2) and math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"{owner}: l2={l2!r} must be a finite number ≥ 0 (λ of the penalty (λ/2)Σ‖W‖²; 0 for none)")
    return float(l2)


def _check_batches(net: Network, n: int, batch_size: int | None, drop_last: bool, owner: str) -> None:
    """Refuse, before the first step, batch sizes that would give a batch normalization batch of 1 sample."""
    if not any(isinstance(layer, BatchNorm) for layer in net.layers):
        return
    k = check_batch_size(batch_size, n, owner=owner)
    if k == 1:
        fix = "use batch_size=None or an integer ≥ 2" if n > 1 else "train on at least 2 samples"
        raise ValueError(
            f"{owner}: batch normalization needs at least 2 samples per batch in training, but n={n} with "
            f"batch_size={batch_size} gives batches of 1 sample; {fix}"
        )
    if n % k == 1 and not drop_last:
        other = next(size for size in range(k + 1, n + 1) if n % size != 1)
        raise ValueError(
            f"{owner}: batch normalization needs at least 2 samples per batch in training, but n={n} with "
            f"batch_size={batch_size} leaves a last batch of 1 sample; use drop_last=True or another "
            f"batch size (e.g. batch_size={other})"
        )


def _check_callbacks(callbacks: Any, owner: str) -> list[Callback]:
    if callbacks is None:
        return []
    listed = list(callbacks) if isinstance(callbacks, Iterable) else None
    if listed is None or not all(callable(callback) for callback in listed):
        raise TypeError(
            f"{owner}: callbacks must be a list of callables callback(history, net) (or None), got "
            f"{callbacks!r}; pass a single function as callbacks=[f]"
        )
    return listed


def _check_int(name: str, value: Any, low: int, owner: str) -> int:
    if not is_integer(value) or value < low:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ {low}")
    return int(value)


def _plateaus(schedule: Schedule | None, owner: str) -> list[ReduceOnPlateau]:
    """Every :class:`ReduceOnPlateau` in the chain ``schedule``, ``schedule.inner``, … (fit observes each)."""
    found = []
    while isinstance(schedule, Schedule):
        if isinstance(schedule, ReduceOnPlateau):
            if schedule.mode != "min":
                raise ValueError(
                    f"{owner}: the schedule holds ReduceOnPlateau(mode={schedule.mode!r}), but fit observes the "
                    f"validation loss after each epoch (the training loss without validation), which improves "
                    f"downwards; use mode='min'"
                )
            found.append(schedule)
        schedule = getattr(schedule, "inner", None)
    return found


def _early_stopping(early_stopping: Any, has_validation: bool, owner: str) -> EarlyStopping | None:
    if early_stopping is None or early_stopping is False:
        return None
    if isinstance(early_stopping, EarlyStopping):
        rule = early_stopping
    elif is_integer(early_stopping):
        rule = EarlyStopping(patience=int(early_stopping))
    else:
        raise TypeError(
            f"{owner}: early_stopping must be None, an integer patience or an EarlyStopping(...), "
            f"got {early_stopping!r}"
        )
    if rule.monitor.startswith("val_") and not has_validation:
        if rule.monitor == "val_loss":
            return EarlyStopping(rule.patience, rule.min_delta, rule.restore_best, "train_loss")
        raise ValueError(
            f"{owner}: early stopping monitors {rule.monitor!r} but no validation=(X_val, y_val) was given"
        )
    return rule


# -- the loop -------------------------------------------------------------------------------------------------
def _accuracy(logits: np.ndarray, targets: np.ndarray, output: str) -> float:
    """Share of correct predictions from logits: argmax for softmax, p = σ(z) ≥ ½ for sigmoid.

    p is rounded in the logits' dtype as ``Network.predict`` rounds it, so the two agree on the ties: a small
    negative z can give p = ½ exactly (in float32 every z above about −1.8e−7 does), which predicts 1.
    """
    if output == "softmax":
        predicted = np.argmax(logits, axis=1)
        truth = targets if targets.ndim == 1 else np.argmax(targets, axis=1)
        return float(np.mean(predicted == truth))
    with np.errstate(over="ignore"):  # e^(−z) = inf gives p = 0, which is exact
        probability = 1 / (1 + np.exp(-logits))
    return float(np.mean((probability >= 0.5) == (targets.reshape(logits.shape) >= 0.5)))


def _divergence_message(what: str, epoch: int, step: int, optimizer: Optimizer, restored: str, X: np.ndarray) -> str:
    name = type(optimizer).__name__
    largest_std = float(np.max(np.std(X, axis=0))) if X.shape[0] > 1 else 0.0
    scale_hint = (
        f", and standardize the inputs (a feature has standard deviation {largest_std:.3g})"
        if largest_std > 100
        else ""
    )
    return (
        f"diverged at epoch {epoch}, step {step}: {what}. The learning rate {optimizer.lr:g} is likely too large "
        f"for {name} here: lower it (dl.lr_find suggests one) or clip gradients (clip_norm=1.0){scale_hint}. "
        f"Restored the weights {restored}."
    )


class _Snapshot:
    """A copy of θ and of the network's non-parameter state (batch norm running averages)."""

    def __init__(self, net: Network) -> None:
        self.params = net.params.copy()
        self.state = {key: array.copy() for key, array in net.state_arrays().items()}
        self.label = "from before training"

    def take(self, net: Network, label: str) -> None:
        np.copyto(self.params, net.params)
        for key, array in net.state_arrays().items():
            np.copyto(self.state[key], array)
        self.label = label

    def restore(self, net: Network) -> None:
        np.copyto(net.params, self.params)
        for key, array in net.state_arrays().items():
            np.copyto(array, self.state[key])


def fit(
    net: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "bce",
    optimizer: str | Optimizer = "adam",
    *,
    epochs: int = 10,
    batch_size: int | None = 32,
    schedule: Schedule | None = None,
    schedule_unit: str = "step",
    clip_norm: float | None = None,
    clip_value: float | None = None,
    validation: tuple[Any, Any] | None = None,
    early_stopping: int | EarlyStopping | None = None,
    callbacks: Iterable[Callback] | None = (),
    seed: int = 0,
    progress: bool | None = None,
    l2: float = 0.0,
    diagnostics: bool = True,
    initial_epoch: int = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    divergence_factor: float = 1e3,
) -> History:
    """Train ``net`` on (X, y) in place and return its :class:`History`.

    Args:
        net: a :class:`descentlab.nn.Network`; its ``params`` are updated in place.
        X, y: inputs (n, net.input_dim) and targets (labels in {0, 1} for ``bce``, in [0, k) or one-hot for
            ``ce``, values for ``mse``/``mae``). X is converted once to the network's dtype.
        loss: ``"bce"``, ``"ce"``, ``"mse"`` or ``"mae"`` (must fit the network's output).
        optimizer: a :mod:`descentlab.optim` optimizer (its state carries on across calls) or a name.
        epochs: train epochs ``initial_epoch … epochs − 1`` (Keras' convention: the final epoch count).
        batch_size: ``None`` full batch, ``1`` stochastic, ``k`` mini-batch; see :func:`descentlab.data.batches`.
        schedule: sets ``optimizer.lr = schedule(t)`` before every step; with ``schedule_unit="step"`` t is the
            global step count (``epoch · steps_per_epoch + i``, so resuming keeps it), with ``"epoch"`` t is
            the epoch number and the rate is set once per epoch. Each :class:`ReduceOnPlateau` in the schedule
            (itself, or nested as the ``inner`` schedule of another) ``observe``\\ s the validation loss (the
            training loss without validation) after every epoch; it must therefore have ``mode="min"``.
        clip_norm, clip_value: clip the gradient by global norm or by value before each step.
        validation: ``(X_val, y_val)`` evaluated in inference mode after every epoch.
        early_stopping: a patience (int) or :class:`EarlyStopping`.
        callbacks: functions ``callback(history, net)`` called after every epoch; returning True stops
            (None: no callbacks).
        seed: epoch e shuffles with ``np.random.default_rng([seed, e])``.
        progress: a rich progress bar, one update per epoch. ``None`` (the default) shows it when stdout is a
            terminal and rich is installed, ``True`` always (ImportError without rich: install it with
            ``pip install 'descentlab[cli]'``), ``False`` never.
        l2: λ of the penalty (λ/2)Σ‖W‖² (part of the reported train and validation losses).
        diagnostics: record per-layer gradient norms, activation statistics and optimizer health per epoch.
        initial_epoch: the first epoch to run, to resume from a checkpoint saved after epoch initial_epoch − 1
            (network, optimizer and schedule from :func:`descentlab.nn.load`). The early-stopping counters and
            the divergence reference J₀ start afresh in the resumed call.
        shuffle, drop_last: see :func:`descentlab.data.batches`. A network with batch normalization refuses
            batch sizes that would give a batch of 1 sample (``batch_size=1``, or n mod batch_size = 1 without
            ``drop_last``), before the first step.
        divergence_factor: stop when a batch loss exceeds ``divergence_factor · max(J₀, 1)``, J₀ the first
            batch loss of this call; a NaN/Inf loss or gradient stops training too. The weights are then put
            back to the last ones known good (those whose loss was seen finite at an epoch's first step),
            and ``history.stopped_reason`` names the likely cause.
    """
    owner = "fit"
    if not isinstance(net, Network):
        raise TypeError(
            f"{owner}: net must be a descentlab.nn.Network (e.g. dl.nn.mlp([...])), got {type(net).__name__}"
        )
    loss_fn = _check_loss(loss, net, owner)
    optimizer = _check_optimizer(optimizer, owner)
    X = _check_features("X", X, net, owner)
    n = X.shape[0]
    Y = _check_targets("y", y, n, loss_fn, net, owner)
    epochs = _check_int("epochs", epochs, 1, owner)
    initial_epoch = _check_int("initial_epoch", initial_epoch, 0, owner)
    if initial_epoch >= epochs:
        raise ValueError(
            f"{owner}: initial_epoch={initial_epoch} must be smaller than epochs={epochs} "
            f"(epochs is the final epoch count: resume with epochs > initial_epoch)"
        )
    k = check_batch_size(batch_size, n, owner=owner)
    _check_batches(net, n, batch_size, drop_last, owner)
    steps_per_epoch = batch_count(n, batch_size, drop_last)
    if schedule is not None and not isinstance(schedule, Schedule):
        raise TypeError(
            f"{owner}: schedule must be a descentlab.optim.schedules schedule, got {type(schedule).__name__}"
        )
    plateaus = _plateaus(schedule, owner)
    if schedule_unit not in SCHEDULE_UNITS:
        raise ValueError(f"{owner}: schedule_unit={schedule_unit!r} is not one of 'step', 'epoch'")
    clip_norm = _check_clip("clip_norm", clip_norm, owner)
    clip_value = _check_clip("clip_value", clip_value, owner)
    divergence_factor = _check_positive(
        "divergence_factor", divergence_factor, owner, "training stops at a batch loss over that many times J₀"
    )
    seed = _check_int("seed", seed, 0, owner)
    l2 = _check_l2(l2, owner)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            got = (
                f"a {type(validation).__name__} of {len(validation)}"
                if isinstance(validation, (tuple, list))
                else type(validation).__name__
            )
            raise TypeError(f"{owner}: validation must be a pair (X_val, y_val), got {got}")
        X_val = _check_features("X_val", validation[0], net, owner)
        Y_val = _check_targets("y_val", validation[1], X_val.shape[0], loss_fn, net, owner)
    stopping = _early_stopping(early_stopping, validation is not None, owner)
    callbacks = _check_callbacks(callbacks, owner)
    show_progress = _show_progress(progress, owner)
    classification = loss_fn.name in CLASSIFICATION_LOSSES
    history = History()
    history.config = {
        "loss": loss_fn.name,
        "optimizer": repr(optimizer),
        "epochs": epochs,
        "initial_epoch": initial_epoch,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "n_train": n,
        "schedule": None if schedule is None else schedule.config(),
        "schedule_unit": schedule_unit,
        "clip_norm": clip_norm,
        "clip_value": clip_value,
        "l2": l2,
        "seed": seed,
    }
    total_steps = (epochs - initial_epoch) * steps_per_epoch
    step_loss = np.full(total_steps, np.nan)
    step_lr = np.full(total_steps, np.nan)
    groups = net.param_groups()
    if diagnostics:
        for name in groups:
            history.grad_norms[name] = []
            history.update_ratio[name] = []
            history.effective_step_by_layer[name] = []
        history.effective_step = {"median": [], "mean": [], "max": []}
    probe = slice(0, min(n, PROBE_SIZE))

    # Buffers for the gathered batches (full and last partial size share one allocation).
    full_batch_in_order = k == n and not (shuffle and batch_size is not None)
    if not full_batch_in_order:
        X_batch = np.empty((k, X.shape[1]), dtype=X.dtype)
        Y_batch = np.empty((k, *Y.shape[1:]), dtype=Y.dtype)
    before_step = np.empty_like(net.params) if diagnostics else None
    good = _Snapshot(net)  # last weights whose loss was seen finite
    pending = _Snapshot(net)  # weights at the start of the current epoch, not yet checked
    tracker = None if stopping is None else _EarlyStoppingTracker(stopping, net)
    reference_loss: float | None = None
    skips_before = optimizer.skipped_steps
    params, grads = net.params, net.grads
    position = 0
    bar = _ProgressBar(epochs - initial_epoch) if show_progress else None

    # Overflow on the way to divergence is detected and explained in the history, not warned about per step.
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            for epoch in range(initial_epoch, epochs):
                if epoch > initial_epoch:
                    pending.take(net, f"from the end of epoch {epoch - 1}")
                if schedule is not None and schedule_unit == "epoch":
                    optimizer.lr = schedule(epoch)
                loss_sum = 0.0
                seen = 0
                clip_skips = 0
                diverged_with = ""
                rng = np.random.default_rng([seed, epoch])
                for i, index in enumerate(batches(n, batch_size, seed=rng, shuffle=shuffle, drop_last=drop_last)):
                    if schedule is not None and schedule_unit == "step":
                        optimizer.lr = schedule(epoch * steps_per_epoch + i)
                    size = index.shape[0]
                    if full_batch_in_order:
                        xb, yb = X, Y
                    else:
                        xb, yb = X_batch[:size], Y_batch[:size]
                        np.take(X, index, axis=0, out=xb, mode="clip")
                        np.take(Y, index, axis=0, out=yb, mode="clip")
                    value = net._loss_and_grad(xb, _batch_targets(yb), loss_fn, l2)
                    if reference_loss is None and math.isfinite(value):
                        reference_loss = max(value, 1.0)
                    if not math.isfinite(value) and optimizer.nonfinite != "skip":
                        diverged_with = f"the batch loss became {value}"
                    elif (
                        math.isfinite(value)
                        and reference_loss is not None
                        and value > divergence_factor * reference_loss
                    ):
                        diverged_with = (
                            f"the batch loss grew to {value:.4g}, over {divergence_factor:g} × its starting value "
                            f"{reference_loss:.4g}"
                        )
                    if diverged_with:
                        break
                    if i == 0 and epoch > initial_epoch and math.isfinite(value):
                        good, pending = pending, good  # the epoch's starting weights gave a finite loss
                    last = i == steps_per_epoch - 1
                    if last and diagnostics:
                        for name, norms in net.layer_grad_norms().items():
                            history.grad_norms[name].append(math.sqrt(sum(v * v for v in norms.values())))
                        np.copyto(before_step, params)
                    try:
                        if clip_norm is not None:
                            clip.by_norm(grads, clip_norm)
                        if clip_value is not None:
                            clip.by_value(grads, clip_value)
                        optimizer.step(params, grads)
                    except NonFiniteGradientError:
                        if optimizer.nonfinite == "skip":  # only clipping raises under "skip": count it as skipped
                            clip_skips += 1
                        else:
                            diverged_with = "the gradient held NaN or Inf entries"
                            break
                    step_loss[position] = value
                    step_lr[position] = optimizer.lr
                    position += 1
                    if math.isfinite(value):
                        loss_sum += value * size
                        seen += size
                    if last and diagnostics:
                        _record_health(history, params, grads, before_step, groups)

                skipped = optimizer.skipped_steps - skips_before + clip_skips
                skips_before = optimizer.skipped_steps
                if not diverged_with and seen == 0:
                    diverged_with = "every step of the epoch was skipped as non-finite"
                if diverged_with:
                    history.stopped_reason = _divergence_message(diverged_with, epoch, i, optimizer, good.label, X)
                    history.diverged = True
                    good.restore(net)
                    _trim_epoch_lists(history)
                    break

                # -- end of epoch: measurements once per epoch ----------------------------------------------
                history.epoch.append(epoch)
                history.train_loss.append(loss_sum / seen)
                history.lr.append(optimizer.lr)
                history.skipped_steps.append(skipped)
                if validation is not None:
                    _record_validation(history, net, X_val, Y_val, loss_fn.name, l2, classification)
                if classification or diagnostics:
                    _record_probe(history, net, X[probe], Y[probe], classification, diagnostics)
                metric = history.val_loss[-1] if validation is not None else history.train_loss[-1]
                if math.isfinite(metric):
                    for plateau in plateaus:
                        plateau.observe(metric)

                stop_reason = "" if tracker is None else tracker.update(history, net)
                for callback in callbacks:
                    if callback(history, net):
                        stop_reason = (
                            stop_reason or f"stopped by callback {getattr(callback, '__name__', repr(callback))}"
                        )
                if bar is not None:
                    bar.advance(history)
                if stop_reason:
                    history.stopped_reason = stop_reason
                    break
            else:
                history.stopped_reason = f"completed {epochs - initial_epoch} epochs"
        finally:
            if bar is not None:
                bar.close()

    if tracker is not None:
        tracker.finish(history, net)
    history.step_loss = step_loss[:position]
    history.step_lr = step_lr[:position]
    return history


def _record_validation(
    history: History, net: Network, X_val: np.ndarray, Y_val: np.ndarray, loss: str, l2: float, classification: bool
) -> None:
    history.val_loss.append(net.loss(X_val, Y_val, loss=loss, l2=l2))
    if classification:
        history.val_accuracy.append(_accuracy(net.forward(X_val), Y_val, net.output))


def _record_probe(
    history: History, net: Network, X: np.ndarray, Y: np.ndarray, classification: bool, diagnostics: bool
) -> None:
    """One inference pass over the probe samples: training accuracy and activation statistics."""
    logits = net.forward(X)  # also leaves the activations that layer_stats reads
    if classification:
        history.train_accuracy.append(_accuracy(logits, Y, net.output))
    if diagnostics:
        for stats in net.layer_stats():
            record = history.activations.setdefault(stats["layer"], {"mean": [], "std": [], "dead_fraction": []})
            for key in record:
                record[key].append(stats[key])


class _EarlyStoppingTracker:
    """The best value of the monitored metric so far, the epochs waited since, and the best weights."""

    def __init__(self, rule: EarlyStopping, net: Network) -> None:
        self.rule = rule
        self.sign = -1.0 if rule.monitor.endswith("accuracy") else 1.0  # accuracies improve upwards
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self.waited = 0
        self.best = _Snapshot(net) if rule.restore_best else None

    def update(self, history: History, net: Network) -> str:
        """Observe the epoch just recorded; return why training should stop, or ``""``."""
        rule = self.rule
        value = self.sign * getattr(history, rule.monitor)[-1]
        if self.best_epoch is None or value < self.best_value - rule.min_delta:
            self.best_value, self.best_epoch, self.waited = value, history.epoch[-1], 0
            if self.best is not None:
                self.best.take(net, f"of epoch {self.best_epoch}")
            return ""
        self.waited += 1
        if self.waited < rule.patience:
            return ""
        return (
            f"early stopping: {rule.monitor} did not improve by more than {rule.min_delta:g} for {rule.patience} "
            f"epochs (best {self.sign * self.best_value:.6g} at epoch {self.best_epoch})"
        )

    def finish(self, history: History, net: Network) -> None:
        """Record the best epoch and, unless training diverged, put its weights back."""
        history.best_epoch = self.best_epoch
        if self.best is None or self.best_epoch is None or history.diverged:
            return
        self.best.restore(net)
        if history.epoch and self.best_epoch != history.epoch[-1]:
            history.stopped_reason += f"; restored the weights of epoch {self.best_epoch}"


def _record_health(
    history: History, params: np.ndarray, grads: np.ndarray, before: np.ndarray, groups: dict[str, slice]
) -> None:
    """Update-to-parameter ratio per layer and the effective per-parameter step |Δθ|/|g| of the last step
    (summarized over all parameters, and its median per layer)."""
    ratios = {}
    for name, part in groups.items():
        old = before[part]
        norm_old = math.sqrt(float(np.dot(old, old)))
        ratios[name] = norm_old
    np.subtract(params, before, out=before)  # before now holds Δθ
    for name, part in groups.items():
        delta = before[part]
        norm_delta = math.sqrt(float(np.dot(delta, delta)))
        history.update_ratio[name].append(norm_delta / ratios[name] if ratios[name] > 0 else math.inf)
    moving = grads != 0
    steps = np.zeros_like(before)
    np.divide(np.abs(before), np.abs(grads), out=steps, where=moving)
    if moving.any():
        moved = steps[moving]
        summary = {"median": float(np.median(moved)), "mean": float(moved.mean()), "max": float(moved.max())}
    else:
        summary = dict.fromkeys(("median", "mean", "max"), math.nan)
    for key, value in summary.items():
        history.effective_step[key].append(value)
    for name, part in groups.items():
        layer_moving = moving[part]
        layer_median = float(np.median(steps[part][layer_moving])) if layer_moving.any() else math.nan
        history.effective_step_by_layer[name].append(layer_median)


def _trim_epoch_lists(history: History) -> None:
    """Drop diagnostics recorded for an epoch that did not finish (keep every list aligned with ``epoch``)."""
    count = len(history.epoch)
    for mapping in (history.grad_norms, history.update_ratio, history.effective_step, history.effective_step_by_layer):
        for values in mapping.values():
            del values[count:]


def _show_progress(progress: Any, owner: str) -> bool:
    """``fit(progress=...)``: True forces the bar (rich required), False hides it, None shows it on a terminal."""
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"{owner}: progress must be True, False or None (a bar on a terminal), got {progress!r}")
    on_terminal = sys.stdout is not None and sys.stdout.isatty()
    if not (progress or (progress is None and on_terminal)):
        return False
    try:
        import rich.progress  # noqa: F401 - rich is the cli extra, not a core dependency
    except ImportError as error:
        if progress is None:
            return False
        raise ImportError(
            f"{owner}: progress=True draws a rich progress bar, and rich is not installed; install it with "
            f"pip install 'descentlab[cli]' (or pass progress=False)"
        ) from error
    return True


class _ProgressBar:
    """A rich progress bar over epochs, imported only when asked for (rich is not a core dependency)."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]epoch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            transient=False,
        )
        self.task = self.progress.add_task("fit", total=total, metrics="")
        self.progress.start()

    def advance(self, history: History) -> None:
        parts = [f"loss {history.train_loss[-1]:.4g}"]
        if history.val_loss:
            parts.append(f"val {history.val_loss[-1]:.4g}")
        if history.val_accuracy:
            parts.append(f"val acc {history.val_accuracy[-1]:.3f}")
        self.progress.update(self.task, advance=1, metrics="  ".join(parts))

    def close(self) -> None:
        self.progress.stop()


# -- evaluation -----------------------------------------------------------------------------------------------
def evaluate(net: Network, X: Any, y: Any, loss: str | Loss = "bce", *, l2: float = 0.0) -> dict[str, float]:
    """Loss (inference mode) and, for ``bce``/``ce``, accuracy of ``net`` on (X, y).

    ``l2 = λ`` adds the penalty (λ/2)Σ‖W‖² to the loss, as :func:`fit` does: after ``fit(..., l2=λ,
    validation=(X_val, y_val))``, ``evaluate(net, X_val, y_val, l2=λ)["loss"]`` is ``history.val_loss[-1]``
    (for the final weights). The default 0 gives the data loss alone.
    """
    owner = "evaluate"
    loss_fn = _check_loss(loss, net, owner)
    l2 = _check_l2(l2, owner)
    X = _check_features("X", X, net, owner, use="evaluating")
    Y = _check_targets("y", y, X.shape[0], loss_fn, net, owner)
    out = {"loss": net.loss(X, Y, loss=loss_fn.name, l2=l2)}
    if loss_fn.name in CLASSIFICATION_LOSSES:
        out["accuracy"] = _accuracy(net.forward(X), Y, net.output)
    return out


# -- learning-rate range test ---------------------------------------------------------------------------------
@dataclass
class LRFinderResult:
    """The learning-rate range test: rates tried, raw and smoothed batch losses, the suggestion.

    ``suggested_lr`` is the rate where the smoothed loss falls fastest against log α (``method="steepest"``;
    the slope is taken over windows of steps/20 points before the minimum, and the suggestion falls back to
    min/10 when the curve has no such stretch) or a tenth of the rate at the smoothed loss's minimum
    (``method="min/10"``, the rule of thumb of Smith 2017 and fastai); ``lr_at_min`` is that
    minimum's rate. ``diverged_at`` is the rate at which the smoothed loss exceeded ``diverge_factor`` × its
    best value (or became NaN), where the test stopped; None when it ran to ``lr_max``.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggested_lr: float
    lr_at_min: float
    diverged_at: float | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {name: _json_ready(getattr(self, name)) for name in self.__dataclass_fields__}


def lr_find(
    net: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "bce",
    optimizer: str | Optimizer = "adam",
    lr_min: float = 1e-7,
    lr_max: float = 10.0,
    steps: int = 100,
    batch_size: int | None = 32,
    seed: int = 0,
    beta: float = 0.98,
    diverge_factor: float = 4.0,
    method: str = "steepest",
    l2: float = 0.0,
) -> LRFinderResult:
    """Smith's learning-rate range test: train briefly while raising α exponentially, watch the loss.

    Step i (0 ≤ i < steps) uses α_i = lr_min · (lr_max / lr_min)^(i / (steps − 1)) on the next mini-batch
    (epochs shuffled from (seed, epoch) as in :func:`fit`). The batch losses are smoothed by an exponentially
    weighted average with bias correction, s_i = EWA_β(J_0 … J_i) / (1 − β^(i+1)); the test stops once s_i
    exceeds ``diverge_factor`` × min s or is not finite. The suggestion is read from the smoothed curve
    before its minimum: the steepest descent (min of ds/d log α; fastai's "steep" rule) or min/10, see
    :class:`LRFinderResult`. The run uses a fresh optimizer of the same class and hyperparameters, and the
    network's weights, running averages and dropout generator are restored afterwards: the test leaves
    ``net`` and ``optimizer`` exactly as they were.
    """
    owner = "lr_find"
    if not isinstance(net, Network):
        raise TypeError(f"{owner}: net must be a descentlab.nn.Network, got {type(net).__name__}")
    loss_fn = _check_loss(loss, net, owner)
    template = _check_optimizer(optimizer, owner)
    X = _check_features("X", X, net, owner)
    Y = _check_targets("y", y, X.shape[0], loss_fn, net, owner)
    swept = "the test sweeps the learning rate from lr_min up to lr_max, e.g. 1e-7 to 10"
    lr_min_f = _check_positive("lr_min", lr_min, owner, swept)
    lr_max_f = _check_positive("lr_max", lr_max, owner, swept)
    if lr_min_f >= lr_max_f:
        raise ValueError(f"{owner}: need 0 < lr_min < lr_max, got lr_min={lr_min!r}, lr_max={lr_max!r}")
    steps = _check_int("steps", steps, 2, owner)
    seed = _check_int("seed", seed, 0, owner)
    if not (is_real(beta) and 0 <= beta < 1):
        raise ValueError(f"{owner}: beta={beta!r} must lie in [0, 1) (the smoothing of the loss curve, e.g. 0.98)")
    diverge_factor_f = _check_positive(
        "diverge_factor", diverge_factor, owner, "the test stops at a smoothed loss over that many times its minimum"
    )
    if method not in ("steepest", "min/10"):
        raise ValueError(f"{owner}: method={method!r} is not one of 'steepest', 'min/10'")
    l2 = _check_l2(l2, owner)
    n = X.shape[0]
    check_batch_size(batch_size, n, owner=owner)
    _check_batches(net, n, batch_size, False, owner)

    trial = type(template)(**template.hyperparameters())
    saved = _Snapshot(net)
    rng_state = net.rng.bit_generator.state
    rates = lr_min_f * (lr_max_f / lr_min_f) ** (np.arange(steps) / (steps - 1))
    raw = np.full(steps, np.nan)
    smooth = np.full(steps, np.nan)
    average = 0.0
    best = math.inf
    diverged_at = None
    count = 0
    try:
        epoch = 0
        while count < steps and diverged_at is None:
            for index in batches(n, batch_size, seed=np.random.default_rng([seed, epoch])):
                trial.lr = float(rates[count])
                value = net._loss_and_grad(X[index], _batch_targets(Y[index]), loss_fn, l2)
                raw[count] = value
                average = beta * average + (1 - beta) * value
                smooth[count] = average / (1 - beta ** (count + 1))
                count += 1
                if not math.isfinite(smooth[count - 1]) or smooth[count - 1] > diverge_factor_f * best:
                    diverged_at = float(rates[count - 1])
                    break
                best = min(best, smooth[count - 1])
                try:
                    trial.step(net.params, net.grads)
                except NonFiniteGradientError:
                    diverged_at = float(rates[count - 1])
                    break
                if count == steps:
                    break
            epoch += 1
    finally:
        saved.restore(net)
        net.rng.bit_generator.state = rng_state

    usable = count - 1 if diverged_at is not None else count  # the diverged point is not part of the curve
    curve = smooth[:usable]
    lrs = rates[:count]
    if usable < 1:
        raise ValueError(
            f"{owner}: the loss diverged at the very first rate lr_min={lr_min_f:g}; lower lr_min "
            f"(or standardize the inputs)"
        )
    at_min = int(np.nanargmin(curve))
    lr_at_min = float(rates[at_min])
    suggested = lr_at_min / 10.0
    # Steepest descent, measured over a window of w points (w = steps/20, a few tenths of a decade at the
    # defaults) so that batch noise between neighbouring points does not decide; the first w points are
    # skipped (the bias-corrected average is still settling there).
    window = max(1, steps // 20)
    starts = np.arange(window, at_min - window + 1)
    if method == "steepest" and starts.size:
        log_rates = np.log10(rates)
        slopes = (curve[starts + window] - curve[starts]) / (log_rates[starts + window] - log_rates[starts])
        suggested = float(rates[int(starts[np.argmin(slopes)]) + window // 2])
    return LRFinderResult(
        lrs=lrs,
        losses=raw[:count],
        smoothed=smooth[:count],
        suggested_lr=suggested,
        lr_at_min=lr_at_min,
        diverged_at=diverged_at,
        method=method,
    )


__all__ = ["PROBE_SIZE", "EarlyStopping", "History", "LRFinderResult", "evaluate", "fit", "lr_find"]
