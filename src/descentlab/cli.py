"""The ``descentlab`` command: parse, call one library function, render.

    descentlab demo [--out atlas] [--quick]         every study as an atlas with index.html
    descentlab study NAME | --list                  one figure of the course
    descentlab race SURFACE --optimizers adam,rmsprop --steps 300 --out race.gif
    descentlab explain adam --surface rosenbrock --steps 10 the first steps, every quantity
    descentlab train moons --hidden 64,64 --optimizer adam --lr 1e-3 --epochs 50 --out run/

Errors are one readable line, ``error: …``. The exit status is 2 for a usage error: a value click or the library
refuses (an option or argument out of range or of the wrong form, an unknown name, an ``--out`` that cannot be
written there), a missing argument, an unknown command; and 1 when a command fails while it runs (a file that
cannot be written, a study of the atlas that fails). ``--debug`` (before the command) shows the traceback.
Other front ends add their commands through a ``register(app)`` function in
``descentlab.experiments.cli`` or ``descentlab.web.cli`` when those modules exist.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

# One-line usage errors are shared with ``python -m descentlab.experiments``; the class lives there because
# that package, a layer below this module, may not import it.
from descentlab.experiments.cli import OneLineUsageErrors, print_error

console = Console()
errors = Console(stderr=True)

app = typer.Typer(
    name="descentlab",
    help="A laboratory for the optimization algorithms that train neural networks.",
    cls=OneLineUsageErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Exceptions that carry a message meant for the user; anything else is a bug and keeps its traceback. The
# library's checks of the values it is given raise the first kind (a usage error, exit 2); the second kind
# happens while a command runs (a file that cannot be written: exit 1).
_REFUSED_VALUES = (ValueError, TypeError, KeyError)
_FAILURES = (OSError, ArithmeticError)
# The explain figure's table has one row per step, and from 16 rows on it runs into the update equations below it.
EXPLAIN_MAX_STEPS = 15


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback when a command fails.")] = False,
) -> None:
    """descentlab: run optimizers, see them, measure them."""
    ctx.obj = {"debug": debug}


@contextmanager
def _user_errors(ctx: typer.Context) -> Iterator[None]:
    """Turn a library error into one line on stderr (unless ``--debug``) and the exit status the module
    docstring gives: 2 for a value the command or the library refuses, 1 for a failure while running."""
    try:
        yield
    except (*_REFUSED_VALUES, *_FAILURES) as error:
        if ctx.obj and ctx.obj.get("debug"):
            raise
        print_error(error.args[0] if isinstance(error, KeyError) and error.args else str(error))
        raise typer.Exit(code=2 if isinstance(error, _REFUSED_VALUES) else 1) from None


def _positive_rate(value: float | None) -> float | None:
    """``--lr``: unset, or a number > 0 (with 0 nothing would move); anything else is a usage error."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value:g} must be > 0, e.g. 1e-3 (with 0 nothing moves)")
    return value


def _traced_steps(value: int) -> int:
    """``explain --steps``: 1 to EXPLAIN_MAX_STEPS, as many as the figure's table shows."""
    if not 1 <= value <= EXPLAIN_MAX_STEPS:
        raise typer.BadParameter(
            f"{value} is not in 1 to {EXPLAIN_MAX_STEPS}, the steps whose quantities the figure's table shows; "
            f"use 'descentlab race' to follow a long run"
        )
    return value


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
        out = out or Path(f"{name}.png")
        _check_folder(out, out.parent)
        path = atlas.render(name, out, quick=quick)
        console.print(f"{atlas.get(name).title}: wrote [bold]{path}[/]")


@app.command()
def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs and index.html.")] = Path("atlas"),
    quick: Annotated[bool, typer.Option("--quick", help="Small versions of every study (for tests).")] = False,
) -> None:
    """Run every study and write the atlas: one PNG each and an index.html with what to notice."""
    from descentlab import atlas

    with _user_errors(ctx):
        _check_folder(out, out)
        with _progress() as progress:
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


def _check_folder(out: Path, folder: Path) -> None:
    """Refuse, before any work, an ``--out`` whose ``folder`` (``out`` itself or the folder it names a file in)
    is a file or lies inside one: the folder could not be made, and the work would be lost."""
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not existing.is_dir():
        raise ValueError(
            f"--out {out}: {existing} is a file, and the files this command writes need a folder there; "
            f"choose another --out"
        )


def _split_list(text: str | None, what: str, convert=str) -> list:
    """``"a,b,c"`` → ``["a", "b", "c"]`` (converted); a bad item is a ``ValueError`` naming it."""
    if text is None:
        return []
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise ValueError(
            f"{what}={text!r} must be a comma-separated list, e.g. {'64,64' if convert is int else '1.5,2'}"
        ) from None


@app.command()
def race(
    ctx: typer.Context,
    surface: Annotated[str, typer.Argument(help="The loss surface, e.g. rosenbrock, himmelblau, cliff.")],
    optimizers: Annotated[
        str, typer.Option("--optimizers", help="Comma-separated optimizer names, e.g. adam,rmsprop,momentum.")
    ] = "gd,momentum,nesterov,rmsprop,adam",
    lr: Annotated[
        float | None,
        typer.Option("--lr", callback=_positive_rate, help="One learning rate for all (default: one per optimizer)."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps.")] = 500,
    start: Annotated[str | None, typer.Option("--start", help="Start point x,y (default: the surface's).")] = None,
    out: Annotated[Path, typer.Option("--out", help="race.png, or race.gif / race.mp4 for an animation.")] = Path(
        "race.png"
    ),
) -> None:
    """Race optimizers on a 2-D loss surface; write the figure (or animation) and race.json."""
    from descentlab import plots, studies

    with _user_errors(ctx):
        if out.suffix.lower() not in (".png", ".svg", ".pdf", ".gif", ".mp4"):
            raise ValueError(f"--out {out.name!r} must end in .png, .svg, .pdf, .gif or .mp4")
        _check_folder(out, out.parent)
        point = _split_list(start, "--start", float) or None
        if point is not None and len(point) != 2:
            raise ValueError(f"--start={start!r} must be two numbers x,y, e.g. -1.5,2")
        study = studies.race(
            surface=surface, optimizers=_split_list(optimizers, "--optimizers"), lr=lr, steps=steps, start=point
        )
        if out.suffix.lower() in (".gif", ".mp4"):
            plots.animate(study.result, out, grid=study.grid)
        else:
            plots.save(plots.race_study(study), out)
        table = Table("optimizer", "final f(θ)", "f − f*", "status")
        records = []
        endings = study.endings
        for name, run in study.result.runs.items():
            final = float(run.losses[-1, 0])
            diverged = int(run.diverged_at[0])
            status = endings[name][0]
            gap = f"{final - study.grid.f_min:.3g}" if study.grid.has_minimum else "—"  # no f* below a saddle
            table.add_row(name, f"{final:.4g}", gap, status)
            records.append(
                {
                    "optimizer": name,
                    "hyperparameters": run.hyperparameters,
                    "final_loss": final,
                    "final_point": run.trajectory[-1, 0].tolist(),
                    "diverged_at": diverged if diverged >= 0 else None,
                    "status": status,
                }
            )
        summary = {
            "surface": study.grid.name,
            "steps": study.result.steps,
            "start": study.result.starts[0].tolist(),
            "runs": records,
        }
        data_path = out.with_suffix(".json")
        data_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    console.print(table)
    console.print(f"wrote [bold]{out}[/] and [bold]{data_path}[/]")


@app.command()
def explain(
    ctx: typer.Context,
    optimizer: Annotated[
        str, typer.Argument(help="The optimizer to explain, e.g. adam, momentum, rmsprop, newton.")
    ] = "adam",
    surface: Annotated[str, typer.Option("--surface", help="The loss surface it descends.")] = "rosenbrock",
    steps: Annotated[
        int,
        typer.Option(
            "--steps",
            callback=_traced_steps,
            help=f"How many first steps to trace (1–{EXPLAIN_MAX_STEPS}: the figure's table shows each one; "
            "use race for long runs).",
        ),
    ] = 10,
    lr: Annotated[
        float | None, typer.Option("--lr", callback=_positive_rate, help="Learning rate (default: one that suits it).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="The figure to write.")] = Path("explain.png"),
) -> None:
    """Step through an optimizer's first steps: print every intermediate quantity, draw the vectors."""
    from descentlab import plots, studies

    with _user_errors(ctx):
        _check_folder(out, out.parent)
        study = studies.explain(optimizer=optimizer, surface=surface, steps=steps, lr=lr)
        plots.save(plots.explain(study), out)
    console.print(study.equations, highlight=False)
    console.print(study.trace.to_table(), highlight=False, soft_wrap=True)
    console.print(f"wrote [bold]{out}[/]")


@app.command()
def train(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="A data set name, e.g. moons, circles, spirals, digits.")],
    hidden: Annotated[str, typer.Option("--hidden", help="Hidden layer widths, comma-separated.")] = "64,64",
    activation: Annotated[str, typer.Option("--activation", help="relu, tanh, sigmoid, leaky_relu …")] = "relu",
    init: Annotated[str, typer.Option("--init", help="he, xavier, lecun_normal, too_small, zeros …")] = "he",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adam, momentum, rmsprop, gd …")] = "adam",
    lr: Annotated[
        float | None, typer.Option("--lr", callback=_positive_rate, help="Learning rate (default: the optimizer's).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Samples per step; 0 for the whole training set.")
    ] = 32,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes through the training set.")] = 20,
    schedule: Annotated[str | None, typer.Option("--schedule", help="constant, step, cosine, plateau …")] = None,
    clip_norm: Annotated[float | None, typer.Option("--clip-norm", help="Clip each gradient to this norm.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the weights, split and batch order.")] = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for history, checkpoint and plots.")] = Path("run"),
) -> None:
    """Train an MLP on a data set; write history.json/.csv, a checkpoint and training.png to --out."""
    from descentlab import nn, plots, studies

    with _user_errors(ctx):
        if batch_size < 0:
            raise ValueError(f"--batch-size={batch_size} must be ≥ 1, or 0 for full-batch descent")
        _check_folder(out, out)
        run = studies.train_dataset(
            dataset,
            hidden=_split_list(hidden, "--hidden", int),
            activation=activation,
            init=init,
            optimizer=optimizer,
            lr=lr,
            batch_size=batch_size or None,
            epochs=epochs,
            schedule=schedule,
            clip_norm=clip_norm,
            seed=seed,
            progress=True,
        )
        out.mkdir(parents=True, exist_ok=True)
        run.history.config = run.config
        run.history.to_json(out / "history.json")
        run.history.to_csv(out / "history.csv")
        run.history.to_csv(out / "steps.csv", table="steps")
        checkpoint = nn.save(out / "model.npz", run.net, optimizer=run.optimizer, schedule=run.schedule)
        figure = plots.save(
            plots.history(run.history, title=f"{dataset}: MLP {run.config['sizes']}"), out / "training.png"
        )
    history = run.history
    line = history.stopped_reason
    if history.train_loss:
        line += f"; final training loss {history.train_loss[-1]:.4g}"
    if history.val_accuracy:
        line += f", validation accuracy {history.val_accuracy[-1]:.1%}"
    console.print(f"[bold yellow]{line}[/]" if history.diverged else line, highlight=False)
    console.print(
        f"wrote {out / 'history.json'}, history.csv, steps.csv, {checkpoint.name}, {figure.name} in [bold]{out}[/]"
    )


def _register_external_commands() -> None:
    """Commands defined by other front ends (``compare``, ``report``, ``playground``) join this app through
    a ``register(app)`` function in their module."""
    for module_name in ("descentlab.experiments.cli", "descentlab.web.cli"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Absent front end, or one whose optional third-party dependency is not installed: the other
            # commands still work. A missing descentlab module inside it is a bug and is raised.
            missing = error.name or ""
            if missing == module_name or not missing.startswith("descentlab"):
                continue
            raise
        module.register(app)


_register_external_commands()
