"""Update rules, schedules and gradient clipping — NumPy only.

Every optimizer steps in place on any floating array: ``opt.step(theta, grad)``.
"""

from descentlab.optim import clip, schedules
from descentlab.optim._base import NonFiniteGradientError, Optimizer, OptimizerState
from descentlab.optim.adam import Adam, AdamW, NAdam
from descentlab.optim.adaptive import AdaDelta, AdaGrad, RMSprop
from descentlab.optim.ewa import EWA
from descentlab.optim.forms import MomentumConversion, convert_momentum
from descentlab.optim.newton import Newton
from descentlab.optim.sgd import GD, Momentum, Nesterov
from descentlab.optim.trace import Trace, trace

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "adadelta": AdaDelta,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": NAdam,
    "newton": Newton,
}

# There is no "sgd": which optimizer SGD means depends on its momentum and nesterov arguments.
_SGD_HINT = "; what PyTorch calls SGD is 'gd' (plain), 'momentum' (momentum=β) or 'nesterov' (nesterov=True)"


def make_optimizer(name: str, **hyperparameters) -> Optimizer:
    """Construct an optimizer by its lower-case name (``"adam"``, ``"rmsprop"`` …)."""
    key = name.lower()
    if key not in OPTIMIZERS:
        hint = _SGD_HINT if key == "sgd" else ""
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}{hint}")
    return OPTIMIZERS[key](**hyperparameters)


__all__ = [
    "EWA",
    "GD",
    "OPTIMIZERS",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "MomentumConversion",
    "NAdam",
    "Nesterov",
    "Newton",
    "NonFiniteGradientError",
    "Optimizer",
    "OptimizerState",
    "RMSprop",
    "Trace",
    "clip",
    "convert_momentum",
    "make_optimizer",
    "schedules",
    "trace",
]
