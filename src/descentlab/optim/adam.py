"""Adam and its successors: Adam (with AMSGrad), AdamW, NAdam.

Shared arguments: ``lr`` (α), ``beta1``/``beta2`` (β₁, β₂: decay of the first and second moment),
``eps`` (ε), ``weight_decay`` (λ; coupled L2 — the rule sees g + λθ — unless ``decoupled_weight_decay``,
where θ ← (1 − αλ)θ before the update as in AdamW), ``nonfinite`` (``"raise"`` or ``"skip"``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from descentlab.optim._base import Optimizer
from descentlab.optim._validation import check_bool, check_range
from descentlab.optim.adaptive import _check_eps, _root
from descentlab.optim.sgd import _check_beta, _check_weight_decay


def adam_rule(theta, g, m, v, v_max, lr, beta1, beta2, eps, c1, c2, weight_decay, shrink, amsgrad, eps_inside):
    """Adam, Algorithm 1 of Kingma & Ba.

        g ← g + λθ ;  θ ← (1 − αλ_d)θ ;  m ← β₁m + (1 − β₁)g ;  v ← β₂v + (1 − β₂)g² ;
        [AMSGrad: v_max ← max(v_max, v), used in place of v] ;
        m̂ = m / c₁, v̂ = v / c₂ with cₖ = 1 − βₖᵗ ;  θ ← θ − α m̂ / (√v̂ + ε)

    ``shrink`` is 1 − αλ_d (decoupled decay) or 1; ``weight_decay`` is the coupled λ or 0.
    The last line is computed as θ − (α/c₁)·m / (√(v·(1/c₂)) + ε): the scalars α/c₁ and 1/c₂ are formed
    once per step (the compiled loop hoists them), leaving one division and one root per element instead of
    three divisions and a root — the step's arithmetic cost where its arrays sit in cache.
    """
    g = g + weight_decay * theta
    theta = shrink * theta
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    second = v
    if amsgrad:
        v_max = np.maximum(v_max, v)
        second = v_max
    theta = theta - (lr / c1) * m / _root(second * (1 / c2), eps, eps_inside)
    return theta, m, v, v_max


def nadam_rule(theta, g, m, v, beta1, beta2, eps, c2, weight_decay, shrink, step_g, step_m):
    """NAdam as ``torch.optim.NAdam`` computes it (Dozat 2016 with the momentum schedule μₜ).

        g ← g + λθ ;  θ ← (1 − αλ_d)θ ;  m ← β₁m + (1 − β₁)g ;  v ← β₂v + (1 − β₂)g² ;
        r = √(v / c₂) + ε ;  θ ← θ − a_g · g / r − a_m · m / r

    with a_g = α(1 − μₜ)/(1 − Πᵢ≤ₜ μᵢ) and a_m = α μₜ₊₁/(1 − Πᵢ≤ₜ₊₁ μᵢ) computed once per step.
    """
    g = g + weight_decay * theta
    theta = shrink * theta
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    r = np.sqrt(v / c2) + eps
    theta = theta - step_g * g / r - step_m * m / r
    return theta, m, v


def _check_betas(owner: str, beta1: float, beta2: float) -> tuple[float, float]:
    return (
        _check_beta(owner, "beta1", beta1, hint="a typical value is 0.9"),
        _check_beta(owner, "beta2", beta2, hint="a typical value is 0.999"),
    )


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1): momentum on g and an RMS scale from g², both bias-corrected.

        m ← β₁m + (1 − β₁)g ;  v ← β₂v + (1 − β₂)g² ;  m̂ = m/(1 − β₁ᵗ) ;  v̂ = v/(1 − β₂ᵗ) ;
        θ ← θ − α m̂ / (√v̂ + ε)

    Variants, as options: ``amsgrad`` (Reddi, Kale & Kumar 2018: divide by the running maximum of v);
    ``decoupled_weight_decay`` (AdamW, below); ``eps_inside`` (√(v̂ + ε), as the course notes write it).
    Warning: the "efficient" form of §2 (ε added to √v, not √v̂, with α folded into α·√c₂/c₁) is a different
    variant used by TensorFlow 1; this class follows Algorithm 1 and ``torch.optim.Adam``.
    """

    reference = "Kingma & Ba 2015, Algorithm 1"
    state_names = ("m", "v", "v_max")

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
        eps_inside: bool = False,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        owner = type(self).__name__
        self.beta1, self.beta2 = _check_betas(owner, beta1, beta2)
        self.eps = _check_eps(owner, eps)
        self.weight_decay = _check_weight_decay(owner, weight_decay)
        self.amsgrad = check_bool("amsgrad", amsgrad, owner=owner)
        self.decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay, owner=owner)
        self.eps_inside = check_bool("eps_inside", eps_inside, owner=owner)

    def _active_states(self):
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _rule(self):
        return adam_rule

    def _hyper(self):
        t = self.state.step
        coupled, shrink = _split_decay(self.lr, self.weight_decay, self.decoupled_weight_decay)
        c1, c2 = 1.0 - self.beta1**t, 1.0 - self.beta2**t
        return (
            self.lr,
            self.beta1,
            self.beta2,
            self.eps,
            c1,
            c2,
            coupled,
            shrink,
            self.amsgrad,
            self.eps_inside,
        )

    def bias_corrected(self):
        if self.state is None:
            return {}
        t = self.state.step
        second = self.state.v_max if self.amsgrad else self.state.v
        return {"m_hat": self.state.m / (1.0 - self.beta1**t), "v_hat": second / (1.0 - self.beta2**t)}

    def _equations(self):
        b1, b2 = self.beta1, self.beta2
        g, lines = _decay_lines(self.lr, self.weight_decay, self.decoupled_weight_decay)
        lines += [f"m ← {b1:g}·m + {1 - b1:g}·{g}", f"v ← {b2:g}·v + {1 - b2:g}·{g}²"]
        v = "v"
        if self.amsgrad:
            lines.append("v_max ← max(v_max, v)")
            v = "v_max"
        lines.append(f"m̂ ← m / (1 − {b1:g}ᵗ) ;  v̂ ← {v} / (1 − {b2:g}ᵗ)")
        root = f"√(v̂ + {self.eps:g})" if self.eps_inside else f"(√v̂ + {self.eps:g})"
        return [*lines, f"θ ← θ − {self.lr:g} · m̂ / {root}"]


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient.

        θ ← (1 − αλ)θ ;  then the Adam update with the raw gradient g

    Coupled L2 (``Adam(weight_decay=λ)``) puts λθ into g, where Adam's 1/√v̂ scaling shrinks it for
    parameters with large gradients; decoupling applies the same relative decay to every parameter.
    Defaults as ``torch.optim.AdamW`` (λ = 0.01).
    """

    reference = "Loshchilov & Hutter 2019"

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        eps_inside: bool = False,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            amsgrad,
            decoupled_weight_decay=True,
            eps_inside=eps_inside,
            nonfinite=nonfinite,
        )


class NAdam(Optimizer):
    """NAdam (Dozat 2016): Adam with Nesterov momentum, with PyTorch's momentum schedule.

        μₜ = β₁(1 − ½·0.96^(t·ψ)) ;  m ← β₁m + (1 − β₁)g ;  v ← β₂v + (1 − β₂)g² ;  v̂ = v/(1 − β₂ᵗ) ;
        θ ← θ − α(1 − μₜ)/(1 − Πᵢ≤ₜμᵢ) · g/(√v̂ + ε) − α μₜ₊₁/(1 − Πᵢ≤ₜ₊₁μᵢ) · m/(√v̂ + ε)

    ψ is ``momentum_decay`` (PyTorch's default 4e-3). The running product Πμᵢ is part of the state.
    """

    reference = "Dozat 2016 (as torch.optim.NAdam)"
    state_names = ("m", "v")
    state_scalars: ClassVar[dict[str, float]] = {"mu_product": 1.0}

    def __init__(
        self,
        lr: float = 2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.beta1, self.beta2 = _check_betas("NAdam", beta1, beta2)
        self.eps = _check_eps("NAdam", eps)
        self.weight_decay = _check_weight_decay("NAdam", weight_decay)
        self.momentum_decay = check_range(
            "momentum_decay",
            momentum_decay,
            0.0,
            math.inf,
            owner="NAdam",
            hint="it is ψ of the momentum schedule μₜ; PyTorch's default is 4e-3, and 0 keeps μₜ = β₁/2",
        )
        self.decoupled_weight_decay = check_bool("decoupled_weight_decay", decoupled_weight_decay, owner="NAdam")

    def _mu(self, t: int) -> float:
        return self.beta1 * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def _rule(self):
        return nadam_rule

    def _hyper(self):
        t = self.state.step
        mu, mu_next = self._mu(t), self._mu(t + 1)
        mu_product = self.state.scalars["mu_product"] * mu
        self.state.scalars["mu_product"] = mu_product
        step_g = self.lr * (1.0 - mu) / (1.0 - mu_product)
        step_m = self.lr * mu_next / (1.0 - mu_product * mu_next)
        coupled, shrink = _split_decay(self.lr, self.weight_decay, self.decoupled_weight_decay)
        return (self.beta1, self.beta2, self.eps, 1.0 - self.beta2**t, coupled, shrink, step_g, step_m)

    def _equations(self):
        b1, b2 = self.beta1, self.beta2
        g, lines = _decay_lines(self.lr, self.weight_decay, self.decoupled_weight_decay)
        return [
            *lines,
            f"μₜ = {b1:g}·(1 − ½·0.96^(t·{self.momentum_decay:g})) ;  Π ← Π·μₜ",
            f"m ← {b1:g}·m + {1 - b1:g}·{g} ;  v ← {b2:g}·v + {1 - b2:g}·{g}²",
            f"r = √(v / (1 − {b2:g}ᵗ)) + {self.eps:g}",
            f"θ ← θ − {self.lr:g}·(1 − μₜ)/(1 − Π)·{g}/r − {self.lr:g}·μₜ₊₁/(1 − Π·μₜ₊₁)·m/r",
        ]


def _split_decay(lr: float, weight_decay: float, decoupled: bool) -> tuple[float, float]:
    """(coupled λ for the gradient, multiplicative shrink of θ) for the two kinds of weight decay."""
    if decoupled:
        return 0.0, 1.0 - lr * weight_decay
    return weight_decay, 1.0


def _decay_lines(lr: float, weight_decay: float, decoupled: bool) -> tuple[str, list[str]]:
    """How the gradient is written in ``describe()`` and the decay line that precedes the update."""
    if not weight_decay:
        return "g", []
    if decoupled:
        return "g", [f"θ ← (1 − {lr:g}·{weight_decay:g})·θ"]
    return "g'", [f"g' ← g + {weight_decay:g}·θ"]
