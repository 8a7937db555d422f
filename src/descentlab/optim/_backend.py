"""Run an elementwise update rule over flat arrays: a fused numba kernel when it pays, NumPy otherwise.

A rule is a function ``rule(theta, g, *states, *hyper) -> (theta, *states)`` whose body is its equations.
It is written once and works on NumPy arrays and on scalars alike. A state slot that the configuration
does not use is ``None``; the rule receives ``0.0`` there and its output for that slot is dropped.

Two paths run it:

* **fast** — the rule compiled by numba into one loop over the flat arrays (:mod:`._kernels`): one read of
  θ, g and each used state, one write of θ and the states. Taken when numba is importable, the arrays are
  float32 or float64, θ and the states are C-contiguous and θ has at least :data:`FAST_MIN_SIZE` elements.
  State entries below the dtype's smallest normal number are stored as 0 (see :mod:`._kernels`).
* **portable** — NumPy on cache-sized chunks of the flat arrays (the temporaries a chunk creates stay in
  cache), then the new values written back in place. Always available; used for strided views too.

Threads. Arrays of at least :data:`PARALLEL_MIN_SIZE` elements are split into contiguous parts that the
caller and a small pool of Python threads take in turn (the kernel releases the GIL; see
:class:`_SharedWork` for why the caller never waits for a thread to start). The count is
:func:`num_threads`: ``$DESCENTLAB_NUM_THREADS``, else the cores this process may use. numba's own
``parallel=True`` loops were measured and not used: they run on an OpenMP runtime whose idle threads
spin, and next to PyTorch's OpenMP runtime (a second copy, in the same process whenever descentlab is
compared with or adapted to PyTorch) both slowed to one scheduler tick per call — 8–16 ms for a step that
takes 0.1 ms — unless ``OMP_WAIT_POLICY=PASSIVE`` was set before either loaded. Pool threads sleep on a
lock instead. Below the threshold one thread does the step: waking a second costs more than it saves, and
it leaves the other core to the OpenBLAS threads that spin for a while after a training step's GEMMs.
BLAS thread counts are left to the caller (``threadpoolctl``); descentlab never changes them.
(Measured: ``bench/run.py``, sections "Crossover" and "Thread pools meeting".)

The non-finite check of the gradient (:func:`all_finite`, called by ``Optimizer.step``) is one compiled,
vectorized pass over g; arrays of at least :data:`CHECK_PARALLEL_MIN_SIZE` elements are split across the
same threads.

``DESCENTLAB_PORTABLE=1`` in the environment forces the portable path; it is read at every call, so it
can be set or cleared while a program runs. :func:`backend_used` names the path the last call took.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from descentlab._switches import FAST_DTYPES, compiled_module
from descentlab._switches import portable_forced as _portable_forced

CHUNK = 16384  # elements: 64 KiB per float32 array, so a chunk's temporaries stay in L2 cache
# Measured on a 2-core AMD EPYC: below this a step costs ~15 µs of Python on either path (Adam on a (2,) array:
# 16.6 µs fast, 18.7 µs portable; Momentum 14.7 vs 13.0), so tiny arrays (interactive races) stay portable and
# never pay numba's import and compile; from 512 elements on the kernel is clearly ahead (17.8 vs 23.5 µs).
FAST_MIN_SIZE = 64
# Below this one thread does the step: waking pool threads (tens of µs) costs more than they save, and on
# this 2-core VM a second thread gains little until the arrays outgrow the cache. Adam update, float32,
# three runs of bench "Crossover": 1,048,576 elements 726–930 µs on one thread vs 831–922 µs split;
# 2,097,152: 1218–1580 vs 1224–1549 (even); 4,194,304: 2968–4014 vs 2420–2934 (split ahead).
PARALLEL_MIN_SIZE = 1 << 21
# The non-finite check reads one array (a tenth of an Adam step's traffic): compiled from this size (below,
# NumPy's reduction is as fast), split across threads only from the larger one.
CHECK_MIN_SIZE = 1 << 12
CHECK_PARALLEL_MIN_SIZE = 1 << 22
ALIGN = 64  # elements: parts start on cache-line (and vector) boundaries
PARTS_PER_THREAD = 16  # a split call's parts per thread, while each keeps at least MIN_PART elements
MIN_PART = 1 << 18  # elements: 1 MiB of float32 per array, so the per-part cost (~5 µs of Python) stays small

_last = "none"
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads; it starts its own on its first split.
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def num_threads() -> int:
    """Threads a large step is split across: ``$DESCENTLAB_NUM_THREADS`` or the usable cores."""
    explicit = os.environ.get("DESCENTLAB_NUM_THREADS", "").strip()
    if explicit:
        if not explicit.isdigit() or int(explicit) < 1:
            raise ValueError(f"DESCENTLAB_NUM_THREADS={explicit!r} must be a positive integer, e.g. 2")
        return int(explicit)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parts(n: int, count: int) -> list[slice]:
    step = -(-n // count)
    step = -(-step // ALIGN) * ALIGN
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


class _SharedWork:
    """Parts of one call, taken in turn by the caller and by whichever pool threads get a core.

    The caller never waits for a thread to *start*: on a busy machine (another process, or OpenBLAS threads
    that spin for a while after each GEMM) a woken thread may not run for a whole scheduler tick, and a
    fixed split would wait that long. Here the caller takes parts until none is left and then waits only
    for parts that a thread has already begun; a thread that starts late finds nothing left and returns.
    """

    def __init__(self, kernel: Callable, arrays: list[np.ndarray], scalars: tuple, parts: list[slice]) -> None:
        self.kernel, self.arrays, self.scalars, self.parts = kernel, arrays, scalars, parts
        self.results: list = [None] * len(parts)
        self._next = itertools.count()  # next() on it is atomic under the GIL
        self._lock = threading.Lock()
        self._pending = len(parts)
        self._finished = threading.Event()
        self.error: BaseException | None = None

    def work(self) -> None:
        while (index := next(self._next)) < len(self.parts):
            part = self.parts[index]
            try:
                self.results[index] = self.kernel(*(a[part] for a in self.arrays), *self.scalars)
            except BaseException as error:  # re-raised in the caller by wait(); a thread must not hang it
                self.error = error
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._finished.set()

    def wait(self) -> list:
        self._finished.wait()
        if self.error is not None:
            raise self.error
        return self.results


def _part_count(n: int, threads: int) -> int:
    """How many parts a split call cuts n elements into: 16 per thread while each keeps ≥ MIN_PART elements,
    never fewer than 4 per thread. Many small parts let the threads that run at full speed take over the
    share of one that starts late or runs slowly; the wait at the end is for one small part. Measured on
    Adam at 10M float32 over 40 interleaved rounds, five runs: medians 7.1 / 7.7 / 7.6 / 7.4 / 7.4 ms with 4
    parts per thread, 6.9 / 7.3 / 7.2 / 7.3 / 7.4 ms with 16 (torch fused 6.1–6.8 ms); the slowest round of
    the last two runs 12.0 / 12.4 ms against 9.0 / 9.0 ms."""
    if threads <= 1:
        return 1
    return max(4 * threads, min(PARTS_PER_THREAD * threads, n // MIN_PART))


def _run_split(kernel: Callable, arrays: list[np.ndarray], scalars: tuple, threads: int | None = None) -> list:
    """``kernel(*parts, *scalars)`` over contiguous parts of the arrays (:func:`_part_count`), on up to
    ``threads`` threads (the caller's included); the results in part order."""
    global _pool, _pool_size
    threads = num_threads() if threads is None else threads
    parts = _parts(arrays[0].size, _part_count(arrays[0].size, threads))
    if len(parts) == 1:
        return [kernel(*arrays, *scalars)]
    helpers = threads - 1
    if _pool_size < helpers:
        with _pool_lock:
            if _pool_size < helpers:
                if _pool is not None:
                    _pool.shutdown(wait=False)
                _pool = ThreadPoolExecutor(helpers, thread_name_prefix="descentlab-step")
                _pool_size = helpers
    shared = _SharedWork(kernel, arrays, scalars, parts)
    for _ in range(helpers):
        _pool.submit(shared.work)
    shared.work()
    return shared.wait()


def backend_used() -> str:
    """The path the last :func:`apply_rule` call took: ``"fast-parallel"`` (split across threads),
    ``"fast-serial"``, ``"portable"`` or ``"portable-strided"`` (``"none"`` before the first call)."""
    return _last


def fast_path_available() -> bool:
    """Whether numba can be imported, so that large contiguous float arrays take the fast path."""
    return _kernels_module() is not None


def _kernels_module():
    # numba is imported on the first large step, not with descentlab.
    return compiled_module("descentlab.optim._kernels")


def apply_rule(
    rule: Callable[..., tuple],
    theta: np.ndarray,
    grad: np.ndarray,
    states: Sequence[np.ndarray | None],
    hyper: tuple,
) -> None:
    """Apply ``rule`` elementwise, updating ``theta`` and the used ``states`` in place."""
    global _last
    if theta.flags.c_contiguous:
        grad = np.ascontiguousarray(grad)
        if _fast_eligible(theta, states):
            kernels = _kernels_module()
            if kernels is not None:
                _apply_fast(kernels, rule, theta, grad, states, hyper)
                return
        _apply_chunked(rule, theta.reshape(-1), grad.reshape(-1), states, hyper)
        _last = "portable"
    else:
        # A strided view (a column of a batch, say): apply on whole arrays, then write back.
        outputs = rule(theta, grad, *(0.0 if s is None else s for s in states), *hyper)
        theta[...] = outputs[0]
        for state, new in zip(states, outputs[1:], strict=True):
            if state is not None:
                state[...] = new
        _last = "portable-strided"


def _fast_eligible(theta: np.ndarray, states: Sequence[np.ndarray | None]) -> bool:
    return (
        theta.size >= FAST_MIN_SIZE
        and theta.dtype in FAST_DTYPES
        and all(s is None or (s.flags.c_contiguous and s.size == theta.size) for s in states)
        and not _portable_forced()
    )


# (rule, used state slots, dtype) → (kernel, flush threshold): the per-step lookup, kept out of the step's
# fixed cost (a whole opt.step took 18.7 µs before this cache and the direct check call below, 13.5 µs after;
# measured on Adam at 4096 elements, where the kernel itself takes 2 µs).
_compiled: dict[tuple, tuple[Callable, np.generic]] = {}


def _apply_fast(kernels, rule, theta, grad, states, hyper) -> None:
    global _last
    dtype = theta.dtype
    key = (rule, tuple(s is not None for s in states), dtype)
    compiled = _compiled.get(key)
    if compiled is None:
        module = kernels.kernels_for(rule, key[1], dtype.name)
        compiled = _compiled[key] = (module.kernel, np.finfo(dtype).tiny)
    kernel, tiny = compiled
    # Hyperparameters in the arrays' dtype (flags stay bool): the arithmetic is float32 for float32 arrays,
    # as NumPy does it, and one kernel serves every value.
    scalar = dtype.type
    scalars = tuple(h if isinstance(h, bool) else scalar(h) for h in hyper)
    arrays = [theta.reshape(-1), grad.reshape(-1), *(s.reshape(-1) for s in states if s is not None)]
    if theta.size >= PARALLEL_MIN_SIZE and num_threads() > 1:
        _run_split(kernel, arrays, (*scalars, tiny))
        _last = "fast-parallel"
    else:
        kernel(*arrays, *scalars, tiny)
        _last = "fast-serial"


def all_finite(array: np.ndarray) -> bool | None:
    """Whether ``array`` holds no NaN/Inf, by one compiled pass split across threads; ``None`` when the
    fast check does not apply (small, strided or non-float array, numba missing or portable forced)."""
    if (
        array.size < CHECK_MIN_SIZE
        or array.dtype not in FAST_DTYPES
        or not array.flags.c_contiguous
        or _portable_forced()
    ):
        return None
    kernels = _kernels_module()
    if kernels is None:
        return None
    flat = array.reshape(-1)
    if flat.size < CHECK_PARALLEL_MIN_SIZE:
        totals = [kernels.nonfinite_probe(flat)]
    else:
        totals = _run_split(kernels.nonfinite_probe, [flat], ())
    if all(math.isfinite(total) for total in totals):
        return True
    return bool(np.isfinite(flat).all())  # a NaN probe can also be a reordered sum that overflowed


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
