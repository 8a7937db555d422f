"""The fast path (numba kernels compiled from the rules) against the portable NumPy path.

Every optimizer of the registry, over a grid of its options, is run on both paths from the same start with
the same gradients; the trajectories must agree to float rounding. Then: which path runs when, subnormal
flushing, the fused non-finite check, and the on-disk kernel cache across processes.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from descentlab import optim
from descentlab.optim import _backend
from descentlab.optim.sgd import MOMENTUM_FORMS

ROOT = Path(__file__).resolve().parents[1]

# The options that change an algorithm's arithmetic; every combination the constructor accepts is run.
OPTION_VALUES = {
    "amsgrad": (False, True),
    "decoupled_weight_decay": (False, True),
    "eps_inside": (False, True),
    "centered": (False, True),
    "bias_correction": (False, True),
    "form": MOMENTUM_FORMS,
    "dampening": (0.0, 0.3),
    "momentum": (0.0, 0.9),
    "weight_decay": (0.0, 0.05),
    "lr_decay": (0.0, 0.01),
    "initial_accumulator_value": (0.0, 0.1),
}
LEARNING_RATES = {"adadelta": 1.0, "adagrad": 0.05, "rmsprop": 0.01}


def _configurations() -> list[tuple[str, dict]]:
    configs = []
    for name, cls in optim.OPTIMIZERS.items():
        if name == "newton":  # a linear solve per step, not an elementwise rule
            continue
        params = [p for p in cls.__init__.__code__.co_varnames[1 : cls.__init__.__code__.co_argcount]]
        grid = {p: OPTION_VALUES[p] for p in params if p in OPTION_VALUES}
        for values in itertools.product(*grid.values()):
            kwargs = dict(zip(grid, values, strict=True), lr=LEARNING_RATES.get(name, 0.02))
            try:
                cls(**kwargs)
            except ValueError:  # a combination the class rejects (dampening outside heavy_ball …)
                continue
            configs.append((name, kwargs))
    return configs


CONFIGS = _configurations()
SHAPES = ((300,), (6, 50))
RTOL = {np.float64: 1e-6, np.float32: 1e-5}


def _assert_close(actual, desired, dtype, label=""):
    """Equal to ``RTOL`` relative to each entry, or to the array's largest entry for entries near zero.

    The paths round differently in the last bit (the kernel computes 1 − β in the array's dtype, NumPy in
    float64 before casting); the dynamics carry such differences along, in absolute terms, to entries
    that happen to pass near zero.
    """
    rtol = RTOL[dtype]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * float(np.max(np.abs(desired))), err_msg=label)


def _trajectory(name, kwargs, shape, dtype, steps, portable, monkeypatch) -> tuple[np.ndarray, str, dict]:
    if portable:
        monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")
    else:
        monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    rng = np.random.default_rng(7)
    theta = rng.standard_normal(shape).astype(dtype)
    curvature = rng.uniform(0.5, 3.0, shape).astype(dtype)
    opt = optim.make_optimizer(name, **kwargs)
    paths = set()
    for _ in range(steps):
        grad = (curvature * theta + 0.1 * rng.standard_normal(shape)).astype(dtype)
        opt.step(theta, grad)
        paths.add(_backend.backend_used())
    assert len(paths) == 1
    return theta, paths.pop(), opt.state_dict()["arrays"]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=[f"{n}-{json.dumps(k)}" for n, k in CONFIGS])
def test_fast_and_portable_paths_trace_the_same_trajectory(name, kwargs, monkeypatch):
    for shape, dtype in itertools.product(SHAPES, (np.float32, np.float64)):
        fast, fast_path, fast_state = _trajectory(name, kwargs, shape, dtype, 25, False, monkeypatch)
        slow, slow_path, slow_state = _trajectory(name, kwargs, shape, dtype, 25, True, monkeypatch)
        assert slow_path == "portable"
        # AdaDelta's literal window variant steps with its own NumPy code: it never reaches a kernel.
        assert fast_path == ("portable" if kwargs.get("window") else "fast-serial")
        _assert_close(fast, slow, dtype, f"theta {shape} {dtype.__name__}")
        for key in slow_state:
            _assert_close(fast_state[key], slow_state[key], dtype, f"{key} {shape} {dtype.__name__}")


@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "nadam"])
def test_parallel_kernel_matches_portable_on_a_large_array(name, monkeypatch):
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "3")  # three parts, the last one shorter
    shape = (_backend.PARALLEL_MIN_SIZE + 3,)
    fast, fast_path, _ = _trajectory(name, {}, shape, np.float32, 4, False, monkeypatch)
    slow, _, _ = _trajectory(name, {}, shape, np.float32, 4, True, monkeypatch)
    assert fast_path == "fast-parallel"
    _assert_close(fast, slow, np.float32)


def test_path_selection(monkeypatch):
    monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    opt = optim.Adam()
    tiny = np.ones(2)
    opt.step(tiny, tiny.copy())
    assert _backend.backend_used() == "portable"  # below FAST_MIN_SIZE the NumPy path is the faster one

    big = np.ones((4, 100))
    column = big[:, 0]  # strided: no kernel
    optim.Adam().step(column, np.ones_like(column))
    assert _backend.backend_used() == "portable-strided"

    optim.Adam().step(big, np.ones_like(big))
    assert _backend.backend_used() == "fast-serial"
    optim.Adam(eps=1e-4).step(big.astype(np.float16), np.ones(big.shape, np.float16))  # 1e-8 rounds to 0 there
    assert _backend.backend_used() == "portable"  # no float16 kernels

    monkeypatch.setenv("DESCENTLAB_PORTABLE", "1")  # read at every call
    optim.Adam().step(big, np.ones_like(big))
    assert _backend.backend_used() == "portable"
    assert _backend.fast_path_available()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_decaying_to_zero_never_becomes_subnormal(dtype, monkeypatch):
    """Zero gradients after a start: m shrinks by β₁ per step and crosses the subnormal range (the trap
    that made a compiled Adam 30× slower). The fast path stores 0 there; θ matches the portable path."""
    tiny = np.finfo(dtype).tiny
    n = 1000
    start = {"m": np.full(n, tiny * 1e3, dtype), "v": np.full(n, tiny * 1e6, dtype)}
    results = {}
    for portable in (False, True):
        monkeypatch.setenv("DESCENTLAB_PORTABLE", "1" if portable else "0")
        opt = optim.Adam(lr=1e-3, beta1=0.5, beta2=0.5)
        opt.load_state_dict(
            {"optimizer": "Adam", "hyperparameters": opt.hyperparameters(), "step": 100, "arrays": start, "scalars": {}}
        )
        theta = np.linspace(-1, 1, n).astype(dtype)
        for _ in range(30):  # 0.5³⁰ ≈ 1e-9: both states pass through the subnormal range
            opt.step(theta, np.zeros(n, dtype))
        results[portable] = theta, opt.state.m, opt.state.v
    theta_fast, m_fast, v_fast = results[False]
    _, m_slow, _ = results[True]
    for state in (m_fast, v_fast):
        assert np.all((state == 0) | (np.abs(state) >= tiny)), "a subnormal state value was stored"
    assert np.any((m_slow != 0) & (np.abs(m_slow) < tiny)), "the portable path keeps gradual underflow"
    np.testing.assert_array_equal(theta_fast, results[True][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_nonfinite_check(dtype, monkeypatch):
    monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "3")
    for n in (_backend.CHECK_MIN_SIZE + 17, _backend.CHECK_PARALLEL_MIN_SIZE + 17):  # one thread; split
        huge = np.full(n, np.finfo(dtype).max, dtype)  # finite, though any sum of it overflows
        assert _backend.all_finite(huge) is True
        for where, bad in ((0, np.nan), (n // 2, np.inf), (n - 1, -np.inf)):
            grad = np.zeros(n, dtype)
            grad[where] = bad
            assert _backend.all_finite(grad) is False
            theta = np.ones(n, dtype)
            opt = optim.Adam()
            with pytest.raises(optim.NonFiniteGradientError):
                opt.step(theta, grad)
            assert opt.state is None and np.all(theta == 1)
    assert _backend.all_finite(np.zeros(10, dtype)) is None  # small: the NumPy check is used


def test_kernel_cache_is_reused_by_a_second_process(tmp_path):
    script = (
        "import numpy as np, descentlab as dl\n"
        "from descentlab.optim import _kernels\n"
        "from descentlab.optim.sgd import nesterov_rule\n"
        "dl.optim.Nesterov().step(np.ones(500, np.float32), np.ones(500, np.float32))\n"
        "s = _kernels.kernels_for(nesterov_rule, [True], 'float32').kernel.stats\n"
        "print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))\n"
    )
    env = {**os.environ, "DESCENTLAB_KERNEL_DIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    env.pop("DESCENTLAB_PORTABLE", None)
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    first_hits, first_misses = (int(x) for x in runs[0].split())
    second_hits, second_misses = (int(x) for x in runs[1].split())
    assert (first_hits, first_misses) == (0, 1)  # compiled, then stored
    assert (second_hits, second_misses) == (1, 0)  # loaded from disk, not compiled
    assert len(list(tmp_path.glob("nesterov_rule_float32_1_*.py"))) == 1


def test_division_by_zero_follows_numpy_not_python(monkeypatch):
    """eps = 0 with a zero gradient gives 0/0: NaN on both paths (numba's Python error model would raise).

    The constructor (and so assignment) refuses eps = 0; it is written into the instance's dict afterwards to
    reach the kernels' arithmetic."""
    results = []
    for portable in ("0", "1"):
        monkeypatch.setenv("DESCENTLAB_PORTABLE", portable)
        theta = np.ones(500)
        grad = np.zeros(500)
        grad[:10] = 1.0
        opt = optim.Adam()
        opt.__dict__["eps"] = 0.0
        with np.errstate(invalid="ignore", divide="ignore"):
            opt.step(theta, grad)
        results.append(theta)
    assert np.isnan(results[0][10:]).all() and np.isfinite(results[0][:10]).all()
    np.testing.assert_array_equal(results[0], results[1])


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "2")
    assert _backend.num_threads() == 2
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="DESCENTLAB_NUM_THREADS='zero' must be a positive integer"):
        _backend.num_threads()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_steps_on_its_own_threads(monkeypatch):
    """A child of fork inherits the pool object but not its threads; a large step must still finish there."""
    monkeypatch.delenv("DESCENTLAB_PORTABLE", raising=False)
    monkeypatch.setenv("DESCENTLAB_NUM_THREADS", "2")
    n = _backend.PARALLEL_MIN_SIZE + 1
    optim.Adam().step(np.ones(n, np.float32), np.ones(n, np.float32))  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only if the split step ran and was right
        theta = np.ones(n, np.float32)
        optim.Adam(lr=0.5).step(theta, np.ones(n, np.float32))
        os._exit(0 if _backend.backend_used() == "fast-parallel" and np.allclose(theta, 0.5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_error_in_a_split_part_reaches_the_caller():
    calls = []

    def kernel(part):
        calls.append(part.size)
        if part[0] >= 3 * 4096:  # a part that a pool thread or the caller may take
            raise FloatingPointError("part failed")
        return part.size

    with pytest.raises(FloatingPointError, match="part failed"):
        _backend._run_split(kernel, [np.arange(4 * 4096, dtype=np.float64)], (), threads=2)
    assert sum(calls) == 4 * 4096  # every part ran; none was left hanging
