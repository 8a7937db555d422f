"""Figures of network training: initialization, batch regimes, batch norm, range test, optimizer health."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from descentlab.plots.style import colour, colours, new_figure
from descentlab.studies import InitStudy, RangeTestStudy, TrainingCurves

_CLASS_COLOURS = ("#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828")


def decision_boundary(
    ax: Axes, grid_x: np.ndarray, grid_y: np.ndarray, proba: np.ndarray, X: np.ndarray, y: np.ndarray
) -> None:
    """P(y = 1) shaded on the grid, the 0.5 contour (the boundary) in black, and the data coloured by class."""
    ax.contourf(grid_x, grid_y, np.clip(proba, 0, 1), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
    if np.nanmin(proba) < 0.5 < np.nanmax(proba):
        ax.contour(grid_x, grid_y, proba, levels=[0.5], colors="black", linewidths=1.2)
    for label in np.unique(y):
        members = y == label
        ax.scatter(
            X[members, 0],
            X[members, 1],
            s=7,
            color=_CLASS_COLOURS[int(label) % 5],
            edgecolors="none",
            label=f"class {label}",
        )
    ax.set(xlabel="x₁", ylabel="x₂", xlim=(grid_x.min(), grid_x.max()), ylim=(grid_y.min(), grid_y.max()))


def _histograms(ax: Axes, values: dict[str, np.ndarray], what: str) -> None:
    """One step histogram per layer, each with its standard deviation in the legend."""
    palette = colours(list(values))
    finite = [v[np.isfinite(v)] for v in values.values()]
    everything = np.concatenate(finite) if finite else np.zeros(1)
    spread = float(np.max(np.abs(everything))) if everything.size else 0.0
    edges = np.linspace(-spread, spread, 41) if spread > 0 else np.linspace(-1, 1, 41)
    if what == "activation" and spread > 0:
        edges = np.linspace(0, spread, 41)
    for name, v in values.items():
        v = v[np.isfinite(v)]
        ax.hist(v, bins=edges, histtype="step", lw=1.4, color=palette[name], label=f"{name}: std {v.std():.2g}")
    ax.set(yscale="log", xlabel=f"{what} value", ylabel="count (log)")
    ax.legend(fontsize=7, loc="upper right")


def initialization(result: InitStudy) -> Figure:
    """Cost curves for every initialization, the decision boundary each one learned, and per-layer
    histograms of activations and weight gradients at initialization."""
    n = len(result.runs)
    mosaic = [
        ["cost", "cost", "b0", "b1"],
        ["cost", "cost", "b2", "b3"],
        [f"a{i}" for i in range(n)],
        [f"g{i}" for i in range(n)],
    ]
    fig = new_figure(17, 15)
    axes = fig.subplot_mosaic(mosaic)
    cost = axes["cost"]
    for i, run in enumerate(result.runs):
        tint = colour(run.label, i)
        finite = np.isfinite(run.losses)
        # W = 0 never moves off ln 2, where "too small" also stalls: dashed and on top, both stay visible.
        zeros = run.init == "zeros"
        cost.plot(
            run.iterations[finite],
            run.losses[finite],
            "--" if zeros else "-",
            color=tint,
            lw=2.2 if zeros else 1.8,
            zorder=3 if zeros else 2,
            label=f"{run.label} → train accuracy {run.accuracy:.0%}",
        )
        if not finite.all():
            stop = int(np.flatnonzero(~finite)[0])
            at = run.iterations[max(stop - 1, 0)]
            last = run.losses[max(stop - 1, 0)]
            cost.plot(at, last, "X", ms=12, color="#d50000", mec="black")
            cost.annotate(
                f"diverged (loss NaN) at iteration {run.iterations[stop]}",
                (at, last),
                xytext=(8, 0),
                textcoords="offset points",
                fontsize=8,
                color="#b71c1c",
            )
        boundary = axes[f"b{i}"]
        decision_boundary(boundary, result.grid_x, result.grid_y, run.boundary, result.X, result.y)
        boundary.set_title(f"{run.label}\nboundary after training (accuracy {run.accuracy:.0%})", fontsize=10)
        _histograms(axes[f"a{i}"], run.activations, "activation")
        axes[f"a{i}"].set_title(f"{run.label}: hidden activations at init", fontsize=10)
        _histograms(axes[f"g{i}"], run.gradients, "∂J/∂W entry")
        axes[f"g{i}"].set_title(f"{run.label}: weight gradients at init", fontsize=10)
    cost.set(
        yscale="log",
        xlabel="iteration",
        ylabel="training cost J (binary cross-entropy, log scale)",
        title=f"Cost during training — network {result.sizes}, {result.optimizer}",
    )
    cost.legend(fontsize=9)
    fig.suptitle(
        "Initialization: zeros never break symmetry, tiny weights vanish, huge ones explode; "
        "He keeps every layer's scale",
        fontsize=13,
    )
    return fig


def _epoch_curves(ax: Axes, curves: TrainingCurves, field: str, ylabel: str, log: bool = False) -> None:
    """One line per history of a per-epoch field (``train_loss``, ``val_accuracy`` …); divergence marked."""
    palette = colours(list(curves.histories))
    for label, history in curves.histories.items():
        values = np.asarray(getattr(history, field), dtype=float)
        epochs = np.asarray(history.epoch[: len(values)]) + 1
        ax.plot(epochs, values, "-o", ms=2.5, color=palette[label], lw=1.6, label=label)
        if history.diverged and len(values):
            ax.plot(epochs[-1], values[-1], "X", ms=11, color="#d50000", mec="black", zorder=6)
            ax.annotate(
                "diverged",
                (epochs[-1], values[-1]),
                xytext=(-6, 6),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color="#b71c1c",
            )
    ax.set(xlabel="epoch (passes through the training set)", ylabel=ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize=8)


def batch_regimes(curves: TrainingCurves) -> Figure:
    """Batch, mini-batch and stochastic descent: every step's batch loss, loss per epoch, validation accuracy.

    Step i of a history is drawn at epoch i / ``history.config["steps_per_epoch"]`` (what ``fit`` records),
    so a run that stopped part-way through an epoch ends where it stopped."""
    per_epoch = {label: _steps_per_epoch("batch_regimes", label, h) for label, h in curves.histories.items()}
    fig = new_figure(17, 5)
    steps_ax, epoch_ax, acc_ax = fig.subplots(1, 3)
    palette = colours(list(curves.histories))
    for label, history in curves.histories.items():
        losses = np.asarray(history.step_loss, dtype=float)
        x = np.arange(len(losses)) / per_epoch[label]
        steps_ax.plot(
            x,
            losses,
            color=palette[label],
            lw=0.6 if per_epoch[label] > 1 else 1.8,
            alpha=0.25 if per_epoch[label] > 20 else 0.9,
            zorder=3 - np.log10(per_epoch[label]),  # the noisiest curve lowest, so that it hides none of the others
            label=f"{label}: {per_epoch[label]} steps per epoch",
        )
    steps_ax.set(
        yscale="log",
        xlabel="epoch (steps placed at their fraction of the epoch)",
        ylabel="loss on the step's batch (log scale)",
        title="Every step's batch loss: noisier as batches shrink",
    )
    steps_ax.set_ylim(bottom=1e-3)  # single samples can be fit almost exactly; their tiny losses are noise
    steps_ax.legend(fontsize=8)
    _epoch_curves(epoch_ax, curves, "train_loss", "training loss (mean over the epoch, log scale)", log=True)
    epoch_ax.set_title("Loss per epoch: smaller batches take more steps per pass")
    _epoch_curves(acc_ax, curves, "val_accuracy", "validation accuracy")
    acc_ax.set_title("Validation accuracy")
    fig.suptitle(f"Batch vs mini-batch vs stochastic gradient descent — {curves.problem}")
    return fig


def batch_norm(curves: TrainingCurves) -> Figure:
    """Training with and without batch norm: loss, validation accuracy, and per-layer gradient norms.

    The norms are ``history.grad_norms``: ‖∂J/∂θ_layer‖ over each dense layer's W and b (W alone where the
    layer has no bias, as before a batch norm). A history without them is named in the panel: trained
    without diagnostics, or diverged before its first epoch ended."""
    fig = new_figure(17, 5)
    loss_ax, acc_ax, grad_ax = fig.subplots(1, 3)
    _epoch_curves(loss_ax, curves, "train_loss", "training loss (log scale)", log=True)
    loss_ax.set_title("Training loss")
    _epoch_curves(acc_ax, curves, "val_accuracy", "validation accuracy")
    acc_ax.set_title("Validation accuracy")
    palette = colours(list(curves.histories))
    missing = []
    for label, history in curves.histories.items():
        layers = [name for name in history.grad_norms if name.startswith("dense") and history.grad_norms[name]]
        if not layers:
            missing.append(f"{label}: {_why_no_norms(history)}")
            continue
        depth = np.arange(len(layers))
        first = [history.grad_norms[name][0] for name in layers]
        last = [history.grad_norms[name][-1] for name in layers]
        grad_ax.plot(depth, first, "--o", ms=4, color=palette[label], lw=1.2, label=f"{label}: epoch 1")
        grad_ax.plot(depth, last, "-o", ms=4, color=palette[label], lw=1.8, label=f"{label}: last epoch")
        grad_ax.set_xticks(depth, layers, rotation=45, fontsize=8)
    grad_ax.set(
        xlabel="layer (input → output)",
        ylabel="‖∂J/∂θ_layer‖, θ_layer = W and b (log scale)",
        title="Gradient norm per dense layer: vanishing without BN",
    )
    if missing:
        grad_ax.text(0.5, 0.5, "\n".join(missing), transform=grad_ax.transAxes, ha="center", va="center", fontsize=9)
    if len(missing) < len(curves.histories):
        grad_ax.set_yscale("log")
        grad_ax.legend(fontsize=8)
    fig.suptitle(f"Batch normalization on vs off — {curves.problem}")
    return fig


def lr_range(study: RangeTestStudy) -> Figure:
    """The range test's loss against the learning rate (divergence and suggestion marked), and short
    trainings at the suggestion, a tenth of it and ten times it."""
    result = study.result
    fig = new_figure(15, 5.2)
    test_ax, check_ax = fig.subplots(1, 2)
    lrs = np.asarray(result.lrs, dtype=float)
    test_ax.plot(lrs, np.asarray(result.losses, dtype=float), color="#9e9e9e", lw=0.8, label="batch loss")
    test_ax.plot(
        lrs, np.asarray(result.smoothed, dtype=float), color="#0d47a1", lw=2, label="smoothed (EWA, bias-corrected)"
    )
    test_ax.axvline(
        result.suggested_lr, color="#2e7d32", lw=2, label=f"suggested α = {result.suggested_lr:.2g} ({result.method})"
    )
    test_ax.axvline(result.lr_at_min, color="black", ls=":", lw=1.2, label=f"lowest loss at α = {result.lr_at_min:.2g}")
    if result.diverged_at is not None:
        test_ax.axvline(
            result.diverged_at,
            color="#d50000",
            ls="--",
            lw=1.5,
            label=f"diverged at α = {result.diverged_at:.2g} (test stopped)",
        )
    finite = np.asarray(result.smoothed, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        test_ax.set_ylim(0, min(float(np.nanmax(result.losses)), 4 * float(finite.min()) + 1e-12) * 1.1)
    test_ax.set(
        xscale="log",
        xlabel="learning rate α (log scale, raised every step)",
        ylabel="training loss (cross-entropy)",
        title="Range test: loss while α grows exponentially",
    )
    test_ax.legend(fontsize=8)
    curves = TrainingCurves(study.check, study.problem)
    _epoch_curves(check_ax, curves, "val_loss", "validation loss (log scale)", log=True)
    check_ax.set_title("Check: short trainings around the suggestion")
    fig.suptitle(f"Learning-rate range test (Smith 2017) — {study.problem}")
    return fig


def health(curves: TrainingCurves) -> Figure:
    """Optimizer health per layer over training: gradient norm, update-to-parameter ratio, effective step.

    The effective step is drawn per layer from ``history.effective_step_by_layer`` when the history has it,
    otherwise as the median over all parameters (``history.effective_step["median"]``). Every history must
    carry these diagnostics (``fit(..., diagnostics=True)``, the default); a ``ValueError`` names one that
    does not. A history that diverged before its first epoch ended is named in the gradient panel."""
    for label, history in curves.histories.items():
        if not history.grad_norms:
            raise ValueError(f"health: history {label!r} has no diagnostics; train with fit(..., diagnostics=True)")
    fig = new_figure(17, 5.2)
    grad_ax, ratio_ax, step_ax = fig.subplots(1, 3)
    empty = [f"{label}: {_why_no_norms(history)}" for label, history in curves.histories.items() if not history.epoch]
    if empty:
        grad_ax.text(0.5, 0.5, "\n".join(empty), transform=grad_ax.transAxes, ha="center", va="center", fontsize=9)
    styles = ("-", "--", ":", "-.")
    style_names = ("solid", "dashed", "dotted", "dash-dot")
    labels = list(curves.histories)
    per_layer = False
    for k, (label, history) in enumerate(curves.histories.items()):
        style = styles[k % len(styles)]
        epochs = np.asarray(history.epoch) + 1
        layers = list(history.grad_norms)
        layer_colours = {name: colour(f"layer {name}", i) for i, name in enumerate(layers)}
        for name in layers:
            grad_ax.plot(
                epochs, history.grad_norms[name], style, color=layer_colours[name], lw=1.5, label=f"{name} ({label})"
            )
        for name, values in history.update_ratio.items():
            ratio_ax.plot(
                epochs, values, style, color=layer_colours.get(name, "black"), lw=1.5, label=f"{name} ({label})"
            )
        by_layer = getattr(history, "effective_step_by_layer", None)
        if by_layer:
            per_layer = True
            for name, values in by_layer.items():
                step_ax.plot(
                    epochs[: len(values)],
                    values,
                    style,
                    color=layer_colours.get(name, "black"),
                    lw=1.5,
                    label=f"{name} ({label})",
                )
        else:
            step_ax.plot(
                epochs, history.effective_step["median"], style, color=colour(label, k), lw=2, label=f"{label}: median"
            )
    ratio_ax.axhline(1e-3, color="black", lw=0.8, ls="--")
    ratio_ax.annotate(
        "≈ 1e-3: the usual healthy ratio", (1, 1e-3), xytext=(4, 4), textcoords="offset points", fontsize=8
    )
    grad_ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel="‖∂J/∂θ_layer‖ at the epoch's last step (log)",
        title="Gradient norm per layer",
    )
    ratio_ax.set(
        yscale="log", xlabel="epoch", ylabel="‖Δθ_layer‖ / ‖θ_layer‖ (log)", title="Update-to-parameter ratio per layer"
    )
    step_ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel=f"median |Δθᵢ| / |gᵢ| over {'a layer’s' if per_layer else 'all'} parameters (log)",
        title=f"Effective step |Δθᵢ|/|gᵢ|, median over {'each layer' if per_layer else 'all parameters'}",
    )
    grad_ax.legend(fontsize=7, ncol=2)
    step_ax.legend(fontsize=7, ncol=2 if per_layer else 1)
    key = ", ".join(f"{style} = {label}" for style, label in zip(style_names, labels, strict=False))
    fig.suptitle(f"Optimizer health — {curves.problem}; line style: {key}")
    return fig


def _steps_per_epoch(owner: str, label: str, history) -> int:
    """The steps per epoch ``fit`` recorded in ``history.config``; a hand-made history without it is refused."""
    steps = history.config.get("steps_per_epoch")
    if steps is None:
        raise ValueError(f"{owner}: history {label!r} has no config['steps_per_epoch']; draw histories returned by fit")
    return int(steps)


def _why_no_norms(history) -> str:
    """Why a history has no per-layer gradient norm to draw."""
    if not history.grad_norms:
        return "no diagnostics (train with fit(..., diagnostics=True))"
    if history.diverged:
        return "diverged before the first epoch ended"
    return "no epoch recorded"


def history(record, title: str = "Training") -> Figure:
    """One training run (a :class:`descentlab.train.History`): losses, accuracy, learning rate per step and
    gradient norm per layer — the figure ``descentlab train`` writes."""
    fig = new_figure(16, 9)
    (loss_ax, acc_ax), (lr_ax, grad_ax) = fig.subplots(2, 2)
    epochs = np.asarray(record.epoch) + 1
    loss_ax.plot(epochs, record.train_loss, "-o", ms=3, color=colour("train", 0), label="training")
    if record.val_loss:
        loss_ax.plot(epochs, record.val_loss, "-o", ms=3, color=colour("validation", 1), label="validation")
    if record.diverged and len(epochs):
        loss_ax.plot(epochs[-1], record.train_loss[-1], "X", ms=11, color="#d50000", mec="black", label="diverged")
    loss_ax.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)", title="Loss")
    loss_ax.legend(fontsize=8)
    if record.train_accuracy:
        acc_ax.plot(epochs, record.train_accuracy, "-o", ms=3, color=colour("train", 0), label="training")
    if record.val_accuracy:
        acc_ax.plot(epochs, record.val_accuracy, "-o", ms=3, color=colour("validation", 1), label="validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy (classification only)")
    if record.train_accuracy or record.val_accuracy:
        acc_ax.legend(fontsize=8)
    steps = np.arange(len(record.step_lr))
    lr_ax.plot(steps, record.step_lr, color="#37474f", lw=1.5)
    lr_ax.set(xlabel="step", ylabel="learning rate α_t", title="Learning rate at every step (schedule)")
    for i, (layer, norms) in enumerate(record.grad_norms.items()):
        grad_ax.plot(epochs[: len(norms)], norms, "-o", ms=3, color=colour(f"layer {layer}", i), label=layer)
    grad_ax.set(yscale="log", xlabel="epoch", ylabel="‖∂J/∂θ_layer‖ (log scale)", title="Gradient norm per layer")
    if record.grad_norms:
        grad_ax.legend(fontsize=8, ncol=2)
    reason = record.stopped_reason.split(":")[0]  # the headline; the full message is in history.json
    fig.suptitle(f"{title} — {reason}" if reason else title)
    return fig


__all__ = ["batch_norm", "batch_regimes", "decision_boundary", "health", "history", "initialization", "lr_range"]
