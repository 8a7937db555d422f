"""Short notes for the explain panel: what to watch for with each optimizer and each training choice."""

from __future__ import annotations

OPTIMIZER_NOTES: dict[str, str] = {
    "gd": (
        "Each step moves against the gradient by lr·‖g‖. In a narrow valley the gradient points across it, "
        "so GD zig-zags; too large an lr makes it bounce out and diverge, too small crawls."
    ),
    "momentum": (
        "The velocity v accumulates past gradients: the zig-zag across a valley cancels while the drift along "
        "it adds up (about 1/(1−β) times a single step). Watch it overshoot and curl back near the minimum."
    ),
    "nesterov": (
        "Momentum that looks ahead: the correction uses the gradient at the point the velocity is about to "
        "reach, so it overshoots less than heavy-ball momentum with the same β."
    ),
    "adagrad": (
        "Each coordinate's step is divided by the root of its summed squared gradients, so steep directions "
        "slow down. The sum only grows: watch the steps shrink until progress stalls on long runs."
    ),
    "adadelta": (
        "Replaces AdaGrad's growing sum by moving averages and scales steps by the RMS of past updates, so "
        "lr≈1 is the usual choice. It starts slowly while its averages warm up."
    ),
    "rmsprop": (
        "Divides each coordinate by a moving RMS of its recent gradients: steps have roughly size lr in every "
        "direction, whatever the scale of the gradient. Watch it cross flat plateaus that stall GD."
    ),
    "adam": (
        "Momentum (m) plus RMSprop scaling (v), with bias correction so the first steps are not too small. "
        "Steps are about lr long early on; near a minimum it may circle at a radius that shrinks with lr."
    ),
    "adamw": (
        "Adam with weight decay applied directly to θ instead of through the gradient, so the decay is not "
        "rescaled by the adaptive denominator. On a surface it pulls the path towards the origin."
    ),
    "nadam": "Adam with Nesterov's look-ahead on the first moment: usually a little less overshoot than Adam.",
    "newton": (
        "Solves with the Hessian: on a quadratic one step with lr=1 lands on the minimum. At a saddle or where "
        "the curvature is negative the plain step can go uphill; damping keeps it a descent direction."
    ),
}

INIT_NOTES: dict[str, str] = {
    "zeros": (
        "All weights zero: every unit in a layer computes the same thing and gets the same gradient, so they "
        "stay identical forever (the symmetry problem). The boundary stays as simple as a single unit's."
    ),
    "too_small": (
        "Weights ~ N(0, 0.01²): signals shrink layer after layer, and so do the gradients; watch the gradient "
        "norms of the early layers sit near zero and the loss plateau before it falls."
    ),
    "he": "He initialization, N(0, 2/fan_in): keeps the signal's variance steady through ReLU layers.",
    "xavier": "Xavier/Glorot, N(0, 2/(fan_in+fan_out)): keeps variances balanced for tanh and sigmoid layers.",
    "too_large": (
        "Weights ~ N(0, 10²): tanh and sigmoid units saturate (tiny gradients), ReLU outputs and losses explode; "
        "watch for a huge starting loss, erratic boundaries, or a divergence message."
    ),
}

TRAIN_NOTES: dict[str, str] = {
    "batch_full": "Full batch: one smooth step per epoch, the loss falls monotonically for a small enough lr.",
    "batch_one": "Batch size 1 (SGD): many noisy steps per epoch; the loss curve wiggles, the boundary jitters.",
    "batch_k": "Mini-batches: a compromise between noisy SGD and slow full-batch steps.",
    "batch_norm": (
        "Batch norm normalizes each hidden unit over the batch: it tolerates poor initializations and larger "
        "learning rates. With batch size 1 the batch statistics are degenerate; use mini-batches."
    ),
    "validation": "The gap between training and validation loss is overfitting: more noise and more units widen it.",
}


def train_note(init: str, batch_size: int | None, batch_norm: bool) -> str:
    """The note for a training configuration: the initializer, the batch regime, batch norm."""
    regime = "batch_full" if batch_size is None else "batch_one" if batch_size == 1 else "batch_k"
    parts = [INIT_NOTES[init], TRAIN_NOTES[regime]]
    if batch_norm:
        parts.append(TRAIN_NOTES["batch_norm"])
    parts.append(TRAIN_NOTES["validation"])
    return " ".join(parts)
