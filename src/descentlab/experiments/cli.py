"""The ``descentlab compare`` and ``descentlab report`` commands (typer).

They parse their arguments, call :func:`~descentlab.experiments.runner.run_sweep` or
:func:`~descentlab.experiments.report.write_report`, and print. :func:`register` adds them to the main
``descentlab`` application; ``python -m descentlab.experiments compare SPEC.toml`` runs them standalone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape  # messages quote install commands such as pip install 'descentlab[data]'
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from descentlab.experiments.executors import EXECUTORS, make_executor
from descentlab.experiments.runner import Result, run_sweep
from descentlab.experiments.spec import SpecError, load_spec
from descentlab.experiments.store import Store, export_format

_console = Console(stderr=True)


def _error(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr, the message as written (brackets in a path are not rich markup);
    return the usage-error exit (status 2) for the caller to raise."""
    _console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


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
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    )
    with Store(db) as store, Progress(*columns, console=_console) as bar:
        task_id = bar.add_task(f"{sweep.name} ({executor})", total=None, last="")

        def progress(finished: int, total: int, result: Result | None) -> None:
            last = "" if result is None else f"{result['task']['problem']} · {result['task']['optimizer']}"
            bar.update(task_id, completed=finished, total=total, last=last)

        try:
            outcome = run_sweep(sweep, store, runner, retry_failed=retry_failed, progress=progress)
        finally:
            runner.close()
    _console.print(
        f"{outcome.total} runs planned: {outcome.skipped} already in {db}, {outcome.ran} run now "
        f"({outcome.diverged} diverged, {outcome.failed} failed) in {outcome.seconds:.1f} s. "
        f"Next: descentlab report {db} --out report.html",
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
    with Store(db) as store:
        try:
            for target in export or []:
                export_format(target)  # a bad name or a missing pyarrow fails before anything is written
            name = write_report(store, out, sweep=sweep, markdown=markdown)
            _console.print(f"wrote {out}" + (f" and {markdown}" if markdown else ""), highlight=False)
            for target in export or []:
                table = "curves" if target.stem.endswith(".curves") else "runs"
                store.export(target, table=table, sweep=name)
                _console.print(f"exported {table} to {target}", highlight=False)
        except (ValueError, ImportError) as exc:
            raise _error(str(exc)) from exc


def register(app: typer.Typer) -> None:
    """Add ``compare`` and ``report`` to a typer application (the main ``descentlab`` command)."""
    app.command("compare")(compare)
    app.command("report")(report)


def main() -> None:
    """Entry point of ``python -m descentlab.experiments``."""
    app = typer.Typer(add_completion=False, help="Honest optimizer comparisons: run sweeps, write reports.")
    register(app)
    app()
