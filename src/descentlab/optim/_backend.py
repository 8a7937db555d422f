"""Run an elementwise update rule over flat arrays.

A rule is a function ``rule(theta, g, *states, *hyper) -> (theta, *states)`` whose body is its equations.
It is written once and works on NumPy arrays and on scalars alike. The portable path here applies it to
cache-sized chunks of the flat arrays (the temporaries a chunk creates stay in cache), then writes the new
values back in place. A state slot that the configuration does not use is ``None``; the rule receives
``0.0`` there and its output for that slot is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

CHUNK = 16384  # elements: 64 KiB per float32 array, so a chunk's temporaries stay in L2 cache


def apply_rule(
    rule: Callable[..., tuple],
    theta: np.ndarray,
    grad: np.ndarray,
    states: Sequence[np.ndarray | None],
    hyper: tuple,
) -> None:
    """Apply ``rule`` elementwise, updating ``theta`` and the used ``states`` in place."""
    if theta.flags.c_contiguous:
        _apply_chunked(rule, theta.reshape(-1), np.ascontiguousarray(grad).reshape(-1), states, hyper)
    else:
        # A strided view (a column of a batch, say): apply on whole arrays, then write back.
        outputs = rule(theta, grad, *(0.0 if s is None else s for s in states), *hyper)
        theta[...] = outputs[0]
        for state, new in zip(states, outputs[1:], strict=True):
            if state is not None:
                state[...] = new


def _apply_chunked(
    rule: Callable[..., tuple],
    theta: np.ndarray,
    grad: np.ndarray,
    states: Sequence[np.ndarray | None],
    hyper: tuple,
) -> None:
    flat_states = [None if s is None else s.reshape(-1) for s in states]
    for start in range(0, theta.size, CHUNK):
        chunk = slice(start, start + CHUNK)
        outputs = rule(theta[chunk], grad[chunk], *(0.0 if s is None else s[chunk] for s in flat_states), *hyper)
        theta[chunk] = outputs[0]
        for state, new in zip(flat_states, outputs[1:], strict=True):
            if state is not None:
                state[chunk] = new
