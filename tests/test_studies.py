"""Every study of the atlas runs in its quick form and draws a non-trivial image."""

from __future__ import annotations

import dataclasses
import inspect
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from PIL import Image

from descentlab import atlas, optim, plots, studies, surfaces


def nontrivial(path) -> bool:
    """A rendered figure, not a blank canvas: big enough, with contrast and some dark ink."""
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    return image.shape[0] >= 200 and image.shape[1] >= 300 and image.std() > 10.0 and (image < 128).mean() > 0.005


def test_a_study_renders_to_a_nontrivial_png(tmp_path):
    # Every study is rendered by the quick atlas in test_cli.py; here one goes through render() itself.
    path = atlas.render("schedules", tmp_path / "schedules.png", quick=True, dpi=60)
    assert nontrivial(path)


def test_registry_entries_are_complete():
    for name, entry in atlas.STUDIES.items():
        assert entry.name == name
        assert entry.title and len(entry.notice.split(". ")) >= 2
        assert callable(entry.compute) and callable(entry.plot)
    with pytest.raises(KeyError, match="known: "):
        atlas.get("no-such-study")


def test_schedules_start_together_and_plateau_cuts_after_the_stall():
    result = studies.schedules(quick=True, lr0=0.2)
    warm = next(k for k in result.lrs if k.startswith("Warmup"))
    for name, lr in result.lrs.items():
        assert lr.shape == result.steps.shape
        if name != warm:
            assert lr[0] == pytest.approx(0.2)
        assert np.all(lr[1:] <= lr[:-1] + 1e-12) or name == warm
    plateau = next(v for k, v in result.lrs.items() if k.startswith("ReduceOnPlateau"))
    for t in result.plateau_reductions:
        assert plateau[t] < plateau[t - 1]
    with pytest.raises(ValueError, match="lr0"):
        studies.schedules(lr0=0.0)


def test_ewa_correction_only_matters_early_and_larger_beta_is_smoother():
    result = studies.ewa(quick=True)
    for beta in result.betas:
        early_gap = abs(result.corrected[beta][0] - result.raw[beta][0])
        late_gap = abs(result.corrected[beta][-1] - result.raw[beta][-1])
        assert late_gap < early_gap or beta == 0.5
    roughness = [np.abs(np.diff(result.corrected[b])).mean() for b in result.betas]
    assert roughness == sorted(roughness, reverse=True)


def test_adagrad_step_never_recovers_while_rmsprop_does():
    result = studies.effective_step(quick=True)
    s = result.switch
    adagrad, rmsprop = result.effective["AdaGrad"][:, 0], result.effective["RMSprop"][:, 0]
    assert np.all(np.diff(adagrad) <= 1e-15)  # monotone: the sum of squares only grows
    assert rmsprop[-1] > 5 * rmsprop[s - 1]


def test_palette_is_fixed_per_optimizer():
    assert plots.colour("Adam") == plots.colour("adam (lr=0.01)") == plots.PALETTE["adam"]
    assert plots.colour("SGD") == plots.PALETTE["gd"]
    mapping = plots.colours(["adam", "too small", "too large"])
    assert len(set(mapping.values())) == 3
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save(plots.new_figure(), "figure.txt")


def test_learning_rate_study_shows_each_regime():
    result = studies.learning_rates(quick=True)
    small, right, large = result.race.result.runs.values()
    assert small.diverged_at[0] < 0 and right.diverged_at[0] < 0
    assert right.losses[-1, 0] < 1e-6 < small.losses[-1, 0]
    assert large.diverged_at[0] > 0  # divergence is recorded, not hidden
    assert max(result.rates.values()) > 2 / result.curvatures[-1]


def test_newton_solves_the_quadratic_in_one_step():
    result = studies.second_order(quick=True)
    quadratic = next(p for name, p in result.panels.items() if name.startswith("quadratic"))
    newton = next(run for label, run in quadratic.result.runs.items() if label.startswith("Newton"))
    assert newton.losses[1, 0] == pytest.approx(0.0, abs=1e-12)


def test_clipping_caps_every_step():
    result = studies.clipping(quick=True)
    clipped, unclipped = (
        result.runs[next(k for k in result.runs if "clip_norm" in k)],
        result.runs["GD without clipping"],
    )
    assert np.max(clipped.step_sizes) <= result.lr * result.clip_norm + 1e-12
    assert np.max(unclipped.step_sizes) > 10 * result.lr * result.clip_norm


def test_local_minima_every_basin_is_found_and_restarts_help():
    result = studies.local_minima(quick=True)
    assert set(result.reached[result.reached >= 0]) == {0, 1, 2, 3}
    assert np.all(np.diff(result.best_of, axis=1) <= 0)
    assert np.median(result.best_of[:, -1]) < np.median(result.best_of[:, 0])


def test_explain_records_adams_moments_and_a_path():
    result = studies.explain(quick=True, optimizer="adam")
    assert result.velocity_key == "m_hat" and result.scale_key == "v_hat"
    assert result.path.shape == (len(result.trace.rows) + 1, 2)
    # Adam's first step has length lr in every coordinate (m̂/√v̂ = ±1)
    np.testing.assert_allclose(np.abs(result.trace.rows[0]["update"]), 0.1, rtol=1e-6)
    with pytest.raises(ValueError, match="known: "):
        studies.explain(optimizer="lbfgs")


def test_race_refuses_an_optimizer_named_twice():
    with pytest.raises(ValueError, match=r"race: optimizer 'adam' is named twice in \['adam', 'rmsprop', 'adam'\]"):
        studies.race(quick=True, optimizers=["adam", "rmsprop", " Adam"], steps=5)


def test_race_rejects_unknown_optimizers_with_the_known_list():
    with pytest.raises(ValueError, match="known: gd"):
        studies.race(quick=True, optimizers=["adam", "sgdx"])
    result = studies.race(quick=True, optimizers=["adam"], lr=0.01, steps=20)
    (run,) = result.result.runs.values()
    assert run.trajectory.shape == (21, 1, 2)


def test_initialization_study_tells_the_four_stories():
    result = studies.initialization(quick=True)
    runs = {run.init: run for run in result.runs}
    assert np.all(runs["zeros"].activations["relu0"] == 0)
    small = [np.std(a) for a in runs["too_small"].activations.values()]
    assert small == sorted(small, reverse=True)  # vanishing layer after layer
    large = [np.std(a) for a in runs["too_large"].activations.values()]
    assert large == sorted(large)  # exploding
    assert runs["he"].losses[-1] < runs["zeros"].losses[-1]


def test_batch_regimes_take_more_steps_per_epoch_as_batches_shrink():
    result = studies.batch_regimes(quick=True)
    steps = [len(h.step_loss) for h in result.histories.values()]
    assert steps[0] < steps[1] < steps[2]
    final = [h.train_loss[-1] for h in result.histories.values()]
    assert final[2] < final[0]  # per epoch, stochastic gets further than full batch


def test_batch_norm_keeps_early_gradients_alive():
    result = studies.batch_norm(quick=True)
    ratios = {}
    for label, history in result.histories.items():
        dense = [name for name in history.grad_norms if name.startswith("dense")]
        ratios[label] = history.grad_norms[dense[0]][-1] / history.grad_norms[dense[-1]][-1]
    assert ratios["with batch norm"] > 10 * ratios["without batch norm"]


def test_range_test_suggests_a_rate_below_divergence_and_checks_it():
    result = studies.lr_range(quick=True)
    found = result.result
    assert found.lrs.min() <= found.suggested_lr <= found.lr_at_min
    if found.diverged_at is not None:
        assert found.suggested_lr < found.diverged_at
    assert len(result.check) == 3


def test_health_records_every_layer_for_each_optimizer():
    result = studies.health(quick=True)
    for history in result.histories.values():
        assert history.grad_norms and set(history.grad_norms) >= set(history.update_ratio)
        assert all(len(v) == len(history.epoch) for v in history.grad_norms.values())
        assert len(history.effective_step["median"]) == len(history.epoch)


def test_explain_newton_lands_on_a_quadratics_minimum_in_one_step():
    bowl = surfaces.quadratic(condition=50.0, angle=30.0)
    result = studies.explain(quick=True, optimizer="newton", surface=bowl, steps=3)
    np.testing.assert_allclose(result.path[1], bowl.minima[0], atol=1e-12)
    assert "hessian" in result.trace.columns and result.curvatures.shape == (3, 2)
    np.testing.assert_allclose(result.curvatures[0], [1.0, 50.0])  # the bowl's eigenvalues
    assert any(label.startswith("Δθ") for label in result.arrows)
    instance = studies.explain(quick=True, optimizer=optim.Newton(damping=1.0))
    assert instance.velocity_key is None and instance.trace.rows[0]["lr"] == 1.0


def test_every_explain_arrow_has_one_vector_per_step():
    for name in ("gd", "momentum", "rmsprop", "adam", "newton"):
        result = studies.explain(quick=True, optimizer=name)
        assert result.arrows
        for vectors in result.arrows.values():
            assert vectors.shape == (len(result.trace.rows), 2)


def test_race_endings_name_a_maximum_a_divergence_and_a_finish():
    study = studies.race(quick=True, surface="himmelblau", optimizers=["adam", "newton"])
    endings = study.endings
    assert endings["Newton (lr=1)"] == [studies.NOT_A_MINIMUM]  # Newton climbs to the maximum near (−0.27, −0.92)
    assert endings["Adam (lr=0.05)"] == ["finished"]
    wild = studies.race(quick=True, surface="himmelblau", optimizers=["gd"], lr=1.0, steps=20)
    assert wild.endings["GD (lr=1)"][0].startswith("diverged at step ")


def test_ewa_series_starts_far_from_zero_so_the_bias_shows():
    result = studies.ewa(quick=True)
    assert result.signal[0] > 15.0
    slowest = max(result.betas)
    assert result.raw[slowest][0] < 0.1 * result.corrected[slowest][0]


def test_second_order_paths_stay_in_view():
    for panel in studies.second_order(quick=True).panels.values():
        for run in panel.result.runs.values():
            points = run.trajectory.reshape(-1, 2)
            assert panel.grid.X.min() <= points[:, 0].min() and points[:, 0].max() <= panel.grid.X.max()
            assert panel.grid.Y.min() <= points[:, 1].min() and points[:, 1].max() <= panel.grid.Y.max()


# --- what the audit of the studies and the atlas found ------------------------------------------------------


def test_a_surface_without_minimum_has_no_f_star_and_its_runs_do_not_finish():
    study = studies.race(quick=True, surface="saddle", optimizers=["gd", "adam"])
    assert study.grid.f_min == -np.inf and not study.grid.has_minimum
    assert "no minimum" in study.title and "reaches the minimum" not in study.title
    assert study.endings["Adam (lr=0.05)"] == [studies.UNBOUNDED]  # f fell far below the view's lowest value
    assert study.result.runs["Adam (lr=0.05)"].losses[-1, 0] < study.grid.lowest
    assert study.endings["GD (lr=0.001)"] == [studies.NO_MINIMUM]
    assert studies.surface_grid("rosenbrock", n=20).has_minimum


@pytest.mark.parametrize(
    "optimizer",
    [
        optim.Momentum(lr=1e-3, beta=0.9, form="heavy_ball"),
        optim.Momentum(lr=1e-3, beta=0.9, form="ewa"),
        optim.Momentum(lr=1e-3, beta=0.9, form="sutskever"),
        optim.Nesterov(lr=5e-4, beta=0.9),
        optim.Nesterov(lr=5e-4, beta=0.9, weight_decay=0.1),
        optim.Adam(lr=0.1),
        optim.RMSprop(lr=0.01, momentum=0.9),
    ],
    ids=["heavy_ball", "ewa", "sutskever", "nesterov", "nesterov_decay", "adam", "rmsprop_momentum"],
)
def test_the_explain_arrow_that_says_where_it_pushes_theta_points_where_theta_goes(optimizer):
    result = studies.explain(optimizer=optimizer)
    (label,) = [label for label in result.arrows if "pushes θ" in label]
    arrows, steps = result.arrows[label], result.trace.column("update")
    cosine = np.sum(arrows * steps, axis=1) / np.linalg.norm(arrows, axis=1) / np.linalg.norm(steps, axis=1)
    assert np.all(cosine > 0), (label, cosine)
    if getattr(optimizer, "form", None) == "sutskever":
        assert label.startswith("+velocity")


def test_second_order_caption_tells_how_newton_really_goes_on_rosenbrock():
    notice = atlas.get("second-order").notice
    assert "leaves the valley" in notice and "follows the curved valley" not in notice
    panel = studies.second_order(quick=True).panels["rosenbrock"]
    losses = next(run for label, run in panel.result.runs.items() if label.startswith("Newton")).losses[:, 0]
    assert losses.max() > 10 * losses[0]  # the loss jumps far above its start on the way
    assert np.argmax(losses < 1e-10) <= 8  # and the minimum is reached within a handful of steps


def test_explain_caption_says_only_the_first_adam_step_has_length_alpha():
    notice = atlas.get("explain").notice
    assert "first step has length exactly α" in notice and "first steps have length ≈ α" not in notice
    result = studies.explain(optimizer="adam")  # the atlas' version: ten steps, α = 0.1
    steps, g = np.abs(result.trace.column("update")), result.trace.column("g")
    np.testing.assert_allclose(steps[0], 0.1, rtol=1e-9)
    assert np.all(steps[1:] < 0.5 * 0.1)  # a fraction of α
    assert np.all(np.any(np.diff(np.sign(g), axis=0) != 0, axis=0))  # each coordinate's gradient flips sign


def test_effective_step_caption_says_adagrad_stops_falling_when_gradients_shrink():
    notice = atlas.get("effective-step").notice
    assert "stops falling" in notice and "keeps falling like 1/√t because" not in notice
    result = studies.effective_step()  # the atlas' version
    s = result.switch
    for k in range(2):
        adagrad, rmsprop = result.effective["AdaGrad"][:, k], result.effective["RMSprop"][:, k]
        assert adagrad[s // 4 - 1] / adagrad[s - 1] == pytest.approx(2.0, rel=0.1)  # 1/√t: 4× the steps, ½ the step
        assert adagrad[s - 1] / adagrad[-1] < 1.02  # after the drop it barely moves
        assert rmsprop[-1] > 5 * rmsprop[s - 1]


@pytest.mark.parametrize("dataset", ["blobs", "digits", "sine"])
def test_initialization_refuses_a_data_set_it_cannot_draw(dataset):
    with pytest.raises(ValueError, match=rf"initialization: dataset='{dataset}' must be a 2-D binary set: moons"):
        studies.initialization(quick=True, dataset=dataset)


def test_ewa_refuses_no_beta_and_a_repeated_one():
    with pytest.raises(ValueError, match=r"ewa: betas=\(\) must name at least one β in \[0, 1\), e.g. \(0.9,\)"):
        studies.ewa(quick=True, betas=())
    with pytest.raises(ValueError, match=r"β = 0\.9 is named twice"):
        studies.ewa(quick=True, betas=(0.9, 0.5, 0.9))
    with pytest.raises(ValueError, match=r"ewa: betas=\(0.5, 1.0\) must name"):
        studies.ewa(quick=True, betas=(0.5, 1.0))
    assert studies.ewa(quick=True, betas=0.9).betas == (0.9,)


def refuse_to_compute(**_):
    raise AssertionError("the study ran although its output could not be written")


def test_render_and_build_check_their_output_before_computing(monkeypatch, tmp_path):
    for name, study in atlas.STUDIES.items():
        monkeypatch.setitem(atlas.STUDIES, name, dataclasses.replace(study, compute=refuse_to_compute))
    with pytest.raises(ValueError, match=r"render: 'init.jpg' must end in .png, .svg or .pdf"):
        atlas.render("initialization", tmp_path / "init.jpg")
    with pytest.raises(ValueError, match=r"render: dpi=0 must be an integer in \[1, 1000\]"):
        atlas.render("initialization", tmp_path / "init.png", dpi=0)
    with pytest.raises(ValueError, match=r"build: dpi=0 must be an integer in \[1, 1000\]"):
        atlas.build(tmp_path / "atlas", dpi=0)
    with pytest.raises(KeyError, match="unknown study 'nope'"):
        atlas.build(tmp_path / "atlas", names=["ewa", "nope"])
    assert not (tmp_path / "atlas").exists()  # nothing was made for a build that could not run


def test_one_name_given_as_a_string_is_one_name(tmp_path):
    study = studies.race(quick=True, optimizers="adam", steps=3)
    assert list(study.result.runs) == ["Adam (lr=0.05)"]
    built = atlas.build(tmp_path, quick=True, names="ewa")
    assert [page.name for page in built.pages] == ["ewa"] and not built.failures


@pytest.mark.parametrize("start", [(np.nan, 0.0), (np.inf, 0.0), (1.0, 2.0, 3.0), "ab"])
def test_explain_checks_its_start_before_the_first_step(start):
    with pytest.raises(ValueError, match=r"explain: start=.* must be"):
        studies.explain(quick=True, start=start)


SEEDED = [name for name, study in atlas.STUDIES.items() if "seed" in inspect.signature(study.compute).parameters]


def test_every_study_that_draws_takes_a_seed():
    assert set(SEEDED) == {
        "batch-regimes", "ewa", "schedules", "effective-step", "local-minima", "initialization", "batch-norm",
        "lr-range-test", "health",
    }  # fmt: skip


@pytest.mark.parametrize("name", SEEDED)
def test_every_seeded_study_checks_its_seed_alike_and_takes_a_generator(name):
    compute = atlas.get(name).compute
    owner = compute.__name__
    with pytest.raises(ValueError, match=rf"^{owner}: seed=-1 must be ≥ 0 \(or a numpy.random.Generator\)"):
        compute(quick=True, seed=-1)
    with pytest.raises(TypeError, match=rf"^{owner}: seed=1.5 must be an integer ≥ 0 or a numpy.random.Generator"):
        compute(quick=True, seed=1.5)
    assert compute(quick=True, seed=np.random.default_rng(0)) is not None


def test_a_generator_seed_gives_the_same_study_as_the_same_generator_state():
    first = studies.batch_regimes(quick=True, seed=np.random.default_rng(7))
    again = studies.batch_regimes(quick=True, seed=np.random.default_rng(7))
    for label, history in first.histories.items():
        np.testing.assert_array_equal(history.step_loss, again.histories[label].step_loss)
    np.testing.assert_array_equal(
        studies.ewa(quick=True, seed=np.random.default_rng(3)).series,
        studies.ewa(quick=True, seed=np.random.default_rng(3)).series,
    )
