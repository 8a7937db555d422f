"""One training epoch of a 784-256-128-10 ReLU MLP, softmax cross-entropy, Adam (lr 1e-3), on 60 000
MNIST-shaped random samples: descentlab against a plain PyTorch CPU loop and scikit-learn's MLPClassifier.

Throughput is samples per second (median over interleaved rounds; every implementation trains on every
sample, the last partial batch included), also as a fraction of the GEMM bound (the FLOPs of the 8 GEMMs a
training step needs, :data:`FLOPS_PER_SAMPLE`, at the GEMM rate measured in this run) and of a loop that does
nothing but those 8 GEMMs in NumPy. A profile of descentlab's loop shows where its time goes.
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
LAYERS = tuple(itertools.pairwise(SIZES))  # (fan_in, fan_out) of each dense layer
WEIGHTS = sum(fan_in * fan_out for fan_in, fan_out in LAYERS)
UPPER_WEIGHTS = sum(fan_in * fan_out for fan_in, fan_out in LAYERS[1:])
PARAMETERS = WEIGHTS + sum(SIZES[1:])
# torch.optim.Adam's three implementations, each labelled by what runs. With neither option set, torch picks
# foreach or fused only for accelerator tensors: on CPU its default is the for-loop.
TORCH_ADAMS = {
    "PyTorch, Adam (default: for-loop on CPU)": {},
    "PyTorch, foreach Adam": {"foreach": True},
    "PyTorch, fused Adam": {"fused": True},
}


def gemm_shapes(rows: int) -> list[tuple[int, int, int]]:
    """(m, k, n) of the 8 GEMMs that train one batch of ``rows`` samples: the forward pass and dW for every
    layer, dX for every layer but the first (nothing needs the gradient with respect to the input data)."""
    forward = [(rows, fan_in, fan_out) for fan_in, fan_out in LAYERS]
    weight_grads = [(fan_in, rows, fan_out) for fan_in, fan_out in LAYERS]
    input_grads = [(rows, fan_out, fan_in) for fan_in, fan_out in LAYERS[1:]]
    return forward + weight_grads + input_grads


# 2 FLOPs per multiply-add: 2 × (2 × WEIGHTS + UPPER_WEIGHTS) per sample.
FLOPS_PER_SAMPLE = sum(2 * m * k * n for m, k, n in gemm_shapes(1))


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
        for start in range(0, len(X), batch):
            t0 = time.perf_counter()
            index = order[start : start + batch]
            rows = xb[: len(index)]  # the last batch may be partial, as in fit
            np.take(X, index, axis=0, out=rows)
            yb = y[index]
            t1 = time.perf_counter()
            net.loss_and_grad(rows, yb, loss="ce")
            t2 = time.perf_counter()
            opt.step(net.params, net.grads)
            t3 = time.perf_counter()
            if phases is not None:
                phases["batch gather"] += t1 - t0
                phases["forward + backward (loss_and_grad)"] += t2 - t1
                phases["optimizer step (check + update)"] += t3 - t2

    return epoch


def gemms_alone(X, batch):
    """Only the 8 GEMMs of each batch (:func:`gemm_shapes`), in NumPy, over every sample."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(shape).astype(np.float32) * 0.05 for shape in LAYERS]

    def epoch():
        for start in range(0, len(X), batch):
            activations = [X[start : start + batch]]
            for W in weights:
                activations.append(activations[-1] @ W)
            delta = activations[-1]
            for layer in reversed(range(len(weights))):
                _ = activations[layer].T @ delta  # dW
                if layer > 0:
                    delta = delta @ weights[layer].T  # dX

    return epoch


def torch_loop(X, y, batch, adam_options: dict):
    """A plain PyTorch CPU loop: shuffle, index the batch, zero_grad, forward, backward, ``Adam(**adam_options)``."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layers = []
    for a, b in itertools.pairwise(SIZES):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **adam_options)
    loss_fn = torch.nn.CrossEntropyLoss()
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(len(tX), generator=generator)
        for start in range(0, len(tX), batch):
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
    gemm_bound = bounds.gemm_gflops * 1e9 / FLOPS_PER_SAMPLE
    lines = [
        f"{samples:,} samples, {PARAMETERS:,} parameters (W = {WEIGHTS:,} weights); samples/s are medians of "
        "interleaved epochs, and every implementation trains on every sample (the last, partial batch "
        "included). The last column is the median over rounds of each round's own ratio (robust to the "
        "machine changing speed between rounds). GEMM bound = the GEMM rate ÷ the FLOPs of the 8 GEMMs a "
        "training step needs per sample: forward and dW for every layer (2W FLOPs each) and dX for every layer "
        f"but the first (2 × {UPPER_WEIGHTS:,}, the weights above the input layer), 2 × (2 × {WEIGHTS:,} + "
        f"{UPPER_WEIGHTS:,}) = {FLOPS_PER_SAMPLE:,}; {bounds.gemm_gflops:.0f} GFLOP/s ÷ {FLOPS_PER_SAMPLE:,} = "
        f"{gemm_bound:,.0f} samples/s. (The issue's rule of thumb, 6 × weights, also counts a dX for the input "
        f"layer that no trainer computes: it overcounts by {6 * WEIGHTS / FLOPS_PER_SAMPLE:.2f}×.) PyTorch's "
        "Adam rows are labelled by the implementation that runs (its CPU default is the for-loop). sklearn "
        "includes building its model each epoch (partial_fit on a fresh MLPClassifier).",
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
            **{label: torch_loop(X, y, batch, options) for label, options in TORCH_ADAMS.items()},
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
