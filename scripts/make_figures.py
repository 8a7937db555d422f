"""Regenerate the README's figures in docs/figures/ from the atlas studies (full versions).

    .venv/bin/python scripts/make_figures.py            # all of them
    .venv/bin/python scripts/make_figures.py race explain

Each PNG is reduced to a 256-colour palette so that it stays under the repository's 300 KB budget per image;
the script fails, naming the file, if one does not. The race animation is written as docs/figures/race.gif.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

from descentlab import atlas, plots, studies

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "figures"
README_STUDIES = ("race", "learning-rate", "explain", "initialization", "batch-norm", "lr-range-test")
MAX_BYTES = 300_000


def write_png(name: str, dpi: int = 80) -> Path:
    """Render study ``name`` and write it as a palette PNG; return the path."""
    figure = atlas.get(name).figure(quick=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    path = FOLDER / f"{name}.png"
    image.save(path, optimize=True)
    return path


def write_race_gif() -> Path:
    """The Rosenbrock race as an animation."""
    study = studies.race(optimizers=("gd", "momentum", "rmsprop", "adam"), steps=400)
    return plots.animate(study.result, FOLDER / "race.gif", grid=study.grid, frames=50, dpi=64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        default=[*README_STUDIES, "race-gif"],
        help=f"studies to draw (default: {', '.join(README_STUDIES)} and race-gif)",
    )
    args = parser.parse_args(argv)
    FOLDER.mkdir(parents=True, exist_ok=True)
    too_big = []
    for name in args.names:
        path = write_race_gif() if name == "race-gif" else write_png(name)
        size = path.stat().st_size
        print(f"{path.relative_to(ROOT)}  {size / 1000:.0f} KB")
        if size > MAX_BYTES:
            too_big.append(f"{path.name} ({size / 1000:.0f} KB)")
    if too_big:
        print(f"over the {MAX_BYTES // 1000} KB budget: {', '.join(too_big)}; lower the dpi", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
