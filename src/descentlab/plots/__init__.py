"""Figures and animations: each function takes results (records from ``descentlab.studies``, races,
histories) and returns a :class:`matplotlib.figure.Figure`; nothing here computes results.

    fig = dl.plots.race(dl.surfaces.race(...)); dl.plots.save(fig, "race.png")
"""

from descentlab.plots.networks import (
    batch_norm,
    batch_regimes,
    decision_boundary,
    health,
    history,
    initialization,
    lr_range,
)
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
    "batch_norm",
    "batch_regimes",
    "clipping",
    "colour",
    "colours",
    "contour",
    "decision_boundary",
    "effective_step",
    "ewa",
    "explain",
    "health",
    "history",
    "initialization",
    "learning_rates",
    "local_minima",
    "lr_range",
    "new_figure",
    "race",
    "race_study",
    "save",
    "schedules",
    "second_order",
]
