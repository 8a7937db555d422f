"""The plotting layer on its own: the fixed palette, saving, animation formats."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib import animation
from PIL import Image

from descentlab import optim, plots, studies, surfaces

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
