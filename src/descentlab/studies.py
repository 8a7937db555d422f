"""The computations behind the atlas figures: each study returns arrays in a small record, never a picture.

Every study takes ``quick`` (a small version that runs in well under a second, for tests) and, where it
draws random numbers, a ``seed``: an integer ≥ 0 or a ``numpy.random.Generator``, checked before any work.
``descentlab.plots`` draws the records; ``descentlab.atlas`` pairs each study with its figure and the
sentences that say what to notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from descentlab import optim
from descentlab._numbers import is_integer, is_real
from descentlab.optim import schedules as sch

#: What a study's ``seed`` may be.
Seed = int | np.random.Generator


def _seed(owner: str, seed: Seed) -> Seed:
    """``seed`` unchanged once checked: an integer ≥ 0 or a Generator (``np.random.default_rng`` takes both,
    and returns a Generator as it is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not is_integer(seed):
        raise TypeError(f"{owner}: seed={seed!r} must be an integer ≥ 0 or a numpy.random.Generator, e.g. seed=0")
    if seed < 0:
        raise ValueError(f"{owner}: seed={seed!r} must be ≥ 0 (or a numpy.random.Generator), e.g. seed=0")
    return int(seed)


def _integer_seed(owner: str, seed: Seed) -> int:
    """``seed`` as the integer that ``fit``, ``lr_find`` and the data splits take: an integer as given, and
    from a Generator one integer drawn from it (so the same Generator state gives the same study)."""
    seed = _seed(owner, seed)
    return int(seed.integers(2**63)) if isinstance(seed, np.random.Generator) else seed


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


def schedules(quick: bool = False, lr0: float = 0.1, seed: Seed = 0) -> ScheduleCurves:
    """Every schedule of :mod:`descentlab.optim.schedules`, started at ``lr0``, over the same steps.

    ReduceOnPlateau observes a synthetic loss that falls as e^(−t/τ) and then flattens (with a little
    noise drawn from ``seed``), so its cuts happen where a real run would stall.
    """
    lr0 = float(lr0)
    if not lr0 > 0:
        raise ValueError(f"schedules: lr0={lr0!r} must be > 0, e.g. 0.1")
    seed = _seed("schedules", seed)
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


def ewa(quick: bool = False, betas: float | Sequence[float] = (0.5, 0.9, 0.98), seed: Seed = 0) -> EWAStudy:
    """Smooth a seasonal temperature-like series v = β v + (1 − β) x for each β, with and without the
    1/(1 − βᵗ) correction. Larger β averages about 1/(1 − β) days: smoother, but later.

    ``betas`` is one β or several, each in [0, 1) and each once (one panel per β). The year starts in
    midsummer (≈ 22 °C), far from the v₀ = 0 every average starts from, so the uncorrected average's climb
    from 0 is plain to see."""
    betas = _betas(betas)
    seed = _seed("ewa", seed)
    n = 120 if quick else 365
    days = np.arange(1, n + 1)
    rng = np.random.default_rng(seed)
    signal = 12.0 + 10.0 * np.cos(2 * np.pi * (days - 1) / 365.0)
    series = signal + 3.0 * rng.standard_normal(n)
    corrected = {b: optim.EWA(b, bias_correction=True).smooth(series) for b in betas}
    raw = {b: optim.EWA(b, bias_correction=False).smooth(series) for b in betas}
    return EWAStudy(days, series, signal, betas, corrected, raw)


def _betas(betas: float | Sequence[float]) -> tuple[float, ...]:
    """The study's β values: one number or a non-empty sequence, each in [0, 1), none repeated."""
    if is_real(betas):
        values = [betas]
    else:
        try:
            values = list(betas)
        except TypeError:  # not a sequence at all
            values = []
    if not values or not all(is_real(b) and 0 <= b < 1 for b in values):
        raise ValueError(f"ewa: betas={betas!r} must name at least one β in [0, 1), e.g. (0.9,) or (0.5, 0.9, 0.98)")
    values = [float(b) for b in values]
    repeated = next((b for i, b in enumerate(values) if b in values[:i]), None)
    if repeated is not None:
        raise ValueError(f"ewa: β = {repeated:g} is named twice in betas={betas!r}; each β gets one panel")
    return tuple(values)


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


def effective_step(quick: bool = False, seed: Seed = 0) -> EffectiveStepStudy:
    """Feed the same noisy gradients to AdaGrad, RMSprop and AdaDelta and record the step they take per
    unit of gradient (``dl.optim.trace``'s ``effective_step``).

    Coordinate 0 sees gradients of size ~1, coordinate 1 of size ~0.01; halfway, both shrink 10×.
    AdaGrad divides by √(Σg²), which only grows: while the gradients keep their size Σg² grows like t and the
    step falls like 1/√t; once they shrink, Σg² barely grows any more, so the step stops falling, but it
    never rises again. RMSprop's and AdaDelta's decaying averages forget, so their steps rise again.
    """
    seed = _seed("effective_step", seed)
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


# ---------------------------------------------------------------------------------------------------
# Loss surfaces
# ---------------------------------------------------------------------------------------------------


@dataclass
class SurfaceGrid:
    """Values of a surface on a grid: ``X``, ``Y`` from ``np.meshgrid(x, y)`` (``indexing="xy"``: rows
    follow y, columns follow x) and ``Z[i, j] = f(X[i, j], Y[i, j])``; ``minima`` are the known minimizers
    and ``f_min`` = f* the value there: the reference of the "loss above the minimum" plots.

    A surface unbounded below (``saddle``, ``monkey_saddle``) has no minimum: ``f_min`` is then −inf, the
    surface's own ``minimum_value``, and ``has_minimum`` is False; no f − f* has a meaning there."""

    X: np.ndarray
    Y: np.ndarray
    Z: np.ndarray
    minima: np.ndarray
    name: str
    f_min: float

    @property
    def has_minimum(self) -> bool:
        """Whether f has a minimum, so that f − f* measures how far a run still is from it."""
        return bool(np.isfinite(self.f_min))

    @property
    def lowest(self) -> float:
        """The lowest finite value of f on the grid: the bottom of the view."""
        return float(np.nanmin(np.where(np.isfinite(self.Z), self.Z, np.nan)))


def surface_grid(
    surface,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    n: int = 200,
) -> SurfaceGrid:
    """``dl.surfaces.grid`` over the surface's bounds, or over ``xlim`` × ``ylim`` when given, with its
    known minima and f* (−inf for a surface unbounded below)."""
    from descentlab import surfaces

    surf = _surface(surface)
    (x0, x1), (y0, y1) = surf.bounds
    bounds = (xlim if xlim is not None else (x0, x1), ylim if ylim is not None else (y0, y1))
    X, Y, Z = surfaces.grid(surf, n, bounds=bounds)
    Z = np.asarray(Z, dtype=float)
    minima = np.asarray(surf.minima, dtype=float).reshape(-1, 2)
    return SurfaceGrid(X, Y, Z, minima, surf.name, float(surf.minimum_value))


@dataclass
class ExplainStudy:
    """The first steps of one optimizer on a surface: the ``trace`` table, the path θ₀ … θ_T, the update
    equations, and a zoomed ``grid`` around the path.

    ``arrows`` maps a label to the vectors drawn at each θ_t (shape ``(steps, 2)``): the direction the rule
    moves θ along before any per-coordinate division (−velocity, +velocity for the Sutskever form, whose
    velocity carries −α, −(g + βv) for Nesterov, −m̂, or −g for a method without a velocity), the size that
    divides each coordinate (√v̂, √s) and, for Newton, the step Δθ = −α p itself. ``curvatures`` are the
    eigenvalues of the Hessian Newton solved with at each θ_t (``None`` for first-order methods)."""

    optimizer: str
    equations: str
    trace: optim.Trace
    path: np.ndarray
    grid: SurfaceGrid
    velocity_key: str | None
    scale_key: str | None
    arrows: dict[str, np.ndarray]
    curvatures: np.ndarray | None


_VELOCITY_KEYS = ("m_hat", "velocity", "momentum_buffer", "m")
_SCALE_KEYS = ("v_hat", "square_avg", "sum_sq", "v")


def explain(
    quick: bool = False,
    optimizer: str | optim.Optimizer = "adam",
    surface="rosenbrock",
    steps: int | None = None,
    start: tuple[float, float] | None = None,
    lr: float | None = None,
) -> ExplainStudy:
    """Trace ``optimizer`` (a name with the study's default rate or ``lr``, or an instance) for its first
    ``steps`` steps on ``surface`` from ``start`` (default: the surface's): every intermediate quantity
    (``dl.optim.trace``) and the points it visits. Newton is given the surface's exact Hessian at every point
    (α = 1 by default: the full Newton step)."""
    surf = _surface(surface)
    opt = _optimizer(optimizer, _EXPLAIN_LR if lr is None else dict.fromkeys(_EXPLAIN_LR, lr))
    steps = (6 if quick else 10) if steps is None else _positive_int("explain", "steps", steps)
    theta0 = surf.start.copy() if start is None else _start("explain", start)
    newton = isinstance(opt, optim.Newton)
    hessian = (lambda theta: {"hessian": surf.hessian(theta)}) if newton else None
    record = optim.trace(opt, surf.grad, theta0, steps=steps, step_kwargs=hessian)
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
    curvatures = np.linalg.eigvalsh(record.column("hessian")) if newton else None
    label, direction = _direction(opt, record, velocity)
    arrows = {label: direction}
    if scale is not None:
        arrows[f"√{scale}: divides each coordinate"] = np.sqrt(np.maximum(record.column(scale), 0.0))
    if newton:
        arrows["Δθ = −α·p: the Newton step"] = record.column("update")
    return ExplainStudy(type(opt).__name__, opt.describe(), record, path, grid, velocity, scale, arrows, curvatures)


def _start(owner: str, start) -> np.ndarray:
    """A start point as a float array of shape (2,), refused with ``owner``'s name when it is not one finite
    point (checked before the first step, which would otherwise blame the learning rate)."""
    try:
        point = np.array(start, dtype=float)
    except (TypeError, ValueError):
        point = None
    if point is None or point.shape != (2,):
        raise ValueError(f"{owner}: start={start!r} must be one point (x, y) of two numbers, e.g. (-1.5, 2.0)")
    if not np.isfinite(point).all():
        raise ValueError(f"{owner}: start={start!r} must be finite, e.g. (-1.5, 2.0)")
    return point


def _direction(opt: optim.Optimizer, record: optim.Trace, velocity: str | None) -> tuple[str, np.ndarray]:
    """The explain figure's direction arrow and its label: the vector the rule moves θ along at each step,
    before any per-coordinate division, with its sign taken from the rule.

    Heavy-ball and EWA momentum step by θ ← θ − α v, so θ goes along −v; the Sutskever form keeps −α inside
    the velocity (θ ← θ + v), so θ goes along +v; Nesterov steps by −α(g + βv), not along −v alone. NAdam
    steps along a mix of m and g, so its m is labelled as what it is, the averaged gradient."""
    g = record.column("g")
    if velocity is None:
        return "−g: steepest descent", -g
    state = record.column(velocity)
    if isinstance(opt, optim.Momentum) and opt.form == "sutskever":
        return f"+{velocity} (it carries −α): where it pushes θ", state
    if isinstance(opt, optim.Nesterov):
        decayed = f"g + {opt.weight_decay:g}·θ" if opt.weight_decay else "g"
        push = -(g + opt.weight_decay * record.column("theta") + opt.beta * state)
        return f"−({decayed} + {opt.beta:g}·{velocity}): where it pushes θ", push
    if isinstance(opt, optim.NAdam):
        return f"−{velocity}: the averaged gradient (NAdam steps along a mix of it and g)", -state
    return f"−{velocity}: where it pushes θ", -state


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
    "newton": 1.0,
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
    """A surface from its name, or the surface itself (``dl.surfaces.get`` accepts both)."""
    from descentlab import surfaces

    return surfaces.get(surface)


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


def initialization(quick: bool = False, seed: Seed = 0, dataset: str = "circles") -> InitStudy:
    """Train the same ReLU network from four initializations with the same full-batch GD.

    W = 0 keeps every unit of a layer identical (symmetry is never broken, and with ReLU nothing moves);
    N(0, 0.01²) shrinks the signal layer after layer, so activations and gradients vanish and learning
    starts slowly; He's N(0, 2/fan_in) keeps the activations' variance constant across ReLU layers; N(0, 10²)
    blows the logits up, the first losses are huge and the step sizes unusable.

    ``dataset`` is a synthetic binary set with two features (its decision boundary is drawn): moons,
    circles, spirals or xor.
    """
    from descentlab import data

    planar = [name for name, info in data.DATASETS.items() if info.task == "binary" and info.n_features == 2]
    if dataset not in planar:
        raise ValueError(
            f"initialization: dataset={dataset!r} must be a 2-D binary set: {', '.join(planar)} "
            f"(the study draws each network's decision boundary in the plane)"
        )
    seed = _integer_seed("initialization", seed)
    n = 200 if quick else 400
    X, y = data.load(dataset, n_samples=n, seed=seed)
    X = np.asarray(X, dtype=np.float32)
    sizes = [2, 16, 16, 16, 1] if quick else [2, 32, 32, 32, 1]
    iterations = 60 if quick else 2500
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
        with np.errstate(over="ignore", invalid="ignore"):  # the too-large run is meant to overflow
            runs.append(_train_init(init, label, sizes, X, y, lr, iterations, every, grid_points, gx.shape, seed))
    return InitStudy(X, np.asarray(y), sizes, f"GD(lr={lr:g}), full batch, {iterations} iterations", runs, gx, gy)


def _train_init(init, label, sizes, X, y, lr, iterations, every, grid_points, grid_shape, seed) -> InitRun:
    from descentlab import nn

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
    boundary = np.asarray(net.predict_proba(grid_points), dtype=float).reshape(grid_shape)
    return InitRun(
        label, init, np.array(recorded), np.array(losses, dtype=float), accuracy, boundary, activations, gradients
    )


# ---------------------------------------------------------------------------------------------------
# Races on surfaces
# ---------------------------------------------------------------------------------------------------

#: Learning rates that make a fair race on the surfaces' own scales (tuned on Rosenbrock from its start).
RACE_LRS: dict[str, float] = {
    "gd": 1e-3,
    "momentum": 1e-3,
    "nesterov": 2e-4,
    "adagrad": 0.5,
    "adadelta": 1.0,
    "rmsprop": 1e-2,
    "adam": 5e-2,
    "adamw": 5e-2,
    "nadam": 5e-2,
    "newton": 1.0,
}
DEFAULT_RACERS = ("gd", "momentum", "nesterov", "rmsprop", "adam")


@dataclass
class RaceStudy:
    """A race (``dl.surfaces.race``'s result, with ``.runs[label]``), the contour grid and a title;
    ``endings`` says how each run ended (:func:`race_endings`)."""

    result: object
    grid: SurfaceGrid
    title: str

    @cached_property
    def endings(self) -> dict[str, list[str]]:
        # once per study: the CLI's table and the figure both read it
        return race_endings(self.result, view=self.grid)


#: The ending of a run that stopped where ∇f ≈ 0 but the Hessian has a negative eigenvalue.
NOT_A_MINIMUM = "stationary point, not a minimum"
#: The ending of a run on a surface with no minimum that went lower than every point of the view.
UNBOUNDED = "unbounded below: f fell under every value in view"
#: The ending of a run on a surface with no minimum that is still within the values of the view.
NO_MINIMUM = "ended in view; the surface has no minimum"


def race_endings(result, gtol: float = 1e-6, view: SurfaceGrid | None = None) -> dict[str, list[str]]:
    """How each start of each run of a race ended, in words (one string per start, by run label).

    ``"diverged at step t"``; ``"stationary point, not a minimum"`` when the run stopped where
    ‖∇f(θ_T)‖ ≤ ``gtol``·max(1, ‖∇f(θ₀)‖) but the Hessian there has a negative eigenvalue — a maximum or a
    saddle, which attract plain Newton as much as minima do (it solves ∇f = 0). On a surface with no
    minimum (unbounded below) a run that is not stationary has nothing to finish at: :data:`UNBOUNDED` when
    f(θ_T) is below every value of ``view`` (the figure's grid; default: the surface's bounds), otherwise
    :data:`NO_MINIMUM`. ``"finished"`` in every other case.
    """
    surface = result.surface
    bounded = bool(np.isfinite(surface.minimum_value))
    lowest = None if bounded else (view if view is not None else surface_grid(surface, n=100)).lowest
    endings = {}
    for name, run in result.runs.items():
        first, last = np.asarray(run.trajectory[0]), np.asarray(run.trajectory[-1])
        with np.errstate(all="ignore"):
            start_slope = np.linalg.norm(surface.grad(first), axis=-1)
            slope = np.linalg.norm(surface.grad(last), axis=-1)
            curvatures = np.linalg.eigvalsh(surface.hessian(last))[..., 0]
        stationary = slope <= gtol * np.maximum(1.0, start_slope)
        final = np.asarray(run.losses, dtype=float)[-1]
        statuses = []
        for at, still, curvature, f in zip(run.diverged_at, stationary, curvatures, final, strict=True):
            if at >= 0:
                statuses.append(f"diverged at step {at}")
            elif still and curvature < 0:
                statuses.append(NOT_A_MINIMUM)
            elif not bounded and not still:
                statuses.append(UNBOUNDED if f < lowest else NO_MINIMUM)
            else:
                statuses.append("finished")
        endings[name] = statuses
    return endings


def race(
    quick: bool = False,
    surface="rosenbrock",
    optimizers: Sequence[str] | Mapping[str, optim.Optimizer] = DEFAULT_RACERS,
    lr: float | None = None,
    steps: int | None = None,
    start: Sequence[float] | None = None,
) -> RaceStudy:
    """Race optimizers on a surface from the same start.

    ``optimizers`` is a list of names (each with its rate from :data:`RACE_LRS`, or ``lr`` for all), one
    name, or a mapping label → optimizer. ``steps`` defaults to 500 (150 when ``quick``); ``start`` to the
    surface's.
    """
    from descentlab import surfaces

    surf = _surface(surface)
    steps = (150 if quick else 500) if steps is None else _positive_int("race", "steps", steps)
    racers = _racers(optimizers, lr)
    theta0 = surf.start.copy() if start is None else _start("race", start)
    result = surfaces.race(surf, racers, start=theta0, steps=steps)
    if np.isfinite(surf.minimum_value):
        question = "who reaches the minimum, and how directly?"
    else:
        question = "f has no minimum: how fast does each run go downhill?"
    title = f"Race on {surf.name}: same start, {steps} steps — {question}"
    return RaceStudy(result, surface_grid(surf, n=120 if quick else 220), title)


def _racers(optimizers, lr: float | None) -> dict[str, optim.Optimizer]:
    if isinstance(optimizers, Mapping):
        return dict(optimizers)
    if isinstance(optimizers, str):  # one name, not a sequence of letters
        optimizers = [optimizers]
    names = [str(name).strip().lower() for name in optimizers]
    if not names:
        raise ValueError("race: give at least one optimizer, e.g. adam,rmsprop")
    repeated = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if repeated is not None:
        raise ValueError(
            f"race: optimizer {repeated!r} is named twice in {names}; each one races once: drop the repeat"
        )
    racers = {}
    for name in names:
        if name not in optim.OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(optim.OPTIMIZERS)}")
        rate = RACE_LRS[name] if lr is None else lr
        opt = optim.make_optimizer(name, lr=rate, nonfinite="skip")
        racers[f"{type(opt).__name__} (lr={rate:g})"] = opt
    return racers


def _positive_int(owner: str, name: str, value: int) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ 1")
    return int(value)


@dataclass
class LearningRateStudy:
    """GD on an ill-conditioned bowl with three rates: ``race`` holds the runs (labels say which is which),
    ``curvatures`` the Hessian's eigenvalues λ₁ ≤ λ₂ (stability needs α < 2/λ₂)."""

    race: RaceStudy
    curvatures: np.ndarray
    rates: dict[str, float]


def learning_rates(quick: bool = False, condition: float = 10.0) -> LearningRateStudy:
    """Gradient descent on the bowl ½θᵀAθ (eigenvalues 1 and κ) with α too small, right, and too large.

    Along an eigenvector of curvature λ the error is multiplied by 1 − αλ each step: α = 2/(λ₁ + λ₂)
    is the best constant rate, α ≪ 1/λ₂ crawls, and α > 2/λ₂ makes |1 − αλ₂| > 1: the iterates oscillate
    with growing amplitude and the loss explodes.
    """
    from descentlab import surfaces

    surf = surfaces.quadratic(condition=condition)
    curvatures = np.linalg.eigvalsh(np.asarray(surf.hessian(np.asarray(surf.minima[0]))))
    low, high = float(curvatures[0]), float(curvatures[-1])
    rates = {
        f"too small: α = {0.1 / high:.3g} (0.1/λ_max)": 0.1 / high,
        f"right: α = {2 / (low + high):.3g} (2/(λ_min + λ_max))": 2 / (low + high),
        f"too large: α = {2.2 / high:.3g} (> 2/λ_max = {2 / high:.3g})": 2.2 / high,
    }
    steps = 50 if quick else 80
    racers = {label: optim.GD(lr=rate, nonfinite="skip") for label, rate in rates.items()}
    result = surfaces.race(surf, racers, start=np.asarray(surf.start), steps=steps)
    grid = surface_grid(surf, n=100 if quick else 200)
    title = "Learning rate: too small crawls, right converges fast, too large oscillates and diverges"
    return LearningRateStudy(RaceStudy(result, grid, title), curvatures, rates)


@dataclass
class ClippingStudy:
    """The same GD with and without gradient clipping on the cliff surface: ``runs[label]`` are race runs
    (``dl.surfaces.Run``), ``grad_norms[label][t]`` = ‖∇f(θ_t)‖ before clipping for t = 0 … T − 1: the
    gradient that step t (from θ_t, of length ``run.step_sizes[t]``) was computed from."""

    runs: dict[str, object]
    grad_norms: dict[str, np.ndarray]
    grid: SurfaceGrid
    clip_norm: float
    lr: float


def clipping(quick: bool = False, lr: float = 0.5, clip_norm: float = 1.0) -> ClippingStudy:
    """GD down a gentle slope that ends in a cliff whose gradient reaches 100 (Pascanu et al. 2013, fig. 6).

    Unclipped, the step at the cliff's edge is α·‖g‖ ≈ 50: θ is catapulted far past the minimum and
    needs many steps to come back. Clipping by norm keeps the direction and caps the step at α·c.
    """
    from descentlab import surfaces

    surf = surfaces.get("cliff")
    steps = 60 if quick else 150
    runs, norms = {}, {}
    for label, clip in (("GD without clipping", None), (f"GD with clip_norm = {clip_norm:g}", clip_norm)):
        run = surfaces.race(surf, {label: optim.GD(lr=lr)}, steps=steps, clip_norm=clip).runs[label]
        runs[label] = run
        norms[label] = np.linalg.norm(surf.grad(run.trajectory[:-1, 0]), axis=1)
    return ClippingStudy(runs, norms, surface_grid(surf, n=120 if quick else 240), clip_norm, lr)


@dataclass
class SecondOrderStudy:
    """Newton, GD and Adam raced on two surfaces: one :class:`RaceStudy` per surface name."""

    panels: dict[str, RaceStudy]


def second_order(quick: bool = False) -> SecondOrderStudy:
    """Newton's step solves H p = g: on a quadratic it lands on the minimum in one step whatever the
    conditioning, where GD zig-zags and Adam's per-coordinate scaling only partly helps. On Rosenbrock it
    reaches the minimum in a handful of steps, but not along the valley: where one curvature is nearly zero
    the full step trusts the local quadratic model far beyond where it holds, and the loss jumps far above
    its start before the next steps come back."""
    from descentlab import surfaces

    panels = {}
    cases = (
        (surfaces.quadratic(condition=50.0, angle=30.0), {"gd": 0.035, "adam": 0.1, "newton": 1.0}, 60),
        (surfaces.get("rosenbrock"), {"gd": 1e-3, "adam": 5e-2, "newton": 1.0}, 400),
    )
    for surf, rates, steps in cases:
        steps = steps // 3 if quick else steps
        racers = {}
        for name, rate in rates.items():
            opt = optim.make_optimizer(name, lr=rate, nonfinite="skip")
            racers[f"{type(opt).__name__} (lr={rate:g})"] = opt
        result = surfaces.race(surf, racers, steps=steps)
        xlim, ylim = _view(surf, result.runs.values())
        panels[surf.name] = RaceStudy(result, surface_grid(surf, xlim, ylim, n=100 if quick else 200), surf.name)
    return SecondOrderStudy(panels)


def _view(surf, runs, margin: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """The surface's bounds widened to hold every point visited by the runs' starts that did not diverge
    (plus ``margin`` of the span on each side), so that no path leaves the figure."""
    low, high = np.array(surf.bounds).T
    points = [np.asarray(run.trajectory)[:, run.diverged_at < 0].reshape(-1, 2) for run in runs]
    visited = np.vstack([low, high, *points])
    lo, hi = visited.min(axis=0), visited.max(axis=0)
    pad = np.where((lo < low) | (hi > high), margin * (hi - lo), 0.0)  # only along an axis that was widened
    lo, hi = lo - pad, hi + pad
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


@dataclass
class LocalMinimaStudy:
    """Many starts on a multi-minimum surface and random restarts on a rugged one.

    ``basins``: a race from a grid of starts on Himmelblau; ``reached[i]`` is the index of the minimum start
    i converged to (within ``tolerance``), −1 when it ended elsewhere. ``restarts``: a race from random
    starts on Rastrigin; ``best_of[j, r]`` is the best final loss among the first r + 1 starts in the j-th
    random order of the starts (restarts help: the curve falls with r).
    """

    basins: RaceStudy
    reached: np.ndarray
    tolerance: float
    restarts: RaceStudy
    best_of: np.ndarray


def local_minima(quick: bool = False, seed: Seed = 0) -> LocalMinimaStudy:
    """Gradient descent ends in the minimum whose basin it starts in; restarting from random points and
    keeping the best result finds the global minimum of a rugged surface with high probability
    (``dl.search.random_restarts``)."""
    from descentlab import search, surfaces

    seed = _seed("local_minima", seed)
    rng = np.random.default_rng(seed)  # the Generator itself when one is given: the restarts draw from it too
    himmelblau = surfaces.get("himmelblau")
    side = 7 if quick else 13
    (x0, x1), (y0, y1) = himmelblau.bounds
    gx, gy = np.meshgrid(np.linspace(x0 + 0.5, x1 - 0.5, side), np.linspace(y0 + 0.5, y1 - 0.5, side))
    starts = np.column_stack([gx.ravel(), gy.ravel()])
    steps = 150 if quick else 400
    basins = surfaces.race(
        himmelblau, {"GD (lr=0.01)": optim.GD(lr=0.01, nonfinite="skip")}, starts=starts, steps=steps
    )
    run = basins.runs["GD (lr=0.01)"]
    index, distance = himmelblau.nearest_minimum(run.trajectory[-1])
    tolerance = 1e-2
    reached = np.where((distance < tolerance) & (run.diverged_at < 0), index, -1)

    rastrigin = surfaces.get("rastrigin")
    k = 40 if quick else 200
    found = search.random_restarts(
        rastrigin, k, local_search=optim.GD(lr=0.002, nonfinite="skip"), seed=seed, steps=100 if quick else 300
    )
    restarts = found.race
    final = found.scores
    orders = np.stack([rng.permutation(k) for _ in range(50)])
    best_of = np.minimum.accumulate(final[orders], axis=1)
    return LocalMinimaStudy(
        RaceStudy(basins, surface_grid(himmelblau, n=120 if quick else 220), "himmelblau"),
        reached,
        tolerance,
        RaceStudy(restarts, surface_grid(rastrigin, n=120 if quick else 300), "rastrigin"),
        best_of,
    )


# ---------------------------------------------------------------------------------------------------
# Networks: batch regimes, batch normalization, the range test, optimizer health
# ---------------------------------------------------------------------------------------------------


def _split(dataset: str, split_seed: int, **options):
    """A standardized train/validation split of a named data set."""
    from descentlab import data

    X, y = data.load(dataset, **options)
    (Xtr, ytr), (Xva, yva) = data.train_val_split(X, y, fraction=0.25, seed=split_seed)
    Xtr, Xva, _ = data.standardize(Xtr, Xva)
    return Xtr, ytr, Xva, yva


@dataclass
class TrainingCurves:
    """Several :class:`descentlab.train.History` records of one problem, by label, and what was trained."""

    histories: dict[str, object]
    problem: str


def batch_regimes(quick: bool = False, seed: Seed = 0, lr: float = 0.05) -> TrainingCurves:
    """The same network and GD rate fed the whole data set per step (batch), 32 samples (mini-batch) or one
    (stochastic). Per epoch, small batches take many more steps, so they get further — at the price of noisy
    steps that the batch version does not have."""
    from descentlab import nn, train

    seed = _integer_seed("batch_regimes", seed)
    Xtr, ytr, Xva, yva = _split("moons", seed, n_samples=300 if quick else 600, noise=0.2, seed=seed)
    epochs = 4 if quick else 30
    histories = {}
    for label, batch_size in (("batch (all samples)", None), ("mini-batch (32)", 32), ("stochastic (1)", 1)):
        net = nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=seed)
        histories[label] = train.fit(
            net,
            Xtr,
            ytr,
            loss="bce",
            optimizer=optim.GD(lr=lr),
            epochs=epochs,
            batch_size=batch_size,
            validation=(Xva, yva),
            seed=seed,
            diagnostics=False,
            progress=False,
        )
    return TrainingCurves(histories, f"moons, MLP [2, 16, 16, 1] ReLU, GD α = {lr:g}, {epochs} epochs")


def batch_norm(quick: bool = False, seed: Seed = 0) -> TrainingCurves:
    """A deep sigmoid network trained with and without batch normalization, same optimizer and rate.

    Without it, the sigmoid's derivative (at most 1/4) shrinks the gradient at every layer and the first
    layers barely learn; batch norm re-centres and re-scales every layer's pre-activations on each
    mini-batch, keeping them where the sigmoid is steep (Ioffe & Szegedy 2015)."""
    from descentlab import nn, train

    seed = _integer_seed("batch_norm", seed)
    Xtr, ytr, Xva, yva = _split("spirals", seed, n_samples=300 if quick else 800, noise=0.1, seed=seed)
    depth, width = (4, 16) if quick else (8, 32)
    epochs = 4 if quick else 40
    sizes = [2, *([width] * depth), 1]
    histories = {}
    for label, bn in (("without batch norm", False), ("with batch norm", True)):
        net = nn.mlp(sizes, activation="sigmoid", output="sigmoid", init="xavier", seed=seed, batch_norm=bn)
        histories[label] = train.fit(
            net,
            Xtr,
            ytr,
            loss="bce",
            optimizer=optim.Momentum(lr=0.05, beta=0.9),
            epochs=epochs,
            batch_size=32,
            drop_last=True,  # batch norm needs ≥ 2 samples per batch; both runs see the same batches
            validation=(Xva, yva),
            seed=seed,
            progress=False,
        )
    return TrainingCurves(histories, f"spirals, {depth} sigmoid layers of {width}, Momentum α = 0.05, batch 32")


@dataclass
class RangeTestStudy:
    """:func:`descentlab.lr_find`'s result and short trainings at rates around its suggestion."""

    result: object
    check: dict[str, object]
    problem: str


def lr_range(quick: bool = False, seed: Seed = 0) -> RangeTestStudy:
    """Smith's learning-rate range test on the digits: raise α exponentially over one short run and watch
    the loss; then train briefly at the suggestion, at a tenth of it and at ten times it."""
    from descentlab import nn, train

    seed = _integer_seed("lr_range", seed)
    Xtr, ytr, Xva, yva = _split("digits", seed)
    sizes = [64, 64, 10]

    def network():
        return nn.mlp(sizes, activation="relu", output="softmax", init="he", seed=seed)

    template = optim.Momentum(lr=0.01, beta=0.9)
    found = train.lr_find(
        network(),
        Xtr,
        ytr,
        loss="ce",
        optimizer=template,
        lr_min=1e-5,
        lr_max=10.0,
        steps=60 if quick else 200,
        batch_size=32,
        seed=seed,
    )
    check = {}
    epochs = 1 if quick else 8
    for factor, label in ((0.1, "suggested / 10"), (1.0, "suggested"), (10.0, "suggested × 10")):
        rate = found.suggested_lr * factor
        opt = optim.Momentum(lr=rate, beta=0.9, nonfinite="skip")
        check[f"{label}: α = {rate:.2g}"] = train.fit(
            network(),
            Xtr,
            ytr,
            loss="ce",
            optimizer=opt,
            epochs=epochs,
            batch_size=32,
            validation=(Xva, yva),
            seed=seed,
            diagnostics=False,
            progress=False,
        )
    return RangeTestStudy(found, check, "digits (8×8), MLP [64, 64, 10], Momentum β = 0.9, batch 32")


def health(quick: bool = False, seed: Seed = 0) -> TrainingCurves:
    """Per-layer gradient norms, update-to-parameter ratios and the effective per-parameter step over
    training, for GD and Adam on the same network: the numbers to watch when training misbehaves."""
    from descentlab import nn, train

    seed = _integer_seed("health", seed)
    Xtr, ytr, Xva, yva = _split("digits", seed)
    epochs = 3 if quick else 25
    histories = {}
    for label, opt in (("GD (lr=0.05)", optim.GD(lr=0.05)), ("Adam (lr=0.001)", optim.Adam(lr=1e-3))):
        net = nn.mlp([64, 64, 32, 10], activation="relu", output="softmax", init="he", seed=seed)
        histories[label] = train.fit(
            net,
            Xtr,
            ytr,
            loss="ce",
            optimizer=opt,
            epochs=epochs,
            batch_size=64,
            validation=(Xva, yva),
            seed=seed,
            progress=False,
        )
    return TrainingCurves(histories, f"digits, MLP [64, 64, 32, 10], batch 64, {epochs} epochs")


# ---------------------------------------------------------------------------------------------------
# One training run, as the command line configures it
# ---------------------------------------------------------------------------------------------------

#: Schedule names accepted by :func:`make_schedule` (the command line's ``--schedule``).
SCHEDULE_NAMES = ("constant", "step", "exponential", "inverse_time", "linear", "cosine", "warmup_cosine", "plateau")


def make_schedule(name: str, lr0: float, total_steps: int) -> sch.Schedule:
    """A schedule by name, scaled to a run of ``total_steps`` steps starting at ``lr0``.

    ``step`` halves α four times over the run, ``exponential`` and ``inverse_time`` end near α₀/100 and
    α₀/20, ``linear`` reaches α₀/100 halfway (Goodfellow et al.'s τ), ``cosine`` anneals to 0,
    ``warmup_cosine`` warms up over the first 5 % first, ``plateau`` halves α when the loss stalls for
    3 epochs (it observes the validation loss).
    """
    total_steps = _positive_int("make_schedule", "total_steps", total_steps)
    key = name.strip().lower().replace("-", "_")
    warm = max(1, total_steps // 20)
    table = {
        "constant": lambda: sch.Constant(lr0),
        "step": lambda: sch.Step(lr0, factor=0.5, every=max(1, total_steps // 5)),
        "exponential": lambda: sch.Exponential(lr0, k=4.6 / total_steps),
        "inverse_time": lambda: sch.InverseTime(lr0, k=19.0 / total_steps),
        "linear": lambda: sch.LinearToTau(lr0, tau=max(1, total_steps // 2)),
        "cosine": lambda: sch.Cosine(lr0, steps=total_steps),
        "warmup_cosine": lambda: sch.Warmup(sch.Cosine(lr0, steps=max(1, total_steps - warm)), steps=warm),
        "plateau": lambda: sch.ReduceOnPlateau(lr0, factor=0.5, patience=3),
    }
    if key not in table:
        raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULE_NAMES)}")
    return table[key]()


@dataclass
class TrainingRun:
    """What :func:`train_dataset` produced: the trained network, its history, the optimizer and schedule
    (for checkpoints), the validation split and the configuration in plain values."""

    net: object
    history: object
    optimizer: optim.Optimizer
    schedule: sch.Schedule | None
    X_val: np.ndarray
    y_val: np.ndarray
    config: dict


def train_dataset(
    dataset: str,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    init: str = "he",
    optimizer: str = "adam",
    lr: float | None = None,
    batch_size: int | None = 32,
    epochs: int = 20,
    schedule: str | None = None,
    clip_norm: float | None = None,
    seed: Seed = 0,
    progress: bool = False,
) -> TrainingRun:
    """Train an MLP on a named data set (standardized, 20 % held out for validation) with ``dl.fit``.

    The output layer and loss follow the data set's task: sigmoid + binary cross-entropy, softmax + cross-
    entropy, or linear + mean squared error. ``lr`` defaults to the optimizer's own default. A Generator
    ``seed`` gives one integer, drawn from it, which ``config["seed"]`` records.
    """
    from descentlab import data, nn, train

    seed = _integer_seed("train", seed)
    if dataset not in data.DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(data.DATASETS)}")
    info = data.DATASETS[dataset]
    hidden = [_positive_int("train", "hidden layer width", width) for width in hidden]
    epochs = _positive_int("train", "epochs", epochs)
    name = optimizer.strip().lower()
    if name not in optim.OPTIMIZERS or name == "newton":
        known = ", ".join(k for k in optim.OPTIMIZERS if k != "newton")
        raise ValueError(f"unknown optimizer {optimizer!r} for training a network; known: {known}")
    X, y = data.load(dataset)
    (Xtr, ytr), (Xva, yva) = data.train_val_split(X, y, fraction=0.2, seed=seed)
    Xtr, Xva, _ = data.standardize(Xtr, Xva)
    output, loss, width = {
        "binary": ("sigmoid", "bce", 1),
        "multiclass": ("softmax", "ce", info.n_outputs),
        "regression": ("linear", "mse", info.n_outputs),
    }[info.task]
    sizes = [Xtr.shape[1], *hidden, width]
    net = nn.mlp(sizes, activation=activation, output=output, init=init, seed=seed)
    opt = optim.make_optimizer(name) if lr is None else optim.make_optimizer(name, lr=lr)
    steps_per_epoch = data.batch_count(len(Xtr), batch_size)
    sched = None if schedule is None else make_schedule(schedule, opt.lr, epochs * steps_per_epoch)
    history = train.fit(
        net,
        Xtr,
        ytr,
        loss=loss,
        optimizer=opt,
        epochs=epochs,
        batch_size=batch_size,
        schedule=sched,
        clip_norm=clip_norm,
        validation=(Xva, yva),
        seed=seed,
        progress=progress,
    )
    config = {
        "dataset": dataset,
        "sizes": sizes,
        "activation": activation,
        "init": init,
        "output": output,
        "loss": loss,
        "optimizer": opt.hyperparameters() | {"name": name},
        "batch_size": batch_size,
        "epochs": epochs,
        "schedule": None if sched is None else sched.config(),
        "clip_norm": clip_norm,
        "seed": seed,
    }
    return TrainingRun(net, history, opt, sched, Xva, np.asarray(yva), config)


__all__ = [
    "DEFAULT_RACERS",
    "INIT_CASES",
    "NOT_A_MINIMUM",
    "NO_MINIMUM",
    "RACE_LRS",
    "SCHEDULE_NAMES",
    "UNBOUNDED",
    "ClippingStudy",
    "EWAStudy",
    "EffectiveStepStudy",
    "ExplainStudy",
    "InitRun",
    "InitStudy",
    "LearningRateStudy",
    "LocalMinimaStudy",
    "RaceStudy",
    "RangeTestStudy",
    "ScheduleCurves",
    "SecondOrderStudy",
    "SurfaceGrid",
    "TrainingCurves",
    "TrainingRun",
    "batch_norm",
    "batch_regimes",
    "clipping",
    "effective_step",
    "ewa",
    "explain",
    "health",
    "initialization",
    "learning_rates",
    "local_minima",
    "lr_range",
    "make_schedule",
    "race",
    "race_endings",
    "schedules",
    "second_order",
    "surface_grid",
    "train_dataset",
]
