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


# ---------------------------------------------------------------------------------------------------
# Loss surfaces
# ---------------------------------------------------------------------------------------------------


@dataclass
class SurfaceGrid:
    """Values of a surface on a grid: ``X``, ``Y`` from ``np.meshgrid(x, y)`` (``indexing="xy"``: rows
    follow y, columns follow x) and ``Z[i, j] = f(X[i, j], Y[i, j])``; ``minima`` are the known minimizers
    and ``f_min`` the lowest value there (the grid's lowest when none is known): the reference of the
    "loss above the minimum" plots."""

    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    minima: np.ndarray
    name: str
    f_min: float


def surface_grid(
    surface,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    n: int = 200,
) -> SurfaceGrid:
    """Evaluate ``surface`` on an n×n grid over its bounds, or over ``xlim`` × ``ylim`` when given."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"surface_grid: n={n!r} must be an integer ≥ 2, e.g. 200")
    (x0, x1), (y0, y1) = _bounds(surface)
    x0, x1 = xlim if xlim is not None else (x0, x1)
    y0, y1 = ylim if ylim is not None else (y0, y1)
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    with np.errstate(over="ignore", invalid="ignore"):
        Z = np.asarray(surface.value(np.column_stack([X.ravel(), Y.ravel()])), dtype=float).reshape(X.shape)
    minima = np.asarray(surface.minima, dtype=float).reshape(-1, 2)
    if len(minima):
        f_min = float(np.min(surface.value(minima)))
    else:
        f_min = float(np.nanmin(np.where(np.isfinite(Z), Z, np.nan)))
    return SurfaceGrid(X, Y, Z, minima, _surface_name(surface), f_min)


@dataclass
class ExplainStudy:
    """The first steps of one optimizer on a surface: the ``trace`` table, the path θ₀ … θ_T, the update
    equations, and a zoomed ``grid`` around the path."""

    optimizer: str
    equations: str
    trace: optim.Trace
    path: np.ndarray
    grid: SurfaceGrid
    velocity_key: str | None
    scale_key: str | None


_VELOCITY_KEYS = ("m_hat", "velocity", "momentum_buffer", "m")
_SCALE_KEYS = ("v_hat", "square_avg", "sum_sq", "v")


def explain(
    quick: bool = False,
    optimizer: str | optim.Optimizer = "adam",
    surface="rosenbrock",
    steps: int | None = None,
    start: tuple[float, float] | None = None,
) -> ExplainStudy:
    """Trace ``optimizer`` (a name with the study's default rate, or an instance) for its first ``steps``
    steps on ``surface``: every intermediate quantity (``dl.optim.trace``) and the points it visits."""
    surf = _surface(surface)
    opt = _optimizer(optimizer, _EXPLAIN_LR)
    steps = (6 if quick else 10) if steps is None else steps
    theta0 = np.asarray(surf.start if start is None else start, dtype=float)
    record = optim.trace(opt, surf.grad, theta0, steps=steps)
    thetas = record.column("theta")
    path = np.vstack([thetas, thetas[-1] + record.column("update")[-1]])
    lo, hi = path.min(axis=0), path.max(axis=0)
    pad = np.maximum(0.35 * (hi - lo), 0.1)
    grid = surface_grid(
        surf, (lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]), n=80 if quick else 160
    )
    columns = record.columns
    velocity = next((k for k in _VELOCITY_KEYS if k in columns), None)
    scale = next((k for k in _SCALE_KEYS if k in columns), None)
    return ExplainStudy(type(opt).__name__, opt.describe(), record, path, grid, velocity, scale)


_EXPLAIN_LR = {
    "gd": 1e-3,
    "momentum": 1e-3,
    "nesterov": 5e-4,
    "adagrad": 0.2,
    "adadelta": 1.0,
    "rmsprop": 0.05,
    "adam": 0.1,
    "adamw": 0.1,
    "nadam": 0.1,
}


def _optimizer(spec: str | optim.Optimizer, default_lrs: dict[str, float]) -> optim.Optimizer:
    """An optimizer from a name (with the study's learning rate for it) or the instance itself."""
    if isinstance(spec, optim.Optimizer):
        return spec
    key = str(spec).lower()
    if key not in optim.OPTIMIZERS or key not in default_lrs:
        known = ", ".join(k for k in optim.OPTIMIZERS if k in default_lrs)
        raise ValueError(f"unknown optimizer {spec!r} for this study; known: {known}")
    return optim.make_optimizer(key, lr=default_lrs[key])


def _surface(surface):
    """A surface object from its name (``dl.surfaces.get``) or the object itself."""
    if not isinstance(surface, str):
        return surface
    from descentlab import surfaces

    return surfaces.get(surface)


def _bounds(surface) -> tuple[tuple[float, float], tuple[float, float]]:
    bounds = np.asarray(surface.bounds, dtype=float).reshape(2, 2)
    return (float(bounds[0, 0]), float(bounds[0, 1])), (float(bounds[1, 0]), float(bounds[1, 1]))


def _surface_name(surface) -> str:
    return str(getattr(surface, "name", type(surface).__name__))


# ---------------------------------------------------------------------------------------------------
# Networks: initialization
# ---------------------------------------------------------------------------------------------------


@dataclass
class InitRun:
    """One initialization: the cost every recorded iteration, the final training accuracy, P(y = 1) on
    the study's grid after training, and, at initialization, every hidden layer's activations and every
    weight matrix's gradient entries (for histograms)."""

    label: str
    init: str
    iterations: np.ndarray
    losses: np.ndarray
    accuracy: float
    boundary: np.ndarray
    activations: dict[str, np.ndarray]
    gradients: dict[str, np.ndarray]


@dataclass
class InitStudy:
    """The data (``X``, ``y``), the network sizes, the optimizer used and one :class:`InitRun` per
    initialization; ``grid_x``, ``grid_y`` (meshgrid, ``indexing="xy"``) span the data for the boundary."""

    X: np.ndarray
    y: np.ndarray
    sizes: list[int]
    optimizer: str
    runs: list[InitRun]
    grid_x: np.ndarray
    grid_y: np.ndarray


INIT_CASES = (
    ("zeros", "zeros: W = 0"),
    ("too_small", "too small: N(0, 0.01²)"),
    ("he", "He: N(0, 2/fan_in)"),
    ("too_large", "too large: N(0, 10²)"),
)


def initialization(quick: bool = False, seed: int = 0, dataset: str = "circles") -> InitStudy:
    """Train the same ReLU network from four initializations with the same full-batch GD.

    W = 0 keeps every unit of a layer identical (symmetry is never broken, and with ReLU nothing moves);
    N(0, 0.01²) shrinks the signal layer after layer, so activations and gradients vanish and learning
    starts slowly; He's N(0, 2/fan_in) keeps the activations' variance constant across ReLU layers; N(0, 10²)
    blows the logits up, the first losses are huge and the step sizes unusable.
    """
    from descentlab import data, nn

    n = 200 if quick else 400
    X, y = data.load(dataset, n_samples=n, seed=seed) if hasattr(data, "load") else data.circles(n, seed=seed)
    X = np.asarray(X, dtype=np.float32)
    sizes = [2, 16, 16, 16, 1] if quick else [2, 32, 32, 32, 1]
    iterations = 150 if quick else 2500
    every = max(1, iterations // 250)
    lr = 0.1
    pad = 0.25
    gx, gy = np.meshgrid(
        np.linspace(X[:, 0].min() - pad, X[:, 0].max() + pad, 60 if quick else 150),
        np.linspace(X[:, 1].min() - pad, X[:, 1].max() + pad, 60 if quick else 150),
    )
    grid_points = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    runs = []
    for init, label in INIT_CASES:
        net = nn.mlp(sizes, activation="relu", output="sigmoid", init=init, seed=seed)
        opt = optim.GD(lr=lr, nonfinite="skip")
        net.loss_and_grad(X, y, loss="bce")
        activations = {
            layer.name: np.array(layer.last_output, dtype=float).ravel()
            for layer in net.layers[:-1]
            if isinstance(layer, nn.Activation)
        }
        gradients = {
            record.layer: np.array(net.grads[record.slice], dtype=float) for record in net.layout if record.name == "W"
        }
        recorded, losses = [], []
        for t in range(iterations):
            loss = net.loss_and_grad(X, y, loss="bce")
            if t < 50 or t % every == 0 or t == iterations - 1:  # every early step: divergence is fast
                recorded.append(t)
                losses.append(loss)
            opt.step(net.params, net.grads)
        accuracy = float(np.mean(net.predict(X) == y))
        boundary = np.asarray(net.predict_proba(grid_points), dtype=float).reshape(gx.shape)
        runs.append(
            InitRun(
                label,
                init,
                np.array(recorded),
                np.array(losses, dtype=float),
                accuracy,
                boundary,
                activations,
                gradients,
            )
        )
    return InitStudy(X, np.asarray(y), sizes, f"GD(lr={lr:g}), full batch, {iterations} iterations", runs, gx, gy)
