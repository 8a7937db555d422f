"""The plotting layer on its own: the fixed palette, saving, animation formats."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from descentlab import optim, plots, studies, surfaces, train

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz =.()0123456789", min_size=1, max_size=20)


@given(st.lists(labels, min_size=1, max_size=6, unique=True))
def test_distinct_labels_get_distinct_colours(names):
    mapping = plots.colours(names)
    assert list(mapping) == names
    assert len(set(mapping.values())) == len(names)


def test_every_optimizer_keeps_its_colour_everywhere():
    for name, cls in optim.OPTIMIZERS.items():
        assert plots.colour(cls.__name__) == plots.colour(f"{cls.__name__} (lr=0.1)") == plots.PALETTE[name]
    assert len(set(plots.PALETTE.values())) == len(plots.PALETTE)
    assert plots.colours(["GD (lr=0.1)", "GD (lr=1)"])["GD (lr=0.1)"] == plots.PALETTE["gd"]


def test_animation_formats(tmp_path):
    result = surfaces.race("himmelblau", {"Adam": optim.Adam(lr=0.1)}, steps=8)
    grid = studies.surface_grid(result.surface, n=40)
    gif = plots.animate(result, tmp_path / "race.gif", grid=grid, frames=5, dpi=40)
    with Image.open(gif) as image:
        assert image.n_frames == 5
    if animation.writers.is_available("ffmpeg"):
        assert plots.animate(result, tmp_path / "race.mp4", grid=grid, frames=3, dpi=40).stat().st_size > 0
    else:
        with pytest.raises(ValueError, match="ffmpeg"):
            plots.animate(result, tmp_path / "race.mp4", grid=grid)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        plots.animate(result, tmp_path / "race.avi", grid=grid)
    with pytest.raises(ValueError, match="frames"):
        plots.animate(result, tmp_path / "race.gif", grid=grid, frames=1)


def health_history(by_layer: dict[str, list[float]] | None) -> train.History:
    """A two-epoch history written by hand, with or without the per-layer effective step."""
    history = train.History(
        epoch=[0, 1],
        grad_norms={"dense0": [1.0, 0.5], "dense1": [2.0, 1.0]},
        update_ratio={"dense0": [1e-3, 2e-3], "dense1": [1e-3, 1e-3]},
        effective_step={"median": [0.01, 0.02], "mean": [0.01, 0.02], "max": [0.1, 0.2]},
    )
    if by_layer is not None:
        history.effective_step_by_layer = by_layer
    return history


def test_health_draws_the_effective_step_per_layer_when_the_history_has_it():
    by_layer = {"dense0": [0.01, 0.03], "dense1": [0.02, 0.05]}
    fig = plots.health(studies.TrainingCurves({"Adam": health_history(by_layer)}, "hand-made"))
    step_ax = fig.axes[2]
    assert [line.get_label() for line in step_ax.lines] == ["dense0 (Adam)", "dense1 (Adam)"]
    np.testing.assert_allclose(step_ax.lines[1].get_ydata(), by_layer["dense1"])
    for missing in (None, {}):
        fig = plots.health(studies.TrainingCurves({"Adam": health_history(missing)}, "hand-made"))
        assert [line.get_label() for line in fig.axes[2].lines] == ["Adam: median"]


def test_explain_title_follows_the_optimizer_and_minima_only_when_in_view():
    titles = {}
    for name in ("gd", "adam", "newton"):
        fig = plots.explain(studies.explain(quick=True, optimizer=name))
        titles[name] = fig.get_suptitle()
        legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
        # Rosenbrock's minimum (1, 1) is out of the first steps' view, except for Newton, which reaches it
        assert ("known minima" in legend) == (name == "newton"), (name, legend)
    assert "running averages" in titles["adam"] and "running averages" not in titles["gd"]
    assert "H p = g" in titles["newton"]


def inside(fig, ax, text) -> bool:
    """Whether ``text`` is drawn within the frame of ``ax``."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box, frame = text.get_window_extent(renderer), ax.get_window_extent(renderer)
    return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


def test_divergence_note_sits_inside_the_loss_axes():
    fig = plots.learning_rates(studies.learning_rates())  # the full study: its note used to overflow
    losses = next(ax for ax in fig.axes if ax.get_title().startswith("Loss above"))
    notes = [text for text in losses.texts if "diverged at t=" in text.get_text()]
    assert notes and all(inside(fig, losses, note) for note in notes)


def test_second_order_puts_steps_on_a_log_axis_and_labels_the_floor():
    fig = plots.second_order(studies.second_order(quick=True))
    for ax in (ax for ax in fig.axes if ax.get_xlabel().startswith("step")):
        assert ax.get_xscale() == "log"
        assert any("1e-12" in text.get_text() for text in ax.texts)


def test_clipping_marks_the_path_that_leaves_the_view():
    fig = plots.clipping(studies.clipping(quick=True))
    notes = [text.get_text() for text in fig.axes[0].texts]
    assert any(note.startswith("leaves the view; reaches (") for note in notes), notes


def test_race_marks_a_run_that_ends_at_a_maximum():
    study = studies.race(quick=True, surface="himmelblau", optimizers=["adam", "newton"])
    notes = [text.get_text() for text in plots.race_study(study).axes[0].texts]
    assert notes == [f"Newton (lr=1): {studies.NOT_A_MINIMUM}"]


def test_race_leaves_room_between_the_colour_bar_label_and_the_loss_axis():
    fig = plots.race_study(studies.race(quick=True))
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    _paths, losses, bar = fig.axes
    gap = losses.yaxis.label.get_window_extent(renderer).x0 - bar.yaxis.label.get_window_extent(renderer).x1
    assert gap > 30  # pixels at 100 dpi


def test_noisy_step_losses_are_drawn_under_the_smoother_ones():
    fig = plots.batch_regimes(studies.batch_regimes(quick=True))
    order = {line.get_label().split(":")[0]: line.get_zorder() for line in fig.axes[0].lines}
    assert order["stochastic (1)"] < order["mini-batch (32)"] < order["batch (all samples)"]


def test_the_zeros_cost_curve_is_dashed_over_the_too_small_one():
    fig = plots.initialization(studies.initialization(quick=True))
    cost = next(ax for ax in fig.axes if ax.get_title().startswith("Cost during training"))
    lines = {line.get_label().split(":")[0]: line for line in cost.lines}
    assert lines["zeros"].get_linestyle() == "--" and lines["too small"].get_linestyle() == "-"
    assert lines["zeros"].get_zorder() > lines["too small"].get_zorder()
