"""Every update rule PyTorch has, step by step against torch.optim (live) and its stored trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from descentlab import optim
from optim_cases import TORCH_CASES, Case, problem, run_descentlab

REFERENCES = Path(__file__).parent / "references" / "torch_trajectories.npz"
RTOL, ATOL = 1e-6, 1e-10


@pytest.fixture(scope="module")
def stored():
    with np.load(REFERENCES, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_stored_references_cover_every_case(stored):
    meta = json.loads(str(stored["meta"]))
    assert sorted(meta["cases"]) == sorted(case.id for case in TORCH_CASES)
    theta0, noise = problem()
    np.testing.assert_array_equal(stored["theta0"], theta0)
    np.testing.assert_array_equal(stored["noise"], noise)


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_matches_stored_torch_trajectory(case, stored):
    theta0, noise = problem()
    ours = run_descentlab(case, theta0, noise)
    np.testing.assert_allclose(ours, stored[case.id], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_matches_live_torch(case):
    pytest.importorskip("torch", reason="PyTorch not installed: the stored trajectories are checked instead")
    from make_references import run_torch

    theta0, noise = problem(seed=1)
    ours = run_descentlab(case, theta0, noise)
    np.testing.assert_allclose(ours, run_torch(case, theta0, noise), rtol=RTOL, atol=ATOL)


# PyTorch's SGD keeps no momentum buffer when momentum = 0, so dampening does nothing there. Kept out of
# TORCH_CASES (and so out of the stored trajectories): the rule is written out below, and checked live.
UNDAMPED = Case(
    "hb-beta0-damp",
    optim.Momentum,
    {"lr": 0.05, "beta": 0.0, "dampening": 0.5},
    ("SGD", {"lr": 0.05, "momentum": 0.0, "dampening": 0.5}),
)


def test_dampening_without_momentum_is_plain_gradient_descent_as_in_pytorch():
    theta = np.ones(2)
    opt = optim.Momentum(lr=0.1, beta=0.0, dampening=0.5)
    path = []
    for _ in range(3):
        opt.step(theta, np.ones(2))
        path.append(theta[0])
    np.testing.assert_allclose(path, [0.9, 0.8, 0.7], rtol=1e-15)
    theta0, noise = problem(steps=40)
    plain = Case("gd", optim.GD, {"lr": 0.05})
    np.testing.assert_array_equal(run_descentlab(UNDAMPED, theta0, noise), run_descentlab(plain, theta0, noise))


def test_dampening_without_momentum_matches_live_torch():
    pytest.importorskip("torch", reason="PyTorch not installed: the written-out rule above is checked instead")
    from make_references import run_torch

    theta0, noise = problem(seed=1, steps=40)
    ours = run_descentlab(UNDAMPED, theta0, noise)
    np.testing.assert_allclose(ours, run_torch(UNDAMPED, theta0, noise), rtol=RTOL, atol=ATOL)
