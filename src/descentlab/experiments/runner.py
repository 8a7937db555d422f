"""Run a sweep: expand the spec, skip what the store holds, execute the rest, record each result.

:func:`execute_run` performs one run from its task alone (plain data), so it runs the same in this
process, a worker process or a Ray worker. Its randomness comes from the task only:

    stream = SeedSequence([seed, H(problem)])        H = SHA-256 of the problem's canonical options

The stream draws a surface run's start perturbation and gradient noise, or a network's initial weights
and the order of its mini-batches. It deliberately does not depend on the optimizer: for a given seed
every optimizer starts from the same point (the same weights) and sees the same batches, so differences
between optimizers are paired, not confounded with luck of the draw (common random numbers). BLAS
threads are pinned to one per run (threadpoolctl), since a different thread count may change the
rounding of a matrix product and with it the trajectory.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import descentlab
from descentlab.experiments.executors import Executor, LocalExecutor, Result, Task
from descentlab.experiments.spec import RunTask, SweepSpec, digest_int, measured_metrics
from descentlab.experiments.store import Store
from descentlab.optim import NonFiniteGradientError, make_optimizer

#: ``progress(finished, total, result)``: called once before the first run (result None) and after each.
Progress = Callable[[int, int, Result | None], None]


@dataclass(frozen=True)
class SweepOutcome:
    """What one call of :func:`run_sweep` did: runs planned, already stored (``skipped_failed`` of them stored
    as failed by an earlier start), run now (``remeasured`` of them stored already, but without a metric the
    spec asks for), failed, diverged."""

    total: int
    skipped: int
    ran: int
    failed: int
    diverged: int
    seconds: float
    skipped_failed: int = 0
    remeasured: int = 0


def run_sweep(
    spec: SweepSpec,
    store: Store,
    executor: Executor | None = None,
    *,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> SweepOutcome:
    """Run every run of ``spec`` that ``store`` does not hold yet, recording each as it finishes.

    Restarting after an interruption (Ctrl-C, a kill, a crash, a lost machine) resumes: finished runs
    are skipped, runs that were in flight start again from scratch, nothing is stored twice. Failed runs
    (an exception other than divergence) are stored with their traceback and skipped too, unless
    ``retry_failed``. A stored run that lacks a metric the spec asks for and its problem has (a row of an
    older descentlab, which kept only the metrics its spec then named) runs again, and its new row replaces
    the old one. ``executor`` defaults to a :class:`LocalExecutor` on all cores.
    """
    started = time.perf_counter()
    tasks = spec.tasks()
    store.begin_sweep(spec, tasks)
    if retry_failed:
        store.forget_failed(spec.name)
    stored = store.finished_keys(spec.name)
    stored_failed = stored - store.finished_keys(spec.name, include_failed=False)
    lacking = _lacking_metrics(tasks, store.measured(spec.name))
    pending = [task.to_dict() for task in tasks if task.key not in stored or task.key in lacking]
    total, finished = len(tasks), len(tasks) - len(pending)
    if progress is not None:
        progress(finished, total, None)
    own_executor = executor is None
    executor = LocalExecutor() if executor is None else executor
    failed = diverged = 0
    try:
        for result in executor.map_unordered(execute_run, pending):
            store.record(result, executor=executor.name, replace=result["task"]["key"] in lacking)
            finished += 1
            failed += result["status"] == "failed"
            diverged += bool(result["diverged"])
            if progress is not None:
                progress(finished, total, result)
    finally:
        if own_executor:
            executor.close()
    return SweepOutcome(
        total=total,
        skipped=total - len(pending),
        ran=len(pending),
        failed=failed,
        diverged=diverged,
        seconds=time.perf_counter() - started,
        skipped_failed=sum(task.key in stored_failed for task in tasks),
        remeasured=len(lacking),
    )


def _lacking_metrics(tasks: Sequence[RunTask], measured: Mapping[str, frozenset[str]]) -> set[str]:
    """Keys of the stored runs without a metric their task asks for that their problem has."""

    def lacks(task: RunTask) -> bool:
        wanted = set(task.metrics) & set(measured_metrics(task.problem_kind, task.problem_options))
        return not wanted <= measured[task.key]

    return {task.key for task in tasks if task.key in measured and lacks(task)}


def execute_run(task: Task) -> Result:
    """Run one task and return its result as plain data (the store's input).

    The result holds the task, ``status`` (``"done"`` or ``"failed"``), ``diverged`` (the loss or a
    gradient became non-finite; the run stopped there and has no final loss), ``steps`` taken, the
    ``summary`` metrics (every one its problem has, whatever the task's ``metrics``: those only choose what a
    report shows), the recorded ``curve`` and the worker's ``environment``. A failure is caught and
    returned with its traceback, so one bad configuration does not stop a sweep.
    """
    started = time.perf_counter()
    try:
        # Divergence is detected and recorded (non-finite loss or gradient), not warned about by NumPy.
        with _one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if task["problem_kind"] == "surface":
                outcome = _run_surface(task)
            else:
                outcome = _run_dataset(task)
        status, error = "done", None
    except Exception:
        outcome = _Outcome(curve=_empty_curve(), steps=0, diverged=False, summary={})
        status, error = "failed", traceback.format_exc(limit=8)
    return {
        "task": task,
        "status": status,
        "error": error,
        "diverged": outcome.diverged,
        "steps": outcome.steps,
        "seconds": time.perf_counter() - started,
        "summary": outcome.summary,
        "curve": outcome.curve,
        "environment": environment(),
    }


@dataclass
class _Outcome:
    curve: dict[str, list[Any]]
    steps: int
    diverged: bool
    summary: dict[str, float | None]


def _empty_curve() -> dict[str, list[Any]]:
    return {"step": [], "seconds": [], "train_loss": [], "val_loss": [], "val_acc": []}


def run_stream(task: Mapping[str, Any]) -> np.random.SeedSequence:
    """The run's seed sequence: ``SeedSequence([seed, H(problem options)])`` (see the module docstring)."""
    return np.random.SeedSequence([int(task["seed"]), digest_int(task["problem"], task["problem_options"])])


def _make_optimizer(task: Mapping[str, Any]) -> Any:
    return make_optimizer(task["optimizer_type"], **task["hyperparameters"])


# -- surfaces ------------------------------------------------------------------------------------------------
def _run_surface(task: Mapping[str, Any]) -> _Outcome:
    """Descend a 2-D surface: loss is the suboptimality f(θ) − f*, recorded every ``record_every`` steps.

    The start is ``start + start_noise · z`` and each gradient ``∇f(θ) + grad_noise · z'`` with z, z'
    standard normal from the run's stream. Newton gets the exact Hessian of the surface.
    """
    from descentlab import surfaces

    options = task["problem_options"]
    surface = surfaces.get(options["surface"])
    rng = np.random.default_rng(run_stream(task))
    theta = np.asarray(options["start"], dtype=np.float64) + options["start_noise"] * rng.standard_normal(2)
    optimum = _surface_optimum(surface)
    opt = _make_optimizer(task)
    second_order = task["optimizer_type"] == "newton"
    target = options["target"][1] if options["target"] else None
    record_every, steps = options["record_every"], options["steps"]
    curve = _empty_curve()
    clock = time.perf_counter()

    def loss_at(point: np.ndarray) -> float:
        return float(surface.value(point)) - optimum

    loss = loss_at(theta)
    best, step, diverged = loss, 0, not math.isfinite(loss)
    reached: tuple[int, float] | None = (0, 0.0) if target is not None and loss <= target else None
    _append(curve, 0, 0.0, loss)
    while step < steps and not diverged:
        grad = np.asarray(surface.grad(theta), dtype=np.float64)
        if options["grad_noise"]:
            grad = grad + options["grad_noise"] * rng.standard_normal(2)
        try:
            if second_order:
                opt.step(theta, grad, hessian=np.asarray(surface.hessian(theta), dtype=np.float64))
            else:
                opt.step(theta, grad)
        except NonFiniteGradientError:
            diverged = True
            break
        step += 1
        loss = loss_at(theta)
        elapsed = time.perf_counter() - clock
        if not math.isfinite(loss):
            diverged = True
            _append(curve, step, elapsed, None)
            break
        best = min(best, loss)
        if reached is None and target is not None and loss <= target:
            reached = (step, elapsed)
        if step % record_every == 0 or step == steps:
            _append(curve, step, elapsed, loss)
    summary = {
        "final_loss": None if diverged else loss,
        "best_loss": best if math.isfinite(best) else None,
        "steps_to_target": None if reached is None else float(reached[0]),
        "seconds_to_target": None if reached is None else reached[1],
    }
    return _Outcome(curve=curve, steps=step, diverged=diverged, summary=summary)


def _surface_optimum(surface: Any) -> float:
    """f*, the surface's minimum value; 0 when it is unbounded below (the loss is then f itself)."""
    value = float(surface.minimum_value)
    return value if math.isfinite(value) else 0.0


def _append(
    curve: dict[str, list[Any]],
    step: int,
    seconds: float,
    train_loss: float | None,
    val_loss: float | None = None,
    val_acc: float | None = None,
) -> None:
    curve["step"].append(step)
    curve["seconds"].append(seconds)
    curve["train_loss"].append(train_loss)
    curve["val_loss"].append(val_loss)
    curve["val_acc"].append(val_acc)


# -- datasets ------------------------------------------------------------------------------------------------
def _run_dataset(task: Mapping[str, Any]) -> _Outcome:
    """Train an MLP on a dataset with :func:`descentlab.train.fit`; one curve point per epoch.

    The split (``split_seed``) and standardization (fitted on the training part) are the same for every
    run of the problem. The network's initial weights and the batch order come from the run's stream.
    A curve point's ``step`` counts optimizer steps, so steps to target compare across batch sizes; the
    training loss is the epoch's sample-weighted batch mean, the validation figures are measured at the
    epoch's end. Divergence (``history.diverged``) ends the run without a final loss; its curve then ends
    with a point without values at the optimizer steps taken (``history.step_loss`` has one entry per step).
    """
    from descentlab import data, nn
    from descentlab.data import batch_count
    from descentlab.train import fit

    options = task["problem_options"]
    info = data.DATASETS[options["dataset"]]
    X, y = data.load(options["dataset"])
    (X_train, y_train), (X_val, y_val) = data.train_val_split(
        X, y, fraction=options["val_fraction"], seed=options["split_seed"]
    )
    if options["standardize"]:
        X_train, X_val, _ = data.standardize(X_train, X_val)
    outputs = {"bce": (1, "sigmoid"), "ce": (info.n_outputs, "softmax"), "mse": (info.n_outputs, "linear")}
    width, output = outputs[info.loss]
    init_seed, fit_seed = (int(s) for s in run_stream(task).generate_state(2))
    network_options = {"activation": options["activation"], "output": output, "seed": init_seed}
    if options["init"] is not None:
        network_options["init"] = options["init"]
    net = nn.mlp([X_train.shape[1], *options["hidden"], width], **network_options)
    steps_per_epoch = batch_count(len(X_train), options["batch_size"])
    clock = time.perf_counter()
    epoch_seconds: list[float] = []
    history = fit(
        net,
        X_train,
        y_train,
        loss=info.loss,
        optimizer=_make_optimizer(task),
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        validation=(X_val, y_val),
        callbacks=[lambda history, net: epoch_seconds.append(time.perf_counter() - clock)],
        seed=fit_seed,
        diagnostics=False,
        progress=False,  # the sweep's own bar reports progress; one bar per run would fight it
    )
    curve = _empty_curve()
    accuracies = history.val_accuracy or [None] * len(history.epoch)
    for i, (train_loss, val_loss, val_acc) in enumerate(
        zip(history.train_loss, history.val_loss, accuracies, strict=True)
    ):
        _append(
            curve,
            (i + 1) * steps_per_epoch,
            epoch_seconds[i] if i < len(epoch_seconds) else time.perf_counter() - clock,
            _finite(train_loss),
            _finite(val_loss),
            _finite(val_acc),
        )
    steps = len(history.step_loss)
    diverged = bool(history.diverged)
    if diverged:
        _append(curve, steps, time.perf_counter() - clock, None)
    target = options["target"]
    reached: tuple[int, float] | None = None
    if target is not None:
        metric, goal = target
        values = curve["train_loss"] if metric == "loss" else curve["val_acc"]
        for i, value in enumerate(values):
            if value is not None and (value <= goal if metric == "loss" else value >= goal):
                reached = (curve["step"][i], curve["seconds"][i])
                break
    finals = {c: (None if diverged or not curve[c] else curve[c][-1]) for c in ("train_loss", "val_loss", "val_acc")}
    summary = {
        "final_loss": finals["train_loss"],
        "best_loss": _best_of(curve["train_loss"], min),
        "final_val_loss": finals["val_loss"],
        "best_val_loss": _best_of(curve["val_loss"], min),
        "val_acc": finals["val_acc"],
        "best_val_acc": _best_of(curve["val_acc"], max),
        "steps_to_target": None if reached is None else float(reached[0]),
        "seconds_to_target": None if reached is None else reached[1],
    }
    return _Outcome(curve=curve, steps=steps, diverged=diverged, summary=summary)


def _finite(value: Any) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _best_of(values: list[float | None], pick: Callable[[list[float]], float]) -> float | None:
    finite = [v for v in values if v is not None]
    return pick(finite) if finite else None


# -- environment ---------------------------------------------------------------------------------------------
@functools.cache
def environment() -> dict[str, Any]:
    """The worker's environment: Python, NumPy and descentlab versions, OS, CPU model and count, host."""
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "descentlab": descentlab.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": platform.node(),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
