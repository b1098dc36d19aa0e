"""A small DAG executor for experiment stages: runs independent stages in parallel worker processes.

Why processes: on 2 CPU cores a tiny model's training step is no faster with 2 torch threads than with 1
(222 vs 230 ms measured), while two 1-thread processes side by side each keep full speed, so running two
stages at once halves the grid's wall time. Workers are spawned (not forked: forking a process whose
OpenMP pool is running can deadlock). ``workers=1`` runs everything in-process, in dependency order.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

ProgressFn = Callable[[int, float], None]


@dataclass
class Job:
    """One stage to run: ``fn(**kwargs, progress=...)`` once every job in ``deps`` has finished.

    ``fn`` must be a module-level function (it is pickled to a worker). ``make_kwargs`` runs in the
    parent when the job becomes ready and receives the results of its dependencies by id.
    """

    id: str
    label: str
    fn: Callable[..., dict]
    make_kwargs: Callable[[Mapping[str, dict]], dict]
    deps: list[str] = field(default_factory=list)
    total_steps: int = 1
    # ``reused(kwargs)``: the job's result if its output already exists, else None. Asked in the parent
    # before a job goes to a worker, so a rerun whose stages all exist starts no worker process at all
    # (spawning two and importing torch and transformers in each cost ~90 s on 2 cores).
    reused: Callable[[dict], dict | None] | None = None


@dataclass
class Events:
    """Callbacks of the parent process (progress display, logging)."""

    on_start: Callable[[Job], None] = lambda job: None
    on_step: Callable[[Job, int, float], None] = lambda job, step, loss: None
    on_done: Callable[[Job, dict], None] = lambda job, result: None


def _die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this worker when its parent dies (Linux), so a killed run leaves no orphan
    still training and publishing stages behind the next run's back."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _worker_init(parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the workers), so a
    # worker is never left half-way through an exception handler while the parent waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import transformers  # noqa: PLC0415 - only workers need it here

    transformers.utils.logging.disable_progress_bar()  # one bar per model load would flood the display


def _release_memory() -> None:
    """Return freed heap to the OS after a stage. A worker runs many stages in turn; torch's freed
    activations and logits (tens of MB each) stay in glibc's heap, so without a trim a worker's resident
    size grew stage by stage (5.4 GB after its first SmolLM2 LoRA stage, 9.3 GB after its fourth)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl): nothing to trim
            ctypes.CDLL(None).malloc_trim(0)


def _run_in_worker(fn: Callable[..., dict], kwargs: dict) -> dict:
    """A job in a worker process: its function, then the memory it freed handed back."""
    try:
        return fn(**kwargs)
    finally:
        _release_memory()


class _QueueProgress:
    """A picklable progress callback that forwards (job id, step, loss) to the parent."""

    def __init__(self, q: Any, job_id: str):
        self.q = q
        self.job_id = job_id
        self.last = -1

    def __call__(self, step: int, loss: float) -> None:
        if step - self.last >= 5:  # enough for a live bar without flooding the queue
            self.last = step
            self.q.put((self.job_id, step, loss))


def _check(jobs: list[Job]) -> None:
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("job ids must be unique")
    missing = {d for j in jobs for d in j.deps} - set(ids)
    if missing:
        raise ValueError(f"jobs depend on unknown ids {sorted(missing)}")


def run_jobs(jobs: list[Job], workers: int, events: Events | None = None) -> dict[str, dict]:
    """Run all jobs respecting dependencies; returns {job id: result}. The first failure is re-raised."""
    _check(jobs)
    ev = events or Events()
    results: dict[str, dict] = {}
    pending = {j.id: j for j in jobs}
    asked: set[str] = set()  # jobs whose output was looked for: each is asked once

    def settle_reused() -> None:
        """Take every ready job whose output exists, in the parent, until none is left."""
        while True:
            found = False
            ready = [j for j in pending.values() if j.id not in asked and all(d in results for d in j.deps)]
            for job in ready:
                asked.add(job.id)
                if job.reused is None:
                    continue
                out = job.reused(job.make_kwargs(results))
                if out is not None:
                    ev.on_start(job)
                    results[job.id] = out
                    del pending[job.id]
                    ev.on_done(job, out)
                    found = True
            if not found:
                return

    settle_reused()
    if workers <= 1:
        while pending:
            ready = [j for j in pending.values() if all(d in results for d in j.deps)]
            if not ready:
                raise ValueError("dependency cycle among jobs")
            for job in ready:
                ev.on_start(job)
                step_cb = functools.partial(ev.on_step, job)
                out = job.fn(**job.make_kwargs(results), progress=step_cb)
                results[job.id] = out
                ev.on_done(job, out)
                del pending[job.id]
        return results
    if not pending:
        return results

    ctx = mp.get_context("spawn")
    with (
        ctx.Manager() as manager,
        ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        ) as pool,
    ):
        q = manager.Queue()
        running: dict[Future, Job] = {}
        by_id = {j.id: j for j in jobs}
        try:
            while pending or running:
                settle_reused()
                for job in [j for j in pending.values() if all(d in results for d in j.deps)]:
                    kwargs = job.make_kwargs(results) | {"progress": _QueueProgress(q, job.id)}
                    fut = pool.submit(_run_in_worker, job.fn, kwargs)
                    running[fut] = job
                    del pending[job.id]
                    ev.on_start(job)
                if not running:
                    if not pending:
                        break
                    raise ValueError("dependency cycle among jobs")
                done, _ = wait(list(running), timeout=0.25, return_when=FIRST_COMPLETED)
                _drain(q, by_id, ev)
                for fut in done:
                    job = running.pop(fut)
                    results[job.id] = fut.result()  # re-raises a worker's exception here
                    ev.on_done(job, results[job.id])
        except BaseException:
            for fut in running:
                fut.cancel()
            _stop_workers(pool)  # a stage half-built is never published: stopping it loses nothing
            raise
        _drain(q, by_id, ev)
    return results


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop running stages now (Ctrl-C, a failed stage) instead of waiting for them to finish. Python 3.14
    has ``terminate_workers()``; before it, the pool's process table is the only handle."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _drain(q: Any, by_id: Mapping[str, Job], ev: Events) -> None:
    while True:
        try:
            job_id, step, loss = q.get_nowait()
        except queue_mod.Empty:
            return
        ev.on_step(by_id[job_id], step, loss)
