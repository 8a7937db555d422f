"""The look shared by every figure: one fixed colour per optimizer, figure creation and saving.

Figures are built as :class:`matplotlib.figure.Figure` objects, never through ``pyplot``: nothing here
touches matplotlib's global state or needs a display, and saving renders with the Agg backend.
"""

from __future__ import annotations

import re
from pathlib import Path

from matplotlib.figure import Figure

from descentlab._numbers import is_integer

#: One colour per optimizer (keys are ``dl.optim.OPTIMIZERS`` names), the same in every figure.
PALETTE: dict[str, str] = {
    "gd": "#4d4d4d",
    "momentum": "#1f77b4",
    "nesterov": "#17becf",
    "adagrad": "#bcbd22",
    "adadelta": "#8c564b",
    "rmsprop": "#2ca02c",
    "adam": "#d62728",
    "adamw": "#ff7f0e",
    "nadam": "#e377c2",
    "newton": "#9467bd",
}

# Labels that are not optimizer names (learning rates, initializations, regimes) take these in turn.
_OTHER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_ALIASES = {"sgd": "gd", "heavy_ball": "momentum", "heavyball": "momentum", "nag": "nesterov"}


def optimizer_key(label: str) -> str | None:
    """The palette key a label names, if any: ``"Adam"``, ``"adam (lr=0.01)"`` and ``"RMSprop"`` all
    resolve to their optimizer; anything else gives ``None``."""
    words = re.findall(r"[a-z_]+", label.lower())
    if not words:
        return None
    key = _ALIASES.get(words[0], words[0])
    return key if key in PALETTE else None


def colour(label: str, index: int = 0) -> str:
    """The colour for a curve: the optimizer's palette colour when the label names one, otherwise the
    ``index``-th colour of a fixed cycle (pass the curve's position so that siblings differ)."""
    key = optimizer_key(label)
    if key is not None:
        return PALETTE[key]
    return _OTHER_COLOURS[index % len(_OTHER_COLOURS)]


def colours(labels) -> dict[str, str]:
    """Colours for several labels at once. The first label naming an optimizer keeps its palette colour;
    other labels (and later labels naming the same optimizer, e.g. two learning rates of GD) get distinct
    cycle colours that avoid the palette colours already in use."""
    labels = list(labels)
    keys = [optimizer_key(label) for label in labels]
    owners: dict[str, str] = {}
    for label, key in zip(labels, keys, strict=True):
        if key is not None and key not in owners:
            owners[key] = label
    used = {PALETTE[key] for key in owners}
    free = [c for c in _OTHER_COLOURS if c not in used] or list(_OTHER_COLOURS)
    out: dict[str, str] = {}
    spare = 0
    for label, key in zip(labels, keys, strict=True):
        if key is not None and owners[key] == label:
            out[label] = PALETTE[key]
        else:
            out[label] = free[spare % len(free)]
            spare += 1
    return out


def new_figure(width: float = 8.0, height: float = 5.0) -> Figure:
    """A figure with the house defaults (constrained layout, white background)."""
    return Figure(figsize=(width, height), layout="constrained", facecolor="white")


#: The file types :func:`save` writes, by suffix.
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def figure_path(owner: str, path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` once its suffix is one :func:`save` writes: a caller about to
    compute a figure checks this first, so that a wrong name fails before the work."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"{owner}: {path.name!r} must end in .png, .svg or .pdf, e.g. {path.stem or 'figure'}.png")
    return path


def check_dpi(owner: str, dpi: int) -> int:
    """``dpi`` once it is a whole number of dots per inch from 1 to 1000."""
    if not is_integer(dpi) or not 1 <= dpi <= 1000:
        raise ValueError(f"{owner}: dpi={dpi!r} must be an integer in [1, 1000], e.g. 100")
    return int(dpi)


def save(figure: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` (PNG, SVG or PDF by the suffix) and return the path; parent folders are created."""
    path = figure_path("save", path)
    dpi = check_dpi("save", dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, facecolor="white")
    return path
