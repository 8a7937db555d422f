"""Every study of the atlas runs in its quick form and draws a non-trivial image."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from PIL import Image

from descentlab import atlas, plots, studies


@pytest.mark.parametrize("name", list(atlas.STUDIES))
def test_every_study_draws_a_nontrivial_png(name, tmp_path):
    path = atlas.render(name, tmp_path / f"{name}.png", quick=True, dpi=60)
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert image.shape[0] >= 200 and image.shape[1] >= 300
    assert image.std() > 10.0  # not blank: lines, text and fills on white
    assert (image < 128).mean() > 0.005  # some dark ink


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
