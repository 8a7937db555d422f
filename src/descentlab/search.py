"""Global search wrapped around local descent: random restarts and simulated annealing.

Gradient methods find *a* minimum — the one whose basin they start in. Two classical remedies:

* **Random restarts** run a local search from k random starts and keep the best. If one start lands in the
  global basin with probability p, k starts miss it with probability (1 − p)ᵏ.
* **Simulated annealing** (Kirkpatrick, Gelatt & Vecchi 1983) walks by random proposals θ' = θ + σ·ε,
  ε ~ N(0, I), accepting with the Metropolis rule (Metropolis et al. 1953)

      accept if ΔE ≤ 0, else with probability exp(−ΔE / T_t),   ΔE = E(θ') − E(θ),

  while the temperature falls, T_t = T₀·cᵗ (geometric cooling). Hot, it accepts uphill moves and crosses
  barriers; cold, it only descends. It needs values only, no gradient.

Both work on a 2-D :class:`~descentlab.surfaces.Surface` and on networks: restarts take any function
``run(seed) -> (score, result)`` (train a fresh net from ``seed``, return its final loss and the net), and
:func:`anneal_network` anneals a network's flat parameter vector θ with its loss as the energy.

Randomness is explicit: every function takes ``seed`` (an integer or a ``np.random.Generator``); the same
seed gives the same result, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab import optim
from descentlab._numbers import is_integer, is_real
from descentlab.optim._validation import check_bool
from descentlab.surfaces import Bounds, RaceResult, Surface, race
from descentlab.surfaces import get as get_surface
from descentlab.surfaces.racing import default_escape
from descentlab.surfaces.surface import check_bounds

SeedLike = int | np.random.Generator
Energy = Callable[[np.ndarray], float]


# ---------------------------------------------------------------------------------------------------------
# Random restarts
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restart:
    """One restart.

    Attributes:
        index: its position (0 … k − 1).
        seed: the seed ``run`` received (callable objectives); ``None`` on a surface.
        start: the start point on a surface; ``None`` for a callable objective.
        score: the final f (surface) or the score ``run`` returned; ``inf`` when the run diverged or the
            score was not finite, so that it ranks last.
        result: the final point (surface) or the result ``run`` returned.
        minimum: index into ``surface.minima`` of the known minimum it ended within ``tolerance`` of, ``-1``
            for none (a local minimum, an unfinished run) and for callable objectives.
        diverged: whether the run diverged (surface) or its score was not finite.
    """

    index: int
    seed: int | None
    start: np.ndarray | None
    score: float
    result: Any
    minimum: int
    diverged: bool


@dataclass
class RestartResult:
    """All restarts in the order they were drawn, the best one and — on a surface — the race that ran them."""

    restarts: list[Restart]
    best: Restart
    race: RaceResult | None = None

    @property
    def scores(self) -> np.ndarray:
        """``(k,)`` scores in restart order (``inf`` for diverged ones)."""
        return np.array([r.score for r in self.restarts])

    @property
    def best_so_far(self) -> np.ndarray:
        """``(k,)``: the best score among the first i + 1 restarts — how the answer improves with k."""
        return np.minimum.accumulate(self.scores)

    @property
    def minima_reached(self) -> np.ndarray:
        """``(k,)``: the known minimum each restart reached (``-1`` for none)."""
        return np.array([r.minimum for r in self.restarts], dtype=np.int64)

    def minimum_counts(self) -> dict[int, int]:
        """Known-minimum index → how many restarts reached it (``-1`` counts the others)."""
        values, counts = np.unique(self.minima_reached, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def summary(self) -> str:
        """One line per restart (start or seed, score, minimum reached) and the best."""
        lines = []
        for r in self.restarts:
            origin = f"seed {r.seed}" if r.start is None else f"start ({r.start[0]:.3g}, {r.start[1]:.3g})"
            reached = f"minimum #{r.minimum}" if r.minimum >= 0 else ("diverged" if r.diverged else "—")
            lines.append(f"{r.index:>4}  {origin:<28} score {r.score:<12.6g} {reached}")
        lines.append(f"best: restart {self.best.index}, score {self.best.score:.6g}")
        return "\n".join(lines)


def random_restarts(
    objective: Surface | str | Callable[[int], tuple[float, Any]],
    k: int,
    bounds: Bounds | None = None,
    sampler: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    local_search: optim.Optimizer | None = None,
    seed: SeedLike = 0,
    steps: int | None = None,
    clip_norm: float | None = None,
    tolerance: float | None = None,
    escape: float | None = None,
) -> RestartResult:
    """Run a local search from ``k`` random starts and keep the best.

    On a surface (a :class:`Surface` or its name): the starts are drawn uniformly in ``bounds`` (the
    surface's own by default) or by ``sampler(rng, k) -> (k, 2) array``; ``local_search`` (an optimizer,
    e.g. ``optim.GD(lr=2e-3)``, required) runs ``steps`` steps (default 500) from all of them at once through
    :func:`descentlab.surfaces.race` (with ``clip_norm`` and ``escape``, the divergence box, if given; the
    starts must lie in that box). The score is the final f; a restart *reached* a known minimum when it ended
    within ``tolerance`` (default 1e-2) of it. Uniform starts are nested in k: start i is drawn from the
    generator's draws 2i and 2i + 1, so with the same seed the first 10 of 20 starts are the 10 starts of
    k = 10.

    On a callable ``run(seed) -> (score, result)``: restart i calls ``run(seed_i)`` with seeds derived from
    ``seed`` (``np.random.SeedSequence(seed).spawn(k)``, so restart i gets the same seed whatever k is); lower
    scores are better. For networks::

        def run(seed):
            net = dl.nn.mlp([2, 8, 1], seed=seed)
            history = dl.fit(net, X, y, optimizer=dl.optim.Adam(lr=0.01), epochs=50, seed=seed)
            return history.train_loss[-1], net

        best_net = dl.search.random_restarts(run, k=10, seed=0).best.result

    ``bounds``, ``sampler``, ``local_search``, ``steps``, ``clip_norm``, ``tolerance`` and ``escape`` belong
    to surfaces and are refused with a callable. Returns a :class:`RestartResult`; ties go to the earlier
    restart.
    """
    k = _positive_int("random_restarts", "k", k, "e.g. 20")
    if isinstance(objective, (Surface, str)):
        surface = get_surface(objective)
        steps = 500 if steps is None else _positive_int("random_restarts", "steps", steps, "e.g. 500")
        tolerance = 1e-2 if tolerance is None else tolerance
        tolerance = _positive_float("random_restarts", "tolerance", tolerance, "e.g. 1e-2")
        escape = default_escape(surface) if escape is None else escape
        escape = _positive_float("random_restarts", "escape", escape, "the divergence box |θᵢ| ≤ escape, e.g. 1e4")
        return _restart_surface(surface, k, bounds, sampler, local_search, seed, steps, clip_norm, tolerance, escape)
    if not callable(objective):
        raise TypeError(
            f"random_restarts: objective must be a Surface, a surface name or a function run(seed) -> (score, "
            f"result), got {type(objective).__name__}"
        )
    surface_only = {
        "bounds": bounds,
        "sampler": sampler,
        "local_search": local_search,
        "steps": steps,
        "clip_norm": clip_norm,
        "tolerance": tolerance,
        "escape": escape,
    }
    given = [name for name, value in surface_only.items() if value is not None]
    if given:
        raise ValueError(
            f"random_restarts: {', '.join(given)} apply to surfaces only; a function run(seed) draws its own start, "
            f"runs its own steps and returns its own score"
        )
    restarts = []
    for index, child in enumerate(_seed_sequence(seed, "random_restarts").spawn(k)):
        child_seed = int(child.generate_state(1)[0])
        outcome = objective(child_seed)
        if not (isinstance(outcome, tuple) and len(outcome) == 2):
            raise TypeError(f"random_restarts: run(seed) must return a pair (score, result), got {outcome!r:.80}")
        score = float(outcome[0])
        finite = math.isfinite(score)
        restarts.append(Restart(index, child_seed, None, score if finite else math.inf, outcome[1], -1, not finite))
    return RestartResult(restarts, _best(restarts))


def _restart_surface(
    surface: Surface,
    k: int,
    bounds: Bounds | None,
    sampler: Callable[[np.random.Generator, int], np.ndarray] | None,
    local_search: optim.Optimizer | None,
    seed: SeedLike,
    steps: int,
    clip_norm: float | None,
    tolerance: float,
    escape: float,
) -> RestartResult:
    if local_search is None:
        raise ValueError(
            "random_restarts: on a surface give local_search, the optimizer each start runs, e.g. "
            "local_search=descentlab.optim.GD(lr=2e-3)"
        )
    if not isinstance(local_search, optim.Optimizer):
        raise TypeError(
            f"random_restarts: local_search={local_search!r} is a {type(local_search).__name__}, not a descentlab "
            f"optimizer; pass one, e.g. local_search=descentlab.optim.GD(lr=2e-3) (from a name: "
            f"descentlab.optim.make_optimizer('adam', lr=0.01))"
        )
    if bounds is not None and sampler is not None:
        raise ValueError("random_restarts: give bounds (uniform starts) or sampler(rng, k), not both")
    rng = _generator(seed, "random_restarts")
    if sampler is not None:
        starts = np.array(sampler(rng, k), dtype=float)
        if starts.shape != (k, 2):
            raise ValueError(f"random_restarts: sampler(rng, {k}) returned shape {starts.shape}; it must be ({k}, 2)")
        if not np.isfinite(starts).all():
            rows = np.flatnonzero(~np.isfinite(starts).all(axis=1))
            raise ValueError(
                f"random_restarts: sampler(rng, {k}) returned NaN/Inf starts (rows {rows[:5].tolist()}); "
                f"it must draw finite points"
            )
    else:
        (x0, x1), (y0, y1) = surface.bounds if bounds is None else check_bounds(bounds, owner="random_restarts")
        starts = rng.uniform((x0, y0), (x1, y1), size=(k, 2))  # row-major: start i from draws 2i, 2i + 1
    outside = np.flatnonzero((np.abs(starts) > escape).any(axis=1))
    if outside.size:
        source = f"sampler(rng, {k})" if sampler is not None else "the bounds"
        raise ValueError(
            f"random_restarts: {source} gave starts outside the divergence box |θᵢ| ≤ escape = {escape:g} (rows "
            f"{outside[:5].tolist()}, e.g. {starts[outside[0]].tolist()}); pass a larger escape (e.g. "
            f"escape={10 * np.abs(starts).max():.3g}) or draw the starts nearer the surface"
        )
    result = race(
        surface, {"local_search": local_search}, starts=starts, steps=steps, clip_norm=clip_norm, escape=escape
    )
    run = result.runs["local_search"]
    if len(surface.minima):
        index, distance = surface.nearest_minimum(run.final_points)
        reached = np.where(distance <= tolerance, index, -1)
    else:
        reached = np.full(k, -1)
    restarts = []
    for i in range(k):
        diverged = bool(run.diverged[i])
        score = math.inf if diverged else float(run.final_losses[i])
        minimum = -1 if diverged else int(reached[i])
        restarts.append(Restart(i, None, starts[i].copy(), score, run.final_points[i].copy(), minimum, diverged))
    return RestartResult(restarts, _best(restarts), result)


def _best(restarts: list[Restart]) -> Restart:
    return min(restarts, key=lambda r: (r.score, r.index))


# ---------------------------------------------------------------------------------------------------------
# Simulated annealing
# ---------------------------------------------------------------------------------------------------------


@dataclass
class AnnealingResult:
    """The walk of :func:`simulated_annealing`.

    Attributes:
        path: ``(steps + 1, d)`` states θ_t (θ₀ = start), or ``None`` when not recorded.
        energies: ``(steps + 1,)`` E(θ_t).
        temperatures: ``(steps,)`` T_t used at step t.
        accepted: ``(steps,)`` whether the proposal of step t was accepted.
        uphill: ``(steps,)`` whether it was uphill (ΔE > 0) — or not finite, which is always rejected.
        best_point, best_energy, best_step: the lowest-energy state visited and when.
    """

    path: np.ndarray | None
    energies: np.ndarray
    temperatures: np.ndarray
    accepted: np.ndarray
    uphill: np.ndarray
    best_point: np.ndarray
    best_energy: float
    best_step: int

    @property
    def accepted_count(self) -> int:
        return int(self.accepted.sum())

    @property
    def rejected_count(self) -> int:
        return int((~self.accepted).sum())

    @property
    def uphill_accepted(self) -> int:
        """Uphill moves that were accepted: the moves that climb out of basins."""
        return int((self.accepted & self.uphill).sum())

    @property
    def acceptance_rate(self) -> float:
        return float(self.accepted.mean())

    @property
    def final_point(self) -> np.ndarray:
        """θ after the last step (needs ``record_path=True``; ``best_point`` is always kept)."""
        if self.path is None:
            raise ValueError("the path was not recorded (record_path=False); use best_point")
        return self.path[-1].copy()


def simulated_annealing(
    energy: Surface | str | Energy,
    start: np.ndarray | tuple[float, ...] | None = None,
    steps: int = 2000,
    temperature: float = 1.0,
    cooling: float = 0.995,
    step_size: float = 0.1,
    seed: SeedLike = 0,
    schedule: Callable[[int], float] | None = None,
    record_path: bool = True,
) -> AnnealingResult:
    """Simulated annealing: Gaussian proposals, Metropolis acceptance, geometric cooling.

    At step t = 0 … steps − 1, with T_t = ``temperature`` · ``cooling``ᵗ (or ``schedule(t)`` when given):

        θ' = θ + step_size · ε,  ε ~ N(0, I) ;   ΔE = E(θ') − E(θ) ;
        accept (θ ← θ') if ΔE ≤ 0 or u < exp(−ΔE / T_t),  u ~ U(0, 1)

    A proposal whose energy is not finite is rejected. Each step draws ε and u from the generator, so the
    stream does not depend on the outcomes.

    Args:
        energy: a :class:`Surface` (or its name; E = f, ``start`` defaults to ``surface.start``) or a function
            E(θ) -> float of a 1-D array θ (see :func:`anneal_network` for networks).
        start: θ₀, any 1-D float array (required for a function).
        steps: number of proposals.
        temperature: T₀ > 0, in units of the energy: an uphill move of ΔE = T₀ is accepted with probability
            1/e at the start.
        cooling: c in (0, 1]; T falls by this factor per step (1 keeps it constant).
        step_size: σ, the standard deviation of each coordinate of a proposal.
        seed: an integer or a ``np.random.Generator``.
        schedule: optional t ↦ T_t ≥ 0 replacing the geometric schedule (then ``temperature`` and ``cooling``
            are not used).
        record_path: keep every θ_t (``(steps + 1, d)`` floats); set False for large θ.

    Returns:
        :class:`AnnealingResult`.
    """
    owner = "simulated_annealing"
    if isinstance(energy, (Surface, str)):
        surface = get_surface(energy)
        theta = np.array(surface.start if start is None else start, dtype=float)
        if theta.shape != (2,):
            raise ValueError(f"{owner}: start has shape {theta.shape}; a point on a surface is (x, y)")
        function: Energy = surface.value
    elif callable(energy):
        if start is None:
            raise ValueError(f"{owner}: give start=θ₀ (a 1-D array) when the energy is a function")
        theta = np.array(start, dtype=float)
        if theta.ndim != 1 or theta.size == 0:
            raise ValueError(f"{owner}: start has shape {theta.shape}; it must be a non-empty 1-D array")
        function = energy
    else:
        raise TypeError(f"{owner}: energy must be a Surface, a surface name or a function E(θ), got {type(energy)}")
    if not np.isfinite(theta).all():
        raise ValueError(f"{owner}: start must be finite")
    steps = _positive_int(owner, "steps", steps, "e.g. 2000")
    record_path = check_bool("record_path", record_path, owner=owner)
    step_size = _positive_float(owner, "step_size", step_size, "e.g. 0.1")
    if schedule is None:
        temperature = _positive_float(owner, "temperature", temperature, "e.g. 1.0, in units of the energy")
        cooling = _positive_float(owner, "cooling", cooling, "e.g. 0.995")
        if cooling > 1:
            raise ValueError(f"{owner}: cooling={cooling!r} must be in (0, 1]; T_t = temperature · coolingᵗ")
        temperatures = temperature * cooling ** np.arange(steps, dtype=float)
    elif callable(schedule):
        temperatures = np.array([float(schedule(t)) for t in range(steps)])
        if not (np.isfinite(temperatures).all() and (temperatures >= 0).all()):
            raise ValueError(f"{owner}: schedule(t) must return finite temperatures ≥ 0")
    else:
        raise TypeError(f"{owner}: schedule must be a function t -> T_t, got {type(schedule).__name__}")
    rng = _generator(seed, owner)

    current = float(function(theta))
    if not math.isfinite(current):
        raise ValueError(f"{owner}: the energy at the start is {current}; start where it is finite")
    d = theta.size
    path = np.empty((steps + 1, d)) if record_path else None
    energies = np.empty(steps + 1)
    accepted = np.zeros(steps, dtype=bool)
    uphill = np.zeros(steps, dtype=bool)
    energies[0] = current
    if path is not None:
        path[0] = theta
    best_point, best_energy, best_step = theta.copy(), current, 0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            proposal = theta + step_size * rng.standard_normal(d)
            u = rng.random()
            candidate = float(function(proposal))
            delta = candidate - current
            climbs = not (delta <= 0.0)  # NaN counts as uphill
            uphill[t] = climbs
            T = temperatures[t]
            if math.isfinite(candidate) and (not climbs or (T > 0 and u < math.exp(-delta / T))):
                theta, current = proposal, candidate
                accepted[t] = True
                if current < best_energy:
                    best_point, best_energy, best_step = theta.copy(), current, t + 1
            energies[t + 1] = current
            if path is not None:
                path[t + 1] = theta
    return AnnealingResult(path, energies, temperatures, accepted, uphill, best_point, best_energy, best_step)


def network_energy(net: Any, X: Any, y: Any, loss: str = "bce", l2: float = 0.0) -> Energy:
    """E(θ) = ``net.loss(X, y, loss, l2)`` with the network's parameters set to θ.

    The returned function writes θ into ``net.params`` (in the network's dtype) before every evaluation, so
    after a search the network holds the last θ evaluated; :func:`anneal_network` puts the best one back.
    """
    if not (hasattr(net, "params") and callable(getattr(net, "loss", None))):
        raise TypeError(f"network_energy: expected a descentlab network (net.params, net.loss), got {type(net)}")

    def energy(theta: np.ndarray) -> float:
        net.params[...] = theta
        return float(net.loss(X, y, loss=loss, l2=l2))

    return energy


def anneal_network(
    net: Any,
    X: Any,
    y: Any,
    loss: str = "bce",
    steps: int = 2000,
    temperature: float = 0.05,
    cooling: float = 0.998,
    step_size: float = 0.05,
    seed: SeedLike = 0,
    l2: float = 0.0,
    record_path: bool = False,
) -> AnnealingResult:
    """Simulated annealing on a network's flat parameters θ (``net.params``) with its loss as the energy.

    Every proposal perturbs all P parameters at once by ``step_size``·N(0, I) and costs one forward pass over
    ``(X, y)`` — no gradient, which is why annealing is a baseline for tiny networks (tens of parameters),
    not a way to train big ones. The walk starts at the network's current θ, and on return the network holds
    the best θ found (``result.best_point``). The defaults suit a loss of order 1 (cross-entropy).
    """
    energy = network_energy(net, X, y, loss=loss, l2=l2)
    start = np.array(net.params, dtype=float)
    result = simulated_annealing(
        energy,
        start,
        steps=steps,
        temperature=temperature,
        cooling=cooling,
        step_size=step_size,
        seed=seed,
        record_path=record_path,
    )
    net.params[...] = result.best_point
    return result


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------


def _generator(seed: SeedLike, owner: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_seed_sequence(seed, owner))


def _seed_sequence(seed: SeedLike, owner: str) -> np.random.SeedSequence:
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    if not is_integer(seed):
        raise TypeError(f"{owner}: seed={seed!r} must be an integer ≥ 0 or a np.random.Generator")
    if seed < 0:
        raise ValueError(f"{owner}: seed={seed!r} must be ≥ 0")
    return np.random.SeedSequence(int(seed))


def _positive_int(owner: str, name: str, value: Any, hint: str) -> int:
    if not is_integer(value) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be an integer ≥ 1 ({hint})")
    return int(value)


def _positive_float(owner: str, name: str, value: Any, hint: str) -> float:
    if not is_real(value):
        raise TypeError(f"{owner}: {name}={value!r} must be a number ({hint})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{owner}: {name}={value!r} must be a finite number > 0 ({hint})")
    return float(value)


__all__ = [
    "AnnealingResult",
    "Restart",
    "RestartResult",
    "anneal_network",
    "network_energy",
    "random_restarts",
    "simulated_annealing",
]
