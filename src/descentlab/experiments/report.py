"""Reports: what a result store says about "which optimizer should I use?" — computed, then drawn.

:func:`summarize` computes (no matplotlib): for each problem and optimizer, every trial's score over the
seeds, the best trial, a ranking with confidence intervals, and steps/seconds to the target.
:func:`write_report` draws it into one self-contained HTML file (figures embedded as base64 PNG, no
scripts or styles fetched from anywhere); :func:`ranking_markdown` writes the ranking as Markdown.

How the numbers are made (each stated in the report too):

- A *trial* is a configuration: an optimizer with its hyperparameter values, run on every seed. Runs are
  grouped by that configuration as stored, never by a trial number, so a store resumed after its spec
  changed (a finer grid sharing some points with the old one) reads like a fresh store of the new spec. Only
  runs of the sweep's current plan are read: configurations an earlier version of the spec had and the
  current one dropped stay in the store but not in the report. A trial's number is its place in the
  current spec (``descentlab compare`` renumbers stored runs when the spec changes).
- A trial's *score* is the mean over seeds of the problem's ranking metric (``rank_by``) — of its log₁₀
  when the problem's ``scale`` is ``"log"`` (the default for surface losses, which span many decades; the
  report then shows the geometric mean 10^mean(log₁₀ v), values below 1e-20 counted as 1e-20). A trial with
  a seed without a value (it failed, or diverged before the metric had one) scores worst (+∞ for a loss, −∞
  for an accuracy): an optimizer that needs luck to converge does not converge. The report names the cause
  (failed, diverged, no value) where the score would be.
- The *best trial* of an optimizer is the one with the best score. Its interval is the Student-t 95%
  confidence interval of the mean over seeds, x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n (on a log scale: for the mean of log₁₀,
  then mapped back). It is chosen and evaluated on the same seeds, so it is optimistic by the selection
  (Schmidt et al. 2021, "Descending through a crowded valley", §3); equal trial budgets keep that optimism
  equal between optimizers.
- Steps and seconds to target: medians over the seeds that reached the target, with the count reaching;
  "not reached" when none did, "n/a" when the problem sets no target or the spec's ``metrics`` leave them
  out (every run measures every metric; ``metrics`` chooses what the report shows).
- On a surface without start or gradient noise every seed gives the same run: its interval (zero width) and
  the verdict against the first read "n/a (deterministic …)" rather than "worse".
"""

from __future__ import annotations

import base64
import html
import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.experiments.spec import METRICS, canonical_json, noise_free
from descentlab.experiments.store import Store

#: The interval of a problem whose seeds all give the same run (a surface without start or gradient noise).
DETERMINISTIC = "n/a (deterministic: every seed gives the same run)"
#: A cell of a metric the spec's ``metrics`` leave out (every run measured it; the spec chose not to show it).
NOT_KEPT = "n/a (not kept)"
#: The to-target cells of a problem without a target.
NO_TARGET = "n/a (no target)"
#: On a log scale, losses below this count as this (f − f* reached the precision of θ's float64 rounding).
LOG_FLOOR = 1e-20

# Student-t 0.975 quantiles for 1…30 degrees of freedom; above 30, t ≈ z + (z³ + z)/(4ν) with z = 1.95996.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` ≥ 1 degrees of freedom (table, then Cornish–Fisher)."""
    if df < 1:
        raise ValueError(f"df={df} must be ≥ 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df)


@dataclass(frozen=True)
class TrialStats:
    """One trial (a hyperparameter configuration) of one optimizer on one problem, over its seeds."""

    optimizer: str
    optimizer_type: str
    trial: int
    hyperparameters: dict[str, Any]
    seeds: tuple[int, ...]
    values: tuple[float | None, ...]  # the ranking metric per seed; None: see missing
    steps_to_target: tuple[float | None, ...]
    seconds_to_target: tuple[float | None, ...]
    run_keys: tuple[str, ...]
    higher_is_better: bool
    log_scale: bool = False
    val_acc: tuple[float | None, ...] = ()  # final validation accuracy per seed (dataset problems)
    missing: tuple[str | None, ...] = ()  # per seed, why its value is None: "failed", "diverged" or "no value"

    @property
    def complete(self) -> bool:
        """Every seed finished with a finite value."""
        return all(v is not None for v in self.values)

    @property
    def shortfall(self) -> str | None:
        """Why the trial has no score: "failed", "diverged" or "no value", the first of these that a seed
        shows; None when every seed has a value."""
        if self.complete:
            return None
        return next((why for why in ("failed", "diverged") if why in self.missing), "no value")

    def _transformed(self) -> list[float]:
        values = [v for v in self.values if v is not None]
        return [math.log10(max(v, LOG_FLOOR)) for v in values] if self.log_scale else values

    @property
    def score(self) -> float:
        """What trials are compared by: the mean over seeds (of log₁₀ on a log scale); the worst possible
        value if any seed diverged or failed."""
        if not self.complete or not self.values:
            return -math.inf if self.higher_is_better else math.inf
        return statistics.fmean(self._transformed())

    @property
    def mean(self) -> float:
        """The score in the metric's units: the arithmetic mean, or the geometric mean on a log scale."""
        score = self.score
        return 10.0**score if self.log_scale and math.isfinite(score) else score

    def interval(self, low: float = -math.inf, high: float = math.inf) -> tuple[float, float]:
        """Student-t 95% confidence interval of the mean over seeds, in the metric's units, within [low, high].

        On a log scale the interval is computed for the mean of log₁₀ and mapped back (so it is positive and
        asymmetric). On a linear scale it is clipped to the metric's range: the mean of a loss that cannot
        be negative cannot be either. One seed gives the point itself.
        """
        if not self.complete:
            return (self.mean, self.mean)
        values = self._transformed()
        if len(values) < 2:
            return (self.mean, self.mean)
        half = t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
        lower, upper = self.score - half, self.score + half
        if self.log_scale:
            return (10.0**lower, 10.0**upper)
        return (max(lower, low), min(upper, high))

    def reached(self) -> int:
        """How many seeds reached the target."""
        return sum(s is not None for s in self.steps_to_target)

    def median_to_target(self) -> tuple[float | None, float | None]:
        """Median steps and seconds to target over the seeds that reached it (None if none did)."""
        steps = [s for s in self.steps_to_target if s is not None]
        seconds = [s for s in self.seconds_to_target if s is not None]
        return (statistics.median(steps) if steps else None, statistics.median(seconds) if seconds else None)

    @property
    def lr(self) -> float | None:
        """The learning rate of the trial (its default when the search space fixes none)."""
        if "lr" in self.hyperparameters:
            return float(self.hyperparameters["lr"])
        from descentlab.optim import OPTIMIZERS

        return float(OPTIMIZERS[self.optimizer_type]().lr)


@dataclass(frozen=True)
class OptimizerResult:
    """An optimizer on a problem: all its trials and its best one."""

    optimizer: str
    optimizer_type: str
    trials: tuple[TrialStats, ...]
    best: TrialStats
    runs: int
    diverged: int
    failed: int

    def fastest(self) -> TrialStats | None:
        """The trial reaching the target in the fewest median steps among those reaching it on every seed."""
        candidates = [t for t in self.trials if t.steps_to_target and t.reached() == len(t.steps_to_target)]
        if not candidates:
            return None
        return min(candidates, key=lambda t: (t.median_to_target()[0], t.trial))


@dataclass(frozen=True)
class ProblemSummary:
    """One problem: the ranking metric and the optimizers, best first."""

    problem: str
    kind: str
    options: dict[str, Any]
    rank_by: str
    higher_is_better: bool
    ranking: tuple[OptimizerResult, ...]
    log_scale: bool = False
    metrics: tuple[str, ...] = tuple(METRICS)  # what the spec's ``metrics`` (and ``rank_by``) ask to show

    @property
    def deterministic(self) -> bool:
        """A surface without start or gradient noise: every seed gives the same run, so seeds add no spread."""
        return noise_free(self.kind, self.options)

    @property
    def metric_range(self) -> tuple[float, float]:
        """Where the ranking metric can lie: [0, 1] for accuracies; [0, ∞) for the losses of dataset problems
        and for a surface's suboptimality f − f*; unbounded for a surface without a minimum (f itself)."""
        if self.rank_by in ("val_acc", "best_val_acc"):
            return (0.0, 1.0)
        if self.kind == "dataset":
            return (0.0, math.inf)
        from descentlab import surfaces

        bounded = math.isfinite(surfaces.get(self.options["surface"]).minimum_value)
        return (0.0 if bounded else -math.inf, math.inf)


@dataclass(frozen=True)
class Summary:
    """Everything a report shows, computed from a store."""

    sweep: str
    spec_text: str
    problems: tuple[ProblemSummary, ...]
    seeds: tuple[int, ...]
    environments: dict[int, dict[str, Any]]
    executors: tuple[str, ...]
    planned: int
    finished: int

    def mean_places(self) -> list[tuple[str, float, list[int]]]:
        """Each optimizer's places on every problem and their mean, best first (a summary across problems)."""
        places: dict[str, list[int]] = {}
        for problem in self.problems:
            for place, result in enumerate(problem.ranking, start=1):
                places.setdefault(result.optimizer, []).append(place)
        rows = [(name, statistics.fmean(p), p) for name, p in places.items() if len(p) == len(self.problems)]
        return sorted(rows, key=lambda row: (row[1], row[0]))


def summarize(store: Store, sweep: str | None = None) -> Summary:
    """Compute a report's content from ``store`` (the only sweep it holds, or the one named)."""
    sweeps = store.sweeps()
    if not sweeps:
        raise ValueError(f"{store.path} holds no sweep; run `descentlab compare SPEC.toml --db {store.path}` first")
    if sweep is None:
        if len(sweeps) > 1:
            names = ", ".join(s["name"] for s in sweeps)
            raise ValueError(f"{store.path} holds several sweeps ({names}); choose one with sweep=/--sweep")
        info = sweeps[0]
    else:
        matching = [s for s in sweeps if s["name"] == sweep]
        if not matching:
            raise ValueError(f"no sweep {sweep!r} in {store.path}; it holds {', '.join(s['name'] for s in sweeps)}")
        info = matching[0]
    runs = store.runs(info["name"])
    if not runs:
        raise ValueError(f"sweep {info['name']!r} has no finished run yet; run `descentlab compare` to fill it")
    from descentlab.experiments.spec import parse_spec

    spec = parse_spec(info["spec"], source=info["source"], probe_datasets=False)
    problems_spec = {p.label: p for p in spec.problems}
    problems = []
    for problem in dict.fromkeys(r["problem"] for r in runs):
        problem_runs = [r for r in runs if r["problem"] == problem]
        metric = problems_spec[problem].rank_by
        log_scale = problems_spec[problem].scale == "log"
        higher = METRICS[metric]
        results = []
        for optimizer in dict.fromkeys(r["optimizer"] for r in problem_runs):
            opt_runs = [r for r in problem_runs if r["optimizer"] == optimizer]
            trials = [_trial(group, metric, higher, log_scale) for group in _configurations(opt_runs)]
            best = _best(trials, higher)
            results.append(
                OptimizerResult(
                    optimizer=optimizer,
                    optimizer_type=trials[0].optimizer_type,
                    trials=tuple(trials),
                    best=best,
                    runs=len(opt_runs),
                    diverged=sum(r["diverged"] for r in opt_runs),
                    failed=sum(r["status"] == "failed" for r in opt_runs),
                )
            )
        results.sort(key=lambda res: (-res.best.score if higher else res.best.score, res.optimizer))
        problems.append(
            ProblemSummary(
                problem=problem,
                kind=problem_runs[0]["problem_kind"],
                options=problem_runs[0]["problem_options"],
                rank_by=metric,
                log_scale=log_scale,
                higher_is_better=higher,
                ranking=tuple(results),
                metrics=spec.metrics,
            )
        )
    return Summary(
        sweep=info["name"],
        spec_text=info["spec"],
        problems=tuple(problems),
        seeds=tuple(sorted({r["seed"] for r in runs})),
        environments={k: v for k, v in store.environments().items() if k in {r["environment"] for r in runs}},
        executors=tuple(sorted({r["executor"] for r in runs})),
        planned=info["planned"],
        finished=info["finished"],
    )


def _configurations(runs: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The runs of one optimizer grouped by configuration (hyperparameters as stored), each group by seed;
    groups in trial order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(runs, key=lambda r: (r["trial"], r["seed"])):
        groups.setdefault(canonical_json(run["hyperparameters"]), []).append(run)
    return list(groups.values())


def _trial(runs: Sequence[dict[str, Any]], metric: str, higher: bool, log_scale: bool) -> TrialStats:
    """One configuration's runs (one per seed) as a trial scored by ``metric``."""
    missing = tuple(_missing(run, metric) for run in runs)
    return TrialStats(
        optimizer=runs[0]["optimizer"],
        optimizer_type=runs[0]["optimizer_type"],
        trial=runs[0]["trial"],
        hyperparameters=runs[0]["hyperparameters"],
        seeds=tuple(r["seed"] for r in runs),
        values=tuple(None if why else r[metric] for r, why in zip(runs, missing, strict=True)),
        steps_to_target=tuple(r["steps_to_target"] for r in runs),
        seconds_to_target=tuple(r["seconds_to_target"] for r in runs),
        run_keys=tuple(r["run_key"] for r in runs),
        val_acc=tuple(r["val_acc"] for r in runs),
        higher_is_better=higher,
        log_scale=log_scale,
        missing=missing,
    )


def _missing(run: dict[str, Any], metric: str) -> str | None:
    """Why a run has no value of ``metric``: it failed, diverged, or has none (a row of an older store that
    did not keep it); None when it has one."""
    if run["status"] == "failed":
        return "failed"
    if run[metric] is not None:
        return None
    return "diverged" if run["diverged"] else "no value"


def _best(trials: Sequence[TrialStats], higher: bool) -> TrialStats:
    return min(trials, key=lambda t: (-t.score if higher else t.score, t.trial))


# -- text ------------------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def optimizer_call(trial: TrialStats) -> str:
    """The best configuration as Python: ``dl.optim.Adam(lr=0.00316, beta2=0.999)`` (copyable)."""
    from descentlab.optim import OPTIMIZERS

    args = ", ".join(f"{k}={v!r}" for k, v in sorted(trial.hyperparameters.items()))
    return f"dl.optim.{OPTIMIZERS[trial.optimizer_type].__name__}({args})"


def optimizer_toml(trial: TrialStats) -> str:
    """The best configuration as a spec fragment that reruns exactly it."""
    space = ", ".join(f"{k} = {_toml_value(v)}" for k, v in sorted(trial.hyperparameters.items()))
    return f'[optimizers.{trial.optimizer}]\ntype = "{trial.optimizer_type}"\nspace = {{ {space} }}'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    """The mean over seeds, or None when a seed has no value (diverged, or the metric was not kept)."""
    return statistics.fmean(values) if values and all(v is not None for v in values) else None


def ranking_rows(problem: ProblemSummary) -> list[dict[str, str]]:
    """The ranking table of one problem as text cells (shared by the HTML and the Markdown output)."""
    rows = []
    first_low, first_high = problem.ranking[0].best.interval(*problem.metric_range)
    for place, result in enumerate(problem.ranking, start=1):
        best = result.best
        low, high = best.interval(*problem.metric_range)
        score = best.shortfall or _fmt(best.mean)  # the cause in words where a trial has no score
        steps, seconds = _to_target(problem, best)
        same_runs = problem.deterministic and len(best.values) > 1
        if place == 1:
            versus = "—"
        elif not best.complete:
            versus = f"worse ({best.shortfall} on a seed)"
        elif same_runs:
            versus = "n/a (deterministic)"
        else:
            overlap = low <= first_high if not problem.higher_is_better else high >= first_low
            versus = "tied (CIs overlap)" if overlap else "worse"
        if same_runs:
            interval = DETERMINISTIC
        elif not best.complete or len(best.values) < 2:
            interval = "—"
        else:
            interval = f"[{_fmt(low)}, {_fmt(high)}]"
        rows.append(
            {
                "#": str(place),
                "optimizer": result.optimizer,
                f"{problem.rank_by} ({'geometric ' if problem.log_scale else ''}mean)": score,
                "95% CI": interval,
                "vs #1": versus,
                **({"val_acc (mean)": _val_acc(problem, best)} if problem.kind == "dataset" else {}),
                "steps to target": steps,
                "seconds to target": seconds,
                "trials": str(len(result.trials)),
                "diverged runs": f"{result.diverged}/{result.runs}"
                + (f" (+{result.failed} failed)" if result.failed else ""),
                "best configuration": optimizer_call(best),
            }
        )
    return rows


def _val_acc(problem: ProblemSummary, trial: TrialStats) -> str:
    return _fmt(_mean_or_none(trial.val_acc)) if "val_acc" in problem.metrics else NOT_KEPT


def _to_target(problem: ProblemSummary, trial: TrialStats) -> tuple[str, str]:
    """The steps- and seconds-to-target cells: "n/a (no target)", "n/a (not kept)" when the spec's metrics
    leave one out, "not reached (0/n)" when no seed reached the target, else the medians and the count."""
    if not problem.options.get("target"):
        return NO_TARGET, NO_TARGET
    steps, seconds = trial.median_to_target()
    count = f"({trial.reached()}/{len(trial.seeds)})"
    steps_cell = f"not reached {count}" if steps is None else f"{_fmt(steps)} {count}"
    seconds_cell = "not reached" if seconds is None else _fmt(seconds, 3)
    return (
        steps_cell if "steps_to_target" in problem.metrics else NOT_KEPT,
        seconds_cell if "seconds_to_target" in problem.metrics else NOT_KEPT,
    )


def overall_rows(summary: Summary) -> list[dict[str, str]]:
    """Mean place across problems (only optimizers run on every problem)."""
    names = [p.problem for p in summary.problems]
    return [
        {"optimizer": name, "mean place": f"{mean:.2f}", **{n: str(p) for n, p in zip(names, places, strict=True)}}
        for name, mean, places in summary.mean_places()
    ]


def ranking_markdown(summary: Summary) -> str:
    """Each problem's ranking as a Markdown table (the README's report excerpt)."""
    parts = [f"Sweep `{summary.sweep}`: {len(summary.seeds)} seeds per configuration.\n"]
    if len(summary.problems) > 1 and summary.mean_places():
        rows = overall_rows(summary)
        parts.append("**Across problems** (place on each problem, best first)\n")
        parts.append("| " + " | ".join(rows[0]) + " |")
        parts.append("|" + "|".join("---" for _ in rows[0]) + "|")
        parts.extend("| " + " | ".join(row.values()) + " |" for row in rows)
        parts.append("")
    for problem in summary.problems:
        rows = ranking_rows(problem)
        header = list(rows[0])
        parts.append(f"**{problem.problem}** ({_problem_words(problem)}), ranked by {_direction(problem)}\n")
        parts.append("| " + " | ".join(header) + " |")
        parts.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            cells = [f"`{row[h]}`" if h == "best configuration" else row[h] for h in header]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def _direction(problem: ProblemSummary) -> str:
    mean = "geometric mean" if problem.log_scale else "mean"
    return f"{mean} {problem.rank_by} over seeds ({'higher' if problem.higher_is_better else 'lower'} is better)"


def _problem_words(problem: ProblemSummary) -> str:
    o = problem.options
    if problem.kind == "surface":
        words = f"surface {o['surface']}, {o['steps']} steps from {o['start']}"
        if o.get("start_noise"):
            words += f" + N(0, {o['start_noise']}²) per seed"
        if o.get("grad_noise"):
            words += f", gradient noise σ = {o['grad_noise']}"
    else:
        batch = "full batch" if o["batch_size"] is None else f"batch {o['batch_size']}"
        words = f"dataset {o['dataset']}, MLP hidden {o['hidden']} {o['activation']}, {o['epochs']} epochs, {batch}"
    if o.get("target"):
        words += f"; target {o['target'][0]} {'≥' if o['target'][0] == 'val_acc' else '≤'} {o['target'][1]:g}"
    return words


# -- figures ---------------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _colours(labels: Sequence[str]) -> dict[str, str]:
    from descentlab.plots.style import colours

    return colours(labels)


def curves_figure(store: Store, problem: ProblemSummary) -> str:
    """Learning curves of each optimizer's best trial: the median over seeds and a min–max band (base64 PNG).

    Surfaces show the suboptimality f(θ) − f* on a log scale; datasets show the training loss and the
    validation accuracy at the end of each epoch. The x-axis counts optimizer steps.
    """
    from matplotlib.figure import Figure

    positive_loss = problem.metric_range[0] == 0.0 or problem.kind == "dataset"
    loss_label = "training loss" if problem.kind == "dataset" else ("f(θ) − f*" if positive_loss else "f(θ)")
    panels = [("train_loss", loss_label)]
    if problem.kind == "dataset":
        panels.append(("val_acc", "validation accuracy"))
    fig = Figure(figsize=(6.2 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = _colours([r.optimizer for r in problem.ranking])
    for ax, (column, label) in zip(axes, panels, strict=True):
        for result in problem.ranking:
            curves = [store.curve(key) for key in result.best.run_keys]
            steps, values = _aligned(curves, column, positive=column == "train_loss" and positive_loss)
            if steps.size == 0:
                continue
            colour = colours[result.optimizer]
            with np.errstate(all="ignore"):
                median = np.nanmedian(values, axis=0)
                low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
            ax.plot(steps, median, color=colour, lw=1.6, label=f"{result.optimizer} ({_short(result.best)})")
            ax.fill_between(steps, low, high, color=colour, alpha=0.18, lw=0)
        if column == "train_loss" and positive_loss:
            ax.set_yscale("log")
        ax.set_xlabel("optimizer step" + ("" if problem.kind == "surface" else " (one point per epoch)"))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    seeds = len(problem.ranking[0].best.seeds)
    fig.suptitle(f"{problem.problem}: best trial per optimizer, median and min–max over {seeds} seeds", fontsize=10)
    return _png(fig)


def _aligned(curves: Sequence[dict[str, list[Any]]], column: str, *, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stack the seeds' curves on the longest step grid; missing points (a diverged tail) become NaN, and so
    do values ≤ 0 when ``positive`` (a log axis: an exact optimum has no logarithm)."""
    longest = max(curves, key=lambda c: len(c["step"]))
    steps = np.asarray(longest["step"], dtype=float)
    values = np.full((len(curves), steps.size), np.nan)
    for i, curve in enumerate(curves):
        column_values = [np.nan if v is None else v for v in curve[column]]
        values[i, : len(column_values)] = column_values
    if positive:
        values = np.where(values > 0, values, np.nan)
    keep = ~np.all(np.isnan(values), axis=0)
    return steps[keep], values[:, keep]


def _short(trial: TrialStats) -> str:
    return ", ".join(
        f"{k}={_fmt(v, 3) if isinstance(v, float) else v}" for k, v in sorted(trial.hyperparameters.items())
    )


def sensitivity_figure(problem: ProblemSummary) -> str:
    """The ranking metric against the learning rate, one curve per optimizer (base64 PNG).

    Each point is a trial's mean over seeds; trials without a score (a seed diverged, failed or has no value)
    are drawn as × at the top of the axes. With other hyperparameters searched too, each lr shows its trial's
    value.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.8, 4.2))
    ax = fig.subplots()
    colours = _colours([r.optimizer for r in problem.ranking])
    finite = [t.mean for r in problem.ranking for t in r.trials if math.isfinite(t.mean)]
    log_y = not problem.higher_is_better and any(v > 0 for v in finite)
    for result in problem.ranking:
        points = sorted((t.lr, max(t.mean, LOG_FLOOR) if log_y else t.mean) for t in result.trials)
        colour = colours[result.optimizer]
        good = [(lr, s) for lr, s in points if math.isfinite(s)]
        bad = [lr for lr, s in points if not math.isfinite(s)]
        if good:
            ax.plot(*zip(*good, strict=True), "o-", color=colour, ms=4, lw=1.4, label=result.optimizer)
        if bad:
            ax.plot(bad, [1.0] * len(bad), "x", color=colour, ms=7, transform=ax.get_xaxis_transform(), clip_on=False)
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("learning rate α")
    floor_note = f" (values ≤ {LOG_FLOOR:g} drawn at {LOG_FLOOR:g})" if log_y and min(finite) < LOG_FLOOR else ""
    mean = "geometric mean" if problem.log_scale else "mean"
    ax.set_ylabel(f"{problem.rank_by} ({mean} over seeds){floor_note}", fontsize=9)
    ax.set_title(f"{problem.problem}: learning-rate sensitivity (× = no score: a seed diverged or failed)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _png(fig)


# -- HTML ------------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:0.6em 0;font-size:0.88em}
th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto;font-size:0.85em}
img{max-width:100%}.note{color:#555;font-size:0.9em}
button.copy{float:right;font-size:0.75em}
"""
_COPY_SCRIPT = (
    "document.querySelectorAll('button.copy').forEach(b=>b.onclick=()=>"
    "navigator.clipboard.writeText(b.nextElementSibling.textContent))"
)


def _table(rows: list[dict[str, str]], code_columns: Sequence[str] = ()) -> str:
    header = list(rows[0])
    lines = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for h in header:
            text = html.escape(row[h])
            cells.append(f"<td><code>{text}</code></td>" if h in code_columns else f"<td>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([*lines, "</table>"])


def _copyable(text: str) -> str:
    return f'<div><button class="copy">copy</button><pre>{html.escape(text)}</pre></div>'


def render_html(store: Store, summary: Summary) -> str:
    """The report as one HTML string: rankings, curves, sensitivity, targets, best configurations."""
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>descentlab report: {html.escape(summary.sweep)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Which optimizer? Sweep <code>{html.escape(summary.sweep)}</code></h1>",
        f"<p>{summary.finished} of {summary.planned} planned runs finished; seeds {list(summary.seeds)}; "
        f"executor(s): {', '.join(summary.executors)}.</p>",
        "<p class='note'>Each optimizer's <b>best trial</b> is the hyperparameter configuration with the best "
        "mean over seeds of the ranking metric (for surface losses, which span many decades, the geometric mean: "
        "the mean of log₁₀, values below 1e-20 counted as 1e-20); a configuration with a seed that diverged, "
        "failed or has no value counts as worst, and the table says which. "
        "Intervals are Student-t 95% confidence intervals of that mean over seeds (clipped to the metric's range); "
        "<i>tied</i> marks an optimizer whose interval overlaps the first one's, a conservative reading: "
        "overlapping intervals mean these seeds cannot tell the two apart. The best trial is chosen on "
        "the same seeds it is scored on, so its score is optimistic by the selection; equal trial budgets keep "
        "that optimism comparable. A ranking is a statement about this budget, these seeds and this problem.</p>",
    ]
    budgets = {p.problem: {r.optimizer: len(r.trials) for r in p.ranking} for p in summary.problems}
    unequal = sorted({p for p, b in budgets.items() if len(set(b.values())) > 1})
    if unequal:
        out.append(
            f"<p><b>Unequal tuning budgets</b> on {', '.join(unequal)}: optimizers with more trials had more "
            "chances to look good; read the ranking with that in mind.</p>"
        )
    if len(summary.problems) > 1 and summary.mean_places():
        out.append("<h2>Across problems</h2><p class='note'>Place of each optimizer on each problem.</p>")
        out.append(_table(overall_rows(summary)))
    for problem in summary.problems:
        out.append(
            f"<h2>{html.escape(problem.problem)}</h2><p>{html.escape(_problem_words(problem))}; "
            f"ranked by {html.escape(_direction(problem))}.</p>"
        )
        out.append("<h3>Ranking</h3>")
        out.append(_table(ranking_rows(problem), code_columns=("best configuration",)))
        out.append("<h3>Best run per optimizer, band over seeds</h3>")
        out.append(f"<img alt='learning curves' src='data:image/png;base64,{curves_figure(store, problem)}'>")
        out.append("<h3>Learning-rate sensitivity</h3>")
        out.append(f"<img alt='learning-rate sensitivity' src='data:image/png;base64,{sensitivity_figure(problem)}'>")
        out.append("<h3>Steps and seconds to target</h3>")
        out.append(_targets_table(problem))
        out.append("<h3>Best configurations (copyable)</h3>")
        for result in problem.ranking:
            out.append(f"<p><b>{html.escape(result.optimizer)}</b>, trial {result.best.trial}:</p>")
            out.append(_copyable(optimizer_call(result.best)))
            out.append(_copyable(optimizer_toml(result.best)))
    out.append("<h2>Environment</h2>")
    for env_id, env in summary.environments.items():
        out.append(f"<p>environment {env_id}:</p><pre>{html.escape(_env_text(env))}</pre>")
    out.append("<h2>Spec</h2><details><summary>the TOML this sweep ran</summary>")
    out.append(f"<pre>{html.escape(summary.spec_text)}</pre></details>")
    out.append(f"<script>{_COPY_SCRIPT}</script></body></html>")
    return "\n".join(out)


def _targets_table(problem: ProblemSummary) -> str:
    if not problem.options.get("target"):
        return "<p class='note'>This problem sets no target (add target = { loss = … } to its table).</p>"
    if "steps_to_target" not in problem.metrics:
        return "<p class='note'>The spec's metrics leave out steps_to_target; add it to metrics = […] to see it.</p>"
    seconds_kept = "seconds_to_target" in problem.metrics
    rows = []
    for result in problem.ranking:
        steps, seconds = result.best.median_to_target()
        fastest = result.fastest()
        f_steps, f_seconds = fastest.median_to_target() if fastest else (None, None)
        rows.append(
            {
                "optimizer": result.optimizer,
                "best trial: reached": f"{result.best.reached()}/{len(result.best.seeds)}",
                "best trial: median steps": _fmt(steps),
                "best trial: median seconds": _fmt(seconds, 3) if seconds_kept else NOT_KEPT,
                "fastest trial": "none reaches on every seed" if fastest is None else _short(fastest),
                "fastest: median steps": _fmt(f_steps),
                "fastest: median seconds": _fmt(f_seconds, 3) if seconds_kept else NOT_KEPT,
            }
        )
    target = problem.options["target"]
    return (
        f"<p class='note'>Target: {target[0]} {'≥' if target[0] == 'val_acc' else '≤'} {target[1]:g}. "
        "Medians over the seeds that reached it. The fastest trial is the configuration with the fewest "
        "median steps among those reaching the target on every seed. Seconds are wall-clock on the "
        "environment below and vary with machine load; steps do not.</p>" + _table(rows)
    )


def _env_text(env: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in env.items())


def write_report(store: Store, out: str | Path, *, sweep: str | None = None, markdown: str | Path | None = None) -> str:
    """Write the HTML report of ``sweep`` (or the store's only sweep) to ``out``; return the sweep's name.

    With ``markdown``, also write the ranking tables as Markdown there (for a README excerpt).
    """
    summary = summarize(store, sweep)
    Path(out).write_text(render_html(store, summary), encoding="utf-8")
    if markdown is not None:
        Path(markdown).write_text(ranking_markdown(summary), encoding="utf-8")
    return summary.sweep
