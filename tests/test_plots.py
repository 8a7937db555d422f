"""The plotting layer on its own: the fixed palette, saving, animation formats."""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from descentlab import data, nn, optim, plots, studies, surfaces, train

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
    for fps in (0, -5, 2000, 12.5):  # a GIF counts its delays in hundredths of a second: fps ≤ 100
        with pytest.raises(ValueError, match=rf"animate: fps={fps!r} must be an integer in \[1, 100\], e.g. 12"):
            plots.animate(result, tmp_path / "bad-fps" / "race.gif", grid=grid, fps=fps)
    assert not (tmp_path / "bad-fps").exists()  # refused before anything was made or drawn


def test_animation_titles_fit_in_the_frame(tmp_path, monkeypatch):
    from descentlab.plots import surfaces as drawing

    made = []
    monkeypatch.setattr(drawing, "new_figure", lambda *size: made.append(plots.new_figure(*size)) or made[-1])
    result = surfaces.race("rosenbrock", {"Adam": optim.Adam(lr=0.1)}, steps=8)
    plots.animate(result, tmp_path / "race.gif", grid=studies.surface_grid(result.surface, n=40), frames=2, dpi=64)
    (figure,) = made
    renderer = FigureCanvasAgg(figure).get_renderer()
    frame = figure.bbox
    for ax in figure.axes:
        box = ax.title.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, f"title {ax.get_title()!r} is cut off"


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


# --- what the audit of the studies and the atlas found ------------------------------------------------------


def loss_axes(fig):
    return next(ax for ax in fig.axes if ax.get_title().startswith("Loss"))


def test_a_run_descending_without_bound_is_not_drawn_as_reaching_a_minimum(tmp_path):
    study = studies.race(quick=True, surface="saddle", optimizers=["adam"])
    (run,) = study.result.runs.values()
    fig = plots.race_study(study)
    losses = loss_axes(fig)
    assert not any("exact minimum" in text.get_text() for text in losses.texts)
    assert losses.get_title() == "Loss f(θ_t) (the surface has no minimum)"
    assert losses.lines[0].get_ydata()[-1] == run.losses[-1, 0]  # f itself, far below the view's lowest value
    assert "reaches a minimum" not in fig.get_suptitle()
    assert plots.animate(study.result, tmp_path / "saddle.gif", grid=study.grid, frames=3, dpi=30).exists()


def test_a_gap_below_f_star_is_never_put_on_the_exact_minimum_floor():
    result = surfaces.race("quadratic", {"GD": optim.GD(lr=0.05)}, steps=40)
    ax = plots.new_figure().subplots()
    plots.surfaces.draw_losses(ax, result.runs, f_min=1e6)  # a wrong f*, above every loss of the run
    assert not ax.lines[0].get_xydata().size and not ax.texts


def test_clipping_draws_each_step_at_the_gradient_it_came_from():
    study = studies.clipping(quick=True)
    ax = next(ax for ax in plots.clipping(study).axes if ax.get_title() == "Gradient norm and step length")
    lines = {line.get_label(): line for line in ax.lines}
    step = lines["GD without clipping: step ‖Δθ‖"]
    norm = lines["GD without clipping: ‖g‖ before clipping"]
    np.testing.assert_array_equal(step.get_xdata(), norm.get_xdata())
    assert step.get_xdata()[np.argmax(step.get_ydata())] == norm.get_xdata()[np.argmax(norm.get_ydata())]
    np.testing.assert_allclose(step.get_ydata(), study.lr * norm.get_ydata(), rtol=1e-12)
    assert ax.get_xlabel() == "step t (from θ_t)"


def test_batch_regimes_places_steps_by_the_steps_per_epoch_fit_recorded():
    X, y = data.load("moons", n_samples=200, noise=0.2, seed=0)
    net = nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=0)
    history = train.fit(
        net, X, y, loss="bce", optimizer=optim.GD(lr=5.0), epochs=10, batch_size=1, seed=0, progress=False,
        diagnostics=False,
    )  # fmt: skip
    assert history.diverged and len(history.step_loss) == 8  # it stopped 8 steps into its first epoch
    line = plots.batch_regimes(studies.TrainingCurves({"stochastic (1)": history}, "moons")).axes[0].lines[0]
    assert line.get_label().endswith(": 200 steps per epoch")
    assert line.get_xdata()[-1] == 7 / 200
    with pytest.raises(ValueError, match=r"batch_regimes: history 'by hand' has no config\['steps_per_epoch'\]"):
        plots.batch_regimes(studies.TrainingCurves({"by hand": health_history(None)}, "hand-made"))


def test_health_refuses_a_history_without_diagnostics():
    history = train.History(epoch=[0, 1], train_loss=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"health: history 'GD' has no diagnostics; train with fit\(\.\.\., diagn"):
        plots.health(studies.TrainingCurves({"GD": history}, "hand-made"))


def test_batch_norm_says_why_a_history_has_no_gradient_norms():
    X, y = data.load("moons", n_samples=200, seed=0)
    net = nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=0)
    diverged = train.fit(net, X, y, loss="bce", optimizer=optim.GD(lr=1e3), epochs=5, seed=0, progress=False)
    assert diverged.diverged and not diverged.epoch
    plain = train.History(epoch=[0], train_loss=[0.7], val_accuracy=[0.5])
    fig = plots.batch_norm(studies.TrainingCurves({"lr=1e3": diverged, "plain": plain}, "moons"))
    notes = " ".join(text.get_text() for text in fig.axes[2].texts)
    assert "lr=1e3: diverged before the first epoch ended" in notes
    assert "plain: no diagnostics (train with fit(..., diagnostics=True))" in notes


def test_health_says_a_history_diverged_before_its_first_epoch():
    X, y = data.load("moons", n_samples=200, seed=0)
    net = nn.mlp([2, 16, 16, 1], activation="relu", output="sigmoid", init="he", seed=0)
    diverged = train.fit(net, X, y, loss="bce", optimizer=optim.GD(lr=1e3), epochs=5, seed=0, progress=False)
    fig = plots.health(studies.TrainingCurves({"lr=1e3": diverged}, "moons"))
    assert [text.get_text() for text in fig.axes[0].texts] == ["lr=1e3: diverged before the first epoch ended"]


def test_batch_norm_panel_names_the_norm_it_plots():
    curves = studies.batch_norm(quick=True)
    grad_ax = plots.batch_norm(curves).axes[2]
    assert grad_ax.get_ylabel().startswith("‖∂J/∂θ_layer‖, θ_layer = W and b")
    assert "∂J/∂W" not in grad_ax.get_title()
    for label, history in curves.histories.items():
        lines = {line.get_label(): line.get_ydata() for line in grad_ax.lines}
        dense = [name for name in history.grad_norms if name.startswith("dense")]
        np.testing.assert_array_equal(lines[f"{label}: epoch 1"], [history.grad_norms[name][0] for name in dense])
        np.testing.assert_array_equal(lines[f"{label}: last epoch"], [history.grad_norms[name][-1] for name in dense])


def test_schedules_draws_a_record_without_a_plateau_curve_or_a_positive_rate():
    result = studies.schedules(quick=True)
    result.lrs = {name: lr for name, lr in result.lrs.items() if name.startswith(("Cosine", "Step"))}
    fig = plots.schedules(result)
    assert len(fig.axes[0].lines) == 2  # the two curves and no plateau cut lines
    result.lrs["Constant at zero"] = np.zeros(len(result.steps))
    assert plots.schedules(result).axes[1].get_ylim()[0] > 0  # the log floor comes from the positive curves


def test_drawing_helpers_keep_no_parameters_nothing_passes():
    assert list(inspect.signature(plots.surfaces.draw_trajectories).parameters) == ["ax", "runs", "grid"]
    assert list(inspect.signature(plots.surfaces.draw_losses).parameters) == ["ax", "runs", "f_min", "log_steps"]


def test_save_checks_dpi_before_drawing(tmp_path):
    with pytest.raises(ValueError, match=r"save: dpi=0 must be an integer in \[1, 1000\]"):
        plots.save(plots.new_figure(), tmp_path / "figure.png", dpi=0)
    assert not (tmp_path / "figure.png").exists()
