"""The computations behind the atlas figures: each study returns arrays in a small record, never a picture.

Every study takes ``quick`` (a small version that runs in well under a second, for tests) and, where it
draws random numbers, a ``seed``. ``descentlab.plots`` draws the records; ``descentlab.atlas`` pairs each
study with its figure and the sentences that say what to notice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from descentlab import optim
from descentlab.optim import schedules as sch

# ---------------------------------------------------------------------------------------------------
# Learning-rate schedules
# ---------------------------------------------------------------------------------------------------


@dataclass
class ScheduleCurves:
    """α_t for each schedule over ``steps``; ``plateau_metric`` is the loss ReduceOnPlateau observed and
    ``plateau_reductions`` the steps at which it cut the rate."""

    steps: np.ndarray
    lrs: dict[str, np.ndarray]
    plateau_metric: np.ndarray
    plateau_reductions: np.ndarray


def schedules(quick: bool = False, lr0: float = 0.1, seed: int = 0) -> ScheduleCurves:
    """Every schedule of :mod:`descentlab.optim.schedules`, started at ``lr0``, over the same steps.

    ReduceOnPlateau observes a synthetic loss that falls as e^(−t/τ) and then flattens (with a little
    noise drawn from ``seed``), so its cuts happen where a real run would stall.
    """
    lr0 = float(lr0)
    if not lr0 > 0:
        raise ValueError(f"schedules: lr0={lr0!r} must be > 0, e.g. 0.1")
    n = 100 if quick else 400
    steps = np.arange(n)
    every = n // 5
    table: dict[str, sch.Schedule] = {
        "Constant": sch.Constant(lr0),
        f"Step (×0.5 every {every})": sch.Step(lr0, factor=0.5, every=every),
        "Exponential (k = 5/T)": sch.Exponential(lr0, k=5.0 / n),
        "InverseTime (k = 20/T)": sch.InverseTime(lr0, k=20.0 / n),
        "LinearToTau (τ = T/2)": sch.LinearToTau(lr0, tau=n // 2),
        "Cosine (T)": sch.Cosine(lr0, steps=n),
        "Warmup (T/10) → Cosine": sch.Warmup(sch.Cosine(lr0, steps=n - n // 10), steps=n // 10),
    }
    lrs = {name: s.preview(n) for name, s in table.items()}

    rng = np.random.default_rng(seed)
    metric = 0.2 + 0.8 * np.exp(-steps / (n / 8)) + 0.003 * rng.standard_normal(n)
    plateau = sch.ReduceOnPlateau(lr0, factor=0.5, patience=n // 10)
    plateau_lr = np.empty(n)
    reductions = []
    for t in steps:
        plateau_lr[t] = plateau(int(t))
        if plateau.observe(metric[t]):
            reductions.append(int(t) + 1)
    lrs[f"ReduceOnPlateau (×0.5, patience {n // 10})"] = plateau_lr
    return ScheduleCurves(steps, lrs, metric, np.array(reductions, dtype=int))


# ---------------------------------------------------------------------------------------------------
# Exponentially weighted averages
# ---------------------------------------------------------------------------------------------------


@dataclass
class EWAStudy:
    """A noisy daily series (``series`` around ``signal``) and its EWA for each β, with
    (``corrected[β]``) and without (``raw[β]``) bias correction."""

    days: np.ndarray
    series: np.ndarray
    signal: np.ndarray
    betas: tuple[float, ...]
    corrected: dict[float, np.ndarray]
    raw: dict[float, np.ndarray]


def ewa(quick: bool = False, betas: tuple[float, ...] = (0.5, 0.9, 0.98), seed: int = 0) -> EWAStudy:
    """Smooth a seasonal temperature-like series v = β v + (1 − β) x for each β, with and without the
    1/(1 − βᵗ) correction. Larger β averages about 1/(1 − β) days: smoother, but later."""
    n = 120 if quick else 365
    days = np.arange(1, n + 1)
    rng = np.random.default_rng(seed)
    signal = 12.0 + 10.0 * np.sin(2 * np.pi * (days - 100) / 365.0)
    series = signal + 3.0 * rng.standard_normal(n)
    betas = tuple(float(b) for b in betas)
    corrected = {b: optim.EWA(b, bias_correction=True).smooth(series) for b in betas}
    raw = {b: optim.EWA(b, bias_correction=False).smooth(series) for b in betas}
    return EWAStudy(days, series, signal, betas, corrected, raw)


# ---------------------------------------------------------------------------------------------------
# AdaGrad's shrinking step vs RMSprop / AdaDelta
# ---------------------------------------------------------------------------------------------------


@dataclass
class EffectiveStepStudy:
    """Effective step |Δθ|/|g| per step and per coordinate (``effective[name]`` of shape (steps, 2)) for a
    gradient stream whose scale drops by ``drop`` at step ``switch`` (a plateau after a steep region)."""

    steps: np.ndarray
    grads: np.ndarray
    switch: int
    drop: float
    effective: dict[str, np.ndarray]
    hyperparameters: dict[str, dict[str, float]]


def effective_step(quick: bool = False, seed: int = 0) -> EffectiveStepStudy:
    """Feed the same noisy gradients to AdaGrad, RMSprop and AdaDelta and record the step they take per
    unit of gradient (``dl.optim.trace``'s ``effective_step``).

    Coordinate 0 sees gradients of size ~1, coordinate 1 of size ~0.01; halfway, both shrink 10×.
    AdaGrad divides by √(Σg²), which only grows: its step decays like 1/√t and never recovers when the
    gradients shrink. RMSprop's and AdaDelta's decaying averages forget, so their steps rise again.
    """
    n = 120 if quick else 600
    switch, drop = n // 2, 0.1
    rng = np.random.default_rng(seed)
    scale = np.where(np.arange(n) < switch, 1.0, drop)[:, None] * np.array([1.0, 0.01])
    grads = scale * (1.0 + 0.3 * rng.standard_normal((n, 2)))
    runs = {
        "AdaGrad": optim.AdaGrad(lr=0.1),
        "RMSprop": optim.RMSprop(lr=0.01, beta=0.9),
        "AdaDelta": optim.AdaDelta(lr=1.0, rho=0.9),
    }
    effective = {}
    for name, opt in runs.items():
        record = optim.trace(opt, list(grads), np.zeros(2), steps=n)
        effective[name] = record.column("effective_step")
    hyper = {
        name: {k: v for k, v in opt.hyperparameters().items() if k in ("lr", "beta", "rho", "eps")}
        for name, opt in runs.items()
    }
    return EffectiveStepStudy(np.arange(1, n + 1), grads, switch, drop, effective, hyper)


__all__ = [
    "EWAStudy",
    "EffectiveStepStudy",
    "ScheduleCurves",
    "effective_step",
    "ewa",
    "schedules",
]
