"""Evaluating a population on local worker processes (default) or on a Ray cluster.

Both split the population into one chunk per worker; each worker keeps an `Evaluator` (its vector
environment and brain batch) between generations, so a chunk is one batched rollout. Member p of the
population always runs with environment seed ``seed + 1000 * p`` (``seed`` on a task with common episodes:
rollout.member_stride), whatever the chunking, so the
number of workers does not change which episodes a member sees.

A worker that dies (killed with SIGKILL, as the kernel's OOM killer does; a lost Ray node) costs a
retry, not the run. Evaluation is deterministic for a seed, so the retried chunks give the numbers
they would have given: the run ends identical to an uninterrupted one. The local backend rebuilds its
process pool (a `concurrent.futures` pool whose worker died is broken as a whole) and evaluates again
only the chunks that had not come back; the Ray backend's actors are restarted by Ray
(``max_restarts``) and their chunks resubmitted. Each backend keeps, in ``retried``, one line per
retry of its last ``evaluate`` (the trainer writes them into the run's metrics). A generation whose
workers die on more than ``retries`` tries ends with `WorkerLost`: one line saying what died and how
often (`wormsim` prints it and exits with status 3; `wormsim resume` continues from the last
checkpoint).

Local workers ignore SIGINT: Ctrl-C reaches the whole terminal process group, and the trainer, not each
worker, decides what stops (it kills its workers and leaves its last checkpoint whole).

Ray is imported only by the Ray backend; without it installed the backend says which extra to install.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from wormsim.rollout import EvalResult, EvalSpec, Evaluator, member_stride

BACKENDS = ("local", "ray")
# How many times one generation is tried again after its workers died, before the run gives up. A
# retry costs new processes (rate level, 2 cores: 3-5 s for a local pool rebuilt, spawn, imports and
# evaluators; about 3 s for a Ray actor restarted); a worker that dies on every try (a real bug, a
# memory limit) should end the run soon and say so.
RETRIES = 3
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
    import threading

    import torch
    from tqdm import tqdm

    from wormsim import extensions as ext
    torch.set_num_threads(1)
    # tqdm's default lock is a multiprocessing one, a named semaphore: a worker killed while holding
    # one leaves the resource tracker to clean it up, with a warning on the user's terminal
    tqdm.set_lock(threading.RLock())
    ext.restore(extensions)
    _exit_with_parent()


def _init_pool_worker(extensions: dict | None = None) -> None:
    """A local pool's worker (`_init_worker`) that ignores SIGINT: Ctrl-C reaches the terminal's whole
    process group, and the parent, not each worker, decides what stops (it kills its pool)."""
    _init_worker(extensions)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class WorkerLost(RuntimeError):
    """Worker processes died on every try at one piece of work (more than the allowed retries). The
    message says what died and how often, on one line; `wormsim` prints it and exits with status 3."""


# ---- local process pools ----------------------------------------------------------------------------------
def new_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes set up as `_init_pool_worker` says, with this process's
    run-time registrations."""
    from wormsim.extensions import snapshot
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_pool_worker,
                               initargs=(snapshot(),))


def pool_processes(pool: ProcessPoolExecutor | None) -> dict:
    """{pid: multiprocessing.Process} of a pool's workers (those started so far). The executor keeps
    them in ``_processes`` (an attribute of CPython's ProcessPoolExecutor, not its documented API: read
    defensively; without it a death is still retried, only described less precisely)."""
    return dict(getattr(pool, "_processes", None) or {})


def kill_pool(pool: ProcessPoolExecutor | None) -> None:
    """Stop a pool now: its workers killed (SIGTERM) whatever they are doing, queued work cancelled.
    ``shutdown`` alone waits for running work, a whole generation or grid cell."""
    if pool is None:
        return
    for proc in pool_processes(pool).values():
        with contextlib.suppress(Exception):
            proc.terminate()
    shut_pool(pool)


def shut_pool(pool: ProcessPoolExecutor | None, grace_s: float = 5.0) -> None:
    """Shut a pool down and make sure every process it started has ended (each joined, so its exit code
    is known). ``shutdown`` alone can leave one running: a worker that the pool spawns (in ``submit``)
    while its manager thread tears the broken pool down lands in the dict that thread is iterating
    (CPython 3.11: "dictionary changed size during iteration"); the thread dies, that worker never gets
    its stop sentinel, and it waits on the call queue for ever, and the interpreter's exit with it
    (multiprocessing joins its children at exit; stop 37's CI hung there until its 90 minutes ran out).
    A process still alive after the shutdown is terminated, then killed after ``grace_s``."""
    if pool is None:
        return
    processes = pool_processes(pool)          # before the shutdown, which lets go of the list
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True, cancel_futures=True)
    for proc in processes.values():
        with contextlib.suppress(Exception):
            if proc.exitcode is None:         # shutdown joined every worker its manager stopped
                proc.terminate()
                proc.join(timeout=grace_s)
            if proc.exitcode is None:
                proc.kill()
                proc.join(timeout=grace_s)


def _manager_alive(pool: ProcessPoolExecutor) -> bool:
    """Whether the pool's manager thread (which resolves its futures) still runs. CPython keeps it in
    ``_executor_manager_thread`` (not its documented API: read defensively, a pool without it counts as
    alive). A manager that died of an error (the race `shut_pool` describes) leaves futures that no one
    will ever resolve."""
    thread = getattr(pool, "_executor_manager_thread", None)
    return thread is None or thread.is_alive()


def collect(pool: ProcessPoolExecutor, futures: dict, poll_s: float = 1.0) -> dict:
    """{key: result} of the futures ({key: future}) that came back; those lost with a dead worker
    (BrokenProcessPool) are left out. Waits in steps of ``poll_s``: if the pool's manager thread has
    died while futures are still pending, they are lost too, not waited on for ever."""
    from concurrent.futures import wait
    done: dict = {}
    pending = dict(futures)
    while pending:
        finished, _ = wait(list(pending.values()), timeout=poll_s)
        for key in [k for k, f in pending.items() if f in finished]:
            future = pending.pop(key)
            try:
                done[key] = future.result()
            except BrokenProcessPool:
                pass
        if pending and not finished and not _manager_alive(pool):
            break
    return done


def describe_deaths(processes: dict) -> str:
    """What became of the processes of a broken pool ({pid: Process}, taken before it broke and read
    after its shutdown): "pid 123 killed by SIGKILL". The processes the executor itself terminated
    (SIGTERM) after the first death are left out unless nothing else is known."""
    dead = {pid: proc.exitcode for pid, proc in processes.items() if proc.exitcode not in (None, 0)}
    first = {pid: code for pid, code in dead.items() if code != -signal.SIGTERM} or dead
    if not first:
        return "a worker process died"

    def one(pid, code):
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"pid {pid} killed by {name}"
        return f"pid {pid} exited with status {code}"
    return ", ".join(one(pid, code) for pid, code in sorted(first.items()))


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker when the process that started it is gone. A pool's workers outlive a parent
    killed with SIGKILL (no atexit runs), each holding a few hundred MB; they are re-parented, so a
    changed parent pid means the trainer died. The parent's pid is the one multiprocessing started
    this process from, not os.getppid() now: a worker still importing when its parent was killed is
    already re-parented when it gets here (a Ray worker, not started by multiprocessing, takes its
    current parent)."""
    import threading
    import time
    started_by = mp.parent_process()
    parent = started_by.pid if started_by is not None else os.getppid()
    if os.getppid() != parent:
        os._exit(1)

    def watch():
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True, name="wormsim-exit-with-parent").start()


def _run_chunk(spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
    return _evaluator(spec).evaluate(params, seed=seed)


def _chunks(n: int, k: int) -> list[tuple[int, int]]:
    k = max(1, min(k, n))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _merge(parts: list[EvalResult]) -> EvalResult:
    merged = EvalResult(returns=np.concatenate([p.returns for p in parts]),
                        speed=np.concatenate([p.speed for p in parts]),
                        failed=np.concatenate([p.failed for p in parts]),
                        steps=sum(p.steps for p in parts),
                        score=np.concatenate([p.score for p in parts]))
    episodes = [getattr(p, "episodes", None) for p in parts]        # per-episode values, where kept
    if episodes and all(episodes):
        merged.episodes = {k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}
    return merged


def _gave_up(what: str, deaths: list[str], retries: int) -> WorkerLost:
    return WorkerLost(f"{what} died {len(deaths)} times in one generation, more than the {retries} "
                      f"retries allowed ({'; '.join(dict.fromkeys(deaths))})"
                      + ("; SIGKILL is what the kernel's OOM killer sends: fewer --workers use less memory"
                         if any("SIGKILL" in d for d in deaths) else ""))


class LocalBackend:
    """workers == 1 evaluates in this process; more use a pool of spawned processes, kept alive.

    A worker that dies breaks the pool as a whole (concurrent.futures' BrokenProcessPool): the pool is
    rebuilt with as many workers (the same chunks, so the same numbers) and the chunks that had not
    come back are evaluated again, up to ``retries`` times per generation; then `WorkerLost`. An
    interruption (Ctrl-C, SIGTERM raised as an exception) kills the workers before it goes on."""

    def __init__(self, workers: int = 1, retries: int | None = None):
        if workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers = workers
        self.retries = RETRIES if retries is None else retries
        self.retried: list[str] = []      # one line per retry of the last evaluate()
        self._pool = None
        self._procs: dict = {}            # {pid: Process} of the pool's workers, seen before it broke

    def evaluate(self, spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
        self.retried = []
        if self.workers == 1:               # in this process (run_episodes steps on one torch thread)
            return _run_chunk(spec, params, seed)
        chunks = _chunks(len(params), self.workers)
        parts: dict = {}
        while True:
            try:
                self._submit_and_collect(spec, params, seed, [c for c in chunks if c not in parts], parts)
            except BaseException:         # Ctrl-C, SIGTERM, a chunk's own error: stop the workers now
                kill_pool(self._pool)
                self._pool, self._procs = None, {}
                raise
            if len(parts) == len(chunks):
                return _merge([parts[c] for c in chunks])
            self.retried.append(self._bury())
            if len(self.retried) > self.retries:
                raise _gave_up("a local evaluation worker process", self.retried, self.retries)

    def _submit_and_collect(self, spec, params, seed, todo, parts: dict) -> None:
        """Evaluate the chunks ``todo`` into ``parts``; a chunk lost with a dead worker is left out."""
        if self._pool is None:
            self._pool = new_pool(self.workers)
        try:
            stride = member_stride(spec)
            futures = {c: self._pool.submit(_run_chunk, spec, params[c[0]:c[1]], seed + stride * c[0])
                       for c in todo}
        except (BrokenProcessPool, OSError):  # a worker died between generations, or while the pool
            return                             # started another: its queues closed under submit()
        finally:
            self._procs.update(pool_processes(self._pool))
        parts.update(collect(self._pool, futures))

    def _bury(self) -> str:
        """Shut the broken pool down (its processes joined, so their exit codes are known) and say
        what died."""
        self._procs.update(pool_processes(self._pool))
        shut_pool(self._pool)
        what = describe_deaths(self._procs)
        self._pool, self._procs = None, {}
        return what

    def close(self) -> None:
        if self._pool is not None:
            shut_pool(self._pool)
            self._pool, self._procs = None, {}
        if self.workers == 1:
            clear_evaluators()        # they were built in this process: the run is over


class RayBackend:
    """One Ray actor per worker, each holding an Evaluator; ``address`` None starts a local Ray.

    An actor whose process dies (killed, its node lost) is restarted by Ray, its constructor run
    again (``max_restarts``); its chunk is then submitted again, up to ``retries`` times per
    generation (each a line in ``retried``), then `WorkerLost`. An actor Ray will not restart any
    more (its restarts spent, or killed for good) is replaced by a new one."""

    def __init__(self, workers: int = 1, address: str | None = None, retries: int | None = None):
        try:
            import ray
        except ImportError:
            raise ValueError("--backend ray needs Ray: pip install 'wormsim[ray]' (or pip install ray)") from None
        self.ray = ray
        self.retries = RETRIES if retries is None else retries
        self.retried: list[str] = []
        if not ray.is_initialized():
            kwargs = {"address": address} if address else {"num_cpus": max(workers, os.cpu_count() or 1)}
            try:
                ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
            except (ConnectionError, RuntimeError, TimeoutError, ValueError) as exc:
                where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
                raise ValueError(f"could not start or reach {where} ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); check "
                                 "--ray-address, or use --backend local") from None

        # Ray restarts a dead actor at most max_restarts times in its life; the trainer's own bound is
        # per generation (a new actor replaces one whose restarts are spent). max_task_retries=0: a
        # chunk lost with its actor comes back as RayActorError, so that every retry is counted here.
        @ray.remote(num_cpus=1, max_restarts=max(self.retries, 1), max_task_retries=0)
        class _Worker:
            def __init__(self, extensions):
                _init_worker(extensions)

            def pid(self):
                return os.getpid()

            def run(self, spec, params, seed):
                return os.getpid(), _run_chunk(spec, params, seed)

        from wormsim.extensions import snapshot
        self._new = lambda: _Worker.remote(snapshot())
        self.actors = [self._new() for _ in range(workers)]
        self.pids = [None] * workers      # each actor's process, as last seen

    def evaluate(self, spec: EvalSpec, params: np.ndarray, seed: int) -> EvalResult:
        ray = self.ray
        self.retried = []
        chunks = list(zip(range(len(self.actors)), _chunks(len(params), len(self.actors))))
        refs = {self._submit(i, spec, params, seed, c): (i, c) for i, c in chunks}
        parts = {}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            i, c = refs.pop(ready[0])
            try:
                self.pids[i], parts[c] = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                self.retried.append(f"Ray worker actor {i}" + (f" (pid {self.pids[i]})" if self.pids[i] else "")
                                    + f" died ({type(exc).__name__})")
                if len(self.retried) > self.retries:
                    raise _gave_up("a Ray evaluation worker actor", self.retried, self.retries) from None
                self._revive(i)
                refs[self._submit(i, spec, params, seed, c)] = (i, c)
        return _merge([parts[c] for _, c in chunks])

    def _submit(self, i, spec, params, seed, chunk):
        a, b = chunk
        return self.actors[i].run.remote(spec, params[a:b], seed + member_stride(spec) * a)

    def _revive(self, i: int) -> None:
        """Wait until actor i is back (Ray restarting it: its first call waits for the restart), or
        replace it with a new actor if Ray gave it up."""
        ray = self.ray
        try:
            self.pids[i] = ray.get(self.actors[i].pid.options(max_task_retries=-1).remote())
        except ray.exceptions.RayActorError:
            with contextlib.suppress(Exception):
                ray.kill(self.actors[i])
            self.actors[i] = self._new()
            self.pids[i] = None

    def worker_pids(self) -> list[int]:
        """The process ids of the actors (asked now)."""
        self.pids = self.ray.get([a.pid.remote() for a in self.actors])
        return list(self.pids)

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
