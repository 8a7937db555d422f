"""The three regimes of gradient descent as one function of the data feed: :func:`batches`.

Gradient descent, stochastic gradient descent and mini-batch gradient descent are the same update rule
θ ← θ − α ĝ; they differ only in how many samples the gradient estimate ĝ averages over:

- ``batch_size=None``: **batch (full) gradient descent**, ĝ = ∇J(θ) over all n samples; one step per epoch,
  no noise in ĝ (and no shuffling needed: the single batch is every index in order).
- ``batch_size=1``: **stochastic gradient descent**, ĝ from one sample; n noisy steps per epoch.
- ``batch_size=k``: **mini-batch gradient descent**, ĝ averages k samples; ⌈n/k⌉ steps per epoch. The
  variance of ĝ shrinks like 1/k while the cost of a step grows like k.

Each epoch the indices 0…n−1 are shuffled (``shuffle=True``) and cut into consecutive batches of
``batch_size``. When k does not divide n the last batch is smaller (n mod k samples): it is kept by default
so every sample is seen once per epoch; ``drop_last=True`` drops it so every step averages exactly k samples.
A ``batch_size`` above n is capped at n (as scikit-learn's ``MLPClassifier`` does): one batch of all n samples,
which ``drop_last`` keeps, since it is full.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from descentlab.data._validation import Seed, check_count, check_flag, rng_from


def check_batch_size(batch_size: int | None, n: int, *, owner: str) -> int:
    """The effective batch size: ``None`` → n (full batch); otherwise an integer ≥ 1, capped at n."""
    if batch_size is None:
        return n
    batch_size = check_count("batch_size", batch_size, owner=owner)
    return min(batch_size, n)


def batch_count(n: int, batch_size: int | None, drop_last: bool = False) -> int:
    """Steps per epoch: 1 for full batch, ⌈n/k⌉ (⌊n/k⌋ with ``drop_last``) for batches of k."""
    n = check_count("n", n, owner="batch_count")
    k = check_batch_size(batch_size, n, owner="batch_count")
    drop_last = check_flag("drop_last", drop_last, owner="batch_count")
    return n // k if drop_last else -(-n // k)


def batches(
    n: int,
    batch_size: int | None = 32,
    seed: Seed = 0,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """One epoch of index arrays (intp) over ``n`` samples: full batch, stochastic or mini-batch.

    ``seed`` is an integer (the same seed gives the same order) or a ``np.random.Generator`` (consumed, so
    successive epochs drawn from one generator differ). The yielded arrays are views of one permutation:
    use them right away (``X[index]`` or ``np.take(X, index, axis=0, out=buffer)``), do not keep them.
    The arguments are checked at the call; the permutation is drawn when the iteration starts.

        for index in dl.data.batches(len(X), batch_size=32, seed=epoch_seed):
            loss = net.loss_and_grad(X[index], y[index], loss="ce")
    """
    owner = "batches"
    n = check_count("n", n, owner=owner)
    k = check_batch_size(batch_size, n, owner=owner)
    rng = rng_from(seed, owner=owner)
    shuffle = check_flag("shuffle", shuffle, owner=owner) and batch_size is not None
    stop = n - n % k if check_flag("drop_last", drop_last, owner=owner) else n
    return _iterate(n, k, stop, rng if shuffle else None)


def _iterate(n: int, k: int, stop: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Batches of ``k`` consecutive indices of one order (shuffled by ``rng``, or 0…n−1), up to ``stop``."""
    order = np.arange(n, dtype=np.intp) if rng is None else rng.permutation(n).astype(np.intp, copy=False)
    for start in range(0, stop, k):
        yield order[start : start + k]
