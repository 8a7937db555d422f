"""The benchmarks' interleaving (``bench/timing.py``): every candidate runs once per round, in an order that is
shuffled afresh each round and repeatable from its seed. No time is asserted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("descentlab_bench_timing", ROOT / "bench" / "timing.py")
timing = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = timing  # dataclasses look their module up there
_spec.loader.exec_module(timing)


def _orders(seed: int, rounds: int = 30, warmup: int = 2) -> list[tuple[str, ...]]:
    calls: list[str] = []
    names = ["a", "b", "c", "d"]
    candidates = [timing.Candidate(name, lambda name=name: calls.append(name)) for name in names]
    result = timing.interleaved(candidates, rounds, warmup=warmup, seed=seed)
    assert {name: t.rounds for name, t in result.items()} == dict.fromkeys(names, rounds)
    per_round = [tuple(calls[i : i + len(names)]) for i in range(0, len(calls), len(names))]
    assert len(per_round) == warmup + rounds and all(sorted(order) == names for order in per_round)
    return per_round


def test_each_round_runs_every_candidate_once_in_a_shuffled_order():
    orders = _orders(seed=0)
    # A rotation would give at most 4 distinct orders, and "b" would follow "a" in 3 rounds of 4.
    assert len(set(orders)) > 8
    follows = sum(order.index("b") == order.index("a") + 1 for order in orders)
    assert follows < len(orders) / 2


def test_the_order_is_repeatable_from_the_seed():
    assert _orders(seed=3) == _orders(seed=3)
    assert _orders(seed=3) != _orders(seed=4)
