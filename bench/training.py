"""One training epoch of a 784-256-128-10 ReLU MLP, softmax cross-entropy, Adam (lr 1e-3), on 60 000
MNIST-shaped random samples: descentlab against a plain PyTorch CPU loop and scikit-learn's MLPClassifier.

Throughput is samples per second (median over interleaved rounds), also as a fraction of the GEMM bound
(≈ 6 × weights × samples FLOPs at the GEMM rate measured in this run) and of a loop that does nothing but
the 8 GEMMs of each batch in NumPy. A profile of descentlab's loop shows where its time goes.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

import descentlab as dl
from timing import Candidate, interleaved, paired_ratio

SIZES = (784, 256, 128, 10)
WEIGHTS = sum(a * b for a, b in itertools.pairwise(SIZES))
PARAMETERS = WEIGHTS + sum(SIZES[1:])


def data(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((samples, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], samples)
    return X, y


def descentlab_fit(X, y, batch):
    """``descentlab.fit`` when the training module is present, else ``None`` (reported as missing)."""
    try:
        from descentlab.train import fit
    except ImportError:
        return None
    net = dl.nn.mlp(list(SIZES), activation="relu", output="softmax", seed=0)
    opt = dl.optim.Adam(lr=1e-3)
    return lambda: fit(net, X, y, loss="ce", optimizer=opt, epochs=1, batch_size=batch, seed=0, progress=False)


def descentlab_loop(X, y, batch, phases: dict[str, float] | None = None):
    """A plain loop over the network API: shuffle, gather the batch, loss_and_grad, opt.step."""
    net = dl.nn.mlp(list(SIZES), activation="relu", output="softmax", seed=0)
    opt = dl.optim.Adam(lr=1e-3)
    rng = np.random.default_rng(0)
    xb = np.empty((batch, SIZES[0]), np.float32)

    def epoch():
        order = rng.permutation(len(X))
        for start in range(0, len(X) - batch + 1, batch):
            t0 = time.perf_counter()
            index = order[start : start + batch]
            np.take(X, index, axis=0, out=xb)
            yb = y[index]
            t1 = time.perf_counter()
            net.loss_and_grad(xb, yb, loss="ce")
            t2 = time.perf_counter()
            opt.step(net.params, net.grads)
            t3 = time.perf_counter()
            if phases is not None:
                phases["batch gather"] += t1 - t0
                phases["forward + backward (loss_and_grad)"] += t2 - t1
                phases["optimizer step (check + update)"] += t3 - t2

    return epoch


def gemms_alone(X, batch):
    """Only the 8 GEMMs of a batch (3 forward; dW for 3 layers and dX for the upper 2), in NumPy."""
    rng = np.random.default_rng(0)
    W = [rng.standard_normal((a, b)).astype(np.float32) * 0.05 for a, b in itertools.pairwise(SIZES)]
    n = len(X) // batch * batch

    def epoch():
        for start in range(0, n, batch):
            a0 = X[start : start + batch]
            a1 = a0 @ W[0]
            a2 = a1 @ W[1]
            z = a2 @ W[2]
            _ = a2.T @ z
            d2 = z @ W[2].T
            _ = a1.T @ d2
            d1 = d2 @ W[1].T
            _ = a0.T @ d1

    return epoch


def torch_loop(X, y, batch, fused: bool):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layers = []
    for a, b in itertools.pairwise(SIZES):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    loss_fn = torch.nn.CrossEntropyLoss()
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(tX), generator=generator)
        for start in range(0, len(tX) - batch + 1, batch):
            index = order[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(tX[index]), ty[index])
            loss.backward()
            opt.step()

    return epoch


def sklearn_epoch(X, y, batch):
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    classes = np.arange(SIZES[-1])

    def epoch():
        clf = MLPClassifier(
            hidden_layer_sizes=SIZES[1:-1], solver="adam", learning_rate_init=1e-3, batch_size=batch, random_state=0
        )
        clf.partial_fit(X, y, classes=classes)  # one pass over the data: one epoch

    return epoch


def report(cfg: dict, bounds) -> str:
    samples = cfg["train_samples"]
    X, y = data(samples)
    gemm_bound = bounds.gemm_gflops * 1e9 / (6 * WEIGHTS)
    lines = [
        f"{samples:,} samples, {PARAMETERS:,} parameters ({WEIGHTS:,} weights); samples/s are medians of "
        f"interleaved epochs. The last column is the median over rounds of each round's own ratio (robust to "
        f"the machine changing speed between rounds). GEMM bound = {bounds.gemm_gflops:.0f} GFLOP/s ÷ "
        f"(6 × {WEIGHTS:,}) = {gemm_bound:,.0f} samples/s. sklearn includes building its model each epoch "
        "(partial_fit on a fresh MLPClassifier).",
        "",
        "| batch | implementation | samples/s (min / median / max) | ÷ GEMM bound | ÷ 8-GEMM loop | vs descentlab "
        "(ratio of medians) | vs descentlab (paired per round, median) |",
        "|---|---|---|---|---|---|---|",
    ]
    profiles = []
    for batch in cfg["train_batches"]:
        makers = {
            "descentlab.fit": descentlab_fit(X, y, batch),
            "descentlab nn loop (hand-written)": descentlab_loop(X, y, batch),
            "PyTorch, Adam (default: foreach)": torch_loop(X, y, batch, fused=False),
            "PyTorch, fused Adam": torch_loop(X, y, batch, fused=True),
            "scikit-learn MLPClassifier": sklearn_epoch(X, y, batch),
            "8 GEMMs alone (NumPy)": gemms_alone(X, batch),
        }
        missing = [name for name, epoch in makers.items() if epoch is None]
        candidates = [Candidate(name, epoch) for name, epoch in makers.items() if epoch is not None]
        timings = interleaved(candidates, rounds=cfg["train_rounds"], warmup=1)
        gemm_rate = samples / timings["8 GEMMs alone (NumPy)"].median
        reference = timings.get("descentlab.fit") or timings["descentlab nn loop (hand-written)"]
        for name, t in timings.items():
            rate = samples / t.median
            lines.append(
                f"| {batch} | {name} | {samples / t.max:,.0f} / {rate:,.0f} / {samples / t.min:,.0f} | "
                f"{rate / gemm_bound:.2f} | {rate / gemm_rate:.2f} | {reference.median / t.median:.2f}× | "
                f"{paired_ratio(reference, t):.2f}× |"
            )
        lines += [f"| {batch} | {name} | missing (not installed / not in this checkout) | | | | |" for name in missing]
        profiles.append(profile(X, y, batch))
        fit_epoch = makers["descentlab.fit"]
        if fit_epoch is not None:
            profiles.append(profile_calls(fit_epoch, f"descentlab.fit, batch {batch}"))
    return "\n".join([*lines, "", "Where descentlab's time goes in an epoch:", "", *profiles])


def profile_calls(epoch, title: str, top: int = 12) -> str:
    """cProfile of one epoch: the functions with the most time of their own (GEMMs show as matmul)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    epoch()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines = [f"{title}: profile (cProfile, own time; total {total * 1e3:.0f} ms)", ""]
    lines += ["| function | calls | own ms | share |", "|---|---|---|---|"]
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = f"{Path(filename).name}:{line} {name}" if line else name
        lines.append(f"| `{where}` | {calls:,} | {own * 1e3:.0f} | {own / total:.0%} |")
    return "\n".join(lines) + "\n"


def profile(X, y, batch) -> str:
    """Phases of the plain loop, timed in one epoch, then the 8 GEMMs alone right after it."""
    phases: dict[str, float] = defaultdict(float)
    epoch = descentlab_loop(X, y, batch, phases)
    epoch()
    phases.clear()
    start = time.perf_counter()
    epoch()
    total = time.perf_counter() - start
    gemm_epoch = gemms_alone(X, batch)
    start = time.perf_counter()
    gemm_epoch()
    gemm_seconds = time.perf_counter() - start
    lines = [f"batch {batch}: epoch {total * 1e3:.0f} ms", "", "| phase | ms | share |", "|---|---|---|"]
    for name, seconds in phases.items():
        lines.append(f"| {name} | {seconds * 1e3:.0f} | {seconds / total:.0%} |")
    rest = phases["forward + backward (loss_and_grad)"] - gemm_seconds
    gemm_share = gemm_seconds / total
    lines.append(f"| … of which the 8 GEMMs (timed alone, next) | {gemm_seconds * 1e3:.0f} | {gemm_share:.0%} |")
    lines.append(f"| … of which elementwise work and Python in nn | {rest * 1e3:.0f} | {rest / total:.0%} |")
    other = total - sum(phases.values())
    lines.append(f"| loop overhead (shuffle, Python) | {other * 1e3:.0f} | {other / total:.0%} |")
    return "\n".join(lines) + "\n"
