"""Figures and animations: each function takes results (records from ``descentlab.studies``, races,
histories) and returns a :class:`matplotlib.figure.Figure`; nothing here computes results.

    fig = dl.plots.race(dl.surfaces.race(...)); dl.plots.save(fig, "race.png")
"""

from descentlab.plots.networks import decision_boundary, initialization
from descentlab.plots.optim import effective_step, ewa, schedules
from descentlab.plots.style import PALETTE, colour, colours, new_figure, save
from descentlab.plots.surfaces import (
    animate,
    clipping,
    contour,
    explain,
    learning_rates,
    local_minima,
    race,
    race_study,
    second_order,
)

__all__ = [
    "PALETTE",
    "animate",
    "clipping",
    "colour",
    "colours",
    "contour",
    "decision_boundary",
    "effective_step",
    "ewa",
    "explain",
    "initialization",
    "learning_rates",
    "local_minima",
    "new_figure",
    "race",
    "race_study",
    "save",
    "schedules",
    "second_order",
]
