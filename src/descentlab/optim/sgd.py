"""Gradient descent and its momentum methods: GD, Momentum (EWA, heavy-ball, Sutskever forms), Nesterov.

Shared arguments (documented once):

* ``lr`` — the learning rate α > 0 (PyTorch's SGD default, 1e-3).
* ``weight_decay`` — λ ≥ 0 of a coupled L2 penalty: the rule sees g + λθ, as in ``torch.optim.SGD``.
* ``nonfinite`` — ``"raise"`` (default) or ``"skip"`` when a gradient holds NaN/Inf.
"""

from __future__ import annotations

import math

from descentlab.optim._base import Optimizer
from descentlab.optim._validation import check_bool, check_choice, check_range

MOMENTUM_FORMS = ("ewa", "heavy_ball", "sutskever")


def gd_rule(theta, g, lr, weight_decay):
    """Plain gradient descent.  g ← g + λθ ;  θ ← θ − α g"""
    g = g + weight_decay * theta
    theta = theta - lr * g
    return (theta,)


def heavy_ball_rule(theta, g, v, lr, beta, grad_scale, weight_decay):
    """Polyak's heavy ball (PyTorch SGD).  g ← g + λθ ;  v ← βv + c·g ;  θ ← θ − α v

    c = 1 at the first step and 1 − dampening after it, which is how PyTorch seeds the buffer; c = 1 always
    when β = 0, where PyTorch keeps no buffer and so never dampens (the step is then plain gradient descent).
    """
    g = g + weight_decay * theta
    v = beta * v + grad_scale * g
    theta = theta - lr * v
    return theta, v


def ewa_momentum_rule(theta, g, v, lr, beta, correction, weight_decay):
    """Momentum as an exponentially weighted average.  v ← βv + (1 − β) g ;  θ ← θ − α v / c

    c = 1 − βᵗ with bias correction, 1 without.
    """
    g = g + weight_decay * theta
    v = beta * v + (1 - beta) * g
    theta = theta - lr * v / correction
    return theta, v


def sutskever_rule(theta, g, v, lr, beta, weight_decay):
    """Momentum with the learning rate inside the velocity (Sutskever et al. 2013).  v ← βv − α g ;  θ ← θ + v"""
    g = g + weight_decay * theta
    v = beta * v - lr * g
    theta = theta + v
    return theta, v


def nesterov_rule(theta, g, v, lr, beta, weight_decay):
    """Nesterov momentum as PyTorch writes it.  v ← βv + g ;  θ ← θ − α (g + βv)"""
    g = g + weight_decay * theta
    v = beta * v + g
    theta = theta - lr * (g + beta * v)
    return theta, v


def _check_weight_decay(owner: str, value: float) -> float:
    return check_range("weight_decay", value, 0.0, math.inf, owner=owner, hint="typical values are 1e-5 to 1e-2")


def _check_beta(owner: str, name: str, value: float, hint: str = "a typical value is 0.9") -> float:
    return check_range(name, value, 0.0, 1.0, high_open=True, owner=owner, hint=hint)


class GD(Optimizer):
    """Gradient descent: θ ← θ − α (g + λθ).

    Whether it is batch, stochastic or mini-batch descent depends only on the gradient it is given —
    the data feed's business (``descentlab.fit(batch_size=None | 1 | k)``), not a different optimizer.

    Example:
        >>> import numpy as np, descentlab as dl
        >>> theta = np.array([1.0, -2.0]); dl.optim.GD(lr=0.1).step(theta, 2 * theta); theta
        array([ 0.8, -1.6])
    """

    reference = "Cauchy 1847; Robbins & Monro 1951 (stochastic)"

    def __init__(self, lr: float = 1e-3, weight_decay: float = 0.0, *, nonfinite: str = "raise") -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.weight_decay = _check_weight_decay("GD", weight_decay)

    def _rule(self):
        return gd_rule

    def _hyper(self):
        return (self.lr, self.weight_decay)

    def _equations(self):
        return [f"θ ← θ − {self.lr:g} · (g + {self.weight_decay:g}·θ)"]


class Momentum(Optimizer):
    """Momentum in three equivalent-looking forms (``form``):

    * ``"heavy_ball"`` (PyTorch's SGD momentum, the default):  v ← βv + (1 − d) g ;  θ ← θ − α v
      (v ← g at the first step; d is ``dampening``, ignored when β = 0 as ``torch.optim.SGD`` does).
    * ``"ewa"`` (the course's exponentially weighted average):  v ← βv + (1 − β) g ;  θ ← θ − α v̂,
      v̂ = v / (1 − βᵗ) with ``bias_correction=True``, v̂ = v otherwise.
    * ``"sutskever"`` (learning rate inside the velocity):  v ← βv − α g ;  θ ← θ + v.

    How they relate: starting from v = 0, the EWA velocity is (1 − β) times the heavy-ball velocity, so
    EWA with α_ewa = α_hb / (1 − β) traces exactly the heavy-ball trajectory; the Sutskever velocity is
    −α times the heavy-ball one, so with the same α they agree too. Bias correction breaks the first identity
    (it rescales early steps by 1/(1 − βᵗ)); a changing α breaks the second: the heavy-ball/EWA forms
    multiply the whole velocity by today's α, while the Sutskever velocity keeps each gradient scaled by the
    α of its own step. :func:`descentlab.optim.convert_momentum` translates.

    Reference: Polyak 1964; Sutskever, Martens, Dahl & Hinton 2013.
    """

    reference = "Polyak 1964 (heavy ball); Sutskever et al. 2013"
    state_names = ("velocity",)

    def __init__(
        self,
        lr: float = 1e-3,
        beta: float = 0.9,
        form: str = "heavy_ball",
        dampening: float = 0.0,
        bias_correction: bool = False,
        weight_decay: float = 0.0,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.beta = _check_beta("Momentum", "beta", beta)
        self.form = check_choice("form", form, MOMENTUM_FORMS, owner="Momentum")
        self.dampening = check_range(
            "dampening",
            dampening,
            0.0,
            1.0,
            owner="Momentum",
            hint="it scales each new gradient by 1 − dampening; 0 is PyTorch's default, 0.1 damps a little",
        )
        self.bias_correction = check_bool("bias_correction", bias_correction, owner="Momentum")
        self.weight_decay = _check_weight_decay("Momentum", weight_decay)
        if self.dampening and form != "heavy_ball":
            raise ValueError(
                f"Momentum: dampening={dampening} applies to form='heavy_ball' only, not {form!r}; use "
                f"form='heavy_ball', or keep dampening=0 with form={form!r}"
            )
        if self.bias_correction and form != "ewa":
            raise ValueError(
                f"Momentum: bias_correction=True applies to form='ewa' only, not {form!r}; use form='ewa', or "
                f"bias_correction=False with form={form!r}"
            )

    def _rule(self):
        return {"heavy_ball": heavy_ball_rule, "ewa": ewa_momentum_rule, "sutskever": sutskever_rule}[self.form]

    def _state_layout(self):
        # The forms keep different multiples of one velocity (EWA: (1 − β)·v, Sutskever: −α·v).
        return {**super()._state_layout(), "velocity form": self.form}

    def _grad_scale(self, t: int) -> float:
        """c of the heavy-ball rule at step t: 1 at the first step and without momentum, 1 − dampening else."""
        return 1.0 if t == 1 or self.beta == 0 else 1.0 - self.dampening

    def _hyper(self):
        t = self.state.step
        if self.form == "heavy_ball":
            return (self.lr, self.beta, self._grad_scale(t), self.weight_decay)
        if self.form == "ewa":
            correction = 1.0 - self.beta**t if self.bias_correction else 1.0
            return (self.lr, self.beta, correction, self.weight_decay)
        return (self.lr, self.beta, self.weight_decay)

    def bias_corrected(self):
        if self.form == "ewa" and self.bias_correction and self.state is not None:
            return {"velocity_hat": self.state.velocity / (1.0 - self.beta**self.state.step)}
        return {}

    def _equations(self):
        b, a, wd = self.beta, self.lr, self.weight_decay
        g = f"g + {wd:g}·θ" if wd else "g"
        if self.form == "heavy_ball":
            after_first = self._grad_scale(t=2)
            return [f"v ← {b:g}·v + {after_first:g}·({g})   (v ← g at t = 1)", f"θ ← θ − {a:g}·v"]
        if self.form == "sutskever":
            return [f"v ← {b:g}·v − {a:g}·({g})", "θ ← θ + v"]
        lines = [f"v ← {b:g}·v + {1 - b:g}·({g})"]
        if self.bias_correction:
            return [*lines, f"v̂ ← v / (1 − {b:g}ᵗ)", f"θ ← θ − {a:g}·v̂"]
        return [*lines, f"θ ← θ − {a:g}·v"]


class Nesterov(Optimizer):
    """Nesterov accelerated gradient, as ``torch.optim.SGD(nesterov=True)`` computes it:

        v ← βv + g ;   θ ← θ − α (g + βv)

    Why this is the textbook look-ahead method. The textbook form evaluates the gradient ahead of the point:
    u ← βu − α∇J(φ + βu), φ ← φ + u. Track instead θ = φ + βu, the look-ahead point itself, and write
    u = −αv. Then u ← βu − α∇J(θ) becomes v ← βv + g with g = ∇J(θ), and
    θ_new = φ_new + βu_new = (φ + u_new) + βu_new = θ − βu + (1 + β)u_new = θ − α(1 + β)v_new + αβv_old
    = θ − α(g + βv_new), using βv_old = v_new − g. So the iterates here are the textbook's look-ahead points,
    and the gradient is taken at θ, where it is cheap to have.

    Reference: Nesterov 1983; Sutskever et al. 2013 §2.
    """

    reference = "Nesterov 1983; Sutskever et al. 2013 (PyTorch's formulation)"
    state_names = ("velocity",)

    def __init__(
        self, lr: float = 1e-3, beta: float = 0.9, weight_decay: float = 0.0, *, nonfinite: str = "raise"
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.beta = _check_beta("Nesterov", "beta", beta)
        self.weight_decay = _check_weight_decay("Nesterov", weight_decay)

    def _rule(self):
        return nesterov_rule

    def _hyper(self):
        return (self.lr, self.beta, self.weight_decay)

    def _equations(self):
        g = f"(g + {self.weight_decay:g}·θ)" if self.weight_decay else "g"
        return [f"v ← {self.beta:g}·v + {g}", f"θ ← θ − {self.lr:g}·({g} + {self.beta:g}·v)"]
