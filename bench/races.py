"""Races on the Rosenbrock function: where per-step overhead, not memory traffic, decides.

(1) Eight optimizers, 1000 steps each, from the same start on a 2-vector: one ``step`` call per optimizer
per step. (2) One optimizer advancing 1000 starts together as a (1000, 2) batch: one call per step for all.
Both with the gradient in NumPy; PyTorch does the same with its optimizers on tensors (gradient by tensor
arithmetic, no autograd). ``descentlab.surfaces.race`` (which also records trajectories, clips and
freezes diverging starts) runs the same races. Every race is reported with its ratio against the PyTorch race
of the same shape, timed in the same rounds.
"""

from __future__ import annotations

import numpy as np

import descentlab as dl
from timing import Candidate, interleaved

START = (-1.5, 2.0)
RACERS = {
    "gd": {"lr": 1e-3},
    "momentum": {"lr": 1e-3, "beta": 0.9},
    "nesterov": {"lr": 1e-3, "beta": 0.9},
    "adagrad": {"lr": 0.5},
    "adadelta": {"lr": 1.0},
    "rmsprop": {"lr": 1e-2},
    "adam": {"lr": 5e-2},
    "nadam": {"lr": 5e-2},
}
TORCH_TWINS = {
    "gd": ("SGD", {"lr": 1e-3}),
    "momentum": ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    "nesterov": ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"lr": 0.5}),
    "adadelta": ("Adadelta", {"lr": 1.0}),
    "rmsprop": ("RMSprop", {"lr": 1e-2}),
    "adam": ("Adam", {"lr": 5e-2}),
    "nadam": ("NAdam", {"lr": 5e-2}),
}


def rosenbrock_grad(theta: np.ndarray) -> np.ndarray:
    """∇ of (1 − x)² + 100 (y − x²)² for θ = (x, y) in the last axis."""
    x, y = theta[..., 0], theta[..., 1]
    grad = np.empty_like(theta)
    grad[..., 0] = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x)
    grad[..., 1] = 200.0 * (y - x * x)
    return grad


def descentlab_eight(steps: int):
    def race():
        for name, hp in RACERS.items():
            opt = dl.optim.make_optimizer(name, **hp)
            theta = np.array(START)
            for _ in range(steps):
                opt.step(theta, rosenbrock_grad(theta))

    return race


def descentlab_batch(steps: int, starts: int):
    rng = np.random.default_rng(0)
    theta0 = rng.uniform(-2.0, 2.0, (starts, 2))

    def race():
        opt = dl.optim.Adam(lr=5e-2)
        theta = theta0.copy()
        for _ in range(steps):
            opt.step(theta, rosenbrock_grad(theta))

    return race


def _torch_grad(torch, p):
    x, y = p[..., 0], p[..., 1]
    return torch.stack((-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)), dim=-1)


def torch_eight(steps: int):
    try:
        import torch
    except ImportError:
        return None

    def race():
        for cls, kw in TORCH_TWINS.values():
            p = torch.nn.Parameter(torch.tensor(START, dtype=torch.float64))
            opt = getattr(torch.optim, cls)([p], **kw)
            for _ in range(steps):
                with torch.no_grad():
                    p.grad = _torch_grad(torch, p)
                opt.step()

    return race


def torch_batch(steps: int, starts: int):
    try:
        import torch
    except ImportError:
        return None
    theta0 = torch.from_numpy(np.random.default_rng(0).uniform(-2.0, 2.0, (starts, 2)))

    def race():
        p = torch.nn.Parameter(theta0.clone())
        opt = torch.optim.Adam([p], lr=5e-2)
        for _ in range(steps):
            with torch.no_grad():
                p.grad = _torch_grad(torch, p)
            opt.step()

    return race


def surfaces_race(steps: int, starts: int | None):
    """``descentlab.surfaces.race`` over the 8 optimizers from one start, or Adam from ``starts`` starts;
    with the loop it chose (``portable`` or ``compiled``) after a first, untimed race that compiles the kernels
    (a fresh machine's cache is empty; ``"auto"`` compiles only on arithmetic-only surfaces from
    ``AUTO_COMPILED_MIN_WORK`` steps × optimizers, and the 1000-start race is a single optimizer)."""
    try:
        from descentlab.surfaces import race
    except ImportError:
        return None, ""
    if starts is None:
        racers = {name: dl.optim.make_optimizer(name, **hp) for name, hp in RACERS.items()}
        kwargs = {"start": START}
    else:
        racers = {"adam": dl.optim.Adam(lr=5e-2)}
        kwargs = {"starts": np.random.default_rng(0).uniform(-2.0, 2.0, (starts, 2))}
    try:  # compile (or load) the race kernels first, so that "auto" finds them ready, as in interactive use
        race("rosenbrock", racers, steps=steps, backend="compiled", **kwargs)
    except (ImportError, ValueError):
        pass  # numba missing or the portable path forced: the portable loop is what a user gets
    backends = sorted({run.backend for run in race("rosenbrock", racers, steps=steps, **kwargs).runs.values()})
    return (lambda: race("rosenbrock", racers, steps=steps, **kwargs)), f" ({'/'.join(backends)} loop)"


def report(cfg: dict) -> str:
    steps, starts = cfg["race_steps"], cfg["race_starts"]
    eight, eight_backend = surfaces_race(steps, None)
    batch, batch_backend = surfaces_race(steps, starts)
    eight_shape = f"8 optimizers × {steps} steps"
    batch_shape = f"Adam, {starts} starts × {steps} steps"
    # (race, its shape, whether it runs the whole race in one compiled loop instead of a step call per step)
    makers = {
        f"descentlab: {eight_shape} (per-step loop)": (descentlab_eight(steps), eight_shape, False),
        f"descentlab.surfaces.race: {eight_shape}{eight_backend}": (eight, eight_shape, "compiled" in eight_backend),
        f"PyTorch: {eight_shape} (per-step loop)": (torch_eight(steps), eight_shape, False),
        f"descentlab: {batch_shape} (per-step loop, one batch)": (descentlab_batch(steps, starts), batch_shape, False),
        f"descentlab.surfaces.race: {batch_shape}{batch_backend}": (batch, batch_shape, "compiled" in batch_backend),
        f"PyTorch: {batch_shape} (per-step loop, one batch)": (torch_batch(steps, starts), batch_shape, False),
    }
    peers = {shape: name for name, (_, shape, _) in makers.items() if name.startswith("PyTorch")}
    missing = [name for name, (race, _, _) in makers.items() if race is None]
    timings = interleaved(
        [Candidate(name, race) for name, (race, _, _) in makers.items() if race is not None],
        rounds=max(3, cfg["rounds"] // 5),
    )
    lines = [
        "Medians and min / max over interleaved rounds. PyTorch ÷ this is the median of the PyTorch race of the "
        "same shape divided by the row's, timed in the same rounds. The like-for-like pair is the descentlab "
        "per-step loop against PyTorch's: both a Python loop with one optimizer step call per step and the "
        "gradient computed by the array library. `descentlab.surfaces.race` on its compiled loop runs the whole "
        "race in one numba-compiled loop, with no step call to pay (and records the trajectories): torch.optim "
        "has no counterpart, so its ratio measures that loop against PyTorch's per-step loop, not a step "
        "against a step.",
        "",
        "| race | min / median / max ms | µs per optimizer step | PyTorch ÷ this (ratio of medians) |",
        "|---|---|---|---|",
    ]
    for name, t in timings.items():
        _, shape, compiled = makers[name]
        calls = steps * (8 if shape == eight_shape else 1)
        peer = timings.get(peers[shape])
        if name == peers[shape]:
            ratio = "1"
        elif peer is None:
            ratio = "PyTorch missing"
        else:
            ratio = f"{peer.median / t.median:.2f}×"
            if compiled:
                ratio += " (compiled whole race against PyTorch's per-step loop)"
        lines.append(f"| {name} | {t.ms()} | {t.median / calls * 1e6:.1f} | {ratio} |")
    lines += [f"| {name} | missing (not installed / not in this checkout) | | |" for name in missing]
    return "\n".join(lines)
