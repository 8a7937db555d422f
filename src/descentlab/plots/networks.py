"""Figures of network training: initialization, batch regimes, batch norm, range test, optimizer health."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from descentlab.plots.style import colour, colours, new_figure
from descentlab.studies import InitStudy

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
        cost.plot(
            run.iterations[finite],
            run.losses[finite],
            color=tint,
            lw=1.8,
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


__all__ = ["decision_boundary", "initialization"]
