"""Evaluating a population on local worker processes (default) or on a Ray cluster.

Both split the population into one chunk per worker; each worker keeps an `Evaluator` (its vector
environment and brain batch) between generations, so a chunk is one batched rollout. Member p of the
population always runs with environment seed ``seed + 1000 * p``, whatever the chunking, so the
number of workers does not change which episodes a member sees.

Ray is imported only by the Ray backend; without it installed the backend says which extra to install.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from wormsim.rollout import EvalResult, EvalSpec, Evaluator

BACKENDS = ("local", "ray")
# A process's evaluators, most recently used last. A training run uses one spec for all its generations;
# a process that runs many runs one after another (an experiment's worker) must not keep every earlier
# run's environment and brain alive (without the cap a worker's memory grew cell after cell:
# docs/measurements.md).
_EVALUATORS: "OrderedDict[EvalSpec, Evaluator]" = OrderedDict()
MAX_EVALUATORS = 2


def _evaluator(spec: EvalSpec) -> Evaluator:
    if spec in _EVALUATORS:
        _EVALUATORS.move_to_end(spec)
        return _EVALUATORS[spec]
    while len(_EVALUATORS) >= MAX_EVALUATORS:
        _, old = _EVALUATORS.popitem(last=False)
        old.close()
    _EVALUATORS[spec] = Evaluator(spec)
    return _EVALUATORS[spec]


def clear_evaluators() -> None:
    """Close and forget this process's cached evaluators (their environments and brains)."""
    while _EVALUATORS:
        _EVALUATORS.popitem(last=False)[1].close()


def _init_worker(extensions: dict | None = None) -> None:
    """A worker: one torch thread, gone with its parent, and the parent's run-time registrations
    (a level, task or wiring registered in the user's script is known here too)."""
    # one core per worker: several torch threads per process only fight over the same cores
    import torch

    from wormsim import extensions as ext
    torch.set_num_threads(1)
    ext.restore(extensions)
    _exit_with_parent()


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker when the process that started it is gone. A pool's workers outlive a parent
    killed with SIGKILL (no atexit runs), each holding a few hundred MB; they are re-parented, so a
    changed parent pid means the trainer died."""
    import threading
    import time
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True, name="wormsim-exit-with-parent").start()


def _run_chunk(spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
    return _evaluator(spec).evaluate(params, seed=seed)


@contextlib.contextmanager
def one_torch_thread():
    """Evaluate with one torch thread, then restore the caller's setting. The brains' matrices are
    small (81 x 81 per member): a second thread only contends with MuJoCo's rollout threads
    (docs/measurements.md)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _chunks(n: int, k: int) -> list[tuple[int, int]]:
    k = max(1, min(k, n))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _merge(parts: list[EvalResult]) -> EvalResult:
    return EvalResult(returns=np.concatenate([p.returns for p in parts]),
                      speed=np.concatenate([p.speed for p in parts]),
                      failed=np.concatenate([p.failed for p in parts]),
                      steps=sum(p.steps for p in parts),
                      score=np.concatenate([p.score for p in parts]))


class LocalBackend:
    """workers == 1 evaluates in this process; more use a pool of spawned processes, kept alive."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool = None

    def evaluate(self, spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
        if self.workers == 1:
            with one_torch_thread():
                return _run_chunk(spec, params, seed)
        if self._pool is None:
            from wormsim.extensions import snapshot
            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker, initargs=(snapshot(),))
        futures = [self._pool.submit(_run_chunk, spec, params[a:b], seed + 1000 * a)
                   for a, b in _chunks(len(params), self.workers)]
        return _merge([f.result() for f in futures])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self.workers == 1:
            clear_evaluators()        # they were built in this process: the run is over


class RayBackend:
    """One Ray actor per worker, each holding an Evaluator; ``address`` None starts a local Ray."""

    def __init__(self, workers: int = 1, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'wormsim[ray]' (or pip install ray)") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": max(workers, os.cpu_count() or 1)}
            try:
                ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
            except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
                where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
                raise ValueError(f"could not start or reach {where} ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); check "
                                 "--ray-address, or use --backend local") from None

        @ray.remote(num_cpus=1)
        class _Worker:
            def __init__(self, extensions):
                _init_worker(extensions)

            def run(self, spec, params, seed):
                return _run_chunk(spec, params, seed)

        from wormsim.extensions import snapshot
        self.actors = [_Worker.remote(snapshot()) for _ in range(workers)]

    def evaluate(self, spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
        refs = [actor.run.remote(spec, params[a:b], seed + 1000 * a)
                for actor, (a, b) in zip(self.actors, _chunks(len(params), len(self.actors)))]
        return _merge(self.ray.get(refs))

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []


def make_backend(name: str, workers: int, address: str | None = None):
    if name == "local":
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(workers, address)
    raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
