"""Joining a cluster, the Ray executor ships descentlab to the workers (runtime_env py_modules).

A local Ray instance started with that runtime_env stands in for a cluster whose nodes lack descentlab:
the workers must import the shipped copy, and the sweep must give the local executor's results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import descentlab
from descentlab.experiments import LocalExecutor, RayExecutor, Store, parse_spec, run_sweep
from descentlab.experiments.executors import package_runtime_env

ray = pytest.importorskip("ray")

SPEC = """\
name = "shipped"
seeds = [0, 1]

[problems.rosen]
surface = "rosenbrock"
steps = 60

[optimizers.adam]
space = { lr = [1e-2, 1e-1] }
"""


def test_package_runtime_env_names_this_package():
    (folder,) = package_runtime_env()["py_modules"]
    assert Path(folder) == Path(descentlab.__file__).resolve().parent
    assert (Path(folder) / "experiments" / "executors.py").is_file()


def _comparable(run: dict) -> dict:
    drop = {"seconds", "seconds_to_target", "finished", "executor", "environment"}
    return {k: v for k, v in run.items() if k not in drop}


def test_workers_import_the_shipped_package_and_give_the_local_results(tmp_path):
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    spec = parse_spec(SPEC)
    executor = RayExecutor(num_cpus=2, runtime_env=package_runtime_env())
    try:
        where = ray.get(ray.remote(lambda: __import__("descentlab").__file__).remote())
        assert "runtime_resources" in where, f"the worker imported descentlab from {where}, not the shipped copy"
        with Store(tmp_path / "ray.sqlite") as store:
            run_sweep(spec, store, executor)
            by_ray = [_comparable(r) for r in store.runs("shipped")]
    finally:
        executor.close()
    assert not ray.is_initialized()
    with Store(tmp_path / "local.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        by_local = [_comparable(r) for r in store.runs("shipped")]
    assert by_ray == by_local and len(by_ray) == 4
