"""Honest optimizer comparisons: sweeps as TOML data, run locally or on Ray, stored in SQLite, reported.

>>> spec = load_spec("specs/course.toml")                      # doctest: +SKIP
>>> with Store("results.sqlite") as store:                     # doctest: +SKIP
...     run_sweep(spec, store, LocalExecutor(jobs=2))           # resumes if the store holds some runs
...     write_report(store, "report.html")

The command line does the same: ``descentlab compare specs/course.toml --db results.sqlite`` then
``descentlab report results.sqlite --out report.html``. Nothing here imports matplotlib until a report is
written, nor Ray until the Ray executor is chosen.
"""

from descentlab.experiments.executors import EXECUTORS, Executor, LocalExecutor, RayExecutor, make_executor
from descentlab.experiments.report import summarize, write_report
from descentlab.experiments.runner import SweepOutcome, environment, execute_run, run_sweep
from descentlab.experiments.spec import (
    METRICS,
    OptimizerSpec,
    ProblemSpec,
    RunTask,
    SpecError,
    SweepSpec,
    load_spec,
    parse_spec,
)
from descentlab.experiments.store import Store

__all__ = [
    "EXECUTORS",
    "METRICS",
    "Executor",
    "LocalExecutor",
    "OptimizerSpec",
    "ProblemSpec",
    "RayExecutor",
    "RunTask",
    "SpecError",
    "Store",
    "SweepOutcome",
    "SweepSpec",
    "environment",
    "execute_run",
    "load_spec",
    "make_executor",
    "parse_spec",
    "run_sweep",
    "summarize",
    "write_report",
]
