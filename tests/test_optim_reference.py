"""Every update rule PyTorch has, step by step against torch.optim (live) and its stored trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optim_cases import TORCH_CASES, problem, run_descentlab

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
