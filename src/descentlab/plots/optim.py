"""Figures of the optimizer core on its own: schedules, exponentially weighted averages, adaptive steps."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from descentlab.plots.style import colour, colours, new_figure
from descentlab.studies import EffectiveStepStudy, EWAStudy, ScheduleCurves


def schedules(result: ScheduleCurves) -> Figure:
    """Every schedule's learning rate against the step, on a linear and on a log scale; the steps where
    ReduceOnPlateau cut the rate as vertical lines, when the record has that schedule."""
    fig = new_figure(12, 4.8)
    linear, log = fig.subplots(1, 2)
    palette = colours(list(result.lrs))
    for name, lr in result.lrs.items():
        style = "--" if name.startswith("ReduceOnPlateau") else "-"
        for ax in (linear, log):
            ax.plot(result.steps, lr, style, color=palette[name], lw=1.8, label=name)
    plateau_name = next((n for n in result.lrs if n.startswith("ReduceOnPlateau")), None)
    if plateau_name is not None:
        for t in result.plateau_reductions:
            linear.axvline(t, color=palette[plateau_name], lw=0.6, alpha=0.5)
    linear.set(xlabel="step t", ylabel="learning rate α_t", title="Learning rate over training (linear scale)")
    log.set(
        xlabel="step t",
        ylabel="learning rate α_t (log scale)",
        yscale="log",
        title="Same curves, log scale: how many decades each one falls",
    )
    positive = [float(np.min(v[v > 0])) for v in result.lrs.values() if np.any(v > 0)]
    if positive:  # only positive rates have a place on a log axis
        log.set_ylim(bottom=max(1e-5, min(positive)))
    linear.legend(fontsize=8, loc="upper right")
    fig.suptitle("Schedules: all start at the same α₀; they differ in when and how fast they cool down")
    return fig


def ewa(result: EWAStudy) -> Figure:
    """One panel per β: the noisy series, the true signal, and the EWA with and without bias correction."""
    fig = new_figure(5 * len(result.betas), 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(result.betas), sharey=True))
    for i, (ax, beta) in enumerate(zip(axes, result.betas, strict=True)):
        ax.plot(result.days, result.series, ".", color="#9e9e9e", ms=3, label="daily value xₜ")
        ax.plot(result.days, result.signal, color="black", lw=1, alpha=0.6, label="underlying signal")
        ax.plot(
            result.days, result.raw[beta], color=colour("raw", 1), lw=1.8, ls="--", label="EWA vₜ (no bias correction)"
        )
        ax.plot(result.days, result.corrected[beta], color=colour("corrected", 2), lw=1.8, label="EWA vₜ / (1 − βᵗ)")
        ax.set(title=f"β = {beta:g}: averages ≈ {1 / (1 - beta):.0f} values", xlabel="day t")
        if i == 0:
            ax.set_ylabel("value (e.g. °C)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=9)
    fig.suptitle("Larger β: smoother but later; without correction the average starts near 0 (bias toward v₀ = 0)")
    return fig


def effective_step(result: EffectiveStepStudy) -> Figure:
    """Effective step |Δθ|/|g| per coordinate over time, log scale, with the gradient drop marked."""
    fig = new_figure(12, 4.8)
    axes = fig.subplots(1, 2, sharey=True)
    labels = ("coordinate 1: large gradients (~1)", "coordinate 2: small gradients (~0.01)")
    for k, ax in enumerate(axes):
        for name, eff in result.effective.items():
            hp = ", ".join(f"{key}={value:g}" for key, value in result.hyperparameters[name].items() if key != "eps")
            ax.plot(result.steps, eff[:, k], color=colour(name), lw=1.6, label=f"{name} ({hp})")
        ax.axvline(result.switch, color="black", ls=":", lw=1)
        ax.annotate(
            f"gradients shrink ×{result.drop:g}",
            (result.switch, 0.95),
            xycoords=("data", "axes fraction"),
            xytext=(5, 0),
            textcoords="offset points",
            va="top",
            fontsize=8,
        )
        ax.set(xlabel="step t", yscale="log", title=labels[k])
    axes[0].set_ylabel("effective step |Δθ| / |g| (log scale)")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("AdaGrad's step only shrinks (1/√Σg²); RMSprop and AdaDelta forget old gradients and recover")
    return fig


__all__ = ["effective_step", "ewa", "schedules"]
