"""Resume: a sweep killed mid-run (a real subprocess, SIGKILL) and started again ends exactly complete."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from descentlab.experiments import LocalExecutor, Store, parse_spec, run_sweep

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
