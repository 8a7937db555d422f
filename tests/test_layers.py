"""The layer picture of DESIGN.md, read from the source: a lower layer never imports a higher one.

Every ``import descentlab.…`` in every module, module level or inside a function, is checked against the
ranks below (equal ranks may import each other's public names). The modules below ``plots`` never import
matplotlib, typer or Ray; rich only in train.py's optional progress bar (a departure DESIGN.md's closing
notes name: issue 3 asks fit for a bar).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "descentlab"

#: Rank of each unit (a top-level module or a package), lowest first, as DESIGN.md draws them; studies
#: (computes what the figures show) and sklearn (estimators over fit) sit on train, under plots.
RANKS = {
    "_switches": 0,
    "_numbers": 0,
    "optim": 1,
    "data": 2,
    "nn": 3,
    "surfaces": 4,
    "search": 5,
    "train": 6,
    "studies": 7,
    "sklearn": 7,
    "plots": 8,
    "atlas": 9,
    "experiments": 9,
    "cli": 10,
    "web": 10,
}
FRONT_END_LIBRARIES = {"matplotlib", "typer", "ray", "rich"}
ALLOWED_BELOW_PLOTS = {("train", "rich")}


def unit_of(path: Path) -> str:
    return path.relative_to(SOURCE).with_suffix("").parts[0]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "descentlab":
                found += [(node.lineno, f"descentlab.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


MODULES = sorted(path for path in SOURCE.rglob("*.py") if path.name != "__init__.py" or path.parent != SOURCE)


def test_every_unit_has_a_rank():
    units = {unit_of(path) for path in MODULES}
    assert units == set(RANKS), (
        f"units without a rank: {units - set(RANKS)}; ranks without a unit: {set(RANKS) - units}"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_a_lower_layer_never_imports_a_higher_one(path):
    unit = unit_of(path)
    wrong = []
    for line, module in imported_modules(path):
        parts = module.split(".")
        if parts[0] == "descentlab" and len(parts) > 1 and parts[1] in RANKS and RANKS[parts[1]] > RANKS[unit]:
            wrong.append(f"line {line}: {module} (rank {RANKS[parts[1]]} > {unit}'s {RANKS[unit]})")
        if (
            parts[0] in FRONT_END_LIBRARIES
            and RANKS[unit] < RANKS["plots"]
            and (unit, parts[0]) not in ALLOWED_BELOW_PLOTS
        ):
            wrong.append(f"line {line}: {module} (a front-end library below plots)")
    assert not wrong, f"{path.relative_to(SOURCE)} imports above its layer: " + "; ".join(wrong)
