"""Optimizer-step benchmarks: descentlab's fast and portable paths against torch.optim and the traffic bound.

Also the measurements behind the fast path's design choices: first-call compile time and the on-disk
cache, the size crossovers (portable → kernel on one thread → kernel split across threads), GEMMs followed
by a step (thread pools meeting), and the subnormal-state trap.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

import descentlab as dl
from descentlab.optim import _backend, _kernels
from descentlab.optim.adam import adam_rule
from timing import Candidate, interleaved, paired_ratio

LATE_STEP = 10_000


@dataclass(frozen=True)
class Rule:
    """An optimizer of the benchmark, its torch.optim twin and the bytes one step must move per element."""

    name: str
    make: object
    torch_class: str
    torch_kwargs: dict
    state_arrays: int

    @property
    def update_bytes(self) -> int:
        """float32 bytes per element: read θ, g and each state; write θ and each state."""
        return 4 * (2 + self.state_arrays) + 4 * (1 + self.state_arrays)


RULES = [
    Rule("Adam", lambda: dl.optim.Adam(lr=1e-3), "Adam", {"lr": 1e-3}, 2),
    Rule("RMSprop", lambda: dl.optim.RMSprop(lr=1e-3), "RMSprop", {"lr": 1e-3}, 1),
    Rule("Momentum", lambda: dl.optim.Momentum(lr=1e-3, beta=0.9), "SGD", {"lr": 1e-3, "momentum": 0.9}, 1),
    Rule("AdaGrad", lambda: dl.optim.AdaGrad(lr=1e-3), "Adagrad", {"lr": 1e-3}, 1),
]


@contextmanager
def portable():
    old = os.environ.get("DESCENTLAB_PORTABLE")
    os.environ["DESCENTLAB_PORTABLE"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["DESCENTLAB_PORTABLE"]
        else:
            os.environ["DESCENTLAB_PORTABLE"] = old


def _portable_step(opt, theta, grad):
    with portable():
        opt.step(theta, grad)


def _torch_variants(rule: Rule, theta: np.ndarray, grad: np.ndarray):
    """(name, step, why unavailable) for the for-loop, foreach and fused implementations that torch offers for
    the rule, all stepping one parameter; that parameter's ``grad`` tensor, which every step reads; and why
    torch is missing ("" when it is not)."""
    try:
        import torch
    except ImportError:
        return [], None, "PyTorch missing"
    param = torch.nn.Parameter(torch.from_numpy(theta.copy()))
    param.grad = torch.from_numpy(grad.copy())
    found = []
    for label, kw in (("for-loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        try:
            opt = getattr(torch.optim, rule.torch_class)([param], **rule.torch_kwargs, **kw)
            opt.step()
        except (TypeError, RuntimeError) as error:  # no fused RMSprop, for instance
            found.append((f"torch {label}", None, str(error).split("\n")[0][:80]))
            continue
        found.append((f"torch {label}", opt.step, ""))
    return found, param.grad, ""


CHECKED = " + aminmax check"


def _torch_checked(torch_steps: list, grad_tensor) -> Candidate | None:
    """torch's fastest kind of step (fused, else foreach) behind the check a torch user needs for the contract
    descentlab keeps: refuse a NaN/Inf gradient before anything is updated. Not a goal peer.

    ``grad_tensor`` is the ``param.grad`` that the step reads, so that the check and the update read the same
    memory, as descentlab's do (a check of another copy would leave the update to read g from colder cache).
    The check is the fastest exact one found in torch: ``torch.aminmax`` propagates NaN and shows ±Inf at an
    end, in one threaded pass (10M float32: ~1.2 ms, where the usual ``torch.isfinite(g).all()`` took ~20 ms
    and ``g.isnan().any() or g.isinf().any()`` ~35 ms)."""
    import torch

    steps = {name: step for name, step, _ in torch_steps if step is not None}
    name = next((n for n in ("torch fused", "torch foreach") if n in steps), None)
    if name is None:
        return None
    step = steps[name]

    def checked_step():
        low, high = torch.aminmax(grad_tensor)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise FloatingPointError("non-finite gradient")
        step()

    return Candidate(name + CHECKED, checked_step)


def step_benchmark(sizes: list[int], rounds: int, bandwidth_gbs: float, with_portable_up_to: int) -> list[dict]:
    """Median step times of every implementation, per rule and size; rows for the report."""
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        theta = rng.standard_normal(n).astype(np.float32)
        grad = (1e-2 * rng.standard_normal(n)).astype(np.float32)
        for rule in RULES:
            rows.append(_step_row(rule, theta, grad, rounds, bandwidth_gbs, n <= with_portable_up_to))
    return rows


def _step_row(rule: Rule, theta, grad, rounds: int, bandwidth_gbs: float, with_portable: bool) -> dict:
    n = theta.size
    fast, port = rule.make(), rule.make()
    fast.step(theta, grad)
    candidates = [Candidate("descentlab", lambda: fast.step(theta, grad))]
    if with_portable:
        _portable_step(port, theta, grad)
        candidates.append(Candidate("descentlab portable", lambda: _portable_step(port, theta, grad)))
    candidates.append(Candidate("non-finite check alone", lambda: dl.optim._base._all_finite(grad)))
    torch_steps, torch_grad, missing = _torch_variants(rule, theta, grad)
    unavailable = {}
    for name, step, why in torch_steps:
        if step is None:
            unavailable[name] = why
        else:
            candidates.append(Candidate(name, step))
    checked = _torch_checked(torch_steps, torch_grad) if torch_steps else None
    if checked is not None:
        candidates.append(checked)
    timings = interleaved(candidates, rounds)
    update_bytes = rule.update_bytes * n
    torch_medians = {k: t.median for k, t in timings.items() if k.startswith("torch") and not k.endswith(CHECKED)}
    return {
        "rule": rule.name,
        "n": n,
        "timings": timings,
        "unavailable": unavailable,
        "torch_missing": missing,
        "bound_update_s": update_bytes / (bandwidth_gbs * 1e9),
        "bound_step_s": (update_bytes + 4 * n) / (bandwidth_gbs * 1e9),
        "best_torch": min(torch_medians, key=torch_medians.get) if torch_medians else None,
        "update_bytes": rule.update_bytes,
    }


def step_table(rows: list[dict]) -> str:
    lines = [
        "| rule | parameters | implementation | min / median / max ms | GB/s moved | vs descentlab |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        dl_median = row["timings"]["descentlab"].median
        for name, t in row["timings"].items():
            checks = name in ("descentlab", "descentlab portable") or name.endswith(CHECKED)
            moved = (row["update_bytes"] + (4 if checks else 0)) * row["n"]
            if name == "non-finite check alone":
                moved = 4 * row["n"]
            ratio = "1" if name == "descentlab" else f"{t.median / dl_median:.2f}× its time"
            lines.append(
                f"| {row['rule']} | {_size(row['n'])} | {name} | {t.ms()} | {moved / t.median / 1e9:.1f} | {ratio} |"
            )
        for name, why in row["unavailable"].items():
            lines.append(f"| {row['rule']} | {_size(row['n'])} | {name} | not available: {why} | | |")
        if row["torch_missing"]:
            lines.append(f"| {row['rule']} | {_size(row['n'])} | torch.optim | {row['torch_missing']} | | |")
        lines.append(
            f"| {row['rule']} | {_size(row['n'])} | traffic bound (update; update + check) | "
            f"{row['bound_update_s'] * 1e3:.2f}; {row['bound_step_s'] * 1e3:.2f} | | |"
        )
    return "\n".join(lines)


def goals_table(rows: list[dict]) -> str:
    lines = [
        "| rule | parameters | best torch.optim path | torch best ÷ descentlab (goal ≥ 1.0) | "
        "torch best ÷ (descentlab − check alone) | descentlab ÷ bound, update + check (goal ≤ 1.2) | "
        "descentlab ÷ bound, update only | same contract: (torch + aminmax check) ÷ descentlab |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        timings = row["timings"]
        dl_median = timings["descentlab"].median
        update_only = dl_median - timings["non-finite check alone"].median
        best = row["best_torch"]
        checked = [t.median for name, t in timings.items() if name.endswith(CHECKED)]
        same_contract = f"{checked[0] / dl_median:.2f}" if checked else "—"
        if best is None:
            vs_torch = vs_torch_update = "torch missing"
        else:
            vs_torch = f"{timings[best].median / dl_median:.2f}"
            vs_torch_update = f"{timings[best].median / update_only:.2f}"
        lines.append(
            f"| {row['rule']} | {_size(row['n'])} | {best or '—'} | {vs_torch} | {vs_torch_update} | "
            f"{dl_median / row['bound_step_s']:.2f} | {dl_median / row['bound_update_s']:.2f} | {same_contract} |"
        )
    return "\n".join(lines)


def twin_benchmark(n: int, rounds: int) -> str:
    """Two identical descentlab Adam steps (each its own arrays and optimizer), timed together with torch's
    fused step: how far apart two candidates that should tie come out, the noise floor of the ratios here."""
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(n).astype(np.float32)
    grad = (1e-2 * rng.standard_normal(n)).astype(np.float32)
    candidates = []
    for twin in ("A", "B"):
        opt, own_theta = RULES[0].make(), theta.copy()
        opt.step(own_theta, grad)
        candidates.append(Candidate(f"descentlab, twin {twin}", lambda o=opt, t=own_theta: o.step(t, grad)))
    torch_steps, _, missing = _torch_variants(RULES[0], theta, grad)
    candidates += [Candidate(name, step) for name, step, _ in torch_steps if name == "torch fused" and step]
    t = interleaved(candidates, rounds)
    a, b = t["descentlab, twin A"], t["descentlab, twin B"]
    lines = [
        f"Adam, {_size(n)} float32, {rounds} rounds",
        "",
        "| implementation | min / median / max ms |",
        "|---|---|",
        *(f"| {k} | {v.ms()} |" for k, v in t.items()),
        "",
        f"Twin B ÷ twin A: {b.median / a.median:.3f} (ratio of medians), {paired_ratio(b, a):.3f} (paired).",
    ]
    if "torch fused" in t:
        fused = t["torch fused"]
        lines.append(
            f"torch fused ÷ twin A: {fused.median / a.median:.3f}; ÷ twin B: {fused.median / b.median:.3f} "
            "(ratios of medians)."
        )
    else:
        lines.append(f"torch fused: {missing or 'not available'}.")
    return "\n".join(lines)


def _size(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"


# numba's first dispatch in a process pays a one-time start-up (its compiler's registries, 0.3–0.5 s here) whatever
# the function; untimed, it would land on whichever kernel comes first. So the script dispatches a small cached
# function first, the non-finite check that a step of 4096+ elements calls anyway, and reports that on its own.
_COMPILE_SCRIPT = """
import json, sys, time
t0 = time.perf_counter(); import numba; t_numba = time.perf_counter() - t0
import numpy as np, descentlab as dl
from descentlab.optim import _backend, _kernels
t0 = time.perf_counter(); _kernels.nonfinite_probe(np.ones(1, np.float32)); t_start = time.perf_counter() - t0
out = {"numba_import_s": t_numba, "numba_start_s": t_start}
for name in sys.argv[1].split(","):
    for n in (1000, 2 * _backend.PARALLEL_MIN_SIZE):
        theta = np.ones(n, np.float32); grad = np.full(n, 1e-3, np.float32)
        opt = dl.optim.make_optimizer(name)
        t0 = time.perf_counter(); opt.step(theta, grad); first = time.perf_counter() - t0
        t0 = time.perf_counter(); opt.step(theta, grad); second = time.perf_counter() - t0
        out[f"{name} {_backend.backend_used()}"] = [first, second]
print(json.dumps(out))
"""


def compile_benchmark(names: list[str]) -> str:
    """First call in a fresh kernel directory (compile and store) and in a second process (load)."""
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "DESCENTLAB_KERNEL_DIR": directory}
        env.pop("DESCENTLAB_PORTABLE", None)
        runs = []
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", _COMPILE_SCRIPT, ",".join(names)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(done.stdout))
    start_first, start_second = (run["numba_start_s"] * 1e3 for run in runs)
    lines = [
        f"numba import: {runs[0]['numba_import_s'] * 1e3:.0f} ms (paid once per process, on the first large step)",
        "",
        f"numba start-up: {start_first:.0f} ms in the first process, {start_second:.0f} ms in the second (the "
        "first dispatch of any jitted function in a process pays it once; it is timed on a small cached kernel, "
        "descentlab's non-finite check, before the kernels below, so that none of their rows carries it)",
        "",
        "| optimizer, kernel | first call, empty cache (compile + store) ms | first call, second process "
        "(load from disk) ms | second call ms |",
        "|---|---|---|---|",
    ]
    for key, value in runs[0].items():
        if key in ("numba_import_s", "numba_start_s"):
            continue
        first, second = value
        lines.append(f"| {key} | {first * 1e3:.0f} | {runs[1][key][0] * 1e3:.1f} | {second * 1e3:.3f} |")
    return "\n".join(lines)


def crossover_benchmark(sizes: list[int], rounds: int) -> str:
    """Adam float32 on the portable path, the kernel on one thread and split across threads, by size."""
    lines = [
        "| elements | portable µs | kernel, one thread µs | kernel split across threads µs | path chosen |",
        "|---|---|---|---|---|",
    ]
    lines += [_crossover_row(n, rounds) for n in sizes]
    return "\n".join(lines)


def _crossover_row(n: int, rounds: int) -> str:
    theta = np.ones(n, np.float32)
    grad = np.full(n, 1e-3, np.float32)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    hyper = dl.optim.Adam()
    hyper.state = dl.optim.OptimizerState(step=1)
    h = hyper._hyper()
    module = _kernels.kernels_for(adam_rule, [True, True, False], "float32")
    scalars = (*(x if isinstance(x, bool) else np.float32(x) for x in h), np.finfo(np.float32).tiny)
    t = interleaved(
        [
            Candidate("portable", lambda: _backend._apply_chunked(adam_rule, theta, grad, [m, v, None], h)),
            Candidate("serial", lambda: module.kernel(theta, grad, m, v, *scalars)),
            Candidate("parallel", lambda: _backend._run_split(module.kernel, [theta, grad, m, v], scalars)),
        ],
        rounds,
    )
    _backend.apply_rule(adam_rule, theta, grad, [m, v, None], h)
    return (
        f"| {n:,} | {t['portable'].median * 1e6:.1f} | {t['serial'].median * 1e6:.1f} | "
        f"{t['parallel'].median * 1e6:.1f} | {_backend.backend_used()} |"
    )


def interplay_benchmark(rounds: int, batch: int = 128) -> str:
    """A training step's shape: the GEMMs of a 784-256-128-10 MLP, then an Adam step over its 235k
    parameters, the step on one thread or split across the pool (BLAS threads still spinning)."""
    rng = np.random.default_rng(0)
    sizes = [(784, 256), (256, 128), (128, 10)]
    weights = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    n = sum(a * b + b for a, b in sizes)
    theta = rng.standard_normal(n).astype(np.float32)
    grad = (1e-2 * rng.standard_normal(n)).astype(np.float32)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    hyper = dl.optim.Adam()
    hyper.state = dl.optim.OptimizerState(step=1)
    h32 = tuple(x if isinstance(x, bool) else np.float32(x) for x in hyper._hyper())
    tiny = np.finfo(np.float32).tiny
    module = _kernels.kernels_for(adam_rule, [True, True, False], "float32")

    def one_thread():
        module.kernel(theta, grad, m, v, *h32, tiny)

    def split():
        _backend._run_split(module.kernel, [theta, grad, m, v], (*h32, tiny))

    def gemms():
        a = x
        for w in weights:  # forward, and the two backward GEMMs per layer, at the same sizes
            b = a @ w
            _ = a.T @ b
            _ = b @ w.T
            a = b

    t = interleaved(
        [
            Candidate("GEMMs alone", gemms),
            Candidate("one-thread step alone", one_thread),
            Candidate("split step alone", split),
            Candidate("GEMMs + one-thread step", lambda: (gemms(), one_thread())),
            Candidate("GEMMs + split step", lambda: (gemms(), split())),
        ],
        rounds,
    )
    lines = [f"{n:,} parameters, batch {batch}", "", "| phase | min / median / max ms |", "|---|---|"]
    lines += [f"| {k} | {v.ms()} |" for k, v in t.items()]
    return "\n".join(lines)


def denormal_benchmark(rounds: int, n: int = 235_146) -> str:
    """Adam steps from a state whose m and v lie in the subnormal range, against a normal state.

    Each call starts from the stored state again (an untimed copy) at step 10 000, where the bias
    corrections are ≈ 1 and m̂, v̂ stay subnormal too, with zero gradients — a dead unit late in training.
    """
    tiny = np.finfo(np.float32).tiny
    states = {
        "normal": (np.full(n, 1e-3, np.float32), np.full(n, 1e-6, np.float32)),
        "subnormal": (np.full(n, tiny / 8, np.float32), np.full(n, tiny / 2, np.float32)),
    }
    theta = np.ones(n, np.float32)
    zero = np.zeros(n, np.float32)
    candidates = []
    for label, (m0, v0) in states.items():
        for path in ("fast", "portable"):
            opt = dl.optim.Adam()
            opt.step(theta, zero)

            def setup(o=opt, m0=m0, v0=v0):
                o.state.arrays["m"][...] = m0
                o.state.arrays["v"][...] = v0
                o.state.step = LATE_STEP

            call = (
                (lambda o=opt: o.step(theta, zero))
                if path == "fast"
                else (lambda o=opt: _portable_step(o, theta, zero))
            )
            candidates.append(Candidate(f"descentlab {path}, {label} state", call, setup))
        try:
            import torch

            param = torch.nn.Parameter(torch.from_numpy(theta.copy()))
            param.grad = torch.zeros(n)
            topt = torch.optim.Adam([param], fused=True)
            topt.step()

            def tsetup(o=topt, p=param, m0=m0, v0=v0):
                o.state[p]["exp_avg"].copy_(torch.from_numpy(m0))
                o.state[p]["exp_avg_sq"].copy_(torch.from_numpy(v0))
                o.state[p]["step"].fill_(LATE_STEP)

            candidates.append(Candidate(f"torch fused, {label} state", topt.step, tsetup))
        except ImportError:
            pass
    t = interleaved(candidates, rounds)
    lines = [
        f"{n:,} float32 parameters, zero gradient, step {LATE_STEP:,}",
        "",
        "| implementation | min / median / max ms |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v.ms()} |" for k, v in t.items()]
    return "\n".join(lines)
