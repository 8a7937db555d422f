"""Translate momentum hyperparameters between the EWA, heavy-ball and Sutskever forms."""

from __future__ import annotations

from dataclasses import dataclass

from descentlab.optim._validation import check_choice, check_range
from descentlab.optim.sgd import MOMENTUM_FORMS


@dataclass(frozen=True)
class MomentumConversion:
    """The learning rate and β to use in the target form, and the conditions of the equivalence."""

    form: str
    lr: float
    beta: float
    note: str


def convert_momentum(lr: float, beta: float, from_form: str, to_form: str) -> MomentumConversion:
    """Hyperparameters of ``to_form`` that trace the same trajectory as ``(lr, beta)`` in ``from_form``.

    With velocities starting at zero and a constant learning rate:

    * heavy ball  v ← βv + g,        θ ← θ − α_hb v
    * EWA         v ← βv + (1 − β)g, θ ← θ − α_ewa v     ⇒ α_ewa = α_hb / (1 − β)
    * Sutskever   v ← βv − α_s g,    θ ← θ + v           ⇒ α_s = α_hb

    β is the same in every form. The equivalence breaks when the learning rate changes during training:
    the heavy-ball and EWA forms multiply the whole accumulated velocity by the *current* α, the Sutskever
    form keeps each past gradient scaled by the α of its own step — so after a decay the forms move
    differently until the old gradients have faded (about 1/(1 − β) steps). Bias correction (EWA only)
    breaks it too: it rescales the first steps by 1/(1 − βᵗ).

    Example:
        >>> convert_momentum(0.01, 0.9, "heavy_ball", "ewa").lr
        0.1
    """
    check_choice("from_form", from_form, MOMENTUM_FORMS, owner="convert_momentum")
    check_choice("to_form", to_form, MOMENTUM_FORMS, owner="convert_momentum")
    lr = check_range("lr", lr, 0.0, float("inf"), low_open=True, owner="convert_momentum")
    beta = check_range("beta", beta, 0.0, 1.0, high_open=True, owner="convert_momentum")
    heavy_ball_lr = lr * (1.0 - beta) if from_form == "ewa" else lr
    target_lr = heavy_ball_lr / (1.0 - beta) if to_form == "ewa" else heavy_ball_lr
    note = (
        "identical trajectories for a constant learning rate with both velocities starting at zero "
        "(and no bias correction in the EWA form)"
    )
    if {from_form, to_form} & {"sutskever"} and from_form != to_form:
        note += (
            "; a learning-rate schedule breaks it: the Sutskever velocity keeps each gradient scaled by the lr "
            "of its own step"
        )
    elif from_form != to_form:
        note += "; a schedule keeps it only if the EWA rate is rescaled by 1/(1 − β) at every step"
    return MomentumConversion(form=to_form, lr=target_lr, beta=beta, note=note)
