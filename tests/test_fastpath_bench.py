"""The benchmark suite runs end to end (``bench/run.py --quick``) and writes a report of the expected shape;
and the benchmarks do the work their reports say (FLOPs counted, samples trained, the torch path named, the
gradient the same-contract check reads, the commit recorded).

No timing is asserted: the figures of a quick run on a shared machine mean nothing; the structure does.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[1]
BENCH_MODULES = ("timing", "hardware", "optimizer_step", "training", "races")
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
def bench():
    """The bench's modules, imported as ``bench/run.py`` imports them (from the bench folder, by bare name)."""
    # Bare names such as "timing" are the bench's only while its tests run: whatever held them is put back after.
    held = {name: sys.modules.pop(name, None) for name in BENCH_MODULES}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.syspath_prepend(str(ROOT / "bench"))
            yield SimpleNamespace(**{name: importlib.import_module(name) for name in BENCH_MODULES})
    finally:
        for name, module in held.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


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
    head = report.split("## ")[0]
    assert re.search(r"^Commit: [0-9a-f]{4,40}( \+ local changes)?$", head, flags=re.MULTILINE), head


def test_compile_table_reports_numba_start_up_on_its_own_line(report):
    section = report.split("## Compile time and the on-disk kernel cache")[1].split("## ")[0]
    start_up = re.search(r"^numba start-up: (\d+) ms in the first process, (\d+) ms in the second", section, re.M)
    assert start_up, section
    kernel_rows = [line for line in section.splitlines() if line.startswith("| adam ")]
    assert len(kernel_rows) == 2  # the quick run's one rule, serial and parallel


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


def test_training_and_races_name_their_peers(report, bench):
    training = report.split("## Training")[1].split("## ")[0]
    names = ("descentlab.fit", "descentlab nn loop", *bench.training.TORCH_ADAMS, "scikit-learn", "8 GEMMs alone")
    implementations = [line.split("|")[2].strip() for line in training.splitlines() if line.startswith("| 128 |")]
    assert len(implementations) == len(names)
    for name in names:  # each timed, or reported missing, once
        assert sum(implementation.startswith(name) for implementation in implementations) == 1, name
    assert "default: foreach" not in training  # torch's CPU default is the for-loop
    flops = f"2 × (2 × {bench.training.WEIGHTS:,} + {bench.training.UPPER_WEIGHTS:,}) = 1,007,104"
    assert flops in training and "overcounts by 1.40×" in training
    assert "Where descentlab's time goes in an epoch" in training and "descentlab.fit, batch 128: profile" in training


def test_races_give_each_race_its_ratio_against_pytorch(report):
    races = report.split("## Races on Rosenbrock")[1]
    assert "| race | min / median / max ms | µs per optimizer step | PyTorch ÷ this (ratio of medians) |" in races
    rows = [line for line in races.splitlines() if line.startswith("| ") and "descentlab" in line]
    assert sum("8 optimizers" in row for row in rows) == 2 and sum("starts" in row for row in rows) == 2
    for row in rows:
        ratio = row.split("|")[4].strip()
        try:
            import torch  # noqa: F401
        except ImportError:
            assert ratio == "PyTorch missing"
        else:
            assert re.fullmatch(r"[\d.]+×( \(compiled whole race against PyTorch's per-step loop\))?", ratio), row
            assert ("compiled loop" in row) == ("compiled whole race" in ratio), row


class _CountingArray(np.ndarray):
    """An array whose matrix products add their FLOPs (2 per multiply-add) to ``flops``."""

    flops: ClassVar[list[int]] = []

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [np.asarray(x) for x in inputs]
        if ufunc is np.matmul:
            (m, k), (_, n) = plain[0].shape, plain[1].shape
            _CountingArray.flops.append(2 * m * k * n)
        return getattr(ufunc, method)(*plain, **kwargs).view(_CountingArray)


def _recorded(original, log: list, describe=None):
    """``original``, appending ``describe(*args, **kwargs)`` (by default its name) to ``log`` before each call."""

    def call(*args, **kwargs):
        log.append(original.__name__ if describe is None else describe(*args, **kwargs))
        return original(*args, **kwargs)

    return call


def test_gemm_bound_counts_the_flops_of_the_gemms_a_training_step_runs(bench):
    training = bench.training
    assert training.FLOPS_PER_SAMPLE == 2 * (2 * training.WEIGHTS + training.UPPER_WEIGHTS) == 1_007_104
    X, _ = training.data(300)
    _CountingArray.flops.clear()
    training.gemms_alone(X.view(_CountingArray), batch=128)()
    assert len(_CountingArray.flops) == 8 * 3  # 8 GEMMs for each batch: 128, 128 and the last 44 rows
    assert sum(_CountingArray.flops) == training.FLOPS_PER_SAMPLE * 300


def test_descentlab_trains_on_every_sample(bench, monkeypatch):
    from descentlab.nn.network import Network

    rows: list[int] = []
    monkeypatch.setattr(Network, "_loss_and_grad", _recorded(Network._loss_and_grad, rows, lambda net, X, *_: len(X)))
    X, y = bench.training.data(300)
    for epoch in (bench.training.descentlab_fit(X, y, 128), bench.training.descentlab_loop(X, y, 128)):
        rows.clear()
        epoch()
        assert sorted(rows) == [44, 128, 128]


def test_pytorch_trains_on_every_sample_with_the_adam_its_label_names(bench, monkeypatch):
    torch = pytest.importorskip("torch", exc_type=ImportError)
    adam = importlib.import_module("torch.optim.adam")
    functions = {"for-loop": "_single_tensor_adam", "foreach": "_multi_tensor_adam", "fused": "_fused_adam"}
    ran: list[str] = []
    for function in functions.values():
        monkeypatch.setattr(adam, function, _recorded(getattr(adam, function), ran))
    rows: list[int] = []

    def count_input_rows(module, inputs, output):
        if isinstance(module, torch.nn.Linear) and module.in_features == bench.training.SIZES[0]:
            rows.append(inputs[0].shape[0])

    X, y = bench.training.data(300)
    hook = torch.nn.modules.module.register_module_forward_hook(count_input_rows)
    try:
        for label, options in bench.training.TORCH_ADAMS.items():
            ran.clear()
            rows.clear()
            bench.training.torch_loop(X, y, 128, options)()
            named = [function for implementation, function in functions.items() if implementation in label]
            assert len(named) == 1 and ran == named * 3, (label, ran)  # one step per batch
            assert sorted(rows) == [44, 128, 128], label
    finally:
        hook.remove()


def test_scikit_learn_trains_on_every_sample(bench, monkeypatch):
    neural_network = pytest.importorskip("sklearn.neural_network", exc_type=ImportError)
    rows: list[int] = []
    forward = _recorded(neural_network.MLPClassifier._forward_pass, rows, lambda clf, activations: len(activations[0]))
    monkeypatch.setattr(neural_network.MLPClassifier, "_forward_pass", forward)
    X, y = bench.training.data(300)
    bench.training.sklearn_epoch(X, y, 128)()
    assert sorted(rows) == [44, 128, 128]


def test_same_contract_check_reads_the_gradient_the_torch_step_reads(bench):
    pytest.importorskip("torch", exc_type=ImportError)
    step_bench = bench.optimizer_step
    rng = np.random.default_rng(0)
    theta, grad = rng.standard_normal(1000).astype(np.float32), np.full(1000, 1e-3, np.float32)
    torch_steps, torch_grad, missing = step_bench._torch_variants(step_bench.RULES[0], theta, grad)
    checked = step_bench._torch_checked(torch_steps, torch_grad)
    assert missing == "" and checked.name == "torch fused" + step_bench.CHECKED
    checked.call()
    fused = next(step for name, step, _ in torch_steps if name == "torch fused")
    fused.__self__.param_groups[0]["params"][0].grad[7] = math.nan  # the gradient the fused step reads
    with pytest.raises(FloatingPointError):
        checked.call()
    assert np.isfinite(grad).all()  # the NumPy array the tensors were copied from is untouched


def test_source_commit_names_the_checkout_and_its_local_changes(bench, tmp_path):
    assert bench.hardware.source_commit(tmp_path, tmp_path / "BENCHMARKS.md") == "unknown"
    if shutil.which("git") is None:
        pytest.skip("git is not installed")

    def git(*args: str) -> str:
        identity = ("-c", "user.name=bench test", "-c", "user.email=bench@example.invalid")
        return subprocess.run(
            ["git", *identity, *args], cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "BENCHMARKS.md").write_text("old figures\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "--short", "HEAD").strip()
    report = tmp_path / "BENCHMARKS.md"
    assert bench.hardware.source_commit(tmp_path, report) == head
    report.write_text("new figures\n")  # the report being written does not count as a change
    (tmp_path / "scratch.txt").write_text("untracked\n")
    assert bench.hardware.source_commit(tmp_path, report) == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert bench.hardware.source_commit(tmp_path, report) == f"{head} + local changes"
    assert bench.hardware.source_commit(tmp_path, Path("/elsewhere/out.md")) == f"{head} + local changes"
