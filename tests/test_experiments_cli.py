"""``descentlab compare`` / ``report`` and ``python -m descentlab.experiments``: a bad path, a file that is not
a store, a spec that is not UTF-8 or an unwritable output is one line, ``error: …``, never a traceback."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import sqlite3
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from descentlab.cli import app

runner = CliRunner()

SPEC = """\
name = "small"
[problems.booth]
surface = "booth"
steps = 10
[optimizers.gd]
space = { lr = 0.01 }
"""


def one_line_error(result, *parts: str) -> str:
    """The single ``error:`` line a failed command printed, with exit status 2; it contains every part."""
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def store(tmp_path, spec):
    db = tmp_path / "small.sqlite"
    done = runner.invoke(app, ["compare", str(spec), "--db", str(db), "--jobs", "1"])
    assert done.exit_code == 0, done.output
    return db


def test_compare_into_a_missing_folder_says_to_create_it(tmp_path, spec):
    db = tmp_path / "nodir" / "x.sqlite"
    done = runner.invoke(app, ["compare", str(spec), "--db", str(db)])
    one_line_error(done, str(db), "does not exist", f"mkdir -p {db.parent}")
    below_a_file = spec / "x.sqlite"
    done = runner.invoke(app, ["compare", str(spec), "--db", str(below_a_file)])
    one_line_error(done, str(below_a_file), f"{spec} is a file, not a folder")


def test_compare_into_a_file_that_is_not_a_store_leaves_it_alone(tmp_path, spec):
    text = tmp_path / "notes.txt"
    text.write_text("not a database, " * 100)
    done = runner.invoke(app, ["compare", str(spec), "--db", str(text)])
    one_line_error(done, str(text), "as a descentlab result store", "name a new file")
    assert text.read_text() == "not a database, " * 100
    one_line_error(runner.invoke(app, ["compare", str(spec), "--db", str(tmp_path)]), str(tmp_path), "a folder")


def test_report_of_a_file_that_is_not_a_store(tmp_path):
    fake = tmp_path / "notdb.sqlite"
    fake.write_text("hello")
    one_line_error(runner.invoke(app, ["report", str(fake), "--out", str(tmp_path / "r.html")]), str(fake))
    assert not (tmp_path / "r.html").exists()


def test_a_spec_that_is_not_utf8(tmp_path):
    spec = tmp_path / "latin1.toml"
    spec.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    one_line_error(runner.invoke(app, ["compare", str(spec), "--db", str(tmp_path / "x.sqlite")]), "UTF-8")
    assert not (tmp_path / "x.sqlite").exists()


@pytest.mark.parametrize("option", ["--out", "--markdown", "--export"])
def test_report_checks_every_output_before_writing_any(tmp_path, store, option):
    missing = tmp_path / "missing" / ("x.csv" if option == "--export" else "x.out")
    out = tmp_path / "r.html"
    args = ["report", str(store), "--out", str(out), option, str(missing)]
    one_line_error(runner.invoke(app, args), option, str(missing.parent), "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["small.toml", *_store_files(store)])


def _store_files(store) -> list[str]:
    return [p.name for p in store.parent.iterdir() if p.name.startswith(store.name)]


def test_a_store_of_another_schema_is_one_line(tmp_path, spec, store):
    connection = sqlite3.connect(store)
    with connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    connection.close()
    one_line_error(runner.invoke(app, ["compare", str(spec), "--db", str(store)]), "schema 99", "new --db")
    one_line_error(runner.invoke(app, ["report", str(store), "--out", str(tmp_path / "r.html")]), "schema 99")


def test_python_m_experiments_has_the_same_one_line_errors(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "descentlab.experiments", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    for args, part in [
        (["compare"], "Missing argument 'spec'"),
        (["compare", "small.toml", "--jobs", "many"], "'--jobs'"),
        (["report", "none.sqlite"], "no result store at none.sqlite"),
        (["compare", "small.toml", "--db", "nodir/x.sqlite"], "create it first"),
    ]:
        (tmp_path / "small.toml").write_text(SPEC)
        done = run(*args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith("error: ") and part in lines[0], lines[0]
