"""The Ray executor, against a local Ray instance (2 CPUs, no dashboard): the same results as local runs.

Joining a cluster, the executor ships descentlab to the workers (runtime_env py_modules); a local instance
started with that runtime_env stands in for a cluster whose nodes lack descentlab.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import descentlab
from descentlab.experiments import LocalExecutor, RayExecutor, Store, make_executor, parse_spec, run_sweep
from descentlab.experiments.executors import package_runtime_env

ray = pytest.importorskip("ray")

SPEC = """\
name = "ray"
seeds = [0, 1]

[problems.rosen]
surface = "rosenbrock"
steps = 80
start_noise = 0.05
target = { loss = 5.0 }

[optimizers.gd]
space = { lr = [1e-4, 1e-3] }

[optimizers.adam]
search = "random"
trials = 2
space = { lr = { log_uniform = [1e-3, 1e-1] } }
"""


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def comparable(run: dict) -> dict:
    drop = {"seconds", "seconds_to_target", "finished", "executor", "environment"}
    return {k: v for k, v in run.items() if k not in drop}


def test_ray_gives_the_results_of_the_local_executor(tmp_path, local_ray):
    spec = parse_spec(SPEC)
    with Store(tmp_path / "ray.sqlite") as store:
        executor = make_executor("ray")
        assert isinstance(executor, RayExecutor)
        outcome = run_sweep(spec, store, executor)
        executor.close()
        assert ray.is_initialized(), "an executor leaves a Ray instance it did not start running"
        assert (outcome.ran, outcome.failed) == (len(spec.tasks()), 0)
        on_ray = store.runs("ray")
        assert {r["executor"] for r in on_ray} == {"ray"}
        assert run_sweep(spec, store, make_executor("ray")).ran == 0, "the store resumes across executors"
    with Store(tmp_path / "local.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        local = store.runs("ray")
    assert [comparable(r) for r in on_ray] == [comparable(r) for r in local]


def test_package_runtime_env_names_this_package():
    (folder,) = package_runtime_env()["py_modules"]
    assert Path(folder) == Path(descentlab.__file__).resolve().parent
    assert (Path(folder) / "experiments" / "executors.py").is_file()


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
            on_ray = store.runs("ray")
    finally:
        executor.close()
    assert not ray.is_initialized()
    with Store(tmp_path / "local.sqlite") as store:
        run_sweep(spec, store, LocalExecutor(1))
        local = store.runs("ray")
    assert [comparable(r) for r in on_ray] == [comparable(r) for r in local]
    assert len(on_ray) == len(spec.tasks())
