"""Figures and animations: each function takes results (records from ``descentlab.studies``, races,
histories) and returns a :class:`matplotlib.figure.Figure`; nothing here computes results.

    fig = dl.plots.race(dl.surfaces.race(...)); dl.plots.save(fig, "race.png")
"""

from descentlab.plots.optim import effective_step, ewa, schedules
from descentlab.plots.style import PALETTE, colour, colours, new_figure, save

__all__ = [
    "PALETTE",
    "colour",
    "colours",
    "effective_step",
    "ewa",
    "new_figure",
    "save",
    "schedules",
]
