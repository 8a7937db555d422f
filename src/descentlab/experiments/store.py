"""The result store: one SQLite file holding sweeps, their planned runs, results, curves and environments.

Tables

- ``sweeps``: name, the spec's TOML text and when it was last started.
- ``plan``: the run keys the sweep's current spec expands to (replaced, in one transaction, at each start).
- ``runs``: one row per *finished* run: its configuration (JSON), trial number (the configuration's place in
  the sweep's current spec), seed, status (``done`` or ``failed``), whether it diverged, its summary metrics
  and ``metrics``, the JSON list of those it measured (NULL in rows of an older descentlab, which kept only
  the metrics its spec asked for), seconds, the executor and the environment id.
- ``curves``: the recorded points of each run (step, seconds, train loss, validation loss and accuracy).
- ``environments``: Python, NumPy and descentlab versions, platform, CPU model and count, host.

Crash safety. A run's row and its curve are written together in one transaction, and only once the run
has finished, so a sweep killed at any moment leaves either the whole run or nothing of it; SQLite's
journal (write-ahead log, ``synchronous=FULL``) makes a commit all-or-nothing even when the process dies
mid-write. The run key is the primary key: a run is never stored twice, and a restarted sweep skips
every key already present, except a row that lacks a metric the spec now asks for: that run runs again
and its new row replaces the old one in one transaction.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from descentlab.experiments.spec import METRICS, RunTask, SweepSpec, canonical_json

SCHEMA_VERSION = 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    name TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT NOT NULL, started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS plan (
    sweep TEXT NOT NULL REFERENCES sweeps(name), run_key TEXT NOT NULL, PRIMARY KEY (sweep, run_key)
);
CREATE TABLE IF NOT EXISTS environments (
    id INTEGER PRIMARY KEY, description TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    problem TEXT NOT NULL,
    problem_kind TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    optimizer_type TEXT NOT NULL,
    trial INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    hyperparameters TEXT NOT NULL,
    problem_options TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    diverged INTEGER NOT NULL,
    error TEXT,
    steps INTEGER,
    seconds REAL NOT NULL,
    n_points INTEGER NOT NULL,
    executor TEXT NOT NULL,
    environment INTEGER REFERENCES environments(id),
    finished REAL NOT NULL,
    {", ".join(f"{name} REAL" for name in METRICS)},
    metrics TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (sweep, problem, optimizer);
CREATE TABLE IF NOT EXISTS curves (
    run_key TEXT NOT NULL REFERENCES runs(run_key),
    point INTEGER NOT NULL,
    step INTEGER NOT NULL,
    seconds REAL NOT NULL,
    train_loss REAL,
    val_loss REAL,
    val_acc REAL,
    PRIMARY KEY (run_key, point)
);
"""

RUN_COLUMNS = (
    "run_key",
    "sweep",
    "problem",
    "problem_kind",
    "optimizer",
    "optimizer_type",
    "trial",
    "seed",
    "hyperparameters",
    "problem_options",
    "status",
    "diverged",
    "error",
    "steps",
    "seconds",
    "n_points",
    "executor",
    "environment",
    "finished",
    *METRICS,
    "metrics",
)
CURVE_COLUMNS = ("step", "seconds", "train_loss", "val_loss", "val_acc")


class Store:
    """A SQLite result store (see the module docstring). Use as a context manager, or call :meth:`close`.

    Only one process writes: the sweep's driver. Workers return plain results and the driver records
    them, so runs on many cores or machines never contend for the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_path(self.path)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise _not_a_store(self.path, exc) from exc
        try:
            self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise _not_a_store(self.path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Set the journal up, create the tables a new store lacks, check the schema version."""
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS); executescript commits on its own
        with self.transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) != SCHEMA_VERSION:
                raise ValueError(
                    f"{self.path} has store schema {row['value']}, this descentlab writes {SCHEMA_VERSION}; "
                    f"use a new --db file"
                )
            # A store from before runs recorded the metrics they measured gains the column, NULL in its rows.
            # Older descentlab versions read and write such a store as before: the change is additive.
            columns = {column["name"] for column in self._db.execute("PRAGMA table_info(runs)")}
            if "metrics" not in columns:
                self._db.execute("ALTER TABLE runs ADD COLUMN metrics TEXT")

    def close(self) -> None:
        """Close the connection (committed results are already on disk)."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception: all of it is written or none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------------------
    def begin_sweep(self, spec: SweepSpec, tasks: Sequence[RunTask]) -> None:
        """Record the spec and replace the sweep's plan with the keys of ``tasks`` (the runs it now expands to).

        A stored run takes its task's trial number: the key names a configuration, not its place, so a
        changed spec (a finer grid) may have moved a configuration it shares with the old one.
        """
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "spec=excluded.spec, source=excluded.source, started=excluded.started",
                (spec.name, spec.text, spec.source, time.time()),
            )
            db.execute("DELETE FROM plan WHERE sweep = ?", (spec.name,))
            db.executemany("INSERT INTO plan VALUES (?, ?)", [(spec.name, task.key) for task in tasks])
            db.executemany("UPDATE runs SET trial = ? WHERE run_key = ?", [(task.trial, task.key) for task in tasks])

    def finished_keys(self, sweep: str | None = None, *, include_failed: bool = True) -> set[str]:
        """Keys of the runs already stored (those a restarted sweep skips)."""
        query = "SELECT run_key FROM runs WHERE 1=1"
        params: list[Any] = []
        if sweep is not None:
            query += " AND sweep = ?"
            params.append(sweep)
        if not include_failed:
            query += " AND status = 'done'"
        return {row[0] for row in self._db.execute(query, params)}

    def measured(self, sweep: str) -> dict[str, frozenset[str]]:
        """For each run of ``sweep`` stored as done, the metrics it measured (its ``metrics`` column).

        A row of an older descentlab (``metrics`` NULL) kept only what its spec asked for, and an unkept
        metric is NULL there, like one without a value: such a row counts as measuring its non-NULL ones.
        """
        rows = self._db.execute(
            f"SELECT run_key, metrics, {', '.join(METRICS)} FROM runs WHERE sweep = ? AND status = 'done'", (sweep,)
        )
        return {row["run_key"]: _measured(row) for row in rows}

    def forget_failed(self, sweep: str) -> int:
        """Delete the sweep's failed runs so that the next start runs them again; return how many."""
        with self.transaction() as db:
            keys = [r[0] for r in db.execute("SELECT run_key FROM runs WHERE sweep=? AND status='failed'", (sweep,))]
            db.executemany("DELETE FROM curves WHERE run_key = ?", [(k,) for k in keys])
            db.executemany("DELETE FROM runs WHERE run_key = ?", [(k,) for k in keys])
        return len(keys)

    def record(self, result: Mapping[str, Any], *, executor: str, replace: bool = False) -> bool:
        """Store one finished run (row, curve, environment) in one transaction.

        Returns False, writing nothing, when the key is already stored (a duplicate never replaces a
        result), unless ``replace``: then the stored row and curve give way to these, in the same
        transaction (a run again because its row lacks a metric). ``result`` is what
        :func:`descentlab.experiments.runner.execute_run` returns.
        """
        task = result["task"]
        curve = result["curve"]
        n_points = len(curve["step"])
        summary = result["summary"]
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE run_key = ?", (task["key"],)).fetchone():
                if not replace:
                    return False
                db.execute("DELETE FROM curves WHERE run_key = ?", (task["key"],))
                db.execute("DELETE FROM runs WHERE run_key = ?", (task["key"],))
            environment = self._environment_id(db, result["environment"])
            values = {
                "run_key": task["key"],
                "sweep": task["sweep"],
                "problem": task["problem"],
                "problem_kind": task["problem_kind"],
                "optimizer": task["optimizer"],
                "optimizer_type": task["optimizer_type"],
                "trial": task["trial"],
                "seed": task["seed"],
                "hyperparameters": canonical_json(task["hyperparameters"]),
                "problem_options": canonical_json(task["problem_options"]),
                "status": result["status"],
                "diverged": int(result["diverged"]),
                "error": result["error"],
                "steps": result["steps"],
                "seconds": result["seconds"],
                "n_points": n_points,
                "executor": executor,
                "environment": environment,
                "finished": time.time(),
                **{name: _finite_or_none(summary.get(name)) for name in METRICS},
                "metrics": canonical_json(sorted(summary)),
            }
            db.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                [values[c] for c in RUN_COLUMNS],
            )
            db.executemany(
                "INSERT INTO curves VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        task["key"],
                        i,
                        *(_finite_or_none(curve[c][i]) if c != "step" else curve[c][i] for c in CURVE_COLUMNS),
                    )
                    for i in range(n_points)
                ],
            )
        return True

    def _environment_id(self, db: sqlite3.Connection, environment: Mapping[str, Any]) -> int:
        description = canonical_json(dict(environment))
        row = db.execute("SELECT id FROM environments WHERE description = ?", (description,)).fetchone()
        if row is not None:
            return int(row[0])
        cursor = db.execute("INSERT INTO environments (description) VALUES (?)", (description,))
        return int(cursor.lastrowid)

    # -- reading ----------------------------------------------------------------------------------------
    def sweeps(self) -> list[dict[str, Any]]:
        """Each sweep: name, spec text, source path, last start time, planned and finished run counts."""
        rows = self._db.execute(
            "SELECT s.name, s.spec, s.source, s.started, "
            "(SELECT COUNT(*) FROM plan p WHERE p.sweep = s.name) AS planned, "
            "(SELECT COUNT(*) FROM plan p JOIN runs r ON r.run_key = p.run_key WHERE p.sweep = s.name) AS finished "
            "FROM sweeps s ORDER BY s.started"
        )
        return [dict(row) for row in rows]

    def runs(self, sweep: str | None = None, *, planned_only: bool = True) -> list[dict[str, Any]]:
        """The stored runs (of one sweep, or all), configurations decoded from JSON.

        With ``planned_only`` (the default) only runs of the sweep's current plan are returned, so runs
        left over from an earlier version of a spec do not leak into a report.
        """
        query = "SELECT r.* FROM runs r"
        params: list[Any] = []
        if sweep is not None and planned_only:
            query += " JOIN plan p ON p.run_key = r.run_key AND p.sweep = ? WHERE 1=1"
            params.append(sweep)
        elif sweep is not None:
            query += " WHERE r.sweep = ?"
            params.append(sweep)
        query += " ORDER BY r.problem, r.optimizer, r.trial, r.seed"
        rows = []
        for row in self._db.execute(query, params):
            item = dict(row)
            item["hyperparameters"] = json.loads(item["hyperparameters"])
            item["problem_options"] = json.loads(item["problem_options"])
            rows.append(item)
        return rows

    def curve(self, run_key: str) -> dict[str, list[Any]]:
        """The recorded points of one run as columns ``step, seconds, train_loss, val_loss, val_acc``."""
        rows = self._db.execute(
            f"SELECT {', '.join(CURVE_COLUMNS)} FROM curves WHERE run_key = ? ORDER BY point", (run_key,)
        ).fetchall()
        return {c: [row[c] for row in rows] for c in CURVE_COLUMNS}

    def environments(self) -> dict[int, dict[str, Any]]:
        """Environment id → its description (versions, platform, CPU)."""
        return {row[0]: json.loads(row[1]) for row in self._db.execute("SELECT id, description FROM environments")}

    def check(self) -> list[str]:
        """Integrity problems, if any: a run whose stored curve does not have its recorded number of points."""
        rows = self._db.execute(
            "SELECT r.run_key, r.n_points, (SELECT COUNT(*) FROM curves c WHERE c.run_key = r.run_key) AS stored "
            "FROM runs r"
        )
        return [
            f"run {row['run_key']}: {row['stored']} curve points stored, {row['n_points']} expected"
            for row in rows
            if row["stored"] != row["n_points"]
        ]

    # -- export -----------------------------------------------------------------------------------------
    def export(self, path: str | Path, *, table: str = "runs", sweep: str | None = None) -> Path:
        """Write ``runs`` or ``curves`` to ``.csv`` or ``.parquet`` (Parquet needs pyarrow); return the path."""
        path = Path(path)
        if table not in ("runs", "curves"):
            raise ValueError(f"table={table!r} is not one of 'runs', 'curves'")
        kind = export_format(path)
        columns, records = self._export_records(table, sweep)
        if kind == "csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows(records)
        else:
            pa, pq = _pyarrow()
            pq.write_table(pa.table({c: [r[i] for r in records] for i, c in enumerate(columns)}), path)
        return path

    def _export_records(self, table: str, sweep: str | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        if table == "runs":
            columns = list(RUN_COLUMNS)
            runs = self.runs(sweep) if sweep is not None else self.runs()
            return columns, [
                tuple(canonical_json(r[c]) if c in ("hyperparameters", "problem_options") else r[c] for c in columns)
                for r in runs
            ]
        columns = ["run_key", "point", *CURVE_COLUMNS]
        query = f"SELECT c.{', c.'.join(columns)} FROM curves c JOIN runs r ON r.run_key = c.run_key"
        params: tuple[Any, ...] = ()
        if sweep is not None:
            query += " JOIN plan p ON p.run_key = r.run_key AND p.sweep = ?"
            params = (sweep,)
        query += " ORDER BY c.run_key, c.point"
        return columns, [tuple(row) for row in self._db.execute(query, params)]


def export_format(path: str | Path) -> str:
    """``"csv"`` or ``"parquet"``, from the file name; raise before anything is written if it is neither, or
    if it is Parquet and pyarrow is missing (so a report command can check its exports first)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix != ".parquet":
        raise ValueError(f"cannot export to {Path(path).name!r}: the file name must end in .csv or .parquet")
    _pyarrow()
    return "parquet"


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            "Parquet export needs the 'pyarrow' package, which is not installed; "
            "run `pip install 'descentlab[parquet]'`, or export to .csv instead"
        ) from exc
    return pa, pq


def _check_path(path: Path) -> None:
    """Refuse a store path that is a folder, or whose folder is missing or a file, saying what to do."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; a result store is a file, e.g. {path / 'results.sqlite'}")
    problem = folder_problem(path)
    if problem:
        raise FileNotFoundError(f"cannot create the store {path}: {problem}")


def folder_problem(path: Path) -> str | None:
    """Why the folder of ``path`` cannot take a new file (it is missing, or a file), with the fix; None if it can."""
    folder = path.parent
    if folder.is_dir():
        return None
    if folder.exists():
        return f"{folder} is a file, not a folder; choose another path"
    return f"the folder {folder} does not exist; create it first (mkdir -p {folder}) or choose another path"


def _not_a_store(path: Path, error: sqlite3.DatabaseError) -> sqlite3.DatabaseError:
    return sqlite3.DatabaseError(
        f"cannot open {path} as a descentlab result store (SQLite: {error}); "
        "name a new file, or a store written by `descentlab compare`"
    )


def _measured(row: sqlite3.Row) -> frozenset[str]:
    if row["metrics"] is None:  # an older descentlab's row: what it did not keep is NULL
        return frozenset(name for name in METRICS if row[name] is not None)
    return frozenset(json.loads(row["metrics"]))


def _finite_or_none(value: Any) -> Any:
    """NaN and ±∞ become NULL: a diverged run has no final loss (the ``diverged`` column says why)."""
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
