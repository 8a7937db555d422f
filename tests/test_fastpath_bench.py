"""The benchmark suite runs end to end (``bench/run.py --quick``) and writes a report of the expected shape.

No timing is asserted: the figures of a quick run on a shared machine mean nothing; the structure does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "Hardware bounds (measured in this run)",
    "Optimizer step: goals",
    "Optimizer step: every implementation",
    "Noise floor: two identical steps",
    "Compile time and the on-disk kernel cache",
    "Crossover: which path for which size (Adam, float32, update only)",
    "Thread pools meeting: GEMMs then a step",
    "Subnormal state (the denormal trap)",
    "Training: one epoch of a 784-256-128-10 MLP",
    "Races on Rosenbrock",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    env = dict(os.environ)
    env.pop("DESCENTLAB_PORTABLE", None)
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out.read_text()


def test_report_has_every_section_in_order(report):
    headings = re.findall(r"^## (.+)$", report, flags=re.MULTILINE)
    assert headings == list(SECTIONS)
    assert report.startswith("# descentlab benchmarks")
    for fact in ("CPU:", "Versions: python", "numpy", "numba", "Threads: cores:", "blas"):
        assert fact in report


def test_goals_table_covers_every_rule_and_size(report):
    goals = report.split("## Optimizer step: goals")[1].split("## ")[0]
    rows = [line for line in goals.splitlines() if line.startswith("| ") and not line.startswith("| rule")]
    assert {row.split("|")[1].strip() for row in rows} == {"Adam", "RMSprop", "Momentum", "AdaGrad"}
    assert len(rows) == 4 * 2  # the quick sizes
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")]
        assert float(cells[6]) > 0  # descentlab ÷ bound, update + check
        try:
            import torch  # noqa: F401
        except ImportError:
            assert cells[8] == "—"
        else:  # the same-contract column, and the goal's peer is never the checked torch step
            assert float(cells[8]) > 0
            assert "aminmax" not in cells[3]


def test_every_implementation_is_timed_or_reported_missing(report):
    table = report.split("## Optimizer step: every implementation")[1].split("## ")[0]
    for name in ("descentlab |", "descentlab portable", "non-finite check alone", "traffic bound"):
        assert name in table
    try:
        import torch  # noqa: F401
    except ImportError:
        assert "PyTorch missing" in table
    else:
        assert "torch for-loop" in table and "torch foreach" in table and "torch fused" in table
        assert "| Adam | 20,000 | torch fused + aminmax check |" in table
        assert "| RMSprop | 20,000 | torch foreach + aminmax check |" in table  # torch has no fused RMSprop
    # min / median / max are ordered in every timed row
    for match in re.finditer(r"\| ([\d.]+) / ([\d.]+) / ([\d.]+) \|", table):
        low, mid, high = (float(x) for x in match.groups())
        assert low <= mid <= high


def test_training_and_races_name_their_peers(report):
    training = report.split("## Training")[1].split("## ")[0]
    for name in ("descentlab", "PyTorch, fused Adam", "scikit-learn MLPClassifier", "8 GEMMs alone (NumPy)"):
        assert name in training
    assert "Where descentlab's time goes in an epoch" in training and "descentlab.fit, batch 128: profile" in training
    races = report.split("## Races on Rosenbrock")[1]
    assert "8 optimizers" in races and "starts" in races
