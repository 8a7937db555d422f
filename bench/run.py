"""Run the benchmark suite and write the report (``make bench`` → BENCHMARKS.md).

Every benchmark runs descentlab and its peers in this one process, interleaved round by round after
warm-up, and reports min / median / max and ratios of medians. The hardware bounds (copy and triad
bandwidth, GEMM rate) are measured in the same run. Peers that are not installed are reported as missing.

    .venv/bin/python bench/run.py --out BENCHMARKS.md
    .venv/bin/python bench/run.py --quick --out /tmp/bench.md     # small sizes: a smoke test, not figures
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import time
from pathlib import Path

import hardware
import optimizer_step
import races
import training

SECTIONS_FULL = {
    "step_sizes": [1_000_000, 10_000_000, 50_000_000],
    "step_rounds": 9,
    "portable_up_to": 50_000_000,
    "crossover_sizes": [2, 16, 64, 256, 1024, 4096, 16384, 65536, 131072, 262144, 1_048_576],
    "rounds": 25,
    "bound_n": 50_000_000,
    "gemm_n": 2048,
    "train_samples": 60_000,
    "train_batches": [32, 128, 1024],
    "train_rounds": 2,
    "race_steps": 1000,
    "race_starts": 1000,
    "compile_rules": ["adam", "rmsprop", "momentum", "adagrad"],
}
SECTIONS_QUICK = {
    "step_sizes": [20_000, 300_000],
    "step_rounds": 3,
    "portable_up_to": 300_000,
    "crossover_sizes": [2, 1024, 262144],
    "rounds": 3,
    "bound_n": 1_000_000,
    "gemm_n": 256,
    "train_samples": 2048,
    "train_batches": [128],
    "train_rounds": 1,
    "race_steps": 50,
    "race_starts": 20,
    "compile_rules": ["adam"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"), help="the Markdown report to write")
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds: a smoke test")
    args = parser.parse_args(argv)
    cfg = SECTIONS_QUICK if args.quick else SECTIONS_FULL
    started = time.perf_counter()
    parts = []

    def section(title: str, body: str) -> None:
        parts.append(f"## {title}\n\n{body}\n")
        print(f"[{time.perf_counter() - started:6.1f} s] {title}", file=sys.stderr, flush=True)

    bounds = hardware.measure_bounds(cfg["bound_n"], cfg["gemm_n"], cfg["rounds"])
    torch_gemm = "torch missing" if bounds.torch_gemm_gflops is None else f"{bounds.torch_gemm_gflops:.0f} GFLOP/s"
    section(
        "Hardware bounds (measured in this run)",
        "\n".join(
            [
                "| bound | value |",
                "|---|---|",
                f"| NumPy copy, {cfg['bound_n'] / 1e6:g}M float32 (read + write) | {bounds.copy_gbs:.1f} GB/s |",
                f"| numba triad a = b + s·c split across threads (12 B/element) | {bounds.triad_gbs:.1f} GB/s |",
                f"| bandwidth used for the traffic bounds (the larger) | {bounds.bandwidth_gbs:.1f} GB/s |",
                f"| NumPy float32 GEMM {cfg['gemm_n']}³ | {bounds.gemm_gflops:.0f} GFLOP/s |",
                f"| PyTorch float32 GEMM {cfg['gemm_n']}³ | {torch_gemm} |",
            ]
        ),
    )

    rows = optimizer_step.step_benchmark(
        cfg["step_sizes"], cfg["step_rounds"], bounds.bandwidth_gbs, cfg["portable_up_to"]
    )
    section(
        "Optimizer step: goals",
        "Ratios of medians. `descentlab` is `opt.step(theta, grad)`: the NaN/Inf check of the gradient "
        "(one read of g, part of the contract) plus the fused update. The bound is the bytes the step must "
        "move (float32: read θ, g and the states, write θ and the states; + 4 B for the check) divided by "
        "the bandwidth measured above.\n\n" + optimizer_step.goals_table(rows),
    )
    section(
        "Optimizer step: every implementation",
        "float32, one flat array; min / median / max over interleaved rounds. GB/s counts the bytes each "
        "implementation must move (torch: the update only; it does not check for NaN/Inf).\n\n"
        + optimizer_step.step_table(rows),
    )
    section(
        "Compile time and the on-disk kernel cache",
        "Each optimizer's first step in a fresh process with an empty kernel directory (numba compiles the "
        "kernel and stores it), then in a second process (loaded from disk). The kernels are generated per "
        "rule, set of used state arrays and dtype; arrays from "
        f"{optimizer_step._backend.PARALLEL_MIN_SIZE:,} elements up are split across threads.\n\n"
        + optimizer_step.compile_benchmark(cfg["compile_rules"]),
    )
    section(
        "Crossover: which path for which size (Adam, float32, update only)",
        "Medians. The backend takes the portable path below "
        f"{optimizer_step._backend.FAST_MIN_SIZE} elements, the kernel on one thread up to "
        f"{optimizer_step._backend.PARALLEL_MIN_SIZE:,}, split across threads above.\n\n"
        + optimizer_step.crossover_benchmark(cfg["crossover_sizes"], cfg["rounds"]),
    )
    section(
        "Thread pools meeting: GEMMs then a step",
        "OpenBLAS threads keep spinning for a while after a GEMM; a step split across threads that starts "
        "right after competes with them for the cores.\n\n" + optimizer_step.interplay_benchmark(cfg["rounds"]),
    )
    section(
        "Subnormal state (the denormal trap)",
        "The fast path stores state values below the smallest normal float as 0, so only its first step "
        "from such a state touches subnormals; the portable path and torch keep gradual underflow.\n\n"
        + optimizer_step.denormal_benchmark(cfg["rounds"]),
    )
    section("Training: one epoch of a 784-256-128-10 MLP", training.report(cfg, bounds))
    section("Races on Rosenbrock", races.report(cfg))

    head = [
        "# descentlab benchmarks",
        "",
        f"Generated by `bench/run.py{' --quick' if args.quick else ''}` on "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M UTC} in {time.perf_counter() - started:.0f} s. "
        "The machine is shared: rerun `make bench` on a quiet machine before quoting a figure.",
        "",
        f"CPU: {hardware.cpu_model()}",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in hardware.versions().items()),
        "",
        "Threads: " + "; ".join(hardware.thread_report()),
        "",
    ]
    args.out.write_text("\n".join(head) + "\n" + "\n".join(parts))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
