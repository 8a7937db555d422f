"""Interleaved timing: every candidate of a benchmark runs in the same process, round after round.

Each round calls every candidate once, in an order shuffled afresh each round (a seeded generator, so a
run can be repeated), so that a slow moment of a shared machine lands on all candidates alike instead of on
whichever ran during it, and so that no candidate always runs right after the same other one. A rotating
order keeps each candidate's predecessor fixed, and the predecessor matters: with two identical descentlab
Adam steps and torch's fused step at 10M float32, rotated over 150 rounds, the step that always followed
torch's was 3–5% slower than its twin (paired medians, two runs); shuffled, the twins came within 0.5–1.6%.
Warm-up rounds (compilation, first-touch page faults, caches) are run first and discarded. A candidate may
have a ``setup`` that runs untimed before each call (to restore a state the call consumes).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the timed rounds; ``samples`` in round order."""

    min: float
    median: float
    max: float
    rounds: int
    samples: tuple[float, ...] = ()

    def ms(self) -> str:
        return f"{self.min * 1e3:.2f} / {self.median * 1e3:.2f} / {self.max * 1e3:.2f}"


def paired_ratio(numerator: Timing, denominator: Timing) -> float:
    """The median over rounds of numerator ÷ denominator, each pair timed in the same round.

    A ratio of medians compares the two candidates' typical times; when the machine's speed changes from
    one round to the next (a shared VM's slow phases last seconds to minutes), the paired ratio compares
    each candidate with the other as it ran within seconds of it, so a phase change moves both alike.
    """
    return statistics.median(a / b for a, b in zip(numerator.samples, denominator.samples, strict=True))


@dataclass(frozen=True)
class Candidate:
    name: str
    call: Callable[[], object]
    setup: Callable[[], object] | None = None


def interleaved(candidates: list[Candidate], rounds: int, warmup: int = 2, seed: int = 0) -> dict[str, Timing]:
    """Time each candidate ``rounds`` times, interleaved in a shuffled order, after ``warmup`` untimed rounds."""
    samples: dict[str, list[float]] = {c.name: [] for c in candidates}
    order = random.Random(seed)
    for r in range(warmup + rounds):
        if r == warmup:
            # Measured here: until the main thread has slept once, PyTorch's OpenMP worker shared its core
            # and a 0.1 ms fused Adam step took one scheduler tick (8 ms). A short sleep lets every pool's
            # threads settle on their own cores before timing starts.
            time.sleep(0.05)
        for c in order.sample(candidates, len(candidates)):
            if c.setup is not None:
                c.setup()
            start = time.perf_counter()
            c.call()
            elapsed = time.perf_counter() - start
            if r >= warmup:
                samples[c.name].append(elapsed)
    return {name: Timing(min(s), statistics.median(s), max(s), len(s), tuple(s)) for name, s in samples.items()}
