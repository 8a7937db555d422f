"""The ``descentlab`` command: parse, call one library function, render.

    descentlab demo [--out atlas] [--quick]         every study as an atlas with index.html
    descentlab study NAME | --list                  one figure of the course
    descentlab race SURFACE --optimizers adam,rmsprop --steps 300 --out race.gif
    descentlab train moons --hidden 64,64 --optimizer adam --lr 1e-3 --epochs 50 --out run/

Errors are one readable line and a non-zero exit; ``--debug`` (before the command) shows the traceback.
Other front ends add their commands through a ``register(app)`` function in
``descentlab.experiments.cli`` or ``descentlab.web.cli`` when those modules exist.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    name="descentlab",
    help="A laboratory for the optimization algorithms that train neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

# Exceptions that carry a message meant for the user; anything else is a bug and keeps its traceback.
_USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FloatingPointError, ArithmeticError)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback when a command fails.")] = False,
) -> None:
    """descentlab: run optimizers, see them, measure them."""
    ctx.obj = {"debug": debug}


@contextmanager
def _user_errors(ctx: typer.Context) -> Iterator[None]:
    """Turn a library error into one line on stderr and exit status 1 (unless ``--debug``)."""
    try:
        yield
    except _USER_ERRORS as error:
        if ctx.obj and ctx.obj.get("debug"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        errors.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(code=1) from None


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        console=console,
    )


# ---------------------------------------------------------------------------------------------------
# study and demo
# ---------------------------------------------------------------------------------------------------


@app.command()
def study(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The study to draw (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the studies and what each shows.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="PNG to write (default: NAME.png).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A small, fast version of the study.")] = False,
) -> None:
    """Draw one figure of the course, or list them all."""
    from descentlab import atlas

    with _user_errors(ctx):
        if list_:
            table = Table("name", "title", "what to notice", show_lines=True)
            for entry in atlas.STUDIES.values():
                table.add_row(entry.name, entry.title, entry.notice)
            console.print(table)
            return
        if name is None:
            raise ValueError("give a study NAME or --list; e.g. descentlab study schedules")
        path = atlas.render(name, out or Path(f"{name}.png"), quick=quick)
        console.print(f"{atlas.get(name).title}: wrote [bold]{path}[/]")


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs and index.html.")] = Path("atlas"),
    quick: Annotated[bool, typer.Option("--quick", help="Small versions of every study (for tests).")] = False,
) -> None:
    """Run every study and write the atlas: one PNG each and an index.html with what to notice."""
    from descentlab import atlas

    with _user_errors(ctx), _progress() as progress:
        task = progress.add_task("atlas", total=len(atlas.STUDIES), current="")

        def advance(page: atlas.AtlasPage) -> None:
            status = "failed" if page.error else f"{page.seconds:.1f} s"
            progress.update(task, advance=1, current=f"{page.name} ({status})")

        result = atlas.build(out, quick=quick, on_page=advance)
    for page in result.failures:
        errors.print(f"[bold red]study {page.name} failed:[/] {page.error}", highlight=False)
    console.print(f"wrote [bold]{result.index}[/] ({len(result.pages) - len(result.failures)} figures)")
    if result.failures:
        raise typer.Exit(code=1)


def _register_external_commands() -> None:
    """Commands defined by other front ends (``compare``, ``report``, ``playground``) join this app."""
    for module_name in ("descentlab.experiments.cli", "descentlab.web.cli"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                continue
            raise
        module.register(app)


_register_external_commands()
