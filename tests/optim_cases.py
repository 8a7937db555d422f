"""The optimizer registry of the tests: sample configurations, their PyTorch twins, and error cases as data.

Used by the test harness and by ``scripts/make_references.py`` (which stores PyTorch's trajectories so the
reference tests still run where PyTorch is not installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from descentlab import optim

DIM = 7
STEPS = 300


@dataclass(frozen=True)
class Case:
    """One optimizer configuration; ``torch`` names the torch.optim class and its keyword arguments."""

    id: str
    cls: type
    kwargs: dict[str, Any]
    torch: tuple[str, dict[str, Any]] | None = None
    extra_step_kwargs: dict[str, Any] = field(default_factory=dict)

    def make(self) -> optim.Optimizer:
        return self.cls(**self.kwargs)


def _sgd(**kw):
    return ("SGD", kw)


def _case(id, cls, kwargs, torch_name=None, torch_kwargs=None):
    return Case(id, cls, kwargs, None if torch_name is None else (torch_name, torch_kwargs))


# Every configuration PyTorch can reproduce, across the options that change the algorithm.
TORCH_CASES: list[Case] = [
    _case("gd", optim.GD, {"lr": 0.05}, *_sgd(lr=0.05)),
    _case("gd-wd", optim.GD, {"lr": 0.05, "weight_decay": 0.1}, *_sgd(lr=0.05, weight_decay=0.1)),
    _case("hb", optim.Momentum, {"lr": 0.02, "beta": 0.9}, *_sgd(lr=0.02, momentum=0.9)),
    _case(
        "hb-damp-wd",
        optim.Momentum,
        {"lr": 0.02, "beta": 0.8, "dampening": 0.3, "weight_decay": 0.05},
        *_sgd(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.05),
    ),
    _case("nesterov", optim.Nesterov, {"lr": 0.02, "beta": 0.9}, *_sgd(lr=0.02, momentum=0.9, nesterov=True)),
    _case(
        "nesterov-wd",
        optim.Nesterov,
        {"lr": 0.01, "beta": 0.7, "weight_decay": 0.1},
        *_sgd(lr=0.01, momentum=0.7, nesterov=True, weight_decay=0.1),
    ),
    _case("adagrad", optim.AdaGrad, {"lr": 0.1}, "Adagrad", {"lr": 0.1}),
    _case(
        "adagrad-all",
        optim.AdaGrad,
        {"lr": 0.2, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6, "weight_decay": 0.05},
        "Adagrad",
        {"lr": 0.2, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-6, "weight_decay": 0.05},
    ),
    _case("adadelta", optim.AdaDelta, {}, "Adadelta", {}),
    _case(
        "adadelta-wd",
        optim.AdaDelta,
        {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.1},
        "Adadelta",
        {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.1},
    ),
    _case("rmsprop", optim.RMSprop, {"lr": 0.01}, "RMSprop", {"lr": 0.01}),
    _case(
        "rmsprop-centered",
        optim.RMSprop,
        {"lr": 0.005, "beta": 0.9, "centered": True, "eps": 1e-6},
        "RMSprop",
        {"lr": 0.005, "alpha": 0.9, "centered": True, "eps": 1e-6},
    ),
    _case(
        "rmsprop-momentum-wd",
        optim.RMSprop,
        {"lr": 0.002, "beta": 0.95, "momentum": 0.9, "weight_decay": 0.05},
        "RMSprop",
        {"lr": 0.002, "alpha": 0.95, "momentum": 0.9, "weight_decay": 0.05},
    ),
    _case(
        "rmsprop-centered-momentum",
        optim.RMSprop,
        {"lr": 0.002, "momentum": 0.5, "centered": True},
        "RMSprop",
        {"lr": 0.002, "momentum": 0.5, "centered": True},
    ),
    _case("adam", optim.Adam, {"lr": 0.01}, "Adam", {"lr": 0.01}),
    _case(
        "adam-betas-eps",
        optim.Adam,
        {"lr": 0.02, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4},
        "Adam",
        {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-4},
    ),
    _case("adam-amsgrad", optim.Adam, {"lr": 0.01, "amsgrad": True}, "Adam", {"lr": 0.01, "amsgrad": True}),
    _case(
        "adam-wd-amsgrad",
        optim.Adam,
        {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True},
        "Adam",
        {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True},
    ),
    _case(
        "adam-decoupled",
        optim.Adam,
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        "Adam",
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
    _case("adamw", optim.AdamW, {"lr": 0.01}, "AdamW", {"lr": 0.01}),
    _case(
        "adamw-amsgrad",
        optim.AdamW,
        {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True},
        "AdamW",
        {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True},
    ),
    _case("nadam", optim.NAdam, {"lr": 0.01}, "NAdam", {"lr": 0.01}),
    _case(
        "nadam-wd",
        optim.NAdam,
        {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01, "beta2": 0.99},
        "NAdam",
        {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01, "betas": (0.9, 0.99)},
    ),
    _case(
        "nadam-decoupled",
        optim.NAdam,
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
        "NAdam",
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True},
    ),
]

# Configurations without a PyTorch twin: checked against the paper's algorithm written out in the tests.
OTHER_CASES: list[Case] = [
    _case("ewa", optim.Momentum, {"lr": 0.1, "beta": 0.9, "form": "ewa"}),
    _case("ewa-corrected", optim.Momentum, {"lr": 0.1, "beta": 0.9, "form": "ewa", "bias_correction": True}),
    _case("sutskever", optim.Momentum, {"lr": 0.02, "beta": 0.9, "form": "sutskever"}),
    _case("adadelta-window", optim.AdaDelta, {"window": 5}),
    _case("adam-eps-inside", optim.Adam, {"lr": 0.01, "eps_inside": True}),
    _case("rmsprop-eps-inside", optim.RMSprop, {"lr": 0.01, "eps_inside": True, "centered": True}),
    _case("adagrad-eps-inside", optim.AdaGrad, {"lr": 0.1, "eps_inside": True}),
]

ALL_CASES = TORCH_CASES + OTHER_CASES

# Error cases as data: (class, keyword arguments, words the message must contain).
INVALID_HYPERPARAMETERS: list[tuple[type, dict[str, Any], tuple[str, ...]]] = [
    (optim.GD, {"lr": -0.1}, ("lr=-0.1", "[0, ∞)")),
    (optim.GD, {"lr": float("inf")}, ("lr=inf", "not a finite number")),
    (optim.Adam, {"eps": float("inf")}, ("eps=inf",)),
    (optim.Adam, {"weight_decay": float("inf")}, ("weight_decay=inf",)),
    (optim.GD, {"lr": float("nan")}, ("lr=nan",)),
    (optim.GD, {"weight_decay": -1.0}, ("weight_decay=-1",)),
    (optim.Momentum, {"beta": 1.0}, ("beta=1", "[0, 1)")),
    (optim.Momentum, {"form": "polyak"}, ("form='polyak'", "'ewa'")),
    (optim.Momentum, {"dampening": 1.5}, ("dampening=1.5", "[0, 1]", "PyTorch's default")),
    (optim.Momentum, {"form": "ewa", "dampening": 0.5}, ("dampening=0.5", "form='heavy_ball'", "keep dampening=0")),
    (optim.Momentum, {"form": "heavy_ball", "bias_correction": True}, ("bias_correction", "bias_correction=False")),
    (optim.Nesterov, {"beta": -0.1}, ("beta=-0.1",)),
    (optim.AdaGrad, {"eps": -1e-8}, ("eps=-1e-08",)),
    (optim.Adam, {"eps": 0.0}, ("eps=0", "(0, ∞)", "zero-gradient")),
    (optim.AdaGrad, {"lr_decay": -1.0}, ("lr_decay=-1", "0 (PyTorch's default) keeps α")),
    (optim.AdaGrad, {"initial_accumulator_value": -1.0}, ("initial_accumulator_value=-1", "0.1")),
    (optim.AdaDelta, {"rho": 1.5}, ("rho=1.5", "[0, 1]")),
    (optim.AdaDelta, {"window": 0}, ("window=0",)),
    (optim.RMSprop, {"beta": 1.0}, ("beta=1",)),
    (optim.RMSprop, {"momentum": 1.2}, ("momentum=1.2",)),
    (optim.Adam, {"beta1": 1.0}, ("beta1=1", "[0, 1)")),
    (optim.Adam, {"beta2": -0.5}, ("beta2=-0.5",)),
    (optim.Adam, {"lr": "0.1"}, ("lr must be a real number",)),
    (optim.AdamW, {"weight_decay": -0.01}, ("weight_decay=-0.01",)),
    (optim.NAdam, {"momentum_decay": -1.0}, ("momentum_decay=-1", "4e-3")),
    (optim.Newton, {"damping": -1.0}, ("damping=-1",)),
    (optim.Newton, {"cg_iters": 0}, ("cg_iters=0", "e.g. 100")),
    (optim.Newton, {"min_curvature": 0.0}, ("min_curvature=0", "(0, ∞)", "1e-3")),
    (optim.Newton, {"cg_tol": 2.0}, ("cg_tol=2", "(0, 1]", "1e-10")),
    (optim.Adam, {"amsgrad": "False"}, ("amsgrad must be True or False, got 'False'", "amsgrad=True or amsgrad=False")),
]


def gradient(theta: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """A non-convex, ill-conditioned gradient with noise: ∇ of Σ ½aᵢθᵢ² + sin θᵢ, plus a fixed noise term.

    The noise stands for mini-batch sampling; it is the same array for every implementation.
    """
    curvature = np.geomspace(0.1, 10.0, theta.shape[-1])
    return curvature * theta + np.cos(theta) + noise


def problem(seed: int = 0, dim: int = DIM, steps: int = STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The start θ₀ and the per-step noise used by every reference trajectory."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 2.0, dim), rng.normal(0.0, 0.3, (steps, dim))


def run_descentlab(case: Case, theta0: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """The trajectory θ₀, θ₁, … θ_T of descentlab's optimizer (float64)."""
    opt = case.make()
    theta = theta0.astype(np.float64).copy()
    path = [theta.copy()]
    for t in range(len(noise)):
        opt.step(theta, gradient(theta, noise[t]))
        path.append(theta.copy())
    return np.array(path)
