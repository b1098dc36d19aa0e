"""The stage scheduler: dependency order, results passed downstream, failures surfaced, progress forwarded."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import pytest

from valuesfirst.scheduler import Events, Job, run_jobs


def add_job(x: int, y: int, progress=None) -> dict:  # noqa: ANN001 - called by the scheduler
    for step in range(12):
        if progress is not None:
            progress(step, float(step))
    return {"value": x + y, "pid": os.getpid(), "t": time.time()}


def fail_job(progress=None) -> dict:  # noqa: ANN001
    raise RuntimeError("stage exploded")


def _chain(results: Mapping[str, dict], dep: str, y: int) -> dict:
    return {"x": results[dep]["value"], "y": y}


def _jobs() -> list[Job]:
    return [
        Job("a", "a", add_job, lambda r: {"x": 1, "y": 2}),
        Job("b", "b", add_job, lambda r: {"x": 10, "y": 20}),
        Job("c", "c", add_job, lambda r: _chain(r, "a", 100), deps=["a"]),
        Job("d", "d", add_job, lambda r: {"x": r["c"]["value"], "y": r["b"]["value"]}, deps=["c", "b"]),
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_results_flow_along_dependencies(workers: int) -> None:
    order: list[str] = []
    steps: dict[str, int] = {}
    events = Events(on_done=lambda j, r: order.append(j.id),
                    on_step=lambda j, s, loss: steps.__setitem__(j.id, max(s, steps.get(j.id, -1))))
    results = run_jobs(_jobs(), workers, events)
    assert results["c"]["value"] == 103
    assert results["d"]["value"] == 133
    assert order.index("a") < order.index("c") < order.index("d")
    assert order.index("b") < order.index("d")
    assert set(steps) == {"a", "b", "c", "d"}  # progress reached the parent from every job
    if workers == 2:
        assert {r["pid"] for r in results.values()} != {os.getpid()}  # ran in worker processes


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_job_raises_and_stops_its_dependents(workers: int) -> None:
    jobs = [Job("bad", "bad", fail_job, lambda r: {}), Job("after", "after", add_job,
                                                        lambda r: {"x": 1, "y": 1}, deps=["bad"])]
    started: list[str] = []
    with pytest.raises(RuntimeError, match="stage exploded"):
        run_jobs(jobs, workers, Events(on_start=lambda j: started.append(j.id)))
    assert "after" not in started


def test_unknown_dependency_and_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown ids"):
        run_jobs([Job("a", "a", add_job, lambda r: {"x": 1, "y": 1}, deps=["zzz"])], 1)
    with pytest.raises(ValueError, match="unique"):
        run_jobs([Job("a", "a", add_job, lambda r: {}), Job("a", "a", add_job, lambda r: {})], 1)
