"""Sweeps: spec validation (errors name their line), trials and keys, runs, the store, executors, reports."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from descentlab.experiments import (
    LocalExecutor,
    SpecError,
    Store,
    execute_run,
    load_spec,
    parse_spec,
    run_sweep,
    summarize,
    write_report,
)
from descentlab.experiments.report import ranking_rows, t_quantile_975

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
name = "tiny"
seeds = [0, 1]
metrics = ["final_loss", "best_loss", "steps_to_target", "seconds_to_target"]

[problems.rosen]
surface = "rosenbrock"
steps = 60
start_noise = 0.05
target = { loss = 5.0 }

[optimizers.gd]
search = "grid"
space = { lr = { log_uniform = [1e-4, 1e-3], points = 2 } }

[optimizers.adam]
search = "random"
trials = 2
space = { lr = { log_uniform = [1e-3, 1e-1] }, beta2 = [0.99, 0.999] }
"""


def deterministic(run: dict) -> dict:
    """A stored run without the fields that measure wall-clock time or where/when it ran."""
    drop = {"seconds", "seconds_to_target", "finished", "executor", "environment"}
    return {k: v for k, v in run.items() if k not in drop}


def line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if marker in line)


# -- spec ------------------------------------------------------------------------------------------------
BAD_SPECS = [
    # (what is wrong, the replacement applied to TINY, the text on the line the error must name, message part)
    (
        "unknown optimizer",
        ("[optimizers.adam]\n", '[optimizers.adam]\ntype = "adamax"\n'),
        'type = "adamax"',
        "unknown optimizer 'adamax'",
    ),
    ("negative lr range", ("[1e-3, 1e-1]", "[-1e-3, 1e-1]"), "[-1e-3, 1e-1]", "must be > 0"),
    (
        "missing dataset",
        (
            'surface = "rosenbrock"\nsteps = 60\nstart_noise = 0.05\ntarget = { loss = 5.0 }',
            'dataset = "imagenet-21k"\nepochs = 2',
        ),
        'dataset = "imagenet-21k"',
        "unknown dataset",
    ),
    ("unknown surface", ('"rosenbrock"', '"no-such-surface"'), 'surface = "no-such-surface"', "unknown surface"),
    ("unknown hyperparameter", ("beta2 = [", "momentum = 0.9, beta2 = ["), "momentum = 0.9", "no hyperparameter"),
    ("optimizer's own check", ("beta2 = [0.99, 0.999]", "beta2 = [0.99, 1.5]"), "beta2 = [0.99, 1.5]", "beta2"),
    ("grid without points", (", points = 2 }", " }"), "[1e-4, 1e-3] }", "points = n"),
    ("points in a random search", ("[1e-3, 1e-1] }", "[1e-3, 1e-1], points = 3 }"), "points = 3", "makes a grid"),
    ("random without budget", ("trials = 2\n", ""), "[optimizers.adam]", "trials = N"),
    ("grid budget mismatch", ('search = "grid"\n', 'search = "grid"\ntrials = 5\n'), "trials = 5", "the grid has 2"),
    ("repeated seeds", ("seeds = [0, 1]", "seeds = [0, 0]"), "seeds = [0, 0]", "repeat"),
    ("unknown metric", ('"best_loss",', '"best_los",'), "metrics =", "unknown metric 'best_los'"),
    ("unknown key", ("steps = 60", "stepz = 60"), "stepz = 60", "unknown key"),
    ("invalid TOML", ("steps = 60", "steps = = 60"), "steps = = 60", "not valid TOML"),
    (
        "log scale for an accuracy",
        ("steps = 60", 'steps = 60\nscale = "log"\nrank_by = "val_acc"'),
        "rank_by =",
        "needs a validation set",
    ),
    ("log scale, no minimum", ('"rosenbrock"', '"saddle"\nscale = "log"'), 'scale = "log"', "positive metric"),
    ("unknown scale", ("steps = 60", 'steps = 60\nscale = "cubic"'), 'scale = "cubic"', "must be one of"),
    ("reversed range", ("[1e-3, 1e-1]", "[1e-1, 1e-3]"), "[1e-1, 1e-3]", "low must be below high"),
    (
        "dotted key under a bare table",
        ("[optimizers.gd]\n", "[optimizers]\nadamx.space.lr = 0.1\n\n[optimizers.gd]\n"),
        "adamx.space.lr",
        "unknown optimizer 'adamx'",
    ),
    (
        "accuracy ranking on a regression",
        (
            'surface = "rosenbrock"\nsteps = 60\nstart_noise = 0.05\ntarget = { loss = 5.0 }',
            'dataset = "diabetes"\nepochs = 1\nrank_by = "val_acc"',
        ),
        'rank_by = "val_acc"',
        "'diabetes' is a regression data set",
    ),
    (
        "accuracy target on a regression",
        (
            'surface = "rosenbrock"\nsteps = 60\nstart_noise = 0.05\ntarget = { loss = 5.0 }',
            'dataset = "diabetes"\nepochs = 1\ntarget = { val_acc = 0.5 }',
        ),
        "target = { val_acc",
        "'diabetes' is a regression data set",
    ),
]


@pytest.mark.parametrize(("what", "edit", "line_text", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_specs_fail_naming_their_line(what, edit, line_text, message):
    old, new = edit
    assert old in TINY
    text = TINY.replace(old, new, 1)
    with pytest.raises(SpecError) as caught:
        parse_spec(text, source="bad.toml")
    error = caught.value
    assert error.line == line_of(text, line_text), str(error)
    assert message in str(error)
    assert str(error).startswith(f"bad.toml:{error.line}:")


def test_newton_is_refused_on_dataset_problems():
    text = TINY + '\n[problems.digits]\ndataset = "digits"\nepochs = 1\n\n[optimizers.newton]\nspace = { lr = 1.0 }\n'
    with pytest.raises(SpecError, match="needs the Hessian") as caught:
        parse_spec(text)
    assert caught.value.line == line_of(text, "[optimizers.newton]")


@pytest.mark.parametrize("search_seed", range(6))
def test_random_search_checks_every_choice_and_both_range_ends_whatever_the_draws(search_seed):
    one_trial = TINY.replace("trials = 2", "trials = 1")
    for old, new, line_text in [
        ("beta2 = [0.99, 0.999]", "beta2 = [0.99, 0.999, 1.5]", "beta2 = [0.99, 0.999, 1.5]"),
        ("beta2 = [0.99, 0.999]", "beta2 = { uniform = [0.9, 1.5] }", "beta2 = { uniform"),
    ]:
        text = f"search_seed = {search_seed}\n" + one_trial.replace(old, new)
        with pytest.raises(SpecError, match=r"beta2=1\.5") as caught:
            parse_spec(text)
        assert caught.value.line == line_of(text, line_text)


def test_a_dataset_whose_package_is_missing_fails_the_spec(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from descentlab.experiments.cli import register

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if scikit-learn were not installed
    with pytest.raises(SpecError, match=r"cannot load 'digits'.*pip install") as caught:
        parse_spec(DIGITS)
    assert caught.value.line == line_of(DIGITS, 'dataset = "digits"')
    spec, db = tmp_path / "digits.toml", tmp_path / "r.sqlite"
    spec.write_text(DIGITS)
    app = typer.Typer()
    register(app)
    done = CliRunner().invoke(app, ["compare", str(spec), "--db", str(db), "--jobs", "1"])
    assert done.exit_code == 2 and not db.exists()
    assert "pip install 'descentlab[data]'" in " ".join(done.output.split())


def test_bad_spec_fails_before_any_run(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY.replace("[1e-3, 1e-1]", "[-1e-3, 1e-1]"))
    db = tmp_path / "results.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "descentlab.experiments", "compare", str(spec), "--db", str(db), "--jobs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert f"bad.toml:{line_of(spec.read_text(), '-1e-3')}:" in done.stderr
    assert "optimizers.adam.space.lr.log_uniform" in done.stderr
    assert not db.exists()


def test_trials_and_keys_are_deterministic_and_independent():
    spec = parse_spec(TINY)
    again = parse_spec(TINY)
    tasks = spec.tasks()
    assert [t.to_dict() for t in tasks] == [t.to_dict() for t in again.tasks()]
    assert len(tasks) == 1 * (2 + 2) * 2 == len({t.key for t in tasks})
    gd = [t.hyperparameters["lr"] for t in tasks if t.optimizer == "gd" and t.seed == 0]
    assert gd == pytest.approx([1e-4, 1e-3])
    adam = [dict(t.hyperparameters) for t in tasks if t.optimizer == "adam" and t.seed == 0]
    assert all(1e-3 <= h["lr"] <= 1e-1 and h["beta2"] in (0.99, 0.999) for h in adam)
    # Adding an optimizer or a problem leaves every existing run's trials and keys unchanged.
    bigger = parse_spec(TINY + '\n[optimizers.rmsprop]\nsearch = "random"\ntrials = 2\nspace = { lr = 0.01 }\n')
    assert {t.key for t in tasks} < {t.key for t in bigger.tasks()}
    # A different search seed draws different random trials (the grid does not move).
    reseeded = parse_spec("search_seed = 7\n" + TINY).tasks()
    assert [t.hyperparameters for t in reseeded if t.optimizer == "adam"] != [
        t.hyperparameters for t in tasks if t.optimizer == "adam"
    ]


def test_course_spec_is_valid():
    spec = load_spec(ROOT / "specs" / "course.toml")
    kinds = {p.kind for p in spec.problems}
    assert kinds == {"surface", "dataset"}
    assert sum(p.kind == "surface" for p in spec.problems) == 2
    assert len({o.trials for o in spec.optimizers}) == 1, "the course compares optimizers at equal budgets"


# -- runs ------------------------------------------------------------------------------------------------
def test_a_run_is_a_function_of_its_task():
    tasks = parse_spec(TINY).tasks()
    first, second = execute_run(tasks[0].to_dict()), execute_run(tasks[0].to_dict())
    assert first["status"] == "done", first["error"]
    assert first["curve"]["train_loss"] == second["curve"]["train_loss"]
    assert first["summary"]["final_loss"] == second["summary"]["final_loss"]
    # Paired comparison: for one seed, every optimizer starts from the same perturbed point.
    starts = {}
    for task in tasks:
        result = execute_run(task.to_dict())
        starts.setdefault(task.seed, set()).add(result["curve"]["train_loss"][0])
    assert all(len(values) == 1 for values in starts.values())
    assert starts[0] != starts[1]


def test_divergence_is_a_result_not_a_failure():
    text = TINY.replace("[1e-4, 1e-3], points = 2", "[10.0, 100.0], points = 2")
    task = next(t for t in parse_spec(text).tasks() if t.optimizer == "gd")
    result = execute_run(task.to_dict())
    assert result["status"] == "done" and result["diverged"]
    assert result["summary"]["final_loss"] is None
    assert result["steps"] < 60


# -- store -----------------------------------------------------------------------------------------------
def test_store_records_each_run_once_and_rolls_back_partial_writes(tmp_path):
    spec = parse_spec(TINY)
    task = spec.tasks()[0]
    result = execute_run(task.to_dict())
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_sweep(spec, spec.tasks())
        assert store.record(result, executor="local")
        assert not store.record(result, executor="local")
        broken = json.loads(json.dumps(result))
        broken["task"]["key"] = "0" * 32
        broken["curve"]["train_loss"] = broken["curve"]["train_loss"][:-1]  # fails inside the transaction
        with pytest.raises(IndexError):
            store.record(broken, executor="local")
        assert store.finished_keys() == {task.key}
        assert store.check() == []
        (run,) = store.runs(spec.name)
        assert run["hyperparameters"] == task.hyperparameters and run["seed"] == task.seed
        assert store.curve(task.key)["train_loss"] == result["curve"]["train_loss"]
        assert store.environments()[run["environment"]]["numpy"] == np.__version__


def test_export_csv(tmp_path):
    spec = parse_spec(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        store.export(tmp_path / "runs.csv")
        store.export(tmp_path / "curves.csv", table="curves")
        with (tmp_path / "runs.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == len(spec.tasks())
        assert {json.loads(r["hyperparameters"])["lr"] for r in rows if r["optimizer"] == "gd"} == {1e-4, 1e-3}
        with pytest.raises(ValueError, match=r"\.csv or \.parquet"):
            store.export(tmp_path / "runs.xlsx")


def test_export_parquet_reads_back_what_the_store_holds(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="Parquet export needs the parquet extra (pyarrow)")
    spec = parse_spec(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        store.export(tmp_path / "runs.parquet")
        store.export(tmp_path / "curves.parquet", table="curves")
        runs = store.runs("tiny")
        points = sum(len(store.curve(r["run_key"])["step"]) for r in runs)
    table = pq.read_table(tmp_path / "runs.parquet").to_pylist()
    assert [row["run_key"] for row in table] == [r["run_key"] for r in runs]
    assert [row["final_loss"] for row in table] == [r["final_loss"] for r in runs]
    assert [json.loads(row["hyperparameters"]) for row in table] == [r["hyperparameters"] for r in runs]
    curves = pq.read_table(tmp_path / "curves.parquet")
    assert curves.num_rows == points
    assert curves.column_names[:4] == ["run_key", "point", "step", "seconds"]


def test_parquet_without_pyarrow_fails_before_anything_is_written(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from descentlab.experiments.cli import register

    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(parse_spec(TINY), store, LocalExecutor(1))
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(ImportError, match=r"pyarrow.*\.csv instead"):
        store.export(tmp_path / "runs.parquet")
    app = typer.Typer()
    register(app)
    out = tmp_path / "r.html"
    for export, message in [("runs.parquet", "pyarrow"), ("runs.xlsx", ".csv or .parquet")]:
        done = CliRunner().invoke(
            app, ["report", str(tmp_path / "s.sqlite"), "--out", str(out), "--export", str(tmp_path / export)]
        )
        assert done.exit_code == 2 and message in done.output
        assert not out.exists(), "the report is not written when an export cannot be"
    assert not (tmp_path / "runs.parquet").exists()


# -- executors -------------------------------------------------------------------------------------------
def test_local_processes_give_the_same_results_as_in_process(tmp_path):
    spec = parse_spec(TINY)
    stores = {}
    for jobs in (1, 2):
        with Store(tmp_path / f"jobs{jobs}.sqlite") as store:
            with LocalExecutor(jobs) as executor:
                outcome = run_sweep(spec, store, executor)
            assert outcome.ran == len(spec.tasks()) and outcome.failed == 0
            stores[jobs] = [deterministic(r) for r in store.runs(spec.name)]
    assert stores[1] == stores[2]


def test_resume_skips_finished_runs_and_a_changed_spec_only_adds(tmp_path):
    spec = parse_spec(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        first = run_sweep(spec, store, LocalExecutor(1))
        again = run_sweep(spec, store, LocalExecutor(1))
        assert (first.ran, again.ran, again.skipped) == (len(spec.tasks()), 0, len(spec.tasks()))
        more = parse_spec(TINY.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"))
        grown = run_sweep(more, store, LocalExecutor(1))
        assert (grown.skipped, grown.ran) == (len(spec.tasks()), len(more.tasks()) - len(spec.tasks()))
        fewer = parse_spec(TINY.replace("seeds = [0, 1]", "seeds = [1]"))
        run_sweep(fewer, store, LocalExecutor(1))
        assert {r["seed"] for r in store.runs("tiny")} == {1}, "the report reads the current plan only"


# -- report ----------------------------------------------------------------------------------------------
def test_report_is_self_contained_and_ranks_by_the_mean_over_seeds(tmp_path):
    spec = parse_spec(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        summary = summarize(store)
        out = tmp_path / "report.html"
        assert write_report(store, out, markdown=tmp_path / "excerpt.md") == "tiny"
        runs = store.runs("tiny")
    (problem,) = summary.problems
    assert problem.log_scale, "surface losses are averaged on a log scale by default"
    unbounded = parse_spec(TINY.replace('"rosenbrock"', '"saddle"')).problems[0]
    assert unbounded.scale == "linear", "a saddle's loss is f itself, often negative: no logarithm"
    for result in problem.ranking:
        for trial in result.trials:
            finals = [r["final_loss"] for r in runs if r["optimizer"] == result.optimizer and r["trial"] == trial.trial]
            assert trial.score == pytest.approx(np.mean(np.log10(finals)))
            assert trial.mean == pytest.approx(np.exp(np.mean(np.log(finals))))
            low, high = trial.interval()
            assert 0 < low <= trial.mean <= high
        assert result.best.score == min(t.score for t in result.trials)
    scores = [r.best.score for r in problem.ranking]
    assert scores == sorted(scores)
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)=['\"]https?:", page), "the report must not fetch anything"
    assert "dl.optim.Adam(" in page and "[optimizers.gd]" in page
    excerpt = (tmp_path / "excerpt.md").read_text()
    assert f"| 1 | {problem.ranking[0].optimizer} |" in excerpt


def test_student_t_quantiles():
    assert t_quantile_975(1) == pytest.approx(12.706)
    assert t_quantile_975(30) == pytest.approx(2.042)
    assert t_quantile_975(60) == pytest.approx(2.000, abs=2e-3)  # table value 2.000
    assert t_quantile_975(1000) == pytest.approx(1.962, abs=1e-3)


def test_report_errors_name_the_fix(tmp_path):
    with Store(tmp_path / "empty.sqlite") as store, pytest.raises(ValueError, match="descentlab compare"):
        summarize(store)


def test_importing_experiments_does_not_import_matplotlib_or_ray():
    code = "import sys, descentlab.experiments; print(sorted(m for m in ('matplotlib', 'ray') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_store_is_plain_sqlite(tmp_path):
    spec = parse_spec(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
    db = sqlite3.connect(tmp_path / "s.sqlite")
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "curves", "environments", "sweeps", "plan"} <= tables
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == len(spec.tasks())


DIGITS = """\
name = "digits"
seeds = [0, 1]

[problems.digits]
dataset = "digits"
hidden = [8]
epochs = 2
batch_size = 64
target = { val_acc = 0.5 }

[optimizers.adam]
space = { lr = [1e-3, 1e-2] }

[optimizers.gd]
space = { lr = [100.0] }
"""


def test_dataset_problems_train_a_network_per_run(tmp_path):
    spec = parse_spec(DIGITS)
    (problem,) = spec.problems
    assert problem.rank_by == "final_val_loss"
    tasks = [t.to_dict() for t in spec.tasks()]
    first = execute_run(tasks[0])
    assert first["status"] == "done", first["error"]
    assert first["curve"] == {**execute_run(tasks[0])["curve"], "seconds": first["curve"]["seconds"]}
    assert len(first["curve"]["step"]) == 2
    steps_per_epoch = -(-round(0.8 * 1797) // 64)
    assert first["curve"]["step"] == [steps_per_epoch, 2 * steps_per_epoch]
    assert 0 < first["summary"]["val_acc"] <= 1
    assert first["summary"]["final_val_loss"] == first["curve"]["val_loss"][-1]
    with Store(tmp_path / "d.sqlite") as store:
        outcome = run_sweep(spec, store, LocalExecutor(1))
        assert (outcome.ran, outcome.failed) == (6, 0)
        assert outcome.diverged == 2, "GD with lr = 100 diverges on both seeds"
        summary = summarize(store)
    ranking = summary.problems[0].ranking
    assert [r.optimizer for r in ranking] == ["adam", "gd"]
    assert ranking[1].best.score == float("inf")


def test_command_line_compare_report_and_exports(tmp_path):
    import typer
    from typer.testing import CliRunner

    from descentlab.experiments.cli import register

    app = typer.Typer()
    register(app)
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    db, out = tmp_path / "r.sqlite", tmp_path / "r.html"
    runner = CliRunner()
    done = runner.invoke(app, ["compare", str(spec), "--db", str(db), "--jobs", "1"])
    assert done.exit_code == 0, done.output
    assert "8 runs planned: 0 already" in done.output
    again = runner.invoke(app, ["compare", str(spec), "--db", str(db), "--jobs", "1"])
    assert "8 already in" in again.output
    exports = ["--export", str(tmp_path / "runs.csv"), "--export", str(tmp_path / "c.curves.csv")]
    shown = runner.invoke(app, ["report", str(db), "--out", str(out), "--markdown", str(tmp_path / "r.md"), *exports])
    assert shown.exit_code == 0, shown.output
    assert out.exists() and (tmp_path / "r.md").exists()
    assert (tmp_path / "c.curves.csv").read_text().startswith("run_key,point,step,seconds,train_loss")
    missing = runner.invoke(app, ["report", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "descentlab compare" in missing.output
    bracketed = runner.invoke(app, ["report", "none[v1].sqlite"])  # a path, not rich markup
    assert bracketed.exit_code == 2 and "no result store at none[v1].sqlite" in bracketed.output
    bad = runner.invoke(app, ["compare", str(spec), "--executor", "slurm", "--db", str(db)])
    assert bad.exit_code == 2 and "unknown executor 'slurm'" in bad.output


def test_compare_says_when_it_skips_runs_stored_as_failed(tmp_path):
    import typer
    from typer.testing import CliRunner

    from descentlab.experiments.cli import register

    spec, db = parse_spec(TINY), tmp_path / "r.sqlite"
    (tmp_path / "tiny.toml").write_text(TINY)
    with Store(db) as store:
        store.begin_sweep(spec, spec.tasks())
        for task in spec.tasks()[:3]:
            store.record(execute_run(task.to_dict()) | {"status": "failed", "error": "boom"}, executor="local")
    app = typer.Typer()
    register(app)
    compare = ["compare", str(tmp_path / "tiny.toml"), "--db", str(db), "--jobs", "1"]
    done = CliRunner().invoke(app, compare)
    assert done.exit_code == 1, done.output
    said = " ".join(done.output.split())  # the console wraps long lines
    assert "3 stored run(s) failed in an earlier start" in said and "again with --retry-failed" in said
    retried = CliRunner().invoke(app, [*compare, "--retry-failed"])
    assert retried.exit_code == 0, retried.output
    assert "failed in an earlier start" not in retried.output


NOISELESS = TINY.replace("start_noise = 0.05\n", "")


def test_seeds_on_a_noise_free_surface_are_warned_about_and_get_no_interval(tmp_path):
    spec = parse_spec(NOISELESS, source="calm.toml")
    (warning,) = spec.warnings
    assert warning.startswith(f"calm.toml:{line_of(NOISELESS, '[problems.rosen]')}: problems.rosen: ")
    assert "all 2 seeds give the same run" in warning and "start_noise = 0.1" in warning
    assert parse_spec(NOISELESS.replace("seeds = [0, 1]", "seeds = [0]")).warnings == ()
    assert parse_spec(TINY).warnings == ()
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        (problem,) = summarize(store).problems
    rows = ranking_rows(problem)
    assert problem.deterministic
    assert {row["95% CI"] for row in rows} == {"n/a (deterministic: every seed gives the same run)"}
    assert [row["vs #1"] for row in rows[1:]] == ["n/a (deterministic)"] * (len(rows) - 1)


# -- duplicates, warnings, reports of what is missing, dataset divergence -------------------------------------
def test_a_repeated_choice_is_a_spec_error_naming_its_line():
    text = TINY.replace("{ lr = { log_uniform = [1e-4, 1e-3], points = 2 } }", "{ lr = [0.01, 0.02, 0.01] }")
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="dup.toml")
    message = str(info.value)
    assert message.startswith(f"dup.toml:{line_of(text, '[0.01, 0.02, 0.01]')}: optimizers.gd.space.lr: ")
    assert "0.01 is listed twice" in message


DRAWS_TWICE = """\
name = "draws"
[problems.booth]
surface = "booth"
steps = 10
[optimizers.adam]
search = "random"
trials = 4
space = { lr = [0.01, 0.1] }
"""


def test_a_random_search_drawing_a_configuration_twice_runs_it_once_and_says_so(tmp_path):
    spec = parse_spec(DRAWS_TWICE, source="draws.toml")
    (optimizer,) = spec.optimizers
    assert sorted(c["lr"] for c in optimizer.configs(spec.search_seed)) == [0.01, 0.1]
    assert [t.trial for t in spec.tasks()] == [0, 1]
    (warning,) = spec.warnings
    assert warning.startswith(f"draws.toml:{line_of(DRAWS_TWICE, '[optimizers.adam]')}: optimizers.adam: ")
    assert "drew 4 configurations, 2 distinct" in warning
    with Store(tmp_path / "s.sqlite") as store:
        outcome = run_sweep(spec, store, LocalExecutor(1))
    assert (outcome.ran, outcome.failed) == (2, 0)


def test_a_metric_no_problem_can_fill_is_warned_about():
    text = TINY.replace('metrics = ["final_loss"', 'metrics = ["val_acc", "final_loss"')
    (warning,) = parse_spec(text, source="s.toml").warnings
    assert warning.startswith(f"s.toml:{line_of(text, 'metrics =')}: metrics: ")
    assert "'val_acc'" in warning and "dataset" in warning


def test_the_ray_executor_checks_its_cpus_before_importing_ray(monkeypatch):
    from descentlab.experiments import RayExecutor, make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # importing Ray now fails: a check must come first
    for bad in (0, -2, 1.5, "2"):
        with pytest.raises(ValueError, match=rf"num_cpus={bad!r} must be a positive integer"):
            RayExecutor(num_cpus=bad)
    with pytest.raises(ValueError, match="num_cpus=0"):
        make_executor("ray", jobs=0)
    with pytest.raises(ValueError, match="max_in_flight=0"):
        RayExecutor(max_in_flight=0)


KEPT_FEW = """\
name = "few"
seeds = [0, 1]
metrics = ["final_loss"]

[problems.near]
surface = "booth"
steps = 200
start_noise = 0.1
target = { loss = 1e-3 }

[problems.far]
surface = "booth"
steps = 5
start_noise = 0.1
target = { loss = 1e-3 }

[problems.free]
surface = "booth"
steps = 20
start_noise = 0.1

[optimizers.gd]
space = { lr = 0.02 }
"""


def test_steps_to_target_says_not_kept_no_target_and_not_reached_apart(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(parse_spec(KEPT_FEW), store, LocalExecutor(1))
        not_kept = {p.problem: ranking_rows(p)[0] for p in summarize(store).problems}
        every = KEPT_FEW.replace('metrics = ["final_loss"]\n', "")
        run_sweep(parse_spec(every), store, LocalExecutor(1))
        kept = {p.problem: ranking_rows(p)[0] for p in summarize(store).problems}
    assert float(not_kept["near"]["final_loss (geometric mean)"]) < 1e-6, "far below the target"
    assert not_kept["near"]["steps to target"] == not_kept["near"]["seconds to target"] == "n/a (not kept)"
    assert kept["free"]["steps to target"] == kept["free"]["seconds to target"] == "n/a (no target)"
    assert kept["far"]["steps to target"] == "not reached (0/2)"
    assert kept["far"]["seconds to target"] == "not reached"
    assert re.fullmatch(r"[\d.]+ \(2/2\)", kept["near"]["steps to target"]), "the median over the seeds"


FAILS = """\
name = "fails"
[problems.saddle]
surface = "monkey_saddle"
steps = 30
start = [0.0, 0.0]
[optimizers.newton]
space = { damping = 0.0 }
[optimizers.gd]
space = { lr = 0.01 }
"""


def test_a_failed_run_is_reported_as_failed_not_diverged(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run_sweep(parse_spec(FAILS), store, LocalExecutor(1))
        (problem,) = summarize(store).problems
    newton = next(row for row in ranking_rows(problem) if row["optimizer"] == "newton")
    assert newton["diverged runs"] == "0/1 (+1 failed)"
    assert newton["final_loss (mean)"] == "failed"
    assert newton["vs #1"] == "worse (failed on a seed)"
    assert "diverged" not in " ".join(newton.values())


def test_a_diverging_dataset_run_records_the_steps_it_took(tmp_path):
    text = DIGITS.replace('dataset = "digits"\nhidden = [8]\nepochs = 2', 'dataset = "moons"\nhidden = [4]\nepochs = 3')
    task = next(t for t in parse_spec(text).tasks() if t.optimizer == "gd")
    result = execute_run(task.to_dict())
    assert result["status"] == "done" and result["diverged"], result["error"]
    steps_per_epoch = -(-round(0.8 * 300) // 64)
    assert 0 < result["steps"] < 3 * steps_per_epoch
    assert result["curve"]["step"][-1] == result["steps"], "the curve ends where the run stopped"
    assert result["curve"]["train_loss"][-1] is None
