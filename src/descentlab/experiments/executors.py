"""Executors: where the runs of a sweep execute — in this process, in local worker processes, or on Ray.

An executor takes a function and a list of tasks (plain JSON-compatible dicts) and yields the function's
results as they finish, in completion order. Every run is deterministic in its task (the configuration and
the seed), so the executor changes only *where* and *how fast* runs happen, never *what* they compute:
the same spec gives the same results in the same store whichever executor ran it.

- :class:`LocalExecutor` (the default): ``jobs`` worker processes on this machine's cores (``jobs=1``
  runs in this process, which is what a debugger wants).
- :class:`RayExecutor`: one Ray task per run on a Ray cluster (``pip install 'descentlab[ray]'``);
  connects to ``address`` (e.g. ``"auto"`` inside a cluster) or starts a local Ray instance. Joining a
  cluster, it ships this descentlab package to the workers (Ray's ``runtime_env`` ``py_modules``), so
  nodes need Python, NumPy and the extras the runs use, but not descentlab itself.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from descentlab._numbers import is_integer

Task = dict[str, Any]
Result = dict[str, Any]
EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """What the sweep runner needs from an executor."""

    name: str

    def map_unordered(self, fn: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        """Yield ``fn(task)`` for every task, in the order the runs finish."""
        ...

    def close(self) -> None:
        """Release workers (and a Ray instance this executor started)."""
        ...


class LocalExecutor:
    """Runs tasks in ``jobs`` local worker processes (``None``: one per CPU core; ``1``: in this process).

    Workers are started with the ``spawn`` method (no state inherited from the parent beyond the task),
    and at most ``2 * jobs`` tasks are queued at a time so that an interrupted sweep stops promptly.
    """

    name = "local"

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is None:
            jobs = os.cpu_count() or 1
        if not is_integer(jobs) or jobs < 1:
            raise ValueError(f"LocalExecutor: jobs={jobs!r} must be a positive integer (or None for all cores)")
        self.jobs = int(jobs)
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, fn: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        if self.jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                yield fn(task)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=min(self.jobs, len(tasks)), mp_context=multiprocessing.get_context("spawn")
            )
        queue = iter(tasks)
        running: set[Future[Result]] = set()
        try:
            for task in queue:
                running.add(self._pool.submit(fn, task))
                if len(running) >= 2 * self.jobs:
                    break
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    nxt = next(queue, None)
                    if nxt is not None:
                        running.add(self._pool.submit(fn, nxt))
                    yield future.result()
        finally:
            for future in running:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RayExecutor:
    """Runs each task as a Ray task (``num_cpus=1``); needs ``ray`` (``pip install 'descentlab[ray]'``).

    If Ray is already initialised (``ray.init`` called by the user) that cluster is used and left running;
    otherwise ``ray.init(address=address, num_cpus=num_cpus, include_dashboard=False)`` is called here and
    :meth:`close` shuts it down again. At most ``max_in_flight`` tasks are submitted at a time.

    ``runtime_env`` is passed to ``ray.init``; by default, when joining a cluster (``address`` given), it is
    :func:`package_runtime_env`, which ships this descentlab package to the workers.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        max_in_flight: int = 256,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        # Checked before Ray is imported or started: a bad value fails at once, whether or not Ray is installed.
        if num_cpus is not None and (not is_integer(num_cpus) or num_cpus < 1):
            raise ValueError(
                f"RayExecutor: num_cpus={num_cpus!r} must be a positive integer (--jobs), or None for all cores"
            )
        if not is_integer(max_in_flight) or max_in_flight < 1:
            raise ValueError(f"RayExecutor: max_in_flight={max_in_flight!r} must be a positive integer, e.g. 256")
        try:
            import ray
        except ImportError as exc:
            raise ImportError(
                "the Ray executor needs the 'ray' package, which is not installed; "
                "run `pip install 'descentlab[ray]'` (or `pip install ray`), or use --executor local"
            ) from exc
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is not None:
                options["address"] = address
            if num_cpus is not None and address is None:
                options["num_cpus"] = num_cpus
            if runtime_env is None and address is not None:
                runtime_env = package_runtime_env()
            if runtime_env is not None:
                options["runtime_env"] = runtime_env
            ray.init(**options)
        self.max_in_flight = max_in_flight

    def map_unordered(self, fn: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        ray = self._ray
        remote = ray.remote(num_cpus=1)(fn)
        queue = iter(tasks)
        running = [remote.remote(task) for task, _ in zip(queue, range(self.max_in_flight), strict=False)]
        try:
            while running:
                finished, running = ray.wait(running, num_returns=1)
                nxt = next(queue, None)
                if nxt is not None:
                    running.append(remote.remote(nxt))
                yield ray.get(finished[0])
        finally:
            for ref in running:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def package_runtime_env() -> dict[str, Any]:
    """A Ray ``runtime_env`` that puts this descentlab package (its source folder) on every worker's path."""
    return {"py_modules": [str(Path(__file__).resolve().parents[1])]}


def make_executor(name: str = "local", *, jobs: int | None = None, address: str | None = None) -> Executor:
    """Build an executor by name: ``"local"`` (``jobs`` processes) or ``"ray"`` (``address`` of a cluster).

    For Ray, ``jobs`` caps the CPUs of a local instance it starts (ignored when joining a cluster).
    """
    if name == "local":
        if address is not None:
            raise ValueError("address is a Ray option; the local executor runs on this machine")
        return LocalExecutor(jobs)
    if name == "ray":
        return RayExecutor(address, num_cpus=jobs)
    raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
