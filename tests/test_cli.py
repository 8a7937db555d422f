"""The ``descentlab`` command through typer's CliRunner: studies, the atlas, readable errors."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import html
import json
import re

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from descentlab import atlas
from descentlab.cli import app

runner = CliRunner()


def nontrivial(path) -> bool:
    """A rendered figure, not a blank canvas: big enough, with contrast and some dark ink."""
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    return image.shape[0] >= 200 and image.shape[1] >= 300 and image.std() > 10.0 and (image < 128).mean() > 0.005


def test_study_list_names_every_study():
    result = runner.invoke(app, ["study", "--list"])
    assert result.exit_code == 0, result.output
    for name in atlas.STUDIES:
        assert name in result.output


def test_study_writes_its_png(tmp_path):
    out = tmp_path / "ewa.png"
    result = runner.invoke(app, ["study", "ewa", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


def test_unknown_study_is_one_line_without_traceback():
    result = runner.invoke(app, ["study", "nope"])
    assert result.exit_code == 2
    assert "unknown study 'nope'; known: " in result.output and "ewa" in result.output
    assert "Traceback" not in result.output


def test_debug_flag_keeps_the_exception():
    result = runner.invoke(app, ["--debug", "study", "nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, KeyError)


def test_demo_quick_builds_an_index_linking_every_figure(tmp_path):
    result = runner.invoke(app, ["demo", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'<img src="([^"]+)"', index))
    assert linked == {f"{name}.png" for name in atlas.STUDIES}
    for name, entry in atlas.STUDIES.items():
        assert nontrivial(tmp_path / f"{name}.png"), name
        assert html.escape(entry.title) in index
    assert (tmp_path / "atlas.json").exists()


def test_race_writes_a_figure_and_its_data(tmp_path):
    out = tmp_path / "race.png"
    result = runner.invoke(
        app, ["race", "rosenbrock", "--optimizers", "adam,rmsprop", "--steps", "30", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert nontrivial(out)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert [r["optimizer"] for r in summary["runs"]] == ["Adam (lr=0.05)", "RMSprop (lr=0.01)"]
    assert summary["steps"] == 30


def test_race_animates_to_a_gif(tmp_path):
    out = tmp_path / "race.gif"
    result = runner.invoke(
        app,
        [
            "race",
            "himmelblau",
            "--optimizers",
            "gd",
            "--lr",
            "0.01",
            "--steps",
            "12",
            "--start",
            "0,0",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as gif:
        assert gif.n_frames == 13


def test_unknown_optimizer_lists_the_known_ones_without_traceback():
    result = runner.invoke(app, ["race", "rosenbrock", "--optimizers", "adam,sgdd"])
    assert result.exit_code == 2
    assert "unknown optimizer 'sgdd'; known: gd, momentum" in result.output
    assert "Traceback" not in result.output


def test_bad_values_say_the_range():
    result = runner.invoke(app, ["race", "rosenbrock", "--steps", "0"])
    assert result.exit_code == 2 and "must be an integer ≥ 1" in result.output
    result = runner.invoke(app, ["train", "moons", "--batch-size", "-3"])
    assert result.exit_code == 2 and "must be ≥ 1, or 0" in result.output


def test_race_shows_no_gap_to_the_minimum_of_a_surface_without_one(tmp_path):
    out = tmp_path / "race.png"
    result = runner.invoke(app, ["race", "saddle", "--optimizers", "gd,adam", "--steps", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "(lr=" in line]
    assert len(rows) == 2 and all("—" in row for row in rows), result.output
    assert "inf" not in result.output
    result = runner.invoke(app, ["race", "booth", "--optimizers", "adam", "--steps", "20", "--out", str(out)])
    row = next(line for line in result.output.splitlines() if "(lr=" in line)
    assert "—" not in row and re.search(r"│ \d\.\d+(e[+-]\d+)? +│", row), result.output


def test_train_writes_history_checkpoint_and_plot(tmp_path):
    result = runner.invoke(
        app,
        [
            "train",
            "xor",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--optimizer",
            "momentum",
            "--lr",
            "0.05",
            "--batch-size",
            "64",
            "--schedule",
            "cosine",
            "--clip-norm",
            "1",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["epoch"] == [0, 1] and history["config"]["sizes"] == [2, 8, 1]
    assert (tmp_path / "history.csv").read_text().startswith("epoch,train_loss")
    assert (tmp_path / "model.npz").exists()
    assert nontrivial(tmp_path / "training.png")


def test_explain_prints_the_trace_and_draws_it(tmp_path):
    out = tmp_path / "explain.png"
    result = runner.invoke(app, ["explain", "momentum", "--steps", "3", "--lr", "0.001", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "velocity" in result.output and "θ ← θ − 0.001·v" in result.output
    assert nontrivial(out)


def test_explain_newton_traces_the_hessian_and_draws_the_step(tmp_path):
    out = tmp_path / "explain.png"
    result = runner.invoke(app, ["explain", "newton", "--steps", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "solve (H + 0·I) p = g" in result.output and "hessian" in result.output
    assert nontrivial(out)


def one_line_error(result) -> str:
    """The single line a failed command printed (and nothing else: no usage block, panel or traceback)."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def test_usage_errors_are_one_line_with_exit_status_2():
    line = one_line_error(runner.invoke(app, ["race", "rosenbrock", "--steps", "abc"]))
    assert "'--steps'" in line and "descentlab race --help" in line
    assert "Missing argument" in one_line_error(runner.invoke(app, ["race"]))
    assert "No such command 'nope'" in one_line_error(runner.invoke(app, ["nope"]))
    for args in (["race", "rosenbrock", "--steps", "abc"], ["race"], ["nope"]):
        assert runner.invoke(app, args).exit_code == 2


def test_help_still_works_and_debug_raises_usage_errors():
    result = runner.invoke(app, ["race", "--help"])
    assert result.exit_code == 0 and "--optimizers" in result.output
    result = runner.invoke(app, ["--debug", "race", "rosenbrock", "--steps", "abc"])
    assert isinstance(result.exception, typer.BadParameter) and "valid integer" in str(result.exception)


def test_a_zero_learning_rate_is_refused_on_the_command_line(tmp_path):
    for args in (
        ["race", "rosenbrock", "--lr", "0", "--steps", "5", "--out", str(tmp_path / "race.png")],
        ["train", "xor", "--lr", "0", "--epochs", "1", "--out", str(tmp_path)],
        ["explain", "gd", "--lr", "-1", "--out", str(tmp_path / "explain.png")],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert "'--lr'" in one_line_error(result) and "must be > 0" in result.output
    assert not list(tmp_path.iterdir())


def test_race_says_when_newton_stops_at_a_maximum(tmp_path):
    out = tmp_path / "race.png"
    result = runner.invoke(
        app, ["race", "himmelblau", "--optimizers", "adam,newton", "--steps", "100", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    runs = {r["optimizer"]: r for r in json.loads(out.with_suffix(".json").read_text())["runs"]}
    assert runs["Newton (lr=1)"]["status"] == "stationary point, not a minimum"
    assert runs["Adam (lr=0.05)"]["status"] == "finished"
    assert "not a minimum" in result.output


@pytest.mark.parametrize(
    ("args", "outs", "work"),
    [
        (["train", "xor", "--epochs", "1"], ("", "run"), ("studies", "train_dataset")),
        (["race", "rosenbrock", "--steps", "5"], ("r.gif",), ("studies", "race")),
        (["explain", "adam", "--steps", "3"], ("e.png",), ("studies", "explain")),
        (["study", "ewa", "--quick"], ("x.png",), ("atlas", "render")),
        (["demo", "--quick"], ("", "atlas"), ("atlas", "build")),
    ],
)
def test_every_command_refuses_an_out_that_is_a_file_before_working(tmp_path, monkeypatch, args, outs, work):
    import descentlab

    def no_work(*args, **kwargs):
        raise AssertionError("the --out check must come before the work")

    monkeypatch.setattr(getattr(descentlab, work[0]), work[1], no_work)
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    for name in outs:
        out = existing / name if name else existing
        result = runner.invoke(app, [*args, "--out", str(out)])
        assert result.exit_code == 2
        line = one_line_error(result)
        assert f"--out {out}: {existing} is a file" in line and "choose another --out" in line
    assert existing.read_text() == "keep me"


def test_race_refuses_an_optimizer_named_twice(tmp_path):
    out = tmp_path / "race.png"
    result = runner.invoke(app, ["race", "booth", "--optimizers", "adam,gd,adam", "--steps", "5", "--out", str(out)])
    assert result.exit_code == 2
    assert "'adam' is named twice" in one_line_error(result)
    assert not out.exists()


def test_explain_refuses_more_steps_than_its_table_shows(tmp_path):
    out = tmp_path / "explain.png"
    for steps in ("16", "0"):
        result = runner.invoke(app, ["explain", "adam", "--steps", steps, "--out", str(out)])
        assert result.exit_code == 2
        line = one_line_error(result)
        assert f"'--steps': {steps} is not in 1 to 15" in line and "descentlab race" in line
    assert not out.exists()
    assert runner.invoke(app, ["explain", "adam", "--steps", "15", "--out", str(out)]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "code"),
    [
        # usage errors (exit 2): what click refuses …
        (["race", "rosenbrock", "--steps", "abc"], 2),
        (["race"], 2),
        (["nope"], 2),
        (["race", "rosenbrock", "--lr", "0"], 2),
        (["explain", "--steps", "16"], 2),
        # … and the values the command or the library refuses, before any work
        (["race", "rosenbrock", "--steps", "0"], 2),
        (["race", "rosenbrock", "--start", "1,2,3"], 2),
        (["race", "rosenbrock", "--out", "r.txt"], 2),
        (["race", "nowhere"], 2),
        (["train", "moons", "--epochs", "0"], 2),
        (["train", "moons", "--hidden", "64,abc"], 2),
        (["train", "moons", "--clip-norm", "0"], 2),
        (["study", "nope"], 2),
    ],
)
def test_exit_codes_follow_the_module_docstring(tmp_path, monkeypatch, args, code):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    one_line_error(result)
    assert not list(tmp_path.iterdir())


def test_a_failure_while_running_exits_1(tmp_path, monkeypatch):
    from descentlab import atlas

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atlas, "render", disk_full)
    result = runner.invoke(app, ["study", "ewa", "--quick", "--out", str(tmp_path / "ewa.png")])
    assert result.exit_code == 1
    assert "No space left on device" in one_line_error(result)
