"""The ``descentlab compare`` and ``descentlab report`` commands (typer).

They parse their arguments, call :func:`~descentlab.experiments.runner.run_sweep` or
:func:`~descentlab.experiments.report.write_report`, and print. :func:`register` adds them to the main
``descentlab`` application; ``python -m descentlab.experiments compare SPEC.toml`` runs them standalone,
with the same one-line errors.

Every error is one line on stderr, ``error: …``, naming the value and a fix, with exit status 2: a bad spec,
a store path that is missing, a folder, not a store or of another schema, an output whose folder does not
exist (all outputs are checked before anything is written), an unknown executor. A run that fails is
stored with its traceback and makes the exit status 1.

:class:`OneLineUsageErrors` lives here rather than in ``descentlab.cli``, which uses it too: a module of
this package may not import ``descentlab.cli``, the layer above it, and this is the lowest command line.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape  # messages quote install commands such as pip install 'descentlab[data]'
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperGroup

from descentlab.experiments.executors import EXECUTORS, Executor, make_executor
from descentlab.experiments.runner import Result, SweepOutcome, run_sweep
from descentlab.experiments.spec import SpecError, SweepSpec, load_spec
from descentlab.experiments.store import Store, export_format, folder_problem

_console = Console(stderr=True)


def print_error(message: str) -> None:
    """Print ``error: message`` on stderr as one line, the message as written (brackets in a path are not
    rich markup)."""
    _console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


class OneLineUsageErrors(TyperGroup):
    """typer's command group, except that click's usage errors (a bad option value, a missing argument, an
    unknown command) are one line on stderr, ``error: …``, with exit status 2, instead of a usage block and
    a boxed panel. ``--debug`` (before the command, where the application has it) raises them instead."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode: bool = True, **extra: Any):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as error:
            context = getattr(error, "ctx", None)
            if context is not None and context.find_root().params.get("debug"):
                raise
            message = error.format_message().strip().rstrip(".")
            if message:  # empty when no arguments were given: typer has printed the help instead
                hint = f"; see '{context.command_path} --help'" if context is not None else ""
                print_error(message + hint)
            sys.exit(error.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _error(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; return the usage-error exit (status 2) for the caller to raise."""
    print_error(message)
    return typer.Exit(2)


def _open_store(db: Path) -> Store:
    """The result store at ``db``, or the usage error saying why it cannot be one."""
    try:
        return Store(db)
    except (OSError, sqlite3.DatabaseError, ValueError) as exc:  # no folder, a folder, not SQLite, another schema
        raise _error(str(exc)) from exc


def _check_output(option: str, path: Path) -> None:
    """Refuse an output path that is a folder or whose folder does not exist, before anything is written."""
    if path.is_dir():
        raise _error(f"{option} {path} is a folder; name a file in it")
    problem = folder_problem(path)
    if problem:
        raise _error(f"{option} {path}: {problem}")


def compare(
    spec: Annotated[Path, typer.Argument(help="The sweep spec (TOML), e.g. specs/course.toml.")],
    executor: Annotated[str, typer.Option(help=f"Where runs execute: {' or '.join(EXECUTORS)}.")] = "local",
    jobs: Annotated[
        int | None, typer.Option(help="Local worker processes (default: all cores); CPUs of a local Ray instance.")
    ] = None,
    db: Annotated[Path, typer.Option(help="The SQLite result store; an existing one is resumed.")] = Path(
        "results.sqlite"
    ),
    address: Annotated[str | None, typer.Option(help="Ray cluster address (e.g. 'auto'); Ray only.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Run again the runs stored as failed.")] = False,
) -> None:
    """Run an optimizer comparison; a store that already holds some of its runs is resumed."""
    try:
        sweep = load_spec(spec)
    except SpecError as exc:
        raise _error(str(exc)) from exc
    for warning in sweep.warnings:
        _console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    try:
        runner = make_executor(executor, jobs=jobs, address=address)
    except (ValueError, ImportError) as exc:
        raise _error(str(exc)) from exc
    try:
        with _open_store(db) as store:
            outcome = _run_with_progress(sweep, store, runner, retry_failed)
    finally:
        runner.close()
    _console.print(
        f"{outcome.total} runs planned: {outcome.skipped} already in {db}, {outcome.ran} run now "
        f"({outcome.diverged} diverged, {outcome.failed} failed) in {outcome.seconds:.1f} s. "
        f"Next: descentlab report {db} --out report.html",
        highlight=False,
    )
    if outcome.remeasured:
        _console.print(
            f"{outcome.remeasured} of them were stored already without a metric the spec asks for (a store of an "
            "older descentlab) and ran again to measure it",
            highlight=False,
        )
    if outcome.skipped_failed:
        _console.print(
            f"{outcome.skipped_failed} stored run(s) failed in an earlier start and were skipped (their tracebacks "
            "are in the store's runs table, column error); run them again with --retry-failed",
            highlight=False,
        )
    if outcome.failed or outcome.skipped_failed:
        raise typer.Exit(1)


def _run_with_progress(sweep: SweepSpec, store: Store, runner: Executor, retry_failed: bool) -> SweepOutcome:
    """Run the sweep under a progress bar (runs finished, time left, the last run's problem and optimizer)."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Progress(*columns, console=_console) as bar:
        task_id = bar.add_task(f"{sweep.name} ({runner.name})", total=None, last="")

        def progress(finished: int, total: int, result: Result | None) -> None:
            last = "" if result is None else f"{result['task']['problem']} · {result['task']['optimizer']}"
            bar.update(task_id, completed=finished, total=total, last=last)

        return run_sweep(sweep, store, runner, retry_failed=retry_failed, progress=progress)


def report(
    db: Annotated[Path, typer.Argument(help="A result store written by `descentlab compare`.")],
    out: Annotated[Path, typer.Option(help="The HTML report to write (self-contained).")] = Path("report.html"),
    sweep: Annotated[str | None, typer.Option(help="Which sweep of the store (needed if it holds several).")] = None,
    export: Annotated[
        list[Path] | None,
        typer.Option(help="Also export the runs table to .csv or .parquet (repeatable); curves: *.curves.csv."),
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Also write the ranking tables as Markdown.")] = None,
) -> None:
    """Turn a result store into a self-contained HTML report (and optionally CSV/Parquet exports)."""
    from descentlab.experiments.report import write_report

    if not db.exists():
        raise _error(f"no result store at {db}; run `descentlab compare SPEC.toml` first")
    outputs = [
        ("--out", out),
        *([("--markdown", markdown)] if markdown else []),
        *[("--export", e) for e in export or []],
    ]
    for option, path in outputs:
        _check_output(option, path)
    try:
        for target in export or []:
            export_format(target)  # a bad name or a missing pyarrow fails before anything is written
    except (ValueError, ImportError) as exc:
        raise _error(str(exc)) from exc
    with _open_store(db) as store:
        try:
            name = write_report(store, out, sweep=sweep, markdown=markdown)
            _console.print(f"wrote {out}" + (f" and {markdown}" if markdown else ""), highlight=False)
            for target in export or []:
                table = "curves" if target.stem.endswith(".curves") else "runs"
                store.export(target, table=table, sweep=name)
                _console.print(f"exported {table} to {target}", highlight=False)
        except (ValueError, OSError) as exc:  # no such sweep; an output that cannot be written after all
            raise _error(str(exc)) from exc


def register(app: typer.Typer) -> None:
    """Add ``compare`` and ``report`` to a typer application (the main ``descentlab`` command)."""
    app.command("compare")(compare)
    app.command("report")(report)


def standalone_app() -> typer.Typer:
    """``compare`` and ``report`` as an application of their own, with the main command's error handling."""
    app = typer.Typer(
        help="Honest optimizer comparisons: run sweeps, write reports.",
        cls=OneLineUsageErrors,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    register(app)
    return app


def main() -> None:
    """Entry point of ``python -m descentlab.experiments``."""
    standalone_app()()
