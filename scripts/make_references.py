"""Regenerate the stored PyTorch reference trajectories used when PyTorch is not installed.

    .venv/bin/python scripts/make_references.py        (or: make references)

For every configuration in ``tests/optim_cases.py`` that PyTorch has, this runs ``torch.optim`` in float64
on the shared test problem and writes θ₀ … θ_T to ``tests/references/torch_trajectories.npz`` together with
the torch version. The tests compare descentlab against PyTorch live when it is importable, and against
this file in any case.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from optim_cases import TORCH_CASES, gradient, problem  # noqa: E402

OUTPUT = ROOT / "tests" / "references" / "torch_trajectories.npz"


def run_torch(case, theta0: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """θ₀ … θ_T from ``torch.optim`` on the same gradient sequence as descentlab sees."""
    import torch

    name, kwargs = case.torch
    param = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    opt = getattr(torch.optim, name)([param], **kwargs)
    path = [theta0.copy()]
    for t in range(len(noise)):
        theta = param.detach().numpy().copy()
        param.grad = torch.tensor(gradient(theta, noise[t]), dtype=torch.float64)
        opt.step()
        path.append(param.detach().numpy().copy())
    return np.array(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args()
    import torch

    theta0, noise = problem()
    arrays = {case.id: run_torch(case, theta0, noise) for case in TORCH_CASES}
    meta = {"torch": torch.__version__, "cases": {c.id: [c.torch[0], repr(c.torch[1])] for c in TORCH_CASES}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, theta0=theta0, noise=noise, meta=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {len(arrays)} trajectories of {len(noise)} steps to {args.out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
