"""Resume: a sweep killed mid-run (a real subprocess, SIGKILL) and started again ends exactly complete; a
changed spec (a finer grid, a metric asked for later) reads as if the store had been fresh."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from descentlab.experiments import LocalExecutor, Store, parse_spec, run_sweep, summarize

SPEC = """\
name = "resume"
seeds = [0, 1, 2]

[problems.rosen]
surface = "rosenbrock"
steps = 600
start_noise = 0.05
target = { loss = 1.0 }

[optimizers.gd]
space = { lr = [1e-4, 3e-4, 1e-3] }

[optimizers.momentum]
space = { lr = [1e-4, 3e-4], beta = 0.9 }

[optimizers.adam]
search = "random"
trials = 3
space = { lr = { log_uniform = [1e-3, 1e-1] } }
"""


def stored_runs(db: Path) -> int:
    """How many runs a (possibly still running) sweep has committed; 0 before the store exists."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is being created
        return 0


def compare(spec: Path, db: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "descentlab.experiments", "compare", str(spec), "--db", str(db), "--jobs", "2"]
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, text=True
    )


def comparable(run: dict) -> dict:
    drop = {"seconds", "seconds_to_target", "finished", "executor", "environment"}
    return {k: v for k, v in run.items() if k not in drop}


def test_killed_sweep_resumes_to_exactly_the_uninterrupted_result(tmp_path):
    spec_path = tmp_path / "resume.toml"
    spec_path.write_text(SPEC)
    spec = parse_spec(SPEC)
    expected_keys = {task.key for task in spec.tasks()}
    db = tmp_path / "killed.sqlite"

    process = compare(spec_path, db)
    deadline = time.monotonic() + 90
    while stored_runs(db) < 4:
        assert process.poll() is None, f"the sweep ended before it could be killed: {process.stderr.read()}"
        assert time.monotonic() < deadline, "the sweep stored no runs in 90 s"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its worker processes, mid-sweep
    process.wait(timeout=30)
    process.stderr.close()
    at_kill = stored_runs(db)
    assert 4 <= at_kill < len(expected_keys), "the kill must land mid-sweep"

    restarted = compare(spec_path, db)
    _, errors = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, errors
    assert f"{at_kill} already in" in errors

    with Store(db) as store:
        runs = store.runs("resume")
        assert store.check() == []
    keys = [run["run_key"] for run in runs]
    assert len(keys) == len(set(keys)) == len(expected_keys)
    assert set(keys) == expected_keys
    connection = sqlite3.connect(db)
    assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(expected_keys)
    connection.close()

    with Store(tmp_path / "uninterrupted.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        reference = store.runs("resume")
    assert [comparable(r) for r in runs] == [comparable(r) for r in reference]


GRID = """\
name = "grid"
seeds = 3

[problems.booth]
surface = "booth"
steps = 40
start_noise = 0.1

[optimizers.gd]
space = { lr = { log_uniform = [1e-3, 1e-1], points = POINTS } }
"""


def trials(summary) -> list[tuple]:
    """Each trial of the only optimizer on the only problem: number, configuration, seeds, values."""
    ((problem,),) = [summary.problems]
    return [(t.trial, t.hyperparameters, t.seeds, t.values) for t in problem.ranking[0].trials]


def test_a_grid_refined_on_resume_summarizes_as_a_fresh_store_does(tmp_path):
    coarse, fine = (parse_spec(GRID.replace("POINTS", points)) for points in ("3", "5"))
    with Store(tmp_path / "resumed.sqlite") as store:
        run_sweep(coarse, store, LocalExecutor(1))
        resumed = run_sweep(fine, store, LocalExecutor(1))
        assert (resumed.skipped, resumed.ran) == (9, 6), "1e-3, 1e-2 and 1e-1 are in both grids"
        from_resumed = summarize(store)
        stored_trials = {r["run_key"]: r["trial"] for r in store.runs("grid")}
    with Store(tmp_path / "fresh.sqlite") as store:
        run_sweep(fine, store, LocalExecutor(1))
        from_fresh = summarize(store)
        assert stored_trials == {r["run_key"]: r["trial"] for r in store.runs("grid")}
    assert trials(from_resumed) == trials(from_fresh)
    assert [t[0] for t in trials(from_fresh)] == [0, 1, 2, 3, 4]
    assert all(t[2] == (0, 1, 2) for t in trials(from_fresh)), "one configuration per trial, each seed once"


def test_a_store_whose_trial_numbers_are_stale_still_groups_runs_by_configuration(tmp_path):
    coarse, fine = (parse_spec(GRID.replace("POINTS", points)) for points in ("3", "5"))
    db = tmp_path / "stale.sqlite"
    with Store(db) as store:
        run_sweep(coarse, store, LocalExecutor(1))
        run_sweep(fine, store, LocalExecutor(1))
        fresh = {str(t[1]): t[1:] for t in trials(summarize(store))}
    # An older descentlab kept the trial number a run had when first stored: 1e-2 was trial 1 of the coarse
    # grid, as 10^-2.5 is of the fine one.
    first_numbers = {task.key: task.trial for task in coarse.tasks()}
    connection = sqlite3.connect(db)
    with connection:
        connection.executemany(
            "UPDATE runs SET trial = ? WHERE run_key = ?", [(n, k) for k, n in first_numbers.items()]
        )
    connection.close()
    with Store(db) as store:
        stale = {str(t[1]): t[1:] for t in trials(summarize(store))}
    assert stale == fresh


METRICS_FEW = """\
name = "m"
seeds = [0, 1]
metrics = ["final_loss"]

[problems.booth]
surface = "booth"
steps = 60
start_noise = 0.1
target = { loss = 1e-3 }

[optimizers.gd]
space = { lr = [0.01, 0.02] }
"""
RANKED_BY_BEST = METRICS_FEW.replace("target = { loss = 1e-3 }", 'target = { loss = 1e-3 }\nrank_by = "best_loss"')


def best_losses(store: Store) -> list[float | None]:
    (problem,) = summarize(store).problems
    return [v for result in problem.ranking for t in result.trials for v in t.values]


def test_a_metric_asked_for_after_the_runs_is_reported_not_missing(tmp_path):
    with Store(tmp_path / "m.sqlite") as store:
        run_sweep(parse_spec(METRICS_FEW), store, LocalExecutor(1))
        again = run_sweep(parse_spec(RANKED_BY_BEST), store, LocalExecutor(1))
        assert (again.skipped, again.ran) == (4, 0), "every run stored every metric: nothing to run again"
        values = best_losses(store)
    assert len(values) == 4 and all(v is not None and 0 < v < 1 for v in values)


def test_runs_stored_without_a_metric_now_asked_for_run_again_and_replace_their_rows(tmp_path):
    db = tmp_path / "older.sqlite"
    with Store(db) as store:
        run_sweep(parse_spec(METRICS_FEW), store, LocalExecutor(1))
        expected = best_losses(store)
    # What an older descentlab left: no record of the metrics measured, and only the metrics asked for.
    connection = sqlite3.connect(db)
    with connection:
        connection.execute("ALTER TABLE runs DROP COLUMN metrics")
        connection.execute("UPDATE runs SET best_loss = NULL, steps_to_target = NULL, seconds_to_target = NULL")
    connection.close()
    with Store(db) as store:
        again = run_sweep(parse_spec(RANKED_BY_BEST), store, LocalExecutor(1))
        assert (again.skipped, again.ran) == (0, 4)
        assert best_losses(store) == expected
        assert store.check() == [] and len(store.runs("m", planned_only=False)) == 4
        assert run_sweep(parse_spec(RANKED_BY_BEST), store, LocalExecutor(1)).ran == 0
