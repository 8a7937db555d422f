"""Sweep specifications: what to compare, written in TOML, checked completely before any run starts.

A spec names the problems (a 2-D loss surface, or a dataset and a network), the optimizers — each with a
search space and a budget of trials — the seeds, and the metrics to keep::

    name = "course"
    seeds = [0, 1, 2]                   # or a count: seeds = 3 means [0, 1, 2]
    search_seed = 0                     # draws the random-search trials
    metrics = ["final_loss", "best_loss", "steps_to_target", "seconds_to_target"]

    [problems.rosenbrock]
    surface = "rosenbrock"
    steps = 500
    start_noise = 0.1                   # each seed starts at start + N(0, 0.1²) per coordinate
    target = { loss = 1e-3 }

    [problems.digits]
    dataset = "digits"
    hidden = [32]
    epochs = 10
    batch_size = 32
    target = { val_acc = 0.95 }

    [optimizers.adam]
    search = "random"                   # "grid" (every combination) or "random" (trials draws)
    trials = 8
    space = { lr = { log_uniform = [1e-4, 1e-1] }, beta2 = [0.99, 0.999] }

A value in ``space`` is either fixed (``eps = 1e-8``), a list of distinct choices (``beta2 = [0.99, 0.999]``),
or a range, ``{ log_uniform = [low, high] }`` or ``{ uniform = [low, high] }``; in a grid search a range also
needs ``points = n`` (log-spaced or evenly spaced values, ends included). The optimizer's type defaults
to its table name; set ``type = "momentum"`` to compare two configurations of one rule.

A problem is ranked by ``rank_by`` (default ``final_loss`` on a surface, ``final_val_loss`` on a dataset;
any metric but the two "to target" ones) and averaged over seeds on ``scale = "log"`` (geometric mean; the
default for surface losses, which span many decades) or ``"linear"``. Surface problems take ``steps``,
``start`` (default: the surface's own), ``start_noise``, ``grad_noise`` and ``record_every``; dataset
problems take ``epochs``, ``hidden``, ``activation``, ``init``, ``batch_size`` (``false``: full batch),
``val_fraction``, ``split_seed`` and ``standardize``. Newton runs on surfaces only (it needs the Hessian).

Every error raised here is a :class:`SpecError` naming the file, the line and the dotted key, so a bad
spec fails before the first run with a message such as
``course.toml:14: optimizers.adam.space.lr: log_uniform bounds must be > 0, got [-0.001, 0.1]``. The check
loads each dataset problem's data (a missing package fails here, not in every run) and constructs each
optimizer with every choice and both ends of every range. What is valid but probably not meant (several
seeds on a surface without noise, which all give the same run; a random search that draws a configuration
twice, which runs once; a metric in ``metrics`` that no problem measures) is listed in ``SweepSpec.warnings``,
in the same form; ``descentlab compare`` prints them.

Every run measures every metric its problem has (:func:`measured_metrics`); ``metrics`` chooses what a
report shows, so adding a metric later needs no run again.

Honest comparisons (Schmidt, Schneider & Hennig 2021, "Descending through a crowded valley"; Wilson et
al. 2017) give each optimizer the same tuning budget and several seeds; the spec makes both explicit.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from descentlab._numbers import is_integer, is_real
from descentlab.optim import OPTIMIZERS

#: Summary metrics a run can keep, and whether larger is better.
METRICS: dict[str, bool] = {
    "final_loss": False,
    "best_loss": False,
    "final_val_loss": False,
    "best_val_loss": False,
    "val_acc": True,
    "best_val_acc": True,
    "steps_to_target": False,
    "seconds_to_target": False,
}
#: Metrics that exist only for dataset problems (a surface has no validation set).
VALIDATION_METRICS = ("final_val_loss", "best_val_loss", "val_acc", "best_val_acc")
#: Metrics that exist only for classification data sets (a regression has no accuracy).
ACCURACY_METRICS = ("val_acc", "best_val_acc")
#: Metrics a surface run measures (every one but those of a validation set).
SURFACE_METRICS = tuple(m for m in METRICS if m not in VALIDATION_METRICS)
SEARCHES = ("grid", "random")
RANGE_KINDS = ("log_uniform", "uniform")
PROBLEM_KINDS = ("surface", "dataset")
SURFACE_KEYS = {"surface", "steps", "start", "start_noise", "grad_noise", "target", "rank_by", "scale", "record_every"}
DATASET_KEYS = {
    "dataset",
    "hidden",
    "activation",
    "init",
    "epochs",
    "batch_size",
    "val_fraction",
    "split_seed",
    "standardize",
    "target",
    "rank_by",
    "scale",
}
SCALES = ("log", "linear")
TOP_KEYS = {"name", "seeds", "search_seed", "metrics", "problems", "optimizers"}
OPTIMIZER_KEYS = {"type", "search", "trials", "space"}
# Optimizers that need more than a gradient; they run on surfaces only (which provide the Hessian).
SECOND_ORDER = ("newton",)


class SpecError(ValueError):
    """A sweep specification is invalid; the message names the file, the line and the key."""

    def __init__(self, message: str, *, source: str = "<spec>", line: int | None = None, key: str = "") -> None:
        self.source, self.line, self.key, self.reason = source, line, key, message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {key + ': ' if key else ''}{message}")


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of a search space: fixed, a list of choices, or a (log-)uniform range."""

    name: str
    kind: str  # "fixed" | "choice" | "log_uniform" | "uniform"
    values: tuple[Any, ...] = ()
    low: float = math.nan
    high: float = math.nan
    points: int | None = None

    def grid(self) -> tuple[Any, ...]:
        """The values a grid search visits: choices, or ``points`` values spanning a range (ends included)."""
        if self.kind in ("fixed", "choice"):
            return self.values
        assert self.points is not None
        if self.kind == "log_uniform":
            return tuple(float(v) for v in np.geomspace(self.low, self.high, self.points))
        return tuple(float(v) for v in np.linspace(self.low, self.high, self.points))

    def extremes(self) -> tuple[Any, ...]:
        """The values a spec check constructs the optimizer with: every choice, or both ends of a range."""
        return self.values if self.kind in ("fixed", "choice") else (self.low, self.high)

    def sample(self, rng: np.random.Generator) -> Any:
        """One random-search draw: a uniform choice, or exp(U(log low, log high)) / U(low, high)."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer to compare: its label, registry type, search strategy, budget and space."""

    label: str
    type: str
    search: str
    trials: int
    space: tuple[Dimension, ...]

    def configs(self, search_seed: int) -> list[dict[str, Any]]:
        """The hyperparameters of each trial, in trial order; deterministic in (label, type, search_seed).

        A grid search visits the product of the dimensions' grids (names in sorted order). A random
        search draws ``trials`` configurations from a generator seeded by ``search_seed`` and the
        optimizer's label, so adding an optimizer to a spec leaves the others' trials unchanged. A
        configuration drawn again is kept once, at its first draw: a trial is a configuration, so a small
        discrete space gives fewer trials than ``trials`` (the spec check warns).
        """
        names = [d.name for d in self.space]
        if self.search == "grid":
            combos = itertools.product(*(d.grid() for d in self.space))
            return _distinct([dict(zip(names, combo, strict=True)) for combo in combos])
        rng = np.random.default_rng(np.random.SeedSequence([search_seed, digest_int("trials", self.label, self.type)]))
        return _distinct([{d.name: d.sample(rng) for d in self.space} for _ in range(self.trials)])


def _distinct(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The configurations without repeats, in first-seen order (compared as their JSON, as run keys see them)."""
    unique: dict[str, dict[str, Any]] = {}
    for config in configs:
        unique.setdefault(json.dumps(config, sort_keys=True), config)
    return list(unique.values())


@dataclass(frozen=True)
class ProblemSpec:
    """A problem: its label, kind (``surface`` or ``dataset``) and its options with defaults filled in."""

    label: str
    kind: str
    options: Mapping[str, Any]
    rank_by: str
    scale: str = "linear"  # how seeds are averaged in a report: "log" (geometric mean) or "linear"

    @property
    def target(self) -> tuple[str, float] | None:
        """The target as ``(metric, value)``: ``("loss", 1e-3)`` or ``("val_acc", 0.95)``; None if unset."""
        target = self.options.get("target")
        return None if target is None else (target[0], float(target[1]))

    @property
    def deterministic(self) -> bool:
        """Whether every seed gives the same run (:func:`noise_free`)."""
        return noise_free(self.kind, self.options)

    @property
    def measured(self) -> tuple[str, ...]:
        """The metrics a run of this problem measures (:func:`measured_metrics`)."""
        return measured_metrics(self.kind, self.options)


def measured_metrics(kind: str, options: Mapping[str, Any]) -> tuple[str, ...]:
    """The summary metrics a run of a problem measures: all but the validation ones on a surface, all but the
    accuracies on a regression data set, every one on a classification data set."""
    if kind == "surface":
        return SURFACE_METRICS
    if _is_regression(options["dataset"]):
        return tuple(m for m in METRICS if m not in ACCURACY_METRICS)
    return tuple(METRICS)


def noise_free(kind: str, options: Mapping[str, Any]) -> bool:
    """A surface without start or gradient noise: seeds change nothing, so every seed gives the same run."""
    return kind == "surface" and not options.get("start_noise") and not options.get("grad_noise")


@dataclass(frozen=True)
class RunTask:
    """One run: a problem, an optimizer configuration and a seed; plain data, sent to any executor."""

    key: str
    sweep: str
    problem: str
    problem_kind: str
    problem_options: Mapping[str, Any]
    optimizer: str
    optimizer_type: str
    trial: int
    hyperparameters: Mapping[str, Any]
    seed: int
    metrics: tuple[str, ...]  # what the spec reports; a run measures every metric of its problem regardless

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (what crosses process and machine boundaries)."""
        return {
            "key": self.key,
            "sweep": self.sweep,
            "problem": self.problem,
            "problem_kind": self.problem_kind,
            "problem_options": dict(self.problem_options),
            "optimizer": self.optimizer,
            "optimizer_type": self.optimizer_type,
            "trial": self.trial,
            "hyperparameters": dict(self.hyperparameters),
            "seed": self.seed,
            "metrics": list(self.metrics),
        }


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: everything needed to list its runs, and the TOML text it came from."""

    name: str
    seeds: tuple[int, ...]
    search_seed: int
    metrics: tuple[str, ...]
    problems: tuple[ProblemSpec, ...]
    optimizers: tuple[OptimizerSpec, ...]
    text: str = field(repr=False)
    source: str = "<spec>"
    warnings: tuple[str, ...] = ()  # things the spec allows but that are probably not meant, with their lines

    def tasks(self) -> list[RunTask]:
        """Every run of the sweep: problems × optimizers × trials × seeds, each with a stable key.

        The key is a SHA-256 of the canonical JSON of (sweep, problem and its options, optimizer label,
        type and hyperparameters, seed): the same run always has the same key, which is what lets a
        restarted sweep skip the runs its store already holds.
        """
        tasks = []
        for problem in self.problems:
            for opt in self.optimizers:
                for trial, hyper in enumerate(opt.configs(self.search_seed)):
                    for seed in self.seeds:
                        identity = {
                            "sweep": self.name,
                            "problem": problem.label,
                            "problem_options": problem.options,
                            "optimizer": opt.label,
                            "optimizer_type": opt.type,
                            "hyperparameters": hyper,
                            "seed": seed,
                        }
                        tasks.append(
                            RunTask(
                                key=hashlib.sha256(canonical_json(identity).encode()).hexdigest()[:32],
                                sweep=self.name,
                                problem=problem.label,
                                problem_kind=problem.kind,
                                problem_options=problem.options,
                                optimizer=opt.label,
                                optimizer_type=opt.type,
                                trial=trial,
                                hyperparameters=hyper,
                                seed=seed,
                                metrics=self.metrics,
                            )
                        )
        return tasks


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal data, equal text (floats written exactly by ``repr``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_int(*parts: Any) -> int:
    """A 63-bit integer from SHA-256 of the parts' canonical JSON — a stable seed (Python's hash() is not)."""
    return int(hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()[:16], 16) >> 1


# -- loading ------------------------------------------------------------------------------------------------
def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec; raise :class:`SpecError` naming the line of the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); save the spec as UTF-8",
            source=str(path),
        ) from exc
    return parse_spec(text, source=str(path))


def parse_spec(text: str, *, source: str = "<spec>", probe_datasets: bool = True) -> SweepSpec:
    """Validate TOML ``text`` as a sweep spec (see the module docstring for the format).

    Each dataset problem's data set is loaded once here, so a missing package (scikit-learn for
    ``digits``) fails the spec, not every run; ``probe_datasets=False`` skips that, for re-reading the
    spec of runs already stored.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise SpecError(f"not valid TOML: {exc}", source=source, line=int(match[1]) if match else None) from exc
    return _Checker(text, source, probe_datasets=probe_datasets).sweep(data)


class _Checker:
    """Validates the parsed TOML, reporting each problem at the line of the key it concerns."""

    def __init__(self, text: str, source: str, *, probe_datasets: bool) -> None:
        self.lines = _key_lines(text)
        self.text = text
        self.source = source
        self.probe_datasets = probe_datasets
        self.warnings: list[str] = []

    def fail(self, path: Sequence[str], message: str) -> SpecError:
        return SpecError(message, source=self.source, line=self.line_of(path), key=".".join(path))

    def warn(self, path: Sequence[str], message: str) -> None:
        self.warnings.append(str(self.fail(path, message)))

    def line_of(self, path: Sequence[str]) -> int | None:
        """The line of ``path``, or of its nearest parent the scan placed."""
        for n in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], path: Sequence[str]) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail([*path, key], f"unknown key; allowed here: {', '.join(sorted(allowed))}")

    # -- top level --------------------------------------------------------------------------------------
    def sweep(self, data: dict[str, Any]) -> SweepSpec:
        self.unknown_keys(data, TOP_KEYS, [])
        name = data.get("name", Path(self.source).stem if self.source != "<spec>" else "sweep")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise self.fail(["name"], f"the sweep name must be letters, digits, '_', '-' or '.', got {name!r}")
        seeds = self.seeds(data.get("seeds", [0]))
        search_seed = data.get("search_seed", 0)
        if not is_integer(search_seed) or search_seed < 0:
            raise self.fail(["search_seed"], f"must be an integer ≥ 0, got {search_seed!r}")
        metrics = data.get("metrics", list(METRICS))
        if not isinstance(metrics, list) or not metrics:
            raise self.fail(["metrics"], f"must be a non-empty list of metric names from {', '.join(METRICS)}")
        for metric in metrics:
            if metric not in METRICS:
                raise self.fail(["metrics"], f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        problems_table = data.get("problems")
        if not isinstance(problems_table, dict) or not problems_table:
            raise self.fail(["problems"], "the spec needs at least one [problems.NAME] table")
        optimizers_table = data.get("optimizers")
        if not isinstance(optimizers_table, dict) or not optimizers_table:
            raise self.fail(["optimizers"], "the spec needs at least one [optimizers.NAME] table")
        problems = tuple(self.problem(label, table) for label, table in problems_table.items())
        kept = list(dict.fromkeys(metrics))
        for problem in problems:
            if problem.rank_by not in kept:
                kept.append(problem.rank_by)
        optimizers = tuple(
            self.optimizer(label, table, problems, search_seed) for label, table in optimizers_table.items()
        )
        self.warn_noise_free(problems, seeds)
        if "metrics" in data:
            self.warn_unmeasured(list(dict.fromkeys(metrics)), problems)
        return SweepSpec(
            name=name,
            seeds=seeds,
            search_seed=search_seed,
            metrics=tuple(kept),
            problems=problems,
            optimizers=optimizers,
            text=self.text,
            source=self.source,
            warnings=tuple(self.warnings),
        )

    def warn_noise_free(self, problems: tuple[ProblemSpec, ...], seeds: tuple[int, ...]) -> None:
        """Seeds differ only by a surface's start and gradient noise: without either, they repeat one run."""
        if len(seeds) < 2:
            return
        for problem in problems:
            if problem.deterministic:
                self.warn(
                    ["problems", problem.label],
                    f"start_noise and grad_noise are 0, so all {len(seeds)} seeds give the same run (the report "
                    "shows no interval for it); set start_noise = 0.1 to compare over starts, or seeds = 1",
                )

    def warn_unmeasured(self, metrics: list[str], problems: tuple[ProblemSpec, ...]) -> None:
        """A metric listed in ``metrics`` that no problem of the spec measures would stay empty in every run."""
        for metric in metrics:
            if any(metric in problem.measured for problem in problems):
                continue
            if metric in VALIDATION_METRICS and all(problem.kind == "surface" for problem in problems):
                why = "it needs a validation set, which only dataset problems have"
            else:
                why = "an accuracy needs a classification data set, and the data sets here are regressions"
            self.warn(["metrics"], f"{metric!r} is measured by no problem of this spec ({why}); remove it")

    def seeds(self, value: Any) -> tuple[int, ...]:
        if is_integer(value):
            if value < 1:
                raise self.fail(["seeds"], f"a seed count must be ≥ 1, got {value}")
            return tuple(range(value))
        if not isinstance(value, list) or not value:
            raise self.fail(["seeds"], f"must be a count (seeds = 3) or a list of integers, got {value!r}")
        for seed in value:
            if not is_integer(seed) or seed < 0:
                raise self.fail(["seeds"], f"seeds must be integers ≥ 0, got {seed!r}")
        if len(set(value)) != len(value):
            raise self.fail(["seeds"], f"seeds repeat: {value}; a repeated seed would duplicate runs")
        return tuple(value)

    # -- problems ---------------------------------------------------------------------------------------
    def problem(self, label: str, table: Any) -> ProblemSpec:
        path = ["problems", label]
        if not isinstance(table, dict):
            raise self.fail(path, 'must be a table, e.g. [problems.rosenbrock] with surface = "rosenbrock"')
        kinds = [kind for kind in PROBLEM_KINDS if kind in table]
        if len(kinds) != 1:
            raise self.fail(path, 'a problem needs exactly one of surface = "NAME" or dataset = "NAME"')
        if kinds[0] == "surface":
            options = self.surface_problem(table, path)
            default_rank = "final_loss"
        else:
            options = self.dataset_problem(table, path)
            default_rank = "final_val_loss"
        rank_by = table.get("rank_by", default_rank)
        if rank_by not in METRICS or rank_by in ("steps_to_target", "seconds_to_target"):
            allowed = [m for m in METRICS if m not in ("steps_to_target", "seconds_to_target")]
            raise self.fail([*path, "rank_by"], f"unknown ranking metric {rank_by!r}; choose from {', '.join(allowed)}")
        if kinds[0] == "surface" and rank_by in VALIDATION_METRICS:
            raise self.fail([*path, "rank_by"], f"{rank_by!r} needs a validation set; surfaces have none")
        if rank_by in ACCURACY_METRICS and kinds[0] == "dataset" and _is_regression(options["dataset"]):
            raise self.fail(
                [*path, "rank_by"],
                f"{options['dataset']!r} is a regression data set and has no {rank_by!r}; "
                'rank by "final_val_loss" (its mean squared error)',
            )
        # Losses on a surface span many decades (1e-2 … 1e-30 between optimizers and seeds), so they are
        # averaged on a log scale by default; a network's losses and accuracies are compared as they are.
        # A surface without a minimum (a saddle) has no suboptimality: its loss is f itself, often < 0.
        positive = kinds[0] == "dataset" or _bounded_below(options["surface"])
        loss_metric = rank_by in ("final_loss", "best_loss", "final_val_loss", "best_val_loss")
        scale = table.get("scale", "log" if kinds[0] == "surface" and loss_metric and positive else "linear")
        if scale not in SCALES:
            raise self.fail([*path, "scale"], f"must be one of {', '.join(map(repr, SCALES))}, got {scale!r}")
        if scale == "log" and not (loss_metric and positive):
            raise self.fail(
                [*path, "scale"],
                f'a log scale needs a positive metric; {rank_by!r} on this problem can be ≤ 0: use scale = "linear"',
            )
        return ProblemSpec(label=label, kind=kinds[0], options=options, rank_by=rank_by, scale=scale)

    def surface_problem(self, table: dict[str, Any], path: list[str]) -> dict[str, Any]:
        from descentlab import surfaces  # imported only when a spec names a surface

        self.unknown_keys(table, SURFACE_KEYS, path)
        name = table["surface"]
        try:
            surface = surfaces.get(name)
        except (KeyError, ValueError, TypeError) as exc:
            raise self.fail([*path, "surface"], f"unknown surface {name!r}: {_reason(exc)}") from exc
        steps = self.positive_int(table, "steps", path, default=None)
        start = table.get("start")
        if start is None:
            start = [float(v) for v in np.asarray(surface.start, dtype=float).ravel()]
        elif not isinstance(start, list) or len(start) != 2 or not all(is_real(v) and math.isfinite(v) for v in start):
            raise self.fail([*path, "start"], f"must be two finite numbers [x, y], got {start!r}")
        record_every = self.positive_int(table, "record_every", path, default=max(1, steps // 200))
        return {
            "surface": name,
            "steps": steps,
            "start": [float(v) for v in start],
            "start_noise": self.nonneg_float(table, "start_noise", path),
            "grad_noise": self.nonneg_float(table, "grad_noise", path),
            "record_every": record_every,
            "target": self.target(table, path, allowed=("loss",)),
        }

    def dataset_problem(self, table: dict[str, Any], path: list[str]) -> dict[str, Any]:
        from descentlab import data, nn  # imported only when a spec names a dataset

        self.unknown_keys(table, DATASET_KEYS, path)
        name = table["dataset"]
        if not isinstance(name, str) or name not in data.DATASETS:
            raise self.fail([*path, "dataset"], f"unknown dataset {name!r}; available: {', '.join(data.DATASETS)}")
        if self.probe_datasets:
            try:
                data.load(name)
            except (ImportError, OSError, ValueError) as exc:
                raise self.fail([*path, "dataset"], f"cannot load {name!r}: {_reason(exc)}") from exc
        hidden = table.get("hidden", [32])
        if not isinstance(hidden, list) or not all(is_integer(h) and h > 0 for h in hidden):
            raise self.fail(
                [*path, "hidden"], f"must be a list of positive layer widths, e.g. [32, 16]; got {hidden!r}"
            )
        batch_size = table.get("batch_size", 32)
        if batch_size is not False and (not is_integer(batch_size) or batch_size < 1):
            raise self.fail(
                [*path, "batch_size"], f"must be a positive integer (or false for full batch), got {batch_size!r}"
            )
        val_fraction = table.get("val_fraction", 0.2)
        if not is_real(val_fraction) or not 0 < val_fraction < 1:
            raise self.fail([*path, "val_fraction"], f"must lie in (0, 1), got {val_fraction!r}; try 0.2")
        activation = table.get("activation", "relu")
        if activation not in nn.ACTIVATIONS:
            raise self.fail(
                [*path, "activation"], f"unknown activation {activation!r}; choose from {', '.join(nn.ACTIVATIONS)}"
            )
        if "init" in table:
            try:
                if not isinstance(table["init"], str):
                    raise TypeError(f"an initializer is named by a string, got {table['init']!r}")
                nn.get_initializer(table["init"])
            except (KeyError, ValueError, TypeError) as exc:
                raise self.fail([*path, "init"], _reason(exc)) from exc
        standardize = table.get("standardize", True)
        if not isinstance(standardize, bool):
            raise self.fail([*path, "standardize"], f"must be true or false, got {standardize!r}")
        split_seed = table.get("split_seed", 0)
        if not is_integer(split_seed) or split_seed < 0:
            raise self.fail([*path, "split_seed"], f"must be an integer ≥ 0, got {split_seed!r}")
        if _is_regression(name):
            targets, why = ("loss",), f" ({name!r} is a regression data set: it has no accuracy)"
        else:
            targets, why = ("loss", "val_acc"), ""
        return {
            "dataset": name,
            "hidden": hidden,
            "activation": activation,
            "init": table.get("init"),
            "epochs": self.positive_int(table, "epochs", path, default=None),
            "batch_size": None if batch_size is False else batch_size,
            "val_fraction": float(val_fraction),
            "split_seed": split_seed,
            "standardize": standardize,
            "target": self.target(table, path, allowed=targets, why=why),
        }

    def positive_int(self, table: dict[str, Any], key: str, path: list[str], default: int | None) -> int:
        value = table.get(key, default)
        if value is None:
            raise self.fail([*path, key] if key in table else path, f"{key} is required (a positive integer)")
        if not is_integer(value) or value < 1:
            raise self.fail([*path, key], f"must be a positive integer, got {value!r}")
        return value

    def nonneg_float(self, table: dict[str, Any], key: str, path: list[str]) -> float:
        value = table.get(key, 0.0)
        if not is_real(value) or not 0 <= value < math.inf:
            raise self.fail([*path, key], f"must be a finite number ≥ 0, got {value!r}")
        return float(value)

    def target(
        self, table: dict[str, Any], path: list[str], allowed: tuple[str, ...], why: str = ""
    ) -> list[Any] | None:
        target = table.get("target")
        if target is None:
            return None
        example = " or ".join(f"{{ {name} = …}}" for name in allowed)
        if not isinstance(target, dict) or len(target) != 1:
            raise self.fail([*path, "target"], f"must name one metric and its value: {example}")
        ((metric, value),) = target.items()
        if metric not in allowed:
            raise self.fail(
                [*path, "target", metric], f"targets here are on {' or '.join(allowed)}, not {metric!r}{why}"
            )
        if not is_real(value) or not math.isfinite(value):
            raise self.fail([*path, "target", metric], f"must be a finite number, got {value!r}")
        if metric == "val_acc" and not 0 < value <= 1:
            raise self.fail([*path, "target", metric], f"an accuracy target lies in (0, 1], got {value}")
        if metric == "loss" and value < 0:
            raise self.fail([*path, "target", metric], f"a loss target must be ≥ 0, got {value}")
        return [metric, float(value)]

    # -- optimizers -------------------------------------------------------------------------------------
    def optimizer(self, label: str, table: Any, problems: tuple[ProblemSpec, ...], search_seed: int) -> OptimizerSpec:
        path = ["optimizers", label]
        if not isinstance(table, dict):
            raise self.fail(path, "must be a table, e.g. [optimizers.adam] with space = { lr = … }")
        self.unknown_keys(table, OPTIMIZER_KEYS, path)
        kind = table.get("type", label)
        type_path = [*path, "type"] if "type" in table else path
        if not isinstance(kind, str) or kind.lower() not in OPTIMIZERS:
            raise self.fail(type_path, f"unknown optimizer {kind!r}; known: {', '.join(OPTIMIZERS)}")
        kind = kind.lower()
        if kind in SECOND_ORDER:
            for problem in problems:
                if problem.kind != "surface":
                    raise self.fail(
                        type_path,
                        f"{kind} needs the Hessian, which only surface problems provide; problem "
                        f"{problem.label!r} is a dataset (remove one of them or split the spec)",
                    )
        search = table.get("search", "grid")
        if search not in SEARCHES:
            raise self.fail([*path, "search"], f"must be one of {', '.join(map(repr, SEARCHES))}, got {search!r}")
        space_table = table.get("space", {})
        if not isinstance(space_table, dict):
            raise self.fail([*path, "space"], "must be a table of hyperparameters, e.g. { lr = [0.01, 0.1] }")
        accepted = _hyperparameter_names(kind)
        space = []
        for name in sorted(space_table):
            if name not in accepted:
                raise self.fail(
                    [*path, "space", name], f"{kind} has no hyperparameter {name!r}; it takes {', '.join(accepted)}"
                )
            space.append(self.dimension(name, space_table[name], [*path, "space", name], search))
        space_t = tuple(space)
        if search == "grid":
            size = math.prod(len(d.grid()) for d in space_t)
            trials = table.get("trials", size)
            if not is_integer(trials) or trials < 1:
                raise self.fail([*path, "trials"], f"must be a positive integer, got {trials!r}")
            if trials != size:
                raise self.fail(
                    [*path, "trials"],
                    f"the grid has {size} points but the budget says trials = {trials}; "
                    f'make them agree (or use search = "random" for a budget smaller than the grid)',
                )
        else:
            if "trials" not in table:
                raise self.fail(path, "a random search needs a budget: trials = N")
            trials = table["trials"]
            if not is_integer(trials) or trials < 1:
                raise self.fail([*path, "trials"], f"must be a positive integer, got {trials!r}")
        spec = OptimizerSpec(label=label, type=kind, search=search, trials=trials, space=space_t)
        self.warn_repeats(spec, search_seed, path)
        # Constructing the optimizer runs its own checks (beta1 < 1, eps > 0 …) now, before any run starts,
        # and reports them at the space's line: for every trial that will run, and for every choice and
        # both ends of every range (each varied alone from the first trial), whatever the draws.
        first = spec.configs(search_seed)[0]
        extremes = [{**first, d.name: value} for d in space_t for value in d.extremes()]
        for hyper in [*extremes, *spec.configs(search_seed)]:
            try:
                OPTIMIZERS[kind](**hyper)
            except (ValueError, TypeError) as exc:
                bad = next((name for name in sorted(hyper) if re.search(rf"\b{name}\b", str(exc))), None)
                where = [*path, "space", bad] if bad else [*path, "space"]
                raise self.fail(where, f"{kind} rejects {hyper}: {exc}") from exc
        return spec

    def warn_repeats(self, spec: OptimizerSpec, search_seed: int, path: list[str]) -> None:
        """A configuration drawn twice (or a grid whose range points round to one value) runs once."""
        distinct = len(spec.configs(search_seed))
        if distinct == spec.trials:
            return
        if spec.search == "random":
            what, fix = "the random search drew", f"set trials = {distinct}, or widen the space"
        else:
            what, fix = "the grid holds", "widen its ranges or lower their points"
        self.warn(
            path,
            f"{what} {spec.trials} configurations, {distinct} distinct; each distinct one runs once, so this "
            f"optimizer has {distinct} trials: {fix}",
        )

    def dimension(self, name: str, value: Any, path: list[str], search: str) -> Dimension:
        if isinstance(value, list):
            if not value:
                raise self.fail(path, "an empty list of choices; give at least one value")
            repeated = next((v for i, v in enumerate(value) if v in value[:i]), None)
            if repeated is not None:
                raise self.fail(
                    path, f"{repeated!r} is listed twice in {value}; a choice is one trial: list each value once"
                )
            return Dimension(name, "choice", values=tuple(value))
        if not isinstance(value, dict):
            return Dimension(name, "fixed", values=(value,))
        kinds = [kind for kind in RANGE_KINDS if kind in value]
        extra = set(value) - set(RANGE_KINDS) - {"points"}
        if len(kinds) != 1 or extra:
            raise self.fail(
                path, "a range is { log_uniform = [low, high] } or { uniform = [low, high] } (+ points = n)"
            )
        kind = kinds[0]
        bounds = value[kind]
        if not isinstance(bounds, list) or len(bounds) != 2 or not all(is_real(b) and math.isfinite(b) for b in bounds):
            raise self.fail([*path, kind], f"must be two finite numbers [low, high], got {bounds!r}")
        low, high = float(bounds[0]), float(bounds[1])
        if kind == "log_uniform" and (low <= 0 or high <= 0):
            raise self.fail([*path, kind], f"log_uniform bounds must be > 0, got {bounds}; e.g. [1e-4, 1e-1]")
        if name == "lr" and low < 0:
            raise self.fail([*path, kind], f"a learning-rate range must be ≥ 0, got {bounds}")
        if low >= high:
            raise self.fail([*path, kind], f"low must be below high, got {bounds}")
        points = value.get("points")
        if points is not None and (not is_integer(points) or points < 2):
            raise self.fail([*path, "points"], f"must be an integer ≥ 2, got {points!r}")
        if search == "random" and points is not None:
            raise self.fail([*path, "points"], "points = n makes a grid; a random search draws from the range itself")
        if search == "grid" and points is None:
            raise self.fail(path, f"a grid search needs points = n to turn the {kind} range into a grid")
        return Dimension(name, kind, low=low, high=high, points=points)


def _bounded_below(surface_name: str) -> bool:
    from descentlab import surfaces

    return math.isfinite(surfaces.get(surface_name).minimum_value)


def _is_regression(dataset: str) -> bool:
    """Whether the data set's targets are values (no accuracy to measure) rather than classes."""
    from descentlab import data

    return data.DATASETS[dataset].task == "regression"


def _hyperparameter_names(kind: str) -> list[str]:
    signature = inspect.signature(OPTIMIZERS[kind].__init__)
    return [p.name for p in signature.parameters.values() if p.name not in ("self", "nonfinite")]


def _reason(exc: BaseException) -> str:
    return exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_INLINE_KEY = re.compile(r"[{,]\s*([A-Za-z0-9_\-]+)\s*=")


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", key)]


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each dotted key path of a TOML document to the (1-based) line that defines it.

    ``tomllib`` returns values without positions; this light scan recovers them for error messages. It
    follows table headers, dotted keys and one level of inline tables (``lr = { log_uniform = … }``),
    which is all a sweep spec uses; anything it cannot place falls back to its nearest parent's line.
    """
    lines: dict[tuple[str, ...], int] = {}
    table: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            table = _split_key(header[2])
            lines.setdefault(tuple(table), number)
            continue
        key = _KEY.match(raw)
        if key:
            path = (*table, *_split_key(key[1]))
            for end in range(len(table) + 1, len(path) + 1):  # a dotted key also defines its prefixes
                lines.setdefault(path[:end], number)
            for nested in _INLINE_KEY.finditer(raw[key.end() :]):
                lines.setdefault((*path, nested[1]), number)
            # One more level for `space = { lr = { log_uniform = … } }` written on one line.
            depth_two = re.finditer(r"([A-Za-z0-9_\-]+)\s*=\s*\{([^{}]*)\}", raw[key.end() :])
            for inner in depth_two:
                for nested in _INLINE_KEY.finditer("{" + inner[2]):
                    lines.setdefault((*path, inner[1], nested[1]), number)
    return lines
