"""What counts as an integer and a real number at every door: NumPy scalars yes, booleans no.

A harness over the arguments that take a count: each accepts ``np.int64`` (values often come from
``np.arange``) and keeps a plain int, so saved state stays JSON, and refuses ``True`` with a message that names
the value.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import descentlab as dl
from descentlab._numbers import is_integer, is_real
from descentlab.experiments.executors import LocalExecutor


@pytest.mark.parametrize(
    ("value", "integer", "real"),
    [
        (3, True, True),
        (np.int64(3), True, True),
        (np.uint8(3), True, True),
        (2.5, False, True),
        (np.float32(0.1), False, True),
        (float("nan"), False, True),
        (Fraction(1, 3), False, True),
        (True, False, False),
        (np.True_, False, False),
        ("3", False, False),
        (None, False, False),
        (np.array(3), False, False),
        (np.array([3]), False, False),
    ],
)
def test_is_integer_and_is_real(value, integer, real):
    assert is_integer(value) is integer and is_real(value) is real


def _plateau(name):
    return lambda value: getattr(dl.optim.schedules.ReduceOnPlateau(0.1, **{name: value}), name)


#: name → (build with the value and read it back, the JSON the value ends up in or None, message on True)
COUNTS = {
    "AdaDelta window": (
        lambda value: dl.optim.AdaDelta(window=value).window,
        lambda value: dl.optim.AdaDelta(window=value).hyperparameters(),
        "window=True must be None or an integer ≥ 1",
    ),
    "Newton cg_iters": (
        lambda value: dl.optim.Newton(cg_iters=value).cg_iters,
        lambda value: dl.optim.Newton(cg_iters=value).hyperparameters(),
        "cg_iters=True must be an integer ≥ 1",
    ),
    "ReduceOnPlateau patience": (
        _plateau("patience"),
        lambda value: dl.optim.schedules.ReduceOnPlateau(0.1, patience=value).config(),
        "patience=True must be an integer ≥ 0",
    ),
    "ReduceOnPlateau cooldown": (
        _plateau("cooldown"),
        lambda value: dl.optim.schedules.ReduceOnPlateau(0.1, cooldown=value).config(),
        "cooldown=True must be an integer ≥ 0",
    ),
    "trace steps": (
        lambda value: dl.optim.trace(dl.optim.GD(lr=0.1), lambda theta: theta, [1.0], steps=value).rows[-1]["step"],
        None,
        "steps=True must be an integer ≥ 1",
    ),
    "LocalExecutor jobs": (
        lambda value: LocalExecutor(jobs=value).jobs,
        None,
        "jobs=True must be a positive integer",
    ),
    "batch_size": (
        lambda value: dl.data.batch_count(10, value),
        None,
        "batch_size=True must be an integer ≥ 1",
    ),
}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts_take_numpy_integers_and_refuse_booleans(name):
    read_back, saved, message = COUNTS[name]
    expected = read_back(3)
    got = read_back(np.int64(3))
    assert got == expected and type(got) is type(expected)
    if saved is not None:
        assert json.loads(json.dumps(saved(np.int64(3)))) == json.loads(json.dumps(saved(3)))
    with pytest.raises(ValueError, match=message):
        read_back(True)
