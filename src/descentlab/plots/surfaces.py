"""Figures on 2-D loss surfaces: contours with trajectories, and the step-by-step "explain" view."""

from __future__ import annotations

import subprocess
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, rgb_to_hsv, to_rgb
from matplotlib.figure import Figure
from PIL import Image

from descentlab._numbers import is_integer
from descentlab.plots.style import check_dpi, colour, colours, new_figure
from descentlab.studies import (
    NOT_A_MINIMUM,
    ClippingStudy,
    ExplainStudy,
    LearningRateStudy,
    LocalMinimaStudy,
    RaceStudy,
    SecondOrderStudy,
    SurfaceGrid,
    surface_grid,
)

_CONTOUR_CMAP = "Greys_r"
_LABEL_BOX = {"facecolor": "white", "alpha": 0.8, "edgecolor": "none"}  # keeps a label legible over lines


def contour(
    ax: Axes, grid: SurfaceGrid, log: bool | None = None, levels: int = 24, minima: bool = True, colorbar: bool = True
) -> None:
    """Draw the surface's contours on ``ax`` (colour bar unless ``colorbar=False``), known minima in view as
    white stars.

    ``log`` spaces the levels geometrically over f − min f (the default when f spans more than three
    decades, as on Rosenbrock), so the valley floor is resolved as well as the walls.
    """
    Z = np.where(np.isfinite(grid.Z), grid.Z, np.nan)
    low = float(np.nanmin(Z))
    shifted = Z - low
    positive = shifted[shifted > 0]
    span = float(positive.max() / positive.min()) if positive.size else 1.0
    if log is None:
        log = span > 1e3
    if log and positive.size:
        floor = max(float(np.percentile(positive, 0.5)), positive.max() * 1e-9)
        bounds = np.geomspace(floor, positive.max(), levels)
        filled = ax.contourf(
            grid.X, grid.Y, np.maximum(shifted, floor), levels=bounds, norm=LogNorm(), cmap=_CONTOUR_CMAP, alpha=0.55
        )
        ax.contour(grid.X, grid.Y, np.maximum(shifted, floor), levels=bounds, colors="white", linewidths=0.3, alpha=0.6)
        label = "f − (lowest f in view), log scale"
    else:
        filled = ax.contourf(grid.X, grid.Y, Z, levels=levels, cmap=_CONTOUR_CMAP, alpha=0.55)
        ax.contour(grid.X, grid.Y, Z, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
        label = "f(θ)"
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, shrink=0.85, label=label, format="%.2g")
    inside = _inside(grid, grid.minima)
    if minima and inside.any():
        ax.plot(
            grid.minima[inside, 0],
            grid.minima[inside, 1],
            "*",
            ms=15,
            mfc="white",
            mec="black",
            label="known minima",
            zorder=5,
        )
    ax.set(xlabel="θ₁", ylabel="θ₂", xlim=(grid.X.min(), grid.X.max()), ylim=(grid.Y.min(), grid.Y.max()))


def race(result, grid: SurfaceGrid | None = None, title: str | None = None, log: bool | None = None) -> Figure:
    """A race (``dl.surfaces.race``): contour with each optimizer's trajectories, start (○), end (■) and the
    known minima (★) on the left; the loss above the minimum against the step, log scale, on the right (f
    itself on a surface with no minimum, see :func:`draw_losses`).

    A run that diverged ends at its last finite point with a red ✕, and its loss curve stops at the
    marked step: divergence is shown, not hidden. ``grid`` defaults to the surface's own bounds.
    """
    grid = grid if grid is not None else surface_grid(result.surface, n=200)
    fig = new_figure(13, 5.4)
    fig.get_layout_engine().set(wspace=0.08)  # room between the colour bar's label and the loss axis
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    contour(left, grid, log=log)
    draw_trajectories(left, result.runs, grid)
    left.legend(fontsize=8, loc="best")
    draw_losses(right, result.runs, grid.f_min)
    question = "who reaches a minimum?" if grid.has_minimum else "f has no minimum: how fast does each go downhill?"
    fig.suptitle(title or f"Race on {grid.name}: same start, same number of steps — {question}")
    return fig


def race_study(study: RaceStudy) -> Figure:
    """:func:`race` for a :class:`~descentlab.studies.RaceStudy` (its grid and title); a run that stopped at
    a stationary point that is not a minimum (a maximum or a saddle) is labelled so at its end."""
    fig = race(study.result, study.grid, study.title)
    paths = fig.axes[0]
    palette = colours(list(study.result.runs))
    for name, endings in study.endings.items():
        ends = np.asarray(study.result.runs[name].trajectory)[-1]
        for point, ending in zip(ends, endings, strict=True):
            if ending == NOT_A_MINIMUM:
                paths.annotate(
                    f"{name}: {NOT_A_MINIMUM}",
                    point,
                    xytext=(8, -8),
                    textcoords="offset points",
                    va="top",
                    fontsize=8,
                    color=palette[name],
                    bbox=_LABEL_BOX,
                )
    return fig


def learning_rates(study: LearningRateStudy) -> Figure:
    """GD with three learning rates on one bowl: paths, and the loss on a log scale (divergence marked)."""
    low, high = study.curvatures[0], study.curvatures[-1]
    fig = race(study.race.result, study.race.grid, study.race.title, log=False)
    fig.axes[0].set_title(
        f"Hessian eigenvalues λ = {low:.3g}, {high:.3g}: stable only for α < 2/λ_max = {2 / high:.3g}", fontsize=10
    )
    return fig


def clipping(study: ClippingStudy) -> Figure:
    """The cliff: paths with and without clipping, their losses, and per step t the norm of the gradient
    at θ_t before clipping beside the length of the step taken from θ_t (both at x = t)."""
    fig = new_figure(17, 5.2)
    fig.get_layout_engine().set(wspace=0.06)
    left, middle, right = fig.subplots(1, 3, width_ratios=[1.3, 1, 1])
    contour(left, study.grid, log=True)
    draw_trajectories(left, study.runs, study.grid)
    left.legend(fontsize=8, loc="lower left")
    left.set_title("Paths (○ start, ■ end): the unclipped step at the cliff overshoots", fontsize=10)
    draw_losses(middle, study.runs, study.grid.f_min)
    palette = colours(list(study.runs))
    for name, run in study.runs.items():
        steps = np.arange(len(run.step_sizes))
        right.plot(steps, np.asarray(run.step_sizes)[:, 0], color=palette[name], lw=1.6, label=f"{name}: step ‖Δθ‖")
        right.plot(
            steps,
            study.grad_norms[name],
            ls=":",
            color=palette[name],
            lw=1.2,
            label=f"{name}: ‖g‖ before clipping",
        )
    right.axhline(study.lr * study.clip_norm, color="black", lw=0.8, ls="--")
    right.annotate(
        f"α·clip_norm = {study.lr * study.clip_norm:g}",
        (0, study.lr * study.clip_norm),
        xytext=(4, 4),
        textcoords="offset points",
        fontsize=8,
    )
    right.set(
        yscale="log", xlabel="step t (from θ_t)", ylabel="length (log scale)", title="Gradient norm and step length"
    )
    right.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Gradient clipping on a cliff (GD, α = {study.lr:g}): clipping keeps the direction, caps the step")
    return fig


def second_order(study: SecondOrderStudy) -> Figure:
    """One row per surface: Newton, GD and Adam paths on the contour, and their losses."""
    fig = new_figure(13, 5.2 * len(study.panels))
    fig.get_layout_engine().set(wspace=0.08)
    rows = np.atleast_2d(fig.subplots(len(study.panels), 2, width_ratios=[1.15, 1]))
    for (name, panel), (left, right) in zip(study.panels.items(), rows, strict=True):
        contour(left, panel.grid)
        draw_trajectories(left, panel.result.runs, panel.grid)
        left.legend(fontsize=8, loc="best")
        left.set_title(f"{name}: paths (○ start, ■ end)", fontsize=10)
        draw_losses(right, panel.result.runs, panel.grid.f_min, log_steps=True)
    fig.suptitle("Newton vs first-order methods: solving H p = g jumps to the quadratic's minimum in one step")
    return fig


_BASIN_COLOURS = ("#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f")


def local_minima(study: LocalMinimaStudy) -> Figure:
    """Which minimum each start reaches (Himmelblau), and how the best of r random restarts improves with
    r (Rastrigin)."""
    fig = new_figure(18, 5.6)
    basins, rugged, curve = fig.subplots(1, 3, width_ratios=[1.1, 1.1, 1])
    grid = study.basins.grid
    contour(basins, grid, minima=False)
    run = next(iter(study.basins.result.runs.values()))
    trajectory = np.asarray(run.trajectory)
    for i, target in enumerate(study.reached):
        tint = _BASIN_COLOURS[target % len(_BASIN_COLOURS)] if target >= 0 else "#9e9e9e"
        basins.plot(trajectory[:, i, 0], trajectory[:, i, 1], color=tint, lw=0.6, alpha=0.6)
        basins.plot(*trajectory[0, i], "o", ms=5, color=tint, mec="black", mew=0.4)
    for j, point in enumerate(grid.minima):
        count = int(np.sum(study.reached == j))
        basins.plot(*point, "*", ms=17, color=_BASIN_COLOURS[j % len(_BASIN_COLOURS)], mec="black")
        basins.annotate(
            f"{count} starts",
            point,
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=9,
            bbox=_LABEL_BOX,
        )
    basins.set_title(f"{grid.name}: each start (●) coloured by the minimum (★) GD reached", fontsize=10)

    rgrid = study.restarts.grid
    contour(rugged, rgrid, log=False, colorbar=False)
    rrun = next(iter(study.restarts.result.runs.values()))
    finals = np.asarray(rrun.trajectory)[-1]
    losses = np.asarray(rrun.losses)[-1]
    dots = rugged.scatter(
        finals[:, 0], finals[:, 1], c=losses, cmap="viridis", s=18, edgecolors="black", linewidths=0.3, zorder=6
    )
    fig.colorbar(dots, ax=rugged, shrink=0.85, label="final loss f(θ_T) of each run")
    best = int(np.argmin(losses))
    rugged.plot(*finals[best], "P", ms=14, color="#d50000", mec="black", zorder=7, label="best run")
    rugged.legend(fontsize=8, loc="lower right")
    rugged.set_title(f"{rgrid.name}: where {len(finals)} random starts ended (GD)", fontsize=10)

    r = np.arange(1, study.best_of.shape[1] + 1)
    median = np.median(study.best_of, axis=0)
    low, high = np.percentile(study.best_of, [10, 90], axis=0)
    curve.fill_between(
        r, np.maximum(low, 1e-6), np.maximum(high, 1e-6), color="#90caf9", alpha=0.6, label="10–90 % over random orders"
    )
    curve.plot(r, np.maximum(median, 1e-6), color="#0d47a1", lw=2, label="median")
    curve.set(
        xscale="log",
        yscale="symlog",
        xlabel="number of restarts r (log scale)",
        ylabel="best final loss among r runs",
        title="Random restarts: keep the best of r runs",
    )
    curve.set_yscale("symlog", linthresh=1e-2)
    curve.set_ylim(bottom=0)
    curve.legend(fontsize=8)
    fig.suptitle("Local minima: the start decides the minimum; restarting from random points finds better ones")
    return fig


def draw_trajectories(ax: Axes, runs, grid: SurfaceGrid) -> None:
    """Each run's paths (all its starts, one colour per optimizer) on ``ax``.

    A path that leaves the view and comes back (it did not diverge) is marked where it crosses the frame,
    with the farthest point it reached."""
    palette = colours(list(runs))
    for name, run in runs.items():
        path = np.asarray(run.trajectory, dtype=float)
        path = path.reshape(path.shape[0], -1, 2)
        ends = _divergence(run, path.shape[1])
        for i in range(path.shape[1]):
            points = path[:, i] if ends[i] is None else path[: max(ends[i], 1), i]
            finite = np.isfinite(points).all(axis=1) & (np.abs(points) < 1e6).all(axis=1)
            points = points[finite]
            if not len(points):
                continue
            label = name if i == 0 else None
            ax.plot(points[:, 0], points[:, 1], "-", color=palette[name], lw=1.6, alpha=0.9, label=label)
            ax.plot(*points[0], "o", ms=7, mfc="white", mec=palette[name], zorder=6)
            if ends[i] is not None:  # diverged: the marker stays on the frame even when the run left it
                ax.plot(*_on_frame(grid, points[-1]), "X", ms=11, color="#d50000", mec="black", zorder=8)
            else:
                ax.plot(*points[-1], "s", ms=6, color=palette[name], mec="black", zorder=7)
                _mark_exit(ax, grid, points, palette[name])
    if any(any(e is not None for e in _divergence(run, np.shape(run.losses)[-1])) for run in runs.values()):
        ax.plot([], [], "X", ms=9, color="#d50000", mec="black", label="diverged (last finite point)")
    ax.set_xlim(grid.X.min(), grid.X.max())
    ax.set_ylim(grid.Y.min(), grid.Y.max())


def _on_frame(grid: SurfaceGrid, point: np.ndarray) -> tuple[float, float]:
    """``point`` moved onto the view's frame when it lies outside."""
    return float(np.clip(point[0], grid.X.min(), grid.X.max())), float(np.clip(point[1], grid.Y.min(), grid.Y.max()))


def _mark_exit(ax: Axes, grid: SurfaceGrid, points: np.ndarray, tint: str) -> None:
    """An arrow head where the path first leaves the view, labelled with the farthest point it reaches."""
    outside = ~_inside(grid, points)
    if not outside.any():
        return
    first = int(np.argmax(outside))
    centre = np.array([grid.X.min() + grid.X.max(), grid.Y.min() + grid.Y.max()]) / 2
    farthest = points[np.argmax(np.linalg.norm(points - centre, axis=1))]
    where = _on_frame(grid, points[first])
    ax.plot(*where, ">", ms=10, color=tint, mec="black", zorder=8)
    right_half = where[0] > centre[0]
    ax.annotate(
        f"leaves the view; reaches ({farthest[0]:.3g}, {farthest[1]:.3g})",
        where,
        xytext=(-8 if right_half else 8, -10),
        textcoords="offset points",
        ha="right" if right_half else "left",
        va="top",
        fontsize=8,
        color=tint,
        bbox=_LABEL_BOX,
        zorder=9,
    )


def draw_losses(ax: Axes, runs, f_min: float, log_steps: bool = False) -> None:
    """f(θ_t) − f* against the step t (log scale) for each run; divergence marked with a red ✕ and the step.

    Gaps of at most 1e-12 (an exact minimum, as Newton reaches on a quadratic) are drawn on a labelled floor
    at 1e-12; a gap below −1e-12 (f under f*, which a true f* rules out) is not drawn. ``log_steps`` puts
    t + 1 on a log axis, so that a few-step convergence is not squeezed at t = 0.

    A surface with no minimum (``f_min`` = −inf: unbounded below, as the saddles) has no f − f*: f(θ_t)
    itself is drawn, on a symmetric log scale (linear within ±1), and no floor.
    """
    palette = colours(list(runs))
    floor = 1e-12
    has_minimum = bool(np.isfinite(f_min))
    shift = 1 if log_steps else 0
    on_floor = False
    for name, run in runs.items():
        losses = np.asarray(run.losses, dtype=float).reshape(np.shape(run.losses)[0], -1)
        ends = _divergence(run, losses.shape[1])
        for i in range(losses.shape[1]):
            stop = ends[i] if ends[i] is not None else len(losses)
            t = np.arange(stop) + shift
            if has_minimum:
                gap = losses[:stop, i] - f_min
                values = np.where(gap >= -floor, np.maximum(gap, floor), np.nan)
            else:
                values = losses[:stop, i]
            finite = np.isfinite(values)
            on_floor |= has_minimum and bool(np.any(values[finite] == floor))
            ax.plot(
                t[finite],
                values[finite],
                color=palette[name],
                lw=1.5 if losses.shape[1] == 1 else 0.8,
                alpha=1.0 if losses.shape[1] == 1 else 0.6,
                label=name if i == 0 else None,
            )
            if ends[i] is not None and finite.any():
                last, total = t[finite][-1], len(losses) + shift
                right_half = np.log(last) > 0.5 * np.log(total) if log_steps else last > 0.5 * total
                _mark_divergence(ax, f"diverged at t={ends[i]}", last, values[finite][-1], right_half)
    if on_floor:
        ax.axhline(floor, color="black", lw=0.6, ls=":")
        ax.annotate(
            "floor: ≤ 1e-12 (exact minimum)",
            (0.98, floor),
            xycoords=("axes fraction", "data"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="right",
            fontsize=8,
        )
    ax.set(xlabel="step t + 1 (log scale)" if log_steps else "step t")
    _set_loss_axis(ax, has_minimum)
    if log_steps:
        ax.set_xscale("log")
    ax.legend(fontsize=8, loc="best")


def _set_loss_axis(ax: Axes, has_minimum: bool) -> None:
    """The loss axis' label, title and scale: f − f* on a log scale above a minimum, f itself on a symmetric
    log scale (linear within ±1) on a surface without one."""
    if has_minimum:
        ax.set(ylabel="f(θ_t) − f*  (log scale)", title="Loss above the minimum\n(straight fall = linear rate)")
        ax.set_yscale("log")
    else:
        ax.set(ylabel="f(θ_t)  (symmetric log scale)", title="Loss f(θ_t) (the surface has no minimum)")
        ax.set_yscale("symlog", linthresh=1.0)


def _mark_divergence(ax: Axes, text: str, t: float, value: float, right_half: bool) -> None:
    """A red ✕ at a run's last finite loss (the curve's colour says whose) and ``text`` below it, towards
    the middle of the axes."""
    ax.plot(t, value, "X", ms=10, color="#d50000", mec="black", zorder=6)
    ax.annotate(
        text,
        (t, value),
        xytext=(-8 if right_half else 8, -8),
        textcoords="offset points",
        ha="right" if right_half else "left",
        va="top",
        fontsize=8,
        color="#b71c1c",
        bbox=_LABEL_BOX,
    )


def animate(
    result,
    path: str | Path,
    grid: SurfaceGrid | None = None,
    frames: int = 60,
    fps: int = 12,
    dpi: int = 72,
) -> Path:
    """Write the race as an animation: trajectories and loss curves growing step by step.

    ``path`` ending in ``.gif`` is written with Pillow; ``.mp4`` needs ffmpeg on the PATH. ``frames``
    evenly spaced steps are drawn (all of them when the race is shorter), ``fps`` of them per second
    (1 to 100: a GIF counts its delays in hundredths of a second). The static parts (contours, axes,
    colour bar) are rendered once and only the moving lines are redrawn per frame (blitting). Every
    argument is checked, and the folder made, before the first frame is drawn. Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"animate: {path.name!r} must end in .gif or .mp4")
    if not is_integer(frames) or frames < 2:
        raise ValueError(f"animate: frames={frames!r} must be an integer ≥ 2, e.g. 60")
    frames = int(frames)
    if not is_integer(fps) or not 1 <= fps <= 100:
        raise ValueError(f"animate: fps={fps!r} must be an integer in [1, 100], e.g. 12")
    fps = int(fps)
    dpi = check_dpi("animate", dpi)
    if suffix == ".mp4" and not animation.writers.is_available("ffmpeg"):
        raise ValueError("animate: writing .mp4 needs ffmpeg on the PATH; install it or write a .gif instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    grid = grid if grid is not None else surface_grid(result.surface, n=160)
    fig = new_figure(11, 4.6)
    fig.get_layout_engine().set(wspace=0.08)  # room between the colour bar's label and the loss axis
    fig.set_dpi(dpi)
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    contour(left, grid)
    palette = colours(list(result.runs))
    paths, curves, moving = [], [], []
    total = 0
    for name, run in result.runs.items():
        trajectory = np.asarray(run.trajectory, dtype=float)
        trajectory = trajectory.reshape(trajectory.shape[0], -1, 2)
        losses = np.asarray(run.losses, dtype=float).reshape(trajectory.shape[0], -1)
        if grid.has_minimum:
            losses = np.maximum(losses - grid.f_min, 1e-16)
        total = max(total, trajectory.shape[0] - 1)
        for i in range(trajectory.shape[1]):
            label = name if i == 0 else None
            (line,) = left.plot([], [], "-", color=palette[name], lw=1.6, label=label)
            (head,) = left.plot([], [], "o", color=palette[name], mec="black", ms=6, zorder=7)
            (curve,) = right.plot([], [], color=palette[name], lw=1.4, label=label)
            paths.append((line, head, trajectory[:, i]))
            curves.append((curve, losses[:, i]))
            moving += [line, head, curve]
    finite = np.concatenate([c[np.isfinite(c) & (np.abs(c) < 1e12)] for _, c in curves])
    right.set(xlim=(0, total), xlabel="step t")
    _set_loss_axis(right, grid.has_minimum)
    if finite.size and grid.has_minimum:
        right.set_ylim(finite.min() / 2, finite.max() * 2)
    elif finite.size:
        margin = 0.05 * max(float(np.ptp(finite)), 1.0)
        right.set_ylim(finite.min() - margin, finite.max() + margin)
    left.legend(fontsize=8, loc="best")
    stamp = left.text(
        0.02,
        0.97,
        "",
        transform=left.transAxes,
        va="top",
        fontsize=10,
        bbox=_LABEL_BOX,
    )
    moving.append(stamp)
    fig.suptitle(f"Race on {grid.name}")
    for artist in moving:
        artist.set_animated(True)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    fig.set_layout_engine("none")  # positions are fixed from here on
    background = canvas.copy_from_bbox(fig.bbox)
    shown = np.unique(np.linspace(0, total, min(frames, total + 1)).round().astype(int))
    images = []
    for t in shown:
        for line, head, points in paths:
            visible = points[: t + 1]
            visible = visible[np.isfinite(visible).all(axis=1)]
            line.set_data(visible[:, 0], visible[:, 1])
            head.set_data(visible[-1:, 0], visible[-1:, 1])
        for curve, values in curves:
            keep = np.isfinite(values[: t + 1])
            curve.set_data(np.arange(t + 1)[keep], values[: t + 1][keep])
        stamp.set_text(f"step {t} of {total}")
        canvas.restore_region(background)
        for artist in moving:
            artist.axes.draw_artist(artist)
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    if suffix == ".gif":
        palette_image = images[-1].quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        frames_p = [image.quantize(palette=palette_image, dither=Image.Dither.NONE) for image in images]
        frames_p[0].save(
            path, save_all=True, append_images=frames_p[1:], duration=int(1000 / fps), loop=0, optimize=True
        )
    else:
        _write_mp4(images, path, fps)
    return path


def _write_mp4(images: list[Image.Image], path: Path, fps: int) -> None:
    """Pipe RGB frames to ffmpeg (H.264, yuv420p, padded to even sizes so every player accepts it)."""
    width, height = images[0].size
    command = [
        matplotlib.rcParams["animation.ffmpeg_path"],
        "-y",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        "-pix_fmt",
        "yuv420p",
        "-vcodec",
        "libx264",
        str(path),
    ]
    frames = b"".join(image.tobytes() for image in images)
    completed = subprocess.run(command, input=frames, capture_output=True, check=False)
    if completed.returncode != 0:
        raise ValueError(f"animate: ffmpeg failed writing {path.name}: {completed.stderr.decode()[-300:]}")


def _divergence(run, k: int) -> list[int | None]:
    """``run.diverged_at`` as one entry per start: the step it diverged at, or ``None``."""
    raw = getattr(run, "diverged_at", None)
    if raw is None:
        return [None] * k
    values = list(np.atleast_1d(np.asarray(raw, dtype=object)))
    out: list[int | None] = []
    for value in values:
        if value is None or (isinstance(value, (int, np.integer)) and value < 0):
            out.append(None)
        else:
            out.append(int(value))
    return out if len(out) == k else [out[0]] * k if len(out) == 1 else [None] * k


def _inside(grid: SurfaceGrid, points: np.ndarray) -> np.ndarray:
    return (
        (points[:, 0] >= grid.X.min())
        & (points[:, 0] <= grid.X.max())
        & (points[:, 1] >= grid.Y.min())
        & (points[:, 1] <= grid.Y.max())
    )


#: What one step of each optimizer does, for the explain figure's title (by class name).
EXPLAIN_HEADLINES = {
    "GD": "each step moves against the gradient, θ ← θ − α g: long where the slope is steep, short where flat",
    "Momentum": "the velocity accumulates past gradients, and each step follows the velocity",
    "Nesterov": "the velocity accumulates past gradients; the step adds a look-ahead along it",
    "AdaGrad": "every squared gradient is added to s, which only grows; each coordinate's step is g/√s",
    "AdaDelta": "the step is g scaled by the ratio of two running RMS values: past steps over past gradients",
    "RMSprop": "a running average s of g² divides each coordinate's step by its recent size √s",
    "Adam": "each step adds the gradient into two running averages; the step is their ratio m̂/√v̂",
    "AdamW": "Adam's step m̂/√v̂, with the weight decay applied to θ directly",
    "NAdam": "Adam whose first moment looks ahead (Nesterov); the step is a ratio of running averages",
    "Newton": "each step solves H p = g and jumps to the minimum of the local quadratic model",
}

_ARROW_COLOURS = ("#0d47a1", "#1b5e20", "#e65100", "#4a148c", "#000000")


def _contrasting(tint: str, count: int) -> list[str]:
    """``count`` arrow colours whose hue differs from the path's ``tint`` (black closes the list)."""
    hue = rgb_to_hsv(to_rgb(tint))[0]

    def far(candidate: str) -> bool:
        distance = abs(rgb_to_hsv(to_rgb(candidate))[0] - hue)
        return min(distance, 1 - distance) > 0.08

    return [c for c in _ARROW_COLOURS if c == "#000000" or far(c)][:count]


def explain(result: ExplainStudy) -> Figure:
    """The first steps of one optimizer: the path with the study's arrows drawn at each point (the direction
    the state pushes θ, the size that divides it, Newton's step), beside the table of intermediate quantities
    from ``dl.optim.trace``; the title says what one step of this optimizer does."""
    fig = new_figure(15, 6.2)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.35])
    contour(left, result.grid)
    path = result.path
    tint = colour(result.optimizer)
    left.plot(path[:, 0], path[:, 1], "-o", color=tint, ms=4, lw=1.5, label=f"{result.optimizer} path θ₀ … θ_T")
    left.plot(*path[0], "o", ms=9, mfc="white", mec="black", label="start θ₀", zorder=6)
    for t, point in enumerate(path[:-1]):
        left.annotate(str(t), point, xytext=(4, 4), textcoords="offset points", fontsize=7)
    extent = float(np.max(np.ptp(path, axis=0))) or 1.0
    points = path[:-1]
    arrow_colours = _contrasting(tint, len(result.arrows))
    for k, (label, vectors) in enumerate(result.arrows.items()):
        longest = float(np.max(np.linalg.norm(vectors, axis=1))) or 1.0
        scale = 0.3 * extent / longest
        left.quiver(
            points[:, 0],
            points[:, 1],
            vectors[:, 0] * scale,
            vectors[:, 1] * scale,
            angles="xy",
            scale_units="xy",
            scale=1,
            color=arrow_colours[k],
            width=0.005,
            zorder=7 - k,
            label=f"{label} (×{scale:.2g})",
        )
    left.legend(fontsize=8, loc="best")
    rows = result.trace.rows
    left.set_title(f"{result.optimizer} on {result.grid.name}: first {len(rows)} steps")

    columns = ["step", "theta", "g"] + [k for k in (result.velocity_key, result.scale_key) if k] + ["update"]
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    headers = [_header(c) for c in columns]
    if result.curvatures is not None:
        cells = [[*row[:-1], _cell(eig), row[-1]] for row, eig in zip(cells, result.curvatures, strict=True)]
        headers = [*headers[:-1], "eigenvalues of H", headers[-1]]
    right.axis("off")
    table = right.table(cellText=cells, colLabels=headers, loc="upper center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.35)
    table.auto_set_column_width(list(range(len(headers))))
    right.text(0.0, 0.02, result.equations, transform=right.transAxes, family="monospace", fontsize=8.5, va="bottom")
    right.set_title("Intermediate quantities (vectors are (θ₁, θ₂) components) and the update rule")
    headline = EXPLAIN_HEADLINES.get(result.optimizer, "its first steps, every intermediate quantity")
    fig.suptitle(f"Explain {result.optimizer}: {headline}")
    return fig


_HEADERS = {
    "theta": "θ (before)",
    "g": "g = ∇f(θ)",
    "update": "Δθ",
    "m_hat": "m̂",
    "v_hat": "v̂",
    "velocity": "velocity",
    "square_avg": "s (avg g²)",
    "sum_sq": "s (Σg²)",
    "momentum_buffer": "b",
}


def _header(name: str) -> str:
    return _HEADERS.get(name, name)


def _cell(value) -> str:
    array = np.asarray(value)
    if array.ndim == 0:
        return f"{array.item():.4g}" if array.dtype.kind == "f" else str(array.item())
    return "(" + ", ".join(f"{x:.3g}" for x in array.ravel()) + ")"


__all__ = [
    "animate",
    "clipping",
    "contour",
    "draw_losses",
    "draw_trajectories",
    "explain",
    "learning_rates",
    "local_minima",
    "race",
    "race_study",
    "second_order",
]
