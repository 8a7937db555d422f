"""Per-parameter adaptive step sizes from squared gradients: AdaGrad, AdaDelta, RMSprop.

Shared arguments: ``lr`` (α), ``eps`` (ε, keeps the division finite), ``weight_decay`` (λ, coupled L2:
the rule sees g + λθ), ``eps_inside`` (``False``: √s + ε as PyTorch, the default; ``True``: √(s + ε) as
the course notes write it), ``nonfinite`` (``"raise"`` or ``"skip"``).
"""

from __future__ import annotations

import math

import numpy as np

from descentlab._numbers import is_integer
from descentlab.optim._base import Optimizer
from descentlab.optim._validation import check_bool, check_range
from descentlab.optim.sgd import _check_beta, _check_weight_decay


def _root(s, eps, eps_inside):
    """√(s + ε) when ε goes inside the root, √s + ε otherwise."""
    if eps_inside:
        return np.sqrt(s + eps)
    return np.sqrt(s) + eps


def _check_eps(owner: str, eps: float) -> float:
    # ε > 0 keeps the division defined where a coordinate's gradient (and so its second moment) is 0.
    return check_range(
        "eps",
        eps,
        0.0,
        math.inf,
        low_open=True,
        owner=owner,
        hint="it keeps 0/0 out of zero-gradient coordinates; a typical value is 1e-8",
    )


def adagrad_rule(theta, g, sum_sq, lr, eps, weight_decay, eps_inside):
    """AdaGrad.  g ← g + λθ ;  s ← s + g² ;  θ ← θ − α g / (√s + ε)"""
    g = g + weight_decay * theta
    sum_sq = sum_sq + g * g
    theta = theta - lr * g / _root(sum_sq, eps, eps_inside)
    return theta, sum_sq


def adadelta_rule(theta, g, square_avg, delta_avg, lr, rho, eps, weight_decay):
    """AdaDelta.  E[g²] ← ρE[g²] + (1 − ρ)g² ;  Δ ← √(E[Δ²] + ε) / √(E[g²] + ε) · g ;
    E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ² ;  θ ← θ − α Δ"""
    g = g + weight_decay * theta
    square_avg = rho * square_avg + (1 - rho) * g * g
    delta = np.sqrt(delta_avg + eps) / np.sqrt(square_avg + eps) * g
    delta_avg = rho * delta_avg + (1 - rho) * delta * delta
    theta = theta - lr * delta
    return theta, square_avg, delta_avg


def rmsprop_rule(theta, g, square_avg, grad_avg, buffer, lr, beta, eps, weight_decay, momentum, centered, eps_inside):
    """RMSprop.  s ← βs + (1 − β)g² ;  [centered: ḡ ← βḡ + (1 − β)g, s̃ = s − ḡ²] ;  r = √s̃ + ε ;
    momentum μ > 0: b ← μb + g/r, θ ← θ − α b ;  otherwise θ ← θ − α g/r"""
    g = g + weight_decay * theta
    square_avg = beta * square_avg + (1 - beta) * g * g
    variance = square_avg
    if centered:
        grad_avg = beta * grad_avg + (1 - beta) * g
        variance = square_avg - grad_avg * grad_avg
    r = _root(variance, eps, eps_inside)
    if momentum > 0:
        buffer = momentum * buffer + g / r
        theta = theta - lr * buffer
    else:
        theta = theta - lr * g / r
    return theta, square_avg, grad_avg, buffer


class AdaGrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer 2011): each coordinate's step shrinks with its summed squared gradients.

        g ← g + λθ ;  s ← s + g² ;  α_t = α / (1 + (t − 1)·lr_decay) ;  θ ← θ − α_t g / (√s + ε)

    Defaults and ``lr_decay``/``initial_accumulator_value`` as ``torch.optim.Adagrad``. The effective step
    α/√s only ever shrinks — the reason RMSprop and AdaDelta replace the sum with a decaying average.
    """

    reference = "Duchi, Hazan & Singer 2011"
    state_names = ("sum_sq",)

    def __init__(
        self,
        lr: float = 1e-2,
        eps: float = 1e-10,
        lr_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
        eps_inside: bool = False,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.eps = _check_eps("AdaGrad", eps)
        self.lr_decay = check_range(
            "lr_decay",
            lr_decay,
            0.0,
            math.inf,
            owner="AdaGrad",
            hint="0 (PyTorch's default) keeps α; e.g. 1e-4 shrinks it as α / (1 + (t − 1)·lr_decay)",
        )
        self.initial_accumulator_value = check_range(
            "initial_accumulator_value",
            initial_accumulator_value,
            0.0,
            math.inf,
            owner="AdaGrad",
            hint="the sum of squares starts there; 0 is PyTorch's default, 0.1 TensorFlow's",
        )
        self.weight_decay = _check_weight_decay("AdaGrad", weight_decay)
        self.eps_inside = check_bool("eps_inside", eps_inside, owner="AdaGrad")

    def _init_state(self, theta):
        state = super()._init_state(theta)
        state.sum_sq.fill(self.initial_accumulator_value)
        return state

    def _rule(self):
        return adagrad_rule

    def _step_lr(self):
        return self.lr / (1.0 + (self.state.step - 1) * self.lr_decay)

    def _hyper(self):
        return (self._step_lr(), self.eps, self.weight_decay, self.eps_inside)

    def _equations(self):
        root = f"√(s + {self.eps:g})" if self.eps_inside else f"(√s + {self.eps:g})"
        g = f"(g + {self.weight_decay:g}·θ)" if self.weight_decay else "g"
        lr = f"{self.lr:g} / (1 + (t − 1)·{self.lr_decay:g})" if self.lr_decay else f"{self.lr:g}"
        return [f"s ← s + {g}²", f"θ ← θ − {lr} · {g} / {root}"]


class AdaDelta(Optimizer):
    """AdaDelta (Zeiler 2012, Algorithm 1): units-consistent steps, RMS[Δθ] / RMS[g] · g.

        E[g²] ← ρE[g²] + (1 − ρ)g² ;  Δ ← √(E[Δ²] + ε) / √(E[g²] + ε) · g ;
        E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ² ;  θ ← θ − α Δ

    ``lr`` = 1.0 reproduces the paper; other values scale Δ as ``torch.optim.Adadelta`` does. ε sits inside
    both roots, as in the paper.

    ``window=w`` gives the course's literal version that motivates the method: E[g²] is the plain mean of
    the last w squared gradients and E[Δ²] the mean of the last w squared updates (fewer at the start;
    E[Δ²] = 0 before the first update). The paper replaces both windows by decaying averages because
    storing w past values per parameter is expensive — this option costs 2w arrays the size of θ.
    """

    reference = "Zeiler 2012"

    def __init__(
        self,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        window: int | None = None,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.rho = check_range("rho", rho, 0.0, 1.0, owner="AdaDelta", hint="a typical value is 0.9 or 0.95")
        self.eps = _check_eps("AdaDelta", eps)
        self.weight_decay = _check_weight_decay("AdaDelta", weight_decay)
        if window is not None and (not is_integer(window) or window < 1):
            raise ValueError(f"AdaDelta: window={window!r} must be None or an integer ≥ 1 (e.g. 10)")
        self.window = None if window is None else int(window)

    @property
    def state_names(self):  # type: ignore[override]
        return ("sq_grads", "sq_deltas") if self.window else ("square_avg", "delta_avg")

    def _state_shape(self, theta_shape):
        return (self.window, *theta_shape) if self.window else theta_shape

    def _rule(self):
        return adadelta_rule

    def _hyper(self):
        return (self.lr, self.rho, self.eps, self.weight_decay)

    def _update(self, theta, grad):
        if not self.window:
            super()._update(theta, grad)
            return
        # Ring buffers: slot (t − 1) mod w holds the newest value; the first min(t, w) slots are filled.
        t, w = self.state.step, self.window
        g = grad + self.weight_decay * theta
        slot = (t - 1) % w
        sq_grads, sq_deltas = self.state.sq_grads, self.state.sq_deltas
        sq_grads[slot] = g * g
        mean_sq_grad = sq_grads[: min(t, w)].mean(axis=0)
        filled_deltas = min(t - 1, w)
        mean_sq_delta = sq_deltas[:filled_deltas].mean(axis=0) if filled_deltas else np.zeros_like(g)
        delta = np.sqrt(mean_sq_delta + self.eps) / np.sqrt(mean_sq_grad + self.eps) * g
        sq_deltas[slot] = delta * delta
        theta -= self.lr * delta

    def _equations(self):
        g = f"(g + {self.weight_decay:g}·θ)" if self.weight_decay else "g"
        if self.window:
            e_g = f"E[g²] ← mean of the last {self.window} values of {g}²"
            e_d = f"E[Δ²] ← mean of the last {self.window} values of Δ²"
        else:
            e_g = f"E[g²] ← {self.rho:g}·E[g²] + {1 - self.rho:g}·{g}²"
            e_d = f"E[Δ²] ← {self.rho:g}·E[Δ²] + {1 - self.rho:g}·Δ²"
        return [
            e_g,
            f"Δ ← √(E[Δ²] + {self.eps:g}) / √(E[g²] + {self.eps:g}) · {g}",
            e_d,
            f"θ ← θ − {self.lr:g}·Δ",
        ]


class RMSprop(Optimizer):
    """RMSprop (Hinton, Coursera lecture 6e, 2012): divide by a running RMS of recent gradients.

        s ← βs + (1 − β)g² ;  θ ← θ − α g / (√s + ε)

    Options as ``torch.optim.RMSprop``: ``centered`` (Graves 2013) also tracks ḡ ← βḡ + (1 − β)g and
    divides by √(s − ḡ²) + ε, an estimate of the gradient's standard deviation; ``momentum`` μ > 0 keeps
    b ← μb + g/(√s + ε) and steps θ ← θ − α b. ``beta`` is PyTorch's ``alpha``.
    """

    reference = "Hinton 2012 (lecture 6e); Graves 2013 (centered)"
    state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        lr: float = 1e-2,
        beta: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        eps_inside: bool = False,
        *,
        nonfinite: str = "raise",
    ) -> None:
        super().__init__(lr, nonfinite=nonfinite)
        self.beta = _check_beta("RMSprop", "beta", beta, hint="a typical value is 0.9 or 0.99")
        self.eps = _check_eps("RMSprop", eps)
        self.weight_decay = _check_weight_decay("RMSprop", weight_decay)
        self.momentum = _check_beta("RMSprop", "momentum", momentum, hint="0 disables it; 0.9 is typical")
        self.centered = check_bool("centered", centered, owner="RMSprop")
        self.eps_inside = check_bool("eps_inside", eps_inside, owner="RMSprop")

    def _active_states(self):
        return (
            ("square_avg",)
            + (("grad_avg",) if self.centered else ())
            + (("momentum_buffer",) if self.momentum > 0 else ())
        )

    def _rule(self):
        return rmsprop_rule

    def _hyper(self):
        return (
            self.lr,
            self.beta,
            self.eps,
            self.weight_decay,
            self.momentum,
            self.centered,
            self.eps_inside,
        )

    def _equations(self):
        b = self.beta
        g = f"(g + {self.weight_decay:g}·θ)" if self.weight_decay else "g"
        lines = [f"s ← {b:g}·s + {1 - b:g}·{g}²"]
        s = "s"
        if self.centered:
            lines.append(f"ḡ ← {b:g}·ḡ + {1 - b:g}·{g}")
            s = "(s − ḡ²)"
        root = f"√({s} + {self.eps:g})" if self.eps_inside else f"(√{s} + {self.eps:g})"
        if self.momentum > 0:
            return [*lines, f"b ← {self.momentum:g}·b + {g} / {root}", f"θ ← θ − {self.lr:g}·b"]
        return [*lines, f"θ ← θ − {self.lr:g} · {g} / {root}"]
