"""One training run of the Train page, advanced epoch by epoch so the page can play, pause and step it.

The run is the library's training step written out — batches → ``net.loss_and_grad`` → clip → schedule →
``optimizer.step`` — because the page needs to stop between epochs and look inside (decision boundary,
per-layer gradient norms); every piece of it is a public descentlab call. A run belongs to one page
connection and holds all its own state, so runs never share anything.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from descentlab import data, nn, optim
from descentlab.web.builders import build_clipper, build_optimizer, build_schedule, clip_text, schedule_text
from descentlab.web.encoding import rounded, rounded_grid
from descentlab.web.notes import OPTIMIZER_NOTES, train_note
from descentlab.web.schemas import LIMITS, TrainConfig

OUTPUT_FOR_LOSS = {"bce": ("sigmoid", 1), "ce": ("softmax", 2), "mse": ("linear", 1)}
# Between frames the run does about this many optimizer steps (at least one epoch), so full-batch runs
# animate many epochs per frame and batch-size-1 runs one epoch per frame.
STEPS_PER_FRAME = 25


class TrainingRun:
    """A network, its data and its optimizer, with the history the page draws.

    ``status`` is ``"ready"`` (nothing run yet), ``"running"``, ``"finished"`` (all epochs done) or
    ``"diverged"`` (a batch loss, a gradient, the weights or an epoch's loss became NaN/Inf; ``message`` says
    what to change). A diverged run is put back to the weights it had at the start of that epoch, so the page
    shows the model from before things went wrong rather than NaN.
    """

    def __init__(self, config: TrainConfig, resolution: int = LIMITS.boundary_resolution) -> None:
        self.config = config
        X, y = data.load(config.dataset, n_samples=config.n_samples, noise=config.noise, seed=config.seed)
        (self.X_train, self.y_train), (self.X_val, self.y_val) = data.train_val_split(
            X, y, fraction=config.validation_fraction, seed=config.seed
        )
        output, width = OUTPUT_FOR_LOSS[config.loss]
        self.net = nn.mlp(
            [2, *config.hidden, width],
            activation=config.activation,
            output=output,
            init=config.init,
            seed=config.seed,
            batch_norm=config.batch_norm,
        )
        self.optimizer = build_optimizer(config.optimizer)
        self.schedule = build_schedule(config.optimizer)
        self.clip = build_clipper(config.optimizer.clip)
        self.batch_rng = np.random.default_rng(config.seed)
        self.epoch = 0
        self.step = 0
        self.status = "ready"
        self.message = ""
        self.history: dict[str, list[float]] = {
            "epoch": [],
            "train_loss": [],
            "val_loss": [],
            "train_accuracy": [],
            "val_accuracy": [],
            "lr": [],
        }
        self.layer_names = list(self.net.layer_grad_norms())
        self.grad_norm_history: dict[str, list[float]] = {name: [] for name in self.layer_names}
        self._last_grad_norms = dict.fromkeys(self.layer_names, 0.0)
        lo = np.minimum(self.X_train.min(axis=0), self.X_val.min(axis=0)) - 0.5
        hi = np.maximum(self.X_train.max(axis=0), self.X_val.max(axis=0)) + 0.5
        self.grid_x = np.linspace(lo[0], hi[0], resolution)
        self.grid_y = np.linspace(lo[1], hi[1], resolution)
        gx, gy = np.meshgrid(self.grid_x, self.grid_y)  # 'xy' indexing: row i is y[i], column j is x[j]
        self._grid_points = np.column_stack([gx.ravel(), gy.ravel()])
        self._frame_start = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.config.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.status in ("finished", "diverged")

    def epochs_per_frame(self) -> int:
        return max(1, STEPS_PER_FRAME // self.steps_per_epoch)

    # -- running -------------------------------------------------------------------------------------------
    def run_epochs(self, epochs: int) -> dict[str, Any]:
        """Train up to ``epochs`` more epochs (fewer when the run ends) and return the frame for the page."""
        # Overflow on the way to divergence is expected here; non-finite values are detected and reported.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for _ in range(epochs):
                if self.done:
                    break
                self.status = "running"
                good = self._weights()
                problem = self._train_epoch()
                if not problem:
                    losses = self._losses()
                    problem = self._not_finite_after_epoch(losses)
                if problem:
                    self._diverge(problem, good)
                    break
                self.epoch += 1
                self._record_epoch(*losses)
                if self.epoch >= self.config.epochs:
                    self.status = "finished"
            return self.frame()

    def _train_epoch(self) -> str:
        """One pass over the training set; what stopped it ("" if nothing did)."""
        loss_name = self.config.loss
        for index in data.batches(len(self.y_train), batch_size=self.config.batch_size, seed=self.batch_rng):
            loss = self.net.loss_and_grad(self.X_train[index], self.y_train[index], loss=loss_name)
            if not math.isfinite(loss):
                return f"the loss became {loss} at step {self.step + 1}"
            try:
                if self.clip is not None:
                    self.clip(self.net.grads)
                self.optimizer.lr = self.schedule(self.step)
                self.optimizer.step(self.net.params, self.net.grads)
            except optim.NonFiniteGradientError:
                return f"the gradient became NaN/Inf at step {self.step + 1}"
            self.step += 1
        self._last_grad_norms = {
            name: math.sqrt(sum(v * v for v in arrays.values())) for name, arrays in self.net.layer_grad_norms().items()
        }
        return ""

    def _losses(self) -> tuple[float, float]:
        loss_name = self.config.loss
        return (
            self.net.loss(self.X_train, self.y_train, loss=loss_name),
            self.net.loss(self.X_val, self.y_val, loss=loss_name),
        )

    def _not_finite_after_epoch(self, losses: tuple[float, float]) -> str:
        """The last step of an epoch can overflow the weights without any batch loss showing it."""
        if not np.isfinite(self.net.params).all():
            return f"the weights became NaN/Inf at step {self.step}"
        for name, loss in zip(("training", "validation"), losses, strict=True):
            if not math.isfinite(loss):
                return f"the {name} loss became {loss} after step {self.step}"
        return ""

    def _weights(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Copies of θ and of the batch-norm running averages, to go back to if the epoch diverges."""
        return self.net.params.copy(), {key: array.copy() for key, array in self.net.state_arrays().items()}

    def _diverge(self, what: str, good: tuple[np.ndarray, dict[str, np.ndarray]]) -> None:
        params, state = good
        np.copyto(self.net.params, params)
        for key, array in self.net.state_arrays().items():
            np.copyto(array, state[key])
        shown = f"the end of epoch {self.epoch}" if self.epoch else "before training"
        self.status = "diverged"
        self.message = (
            f"Training diverged: {what}. Lower the learning rate, clip the gradient, or use a better initialization. "
            f"The plots show the weights from {shown}."
        )

    def _record_epoch(self, train_loss: float, val_loss: float) -> None:
        history = self.history
        history["epoch"].append(self.epoch)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["train_accuracy"].append(self._accuracy(self.X_train, self.y_train))
        history["val_accuracy"].append(self._accuracy(self.X_val, self.y_val))
        history["lr"].append(self.optimizer.lr)
        for name in self.layer_names:
            self.grad_norm_history[name].append(self._last_grad_norms[name])

    def _accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        predicted = (self._class_one_probability(X) >= 0.5).astype(np.intp)
        return float(np.mean(predicted == y))

    def _class_one_probability(self, X: np.ndarray) -> np.ndarray:
        """P(class 1 | x) for sigmoid and softmax heads; the clipped output for a linear (MSE) head."""
        if self.config.loss == "bce":
            return self.net.predict_proba(X)
        if self.config.loss == "ce":
            return self.net.predict_proba(X)[:, 1]
        return np.clip(self.net.predict(X), 0.0, 1.0)

    # -- what the page receives --------------------------------------------------------------------------
    def frame(self) -> dict[str, Any]:
        """The history since the previous frame, the decision boundary now, and the current equations."""
        start = self._frame_start
        self._frame_start = len(self.history["epoch"])
        probability = self._class_one_probability(self._grid_points).reshape(len(self.grid_y), len(self.grid_x))
        return {
            "type": "frame",
            "status": self.status,
            "message": self.message,
            "epoch": self.epoch,
            "step": self.step,
            "history": {key: rounded(values[start:]) for key, values in self.history.items()},
            "grad_norms": {name: rounded(values[start:]) for name, values in self.grad_norm_history.items()},
            "boundary": rounded_grid(probability, 3),
            "equations": self.optimizer.describe(),
        }

    def introduction(self) -> dict[str, Any]:
        """Everything the page draws once per run: the points, the grid axes, the layers, the notes."""
        self._frame_start = 0
        spec = self.config.optimizer
        return {
            "type": "ready",
            "train": _points(self.X_train, self.y_train),
            "val": _points(self.X_val, self.y_val),
            "grid": {"x": rounded(self.grid_x), "y": rounded(self.grid_y)},
            "layers": self.layer_names,
            "epochs": self.config.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "parameters": self.net.n_params,
            "explain": {
                "equations": self.optimizer.describe(),
                "schedule": schedule_text(self.schedule),
                "clip": clip_text(spec.clip),
                "note": OPTIMIZER_NOTES[spec.optimizer]
                + " "
                + train_note(self.config.init, self.config.batch_size, self.config.batch_norm),
            },
            "frame": self.frame(),
        }


def _points(X: np.ndarray, y: np.ndarray) -> dict[str, list]:
    return {"x": rounded(X[:, 0]), "y": rounded(X[:, 1]), "label": [int(v) for v in y]}
