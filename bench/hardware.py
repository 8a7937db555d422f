"""The machine, the software, and the hardware bounds measured in the same run as the benchmarks."""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timing import Candidate, interleaved


@dataclass(frozen=True)
class Bounds:
    copy_gbs: float  # NumPy copy (one thread): bytes read + bytes written per second
    axpy_gbs: float  # numba in-place y += s·x, best of one thread and split: 12 bytes per float32 element
    gemm_gflops: float  # NumPy float32 GEMM (OpenBLAS), 2·n³ flops
    torch_gemm_gflops: float | None

    @property
    def bandwidth_gbs(self) -> float:
        """The best streaming rate measured: the bound an elementwise pass can hope for."""
        return max(self.copy_gbs, self.axpy_gbs)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("numpy", "numba", "torch", "sklearn", "threadpoolctl", "descentlab"):
        try:
            found[name] = importlib.import_module(name).__version__
        except ImportError:
            found[name] = "missing"
    return found


def source_commit(checkout: Path, report: Path) -> str:
    """The commit of the code measured: ``git rev-parse --short HEAD`` of ``checkout``, plus "+ local changes"
    when a tracked file differs from it (``report``, the file being written, aside; untracked files are not
    counted, as in ``git describe --dirty``); "unknown" outside a git checkout or without git."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    report = report.resolve()
    aside = [f":(exclude){report}"] if report.is_relative_to(checkout.resolve()) else []
    try:
        commit = git("rev-parse", "--short", "HEAD")
        changes = git("status", "--porcelain", "--untracked-files=no", "--", ".", *aside)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit} + local changes" if changes else commit


def thread_report() -> list[str]:
    """Thread counts of every pool in the process: BLAS (threadpoolctl), numba, PyTorch."""
    lines = [f"cores: {os.cpu_count()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"]
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"{pool['user_api']}: {pool['internal_api']} {pool.get('version')} ({pool.get('architecture', '')}), "
                f"{pool['num_threads']} threads, {os.path.basename(pool['filepath'])}"
            )
    except ImportError:
        lines.append("threadpoolctl missing: BLAS threads not reported")
    from descentlab.optim import _backend

    lines.append(f"descentlab step threads: {_backend.num_threads()} (its own pool; numba's OpenMP pool unused)")
    try:
        import torch

        lines.append(f"torch: {torch.get_num_threads()} intra-op threads")
    except ImportError:
        lines.append("torch: missing")
    return lines


def measure_bounds(n: int, gemm_n: int, rounds: int) -> Bounds:
    """Copy and in-place axpy bandwidth and GEMM rate, interleaved like every other benchmark."""
    import numba

    from descentlab.optim._backend import _run_split

    @numba.njit(nogil=True)
    def axpy(y, x, s):  # in place, as an optimizer step writes: no write-allocate traffic beyond the 12 B
        for i in range(y.size):
            y[i] = y[i] + s * x[i]

    rng = np.random.default_rng(0)
    src = rng.standard_normal(n).astype(np.float32)
    dst, other = src.copy(), rng.standard_normal(n).astype(np.float32)
    s = np.float32(1e-7)
    axpy(dst, other, s)
    a = rng.standard_normal((gemm_n, gemm_n)).astype(np.float32)
    b = rng.standard_normal((gemm_n, gemm_n)).astype(np.float32)
    out = np.empty_like(a)
    candidates = [
        Candidate("copy", lambda: np.copyto(dst, src)),
        Candidate("axpy one thread", lambda: axpy(dst, other, s)),
        Candidate("axpy split", lambda: _run_split(axpy, [dst, other], (s,))),
        Candidate("gemm", lambda: np.matmul(a, b, out=out)),
    ]
    torch_gemm = None
    try:
        import torch

        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out.copy())
        candidates.append(Candidate("torch_gemm", lambda: torch.matmul(ta, tb, out=tout)))
    except ImportError:
        pass
    # Bounds are what the machine can do, so they come from the fastest round (the medians of the other
    # benchmarks then include the noise of a shared machine that the bound does not: a conservative ratio).
    t = interleaved(candidates, rounds)
    flops = 2.0 * gemm_n**3
    if "torch_gemm" in t:
        torch_gemm = flops / t["torch_gemm"].min / 1e9
    return Bounds(
        copy_gbs=2 * src.nbytes / t["copy"].min / 1e9,
        axpy_gbs=3 * src.nbytes / min(t["axpy one thread"].min, t["axpy split"].min) / 1e9,
        gemm_gflops=flops / t["gemm"].min / 1e9,
        torch_gemm_gflops=torch_gemm,
    )
