"""The course as an atlas: every study paired with its figure and the sentences that say what to notice.

``STUDIES`` maps a study's name to a :class:`Study` (its computation from :mod:`descentlab.studies` and its
drawing from :mod:`descentlab.plots`). :func:`render` runs one; :func:`build` runs them all and writes
one PNG each, ``index.html`` (every figure with its caption) and ``atlas.json`` (the same, for programs)::

    import descentlab.atlas as atlas
    atlas.build("atlas/", quick=True)      # → atlas/index.html
"""

from __future__ import annotations

import html
import json
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from descentlab import plots, studies
from descentlab.plots.style import check_dpi, figure_path


@dataclass(frozen=True)
class Study:
    """One page of the atlas: ``compute(quick=…)`` returns a record, ``plot(record)`` draws it."""

    name: str
    title: str
    notice: str
    compute: Callable[..., Any]
    plot: Callable[[Any], Figure]

    def figure(self, quick: bool = False) -> Figure:
        """Compute the study and draw it."""
        return self.plot(self.compute(quick=quick))


_STUDY_LIST = [
    Study(
        "race",
        "A race on Rosenbrock's curved valley",
        "Five optimizers start from the same point with rates that suit them. Plain GD is stable only with a "
        "small rate, so it stalls on the valley's flat floor; momentum builds up speed along the floor and gets "
        "furthest. Adam and RMSprop rescale each coordinate by its recent gradient size, which helps on the "
        "steep walls but not along the curved floor. The right panel shows the same race as loss against step.",
        studies.race,
        plots.race_study,
    ),
    Study(
        "learning-rate",
        "Learning rate: too small, right, too large",
        "Gradient descent on a bowl whose curvatures are 1 and 10. Each step multiplies the error along a "
        "direction of curvature λ by 1 − αλ: a small α crawls, α = 2/(λ_min + λ_max) is the fastest constant "
        "rate, and α > 2/λ_max makes that factor larger than 1 in size, so θ oscillates with growing amplitude "
        "until the loss explodes (the red ✕ marks where it left the box).",
        studies.learning_rates,
        plots.learning_rates,
    ),
    Study(
        "batch-regimes",
        "Batch, mini-batch and stochastic gradient descent",
        "The same network and learning rate, fed all samples per step, 32, or one. Per pass through the data, "
        "smaller batches take many more (cheaper, noisier) steps and so get much further; the batch version "
        "moves smoothly but slowly. The left panel shows the price: single-sample losses scatter over decades.",
        studies.batch_regimes,
        plots.batch_regimes,
    ),
    Study(
        "ewa",
        "Exponentially weighted averages",
        "Each panel smooths the same noisy series with vₜ = βvₜ₋₁ + (1 − β)xₜ. A larger β averages more "
        "values (about 1/(1 − β)), so the curve is smoother but lags behind the signal. Without bias "
        "correction the average starts near 0 and creeps up; dividing by 1 − βᵗ fixes the first steps.",
        studies.ewa,
        plots.ewa,
    ),
    Study(
        "schedules",
        "Learning-rate schedules",
        "All schedules start from the same α₀ and differ only in how they cool down: in steps, smoothly "
        "(exponential, 1/t, cosine), linearly to a floor (τ), after a warm-up, or when the loss stalls "
        "(ReduceOnPlateau, whose cuts are the vertical lines). The log panel shows how many decades each falls.",
        studies.schedules,
        plots.schedules,
    ),
    Study(
        "effective-step",
        "AdaGrad's shrinking step vs RMSprop and AdaDelta",
        "The three methods see the same gradients; halfway, the gradients become 10× smaller. AdaGrad's "
        "step per unit of gradient falls like 1/√t while the gradients keep their size; once they shrink it "
        "stops falling, but it never rises again, because its sum of squares never forgets. RMSprop and "
        "AdaDelta average recent squares only, so their steps grow back when the gradients shrink.",
        studies.effective_step,
        plots.effective_step,
    ),
    Study(
        "explain",
        "Adam step by step",
        "The first ten Adam steps on Rosenbrock with every intermediate quantity from dl.optim.trace. The blue "
        "arrows are −m̂, the averaged gradient that sets the direction; the green ones are √v̂, the gradient's "
        "typical size per coordinate that divides it. With one gradient seen, m̂/√v̂ = ±1, so the first step "
        "has length exactly α in every coordinate, whatever the gradient's scale. Here the gradient then flips "
        "sign (see g in the table): m̂ averages the flips away while √v̂ keeps their size, so the later steps "
        "are only a fraction of α (see Δθ).",
        studies.explain,
        plots.explain,
    ),
    Study(
        "second-order",
        "Newton vs gradient descent vs Adam",
        "Newton's method solves H p = g and steps by p. On a quadratic that step lands exactly on the minimum, "
        "however elongated and rotated the bowl, while GD zig-zags across it and Adam's per-coordinate "
        "scaling cannot undo the rotation. On Rosenbrock Newton reaches the minimum in a handful of steps, but "
        "not along the valley: where one curvature is nearly zero the full step trusts the local quadratic "
        "model too far, leaves the valley and sends the loss far above its start before coming back. Each "
        "step also needs the Hessian and a linear solve, which is what limits Newton in large networks.",
        studies.second_order,
        plots.second_order,
    ),
    Study(
        "clipping",
        "Gradient clipping on a cliff",
        "A gentle slope ends in a cliff whose gradient is a hundred times steeper. Without clipping, the step "
        "taken at the edge is α‖g‖ and throws θ far beyond the minimum, and the loss jumps up. Clipping the "
        "gradient's norm keeps its direction but caps the step at α·clip_norm (dashed line), so the descent "
        "simply continues on the other side.",
        studies.clipping,
        plots.clipping,
    ),
    Study(
        "local-minima",
        "Local minima and random restarts",
        "On Himmelblau's function, which has four minima, gradient descent ends in the minimum whose basin "
        "contains its start: the colours partition the plane into basins. On Rastrigin, with a local minimum "
        "in every cell, almost every run stops in a poor one; keeping the best of r random restarts finds the "
        "global minimum once r is large enough (right).",
        studies.local_minima,
        plots.local_minima,
    ),
    Study(
        "initialization",
        "Initialization: zeros, too small, He, too large",
        "The same ReLU network and the same full-batch gradient descent start from four initializations. With "
        "W = 0 every unit computes the same thing and the gradient cannot tell them apart, so nothing is "
        "learned; N(0, 0.01²) shrinks the activations layer after layer and the gradients vanish with them; "
        "N(0, 10²) multiplies them instead, the first losses are enormous and training diverges. He's "
        "N(0, 2/fan_in) keeps each layer's spread the same (middle histograms), and only it fits the data.",
        studies.initialization,
        plots.initialization,
    ),
    Study(
        "batch-norm",
        "Batch normalization on vs off",
        "A deep, narrow sigmoid network with the same optimizer and rate. Without batch norm the gradient shrinks "
        "by a factor at every layer on its way back (right panel: several decades between the last layer "
        "and the first), so the early layers do not learn and the loss stays at chance. Normalizing every layer's "
        "pre-activations keeps the gradient alive in every layer and the network trains. The norm is over a "
        "dense layer's W and b; a dense layer that feeds a batch norm has no b (the norm's shift β does its "
        "job), so with batch norm it is the norm of W alone.",
        studies.batch_norm,
        plots.batch_norm,
    ),
    Study(
        "lr-range-test",
        "The learning-rate range test",
        "One short run raises the learning rate exponentially at every step while recording the loss. The loss "
        "is flat while α is too small, falls once α is useful and explodes once it is too large (red dashed "
        "line, where the test stops). The suggestion is where the smoothed loss falls fastest; the right panel "
        "trains at it, at a tenth of it and at ten times it to check.",
        studies.lr_range,
        plots.lr_range,
    ),
    Study(
        "health",
        "Optimizer health per layer",
        "What to monitor while training: each layer's gradient norm, the size of each update relative to the "
        "parameters (around 1e-3 is the usual healthy value; much larger means a too-large rate, much smaller "
        "a stalled layer), and the effective step |Δθ|/|g|. For GD that is α for every parameter; Adam's "
        "varies per parameter and grows as gradients shrink.",
        studies.health,
        plots.health,
    ),
]

#: Every study by name, in the order of the course.
STUDIES: dict[str, Study] = {study.name: study for study in _STUDY_LIST}


def get(name: str) -> Study:
    """The study called ``name``; a ``KeyError`` lists the known names."""
    if name not in STUDIES:
        raise KeyError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    return STUDIES[name]


def render(name: str, path: str | Path, quick: bool = False, dpi: int = 100) -> Path:
    """Compute study ``name``, draw it and save the figure at ``path`` (.png, .svg or .pdf); return the path.

    The name, the path's suffix and ``dpi`` are checked, and the path's folder made, before the study runs.
    """
    study = get(name)
    path = figure_path("render", path)
    dpi = check_dpi("render", dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    return plots.save(study.figure(quick=quick), path, dpi=dpi)


@dataclass
class AtlasPage:
    """What :func:`build` did for one study: the PNG (relative to the atlas folder), seconds, or the error."""

    name: str
    title: str
    notice: str
    image: str | None
    seconds: float
    error: str | None = None


@dataclass
class Atlas:
    """The result of :func:`build`: the folder, its ``index.html`` and one page per study."""

    folder: Path
    index: Path
    pages: list[AtlasPage] = field(default_factory=list)

    @property
    def failures(self) -> list[AtlasPage]:
        return [page for page in self.pages if page.error is not None]


def build(
    folder: str | Path = "atlas",
    quick: bool = False,
    names: Iterable[str] | None = None,
    on_page: Callable[[AtlasPage], None] | None = None,
    dpi: int | None = None,
) -> Atlas:
    """Run every study (or those in ``names``), save ``<name>.png`` each, then ``index.html`` and ``atlas.json``.

    ``names`` is one study's name or several. A study that raises does not stop the others: its page
    records the error (one line in the index, the full traceback in ``atlas.json``) and
    :attr:`Atlas.failures` lists it. ``on_page`` is called after each study (a progress bar's hook).
    ``dpi`` defaults to 100, or 60 in ``quick`` mode. The names and ``dpi`` are checked before the folder
    is made or any study runs.
    """
    dpi = check_dpi("build", (60 if quick else 100) if dpi is None else dpi)
    if isinstance(names, str):  # one name, not a sequence of letters
        names = [names]
    selected = [get(name) for name in (list(STUDIES) if names is None else names)]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = Atlas(folder=folder, index=folder / "index.html")
    details: dict[str, str] = {}
    for study in selected:
        start = time.perf_counter()
        try:
            render(study.name, folder / f"{study.name}.png", quick=quick, dpi=dpi)
            page = AtlasPage(study.name, study.title, study.notice, f"{study.name}.png", 0.0)
        except Exception as error:  # a broken study is reported on its page; the atlas goes on
            page = AtlasPage(study.name, study.title, study.notice, None, 0.0, f"{type(error).__name__}: {error}")
            details[study.name] = traceback.format_exc()
        page.seconds = time.perf_counter() - start
        result.pages.append(page)
        if on_page is not None:
            on_page(page)
    result.index.write_text(_index_html(result.pages, quick), encoding="utf-8")
    records = [{**page.__dict__, "traceback": details.get(page.name)} for page in result.pages]
    (folder / "atlas.json").write_text(json.dumps({"quick": quick, "pages": records}, indent=2), encoding="utf-8")
    return result


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1250px; margin: 2em auto; padding: 0 1em; color: #222; }
nav a { margin-right: 1em; } figure { margin: 2.5em 0; border-top: 1px solid #ddd; padding-top: 1em; }
img { max-width: 100%; } .notice { font-size: 1.05em; line-height: 1.5; max-width: 60em; }
.error { color: #b00020; font-family: monospace; } .meta { color: #777; font-size: 0.85em; }
"""


def _index_html(pages: list[AtlasPage], quick: bool) -> str:
    nav = " ".join(f'<a href="#{p.name}">{html.escape(p.title)}</a>' for p in pages)
    sections = []
    for number, page in enumerate(pages, 1):
        if page.image is not None:
            body = f'<img src="{html.escape(page.image)}" alt="{html.escape(page.title)}">'
        else:
            body = f'<p class="error">This study failed: {html.escape(page.error or "")}</p>'
        sections.append(
            f'<figure id="{page.name}">\n<h2>{number}. {html.escape(page.title)}</h2>\n{body}\n'
            f'<figcaption><p class="notice"><strong>What to notice.</strong> {html.escape(page.notice)}</p>'
            f'<p class="meta">study <code>{page.name}</code> · {page.seconds:.1f} s · '
            f"<code>descentlab study {page.name}</code></p></figcaption>\n</figure>"
        )
    mode = " (quick mode: small versions of each study)" if quick else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>descentlab atlas</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>descentlab atlas{mode}</h1>\n<p>The optimization course as figures, regenerated by "
        f"<code>descentlab demo</code>.</p>\n<nav>{nav}</nav>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


__all__ = ["STUDIES", "Atlas", "AtlasPage", "Study", "build", "get", "render"]
