"""A lost worker costs a retry, not the run (issue 20): real worker processes killed with SIGKILL (what
the kernel's OOM killer sends) in the middle of training and of an experiment grid, workers that die on
every try, and SIGTERM to a training run."""
import csv
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import wormsim.experiment as ex
from wormsim import parallel
from wormsim.cli import main
from wormsim.experiment import grid
from wormsim.realism_levels import register_level, unregister_level
from wormsim.realism_levels.rate import RateBrain
from wormsim.runs import Run

TINY = ["--budget", "3", "--popsize", "4", "--duration", "0.2", "--eval-episodes", "1", "--no-video"]
# what differs between a run that lost a worker and an uninterrupted one: time, and the retry's record
NOT_COMPARED = ("wall_time", "worker_retries", "worker_lost")


def rows(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def comparable(run):
    return [{k: v for k, v in r.items() if k not in NOT_COMPARED} for r in rows(run)]


def same_policy(a, b):
    pa, pb = np.load(Path(a) / "policy.npz"), np.load(Path(b) / "policy.npz")
    return np.array_equal(pa["params"], pb["params"])


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                       # a zombie waiting for its parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_killed_mid_run_is_retried_and_the_run_ends_identical(tmp_path, monkeypatch):
    ref, out = tmp_path / "ref", tmp_path / "killed"
    assert main(["train", *TINY, "--seed", "4", "--workers", "2", "--out", str(ref)]) == 0

    real, calls = parallel.LocalBackend.evaluate, []

    def evaluate(self, spec, params, seed):
        calls.append(time.perf_counter())
        if len(calls) == 2:                    # generation 2: one of the pool's workers is gone
            kill(next(iter(parallel.pool_processes(self._pool))))
        return real(self, spec, params, seed)
    monkeypatch.setattr(parallel.LocalBackend, "evaluate", evaluate)
    assert main(["train", *TINY, "--seed", "4", "--workers", "2", "--out", str(out)]) == 0

    metrics = rows(out)
    retried = [r for r in metrics if r.get("worker_retries")]
    # generation 2 is retried, or 3 if the surviving worker took both of generation 2's chunks before
    # the pool saw its other worker die
    assert len(retried) == 1 and retried[0]["iteration"] in (2, 3) and retried[0]["worker_retries"] == 1
    assert "killed by SIGKILL" in retried[0]["worker_lost"]
    assert comparable(out) == comparable(ref) and same_policy(out, ref)
    def summary(run):                          # all but the time taken and where the policy is
        return {k: v for k, v in json.loads((run / "summary.json").read_text()).items()
                if k not in ("wall_time", "policy")}
    assert summary(out) == summary(ref)


def test_a_worker_that_dies_on_every_try_ends_the_run_with_one_line_then_resume_finishes(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(parallel, "RETRIES", 1)
    out = tmp_path / "run"
    real, calls, stop = parallel.LocalBackend.evaluate, [], threading.Event()

    def killer():                              # from generation 2 on, every worker dies as it starts
        while not stop.is_set():
            for child in multiprocessing.active_children():
                kill(child.pid)
            time.sleep(0.02)

    def evaluate(self, spec, params, seed):
        calls.append(1)
        if len(calls) == 2:
            threading.Thread(target=killer, daemon=True).start()
        return real(self, spec, params, seed)
    monkeypatch.setattr(parallel.LocalBackend, "evaluate", evaluate)
    try:
        status = main(["train", *TINY, "--workers", "2", "--out", str(out)])
    finally:
        stop.set()
    err = capsys.readouterr().err
    assert status == 3, err
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert line.startswith(f"wormsim train: error: generation 2 of {out}: a local evaluation worker process "
                           "died 2 times in one generation, more than the 1 retries allowed")
    assert "killed by SIGKILL" in line and f"continue with `wormsim resume {out}`" in line
    assert [r["iteration"] for r in rows(out)] == [0, 1]           # the finished generation is kept
    monkeypatch.undo()
    assert main(["resume", str(out), "--workers", "1", "--no-video"]) == 0
    assert [r["iteration"] for r in rows(out)] == [0, 1, 2, 3] and (out / "summary.json").is_file()


def test_a_pool_that_breaks_while_starting_a_worker_is_retried_with_the_same_numbers(tmp_path, monkeypatch):
    """A worker that dies while the pool starts another leaves CPython's submit() pickling a closed call
    queue: OSError('handle is closed'), not BrokenProcessPool (stop 30's CI failure). It is a lost
    worker like any other: the generation is retried and the run ends as an uninterrupted one."""
    ref, out = tmp_path / "ref", tmp_path / "broke"
    assert main(["train", *TINY, "--seed", "4", "--workers", "2", "--out", str(ref)]) == 0
    real = parallel.new_pool

    def new_pool(workers):                     # the first pool's first submit finds its queue closed
        pool = real(workers)
        submit = pool.submit

        def broken(*args, **kwargs):
            pool.submit = submit
            raise OSError("handle is closed")
        pool.submit = broken
        monkeypatch.setattr(parallel, "new_pool", real)
        return pool
    monkeypatch.setattr(parallel, "new_pool", new_pool)
    assert main(["train", *TINY, "--seed", "4", "--workers", "2", "--out", str(out)]) == 0
    retried = [r for r in rows(out) if r.get("worker_retries")]
    assert len(retried) == 1 and retried[0]["worker_retries"] == 1
    assert comparable(out) == comparable(ref) and same_policy(out, ref)


def broken_pool_with_a_stranded_worker():
    """A pool broken by a worker's death whose manager has finished, and one more worker in its list
    that no one stopped: what CPython leaves when the pool spawns a worker (in submit) while its manager
    tears the broken pool down (stop 37's CI: that worker waited on the call queue for ever, and the
    test session's exit with it)."""
    pool = parallel.new_pool(2)
    assert [f.result() for f in [pool.submit(time.sleep, 0) for _ in range(2)]] == [None, None]
    kill(next(iter(parallel.pool_processes(pool))))
    deadline = time.time() + 30
    while parallel._manager_alive(pool) and time.time() < deadline:
        time.sleep(0.05)
    assert not parallel._manager_alive(pool), "the pool did not see its worker die"
    stranded = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(600,))
    stranded.start()
    pool._processes[stranded.pid] = stranded
    return pool, stranded


def test_a_broken_pool_is_buried_with_every_process_it_started_ended():
    backend = parallel.LocalBackend(workers=2)
    backend._pool, stranded = broken_pool_with_a_stranded_worker()
    try:
        what = backend._bury()
        assert not stranded.is_alive() and stranded.exitcode == -signal.SIGTERM
        assert "killed by SIGKILL" in what                  # the first death is still what it reports
        assert backend._pool is None
    finally:
        stranded.kill()


def test_a_pool_shut_or_killed_leaves_no_process_running():
    for stop in (parallel.shut_pool, parallel.kill_pool):
        pool, stranded = broken_pool_with_a_stranded_worker()
        processes = parallel.pool_processes(pool)
        try:
            stop(pool)
            assert stranded.pid in processes
            assert all(proc.exitcode is not None for proc in processes.values())
        finally:
            stranded.kill()


def test_futures_of_a_pool_whose_manager_died_are_lost_not_waited_on_for_ever():
    """The same race can kill the manager before it fails the pending futures: they would never
    resolve. `collect` gives them up once the manager is gone."""
    pool = parallel.new_pool(1)
    manager = None
    try:
        futures = {"done": pool.submit(time.sleep, 0), "stuck": pool.submit(time.sleep, 600)}
        assert futures["done"].result() is None
        manager, dead = pool._executor_manager_thread, threading.Thread(target=lambda: None)
        dead.start()
        dead.join()
        pool._executor_manager_thread = dead
        got = {}
        waiter = threading.Thread(target=lambda: got.update(parallel.collect(pool, futures, poll_s=0.1)),
                                  daemon=True)
        waiter.start()
        waiter.join(timeout=60)
        assert not waiter.is_alive(), "collect waited on a future no manager will resolve"
        assert got == {"done": None} and not futures["stuck"].done()
    finally:
        if manager is not None:
            pool._executor_manager_thread = manager
        parallel.kill_pool(pool)


class DoomedRate(RateBrain):
    """A level whose process dies (SIGKILL) as soon as it builds a brain anywhere but in the test's own
    process: a bug or memory limit that kills every worker that runs it."""
    name = "doomed"

    def __init__(self, *args, **kwargs):
        if os.getpid() != int(os.environ.get("WORMSIM_TEST_PID", "-1")):
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(*args, **kwargs)


class DiesOnceRate(RateBrain):
    """The rate level, whose first worker process to build it dies (SIGKILL): a one-off loss."""
    name = "dies-once"

    def __init__(self, *args, **kwargs):
        if os.getpid() != int(os.environ.get("WORMSIM_TEST_PID", "-1")):
            try:
                os.close(os.open(os.environ["WORMSIM_TEST_ONCE"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(*args, **kwargs)


@pytest.fixture
def doomed(monkeypatch, tmp_path):
    monkeypatch.setenv("WORMSIM_TEST_PID", str(os.getpid()))
    monkeypatch.setenv("WORMSIM_TEST_ONCE", str(tmp_path / "died-once"))
    monkeypatch.setattr(grid, "CELL_RETRIES", 1)
    register_level("doomed", DoomedRate)
    register_level("dies-once", DiesOnceRate)
    yield "doomed"
    unregister_level("doomed")
    unregister_level("dies-once")


def grid_config(out, levels=("rate", "doomed"), **kw):
    return ex.ExperimentConfig(levels=list(levels), wirings=["connectome"], tasks=["memory"],
                               trains=["weights"], seeds=1, budget=1, popsize=4, nonmotor_episodes=1,
                               eval_episodes=1, workers=2, tune=False, nonmotor_gradient=False,
                               val_episodes=1, atlas=False, out=str(out), **kw)


def check_failed_cell_is_reported(cfg, error_words):
    with open(Path(cfg.out) / "cells.csv") as f:
        cells = {r["level"]: r for r in csv.DictReader(f)}
    other = next(label for label in cells if label != "doomed")            # it finished
    assert cells[other]["status"] == "done" and np.isfinite(float(cells[other]["value"]))
    assert cells["doomed"]["status"] == "failed" and error_words in cells["doomed"]["error"]
    cell = ("memory", "doomed", "connectome", "weights", 0)
    assert ex.cell_state(cfg, cell) == "failed"
    assert error_words in json.loads((ex.cell_dir(cfg, *cell) / grid.FAILED).read_text())["error"]
    report = (Path(cfg.out) / "report.md").read_text()
    assert "## Cells that failed" in report and "| memory | doomed | connectome | 0 | 2 |" in report


def test_a_grid_cell_whose_process_dies_is_retried_and_one_that_keeps_dying_is_reported(tmp_path, doomed, capsys):
    cfg = grid_config(tmp_path / "grid", levels=("dies-once", "doomed"))
    ex.run_experiment(cfg, progress=False)
    check_failed_cell_is_reported(cfg, "its process died on each of 2 tries (pid ")
    assert "killed by SIGKILL" in (Path(cfg.out) / "cells.csv").read_text()
    printed = capsys.readouterr().out
    assert "[failed] memory   doomed" in printed and "1 of 2 cells failed" in printed
    # the cell that lost its process once was run again and gave the rate level's numbers, exactly
    assert (tmp_path / "died-once").exists()
    with open(Path(cfg.out) / "cells.csv") as f:
        once = next(r for r in csv.DictReader(f) if r["level"] == "dies-once")
    rate = ex.run_cell(grid_config(tmp_path / "rate"), "memory", "rate", "connectome", "weights", 0, workers=1)
    assert once["status"] == "done" and float(once["value"]) == ex.cell_value("memory", rate)[0]


def test_sigterm_stops_training_cleanly_and_resume_finishes_it(tmp_path):
    out = tmp_path / "run"
    args = ["--budget", "40", "--popsize", "4", "--duration", "0.2", "--eval-episodes", "1", "--no-video"]
    proc = subprocess.Popen([sys.executable, "-m", "wormsim.cli", "train", *args, "--workers", "2",
                             "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "checkpoint.pkl").exists():
        time.sleep(0.005)
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    proc.send_signal(signal.SIGTERM)           # the trainer alone, not its process group
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(
        f"wormsim train: stopped by SIGTERM; {out} keeps its last finished iteration: "
        f"continue with `wormsim resume {out}`")
    assert len(workers) >= 2
    deadline = time.time() + 10
    while time.time() < deadline and any(map(alive, workers)):
        time.sleep(0.05)
    assert not any(map(alive, workers)), "the workers outlived the stopped trainer"
    done = Run.open(out).load_checkpoint()["generation"]          # whole, and as far as the metrics go
    assert 1 <= done < 40 and [r["iteration"] for r in rows(out)] == list(range(done + 1))
    assert main(["resume", str(out), "--workers", "1", "--no-video"]) == 0
    assert [r["iteration"] for r in rows(out)] == list(range(41))


@pytest.mark.slow
def test_ray_actor_killed_mid_run_is_restarted_and_a_generation_that_keeps_losing_it_gives_up():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import ray

    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    spec = TrainConfig(duration=0.2).eval_spec()
    x0 = Evaluator(spec).initial_params()
    params = x0 + 0.1 * np.random.default_rng(2).standard_normal((4, len(x0)))
    backend = parallel.RayBackend(workers=2, retries=1)
    try:
        first = backend.evaluate(spec, params, seed=9)
        victim = backend.pids[0]
        kill(victim)                           # its actor's process, as the OOM killer would
        again = backend.evaluate(spec, params, seed=9)
        assert len(backend.retried) == 1 and f"pid {victim}" in backend.retried[0]
        assert np.array_equal(first.returns, again.returns) and np.array_equal(first.speed, again.speed)
        assert backend.pids[0] != victim       # restarted by Ray, a new process
        backend.retries = 0
        kill(backend.pids[1])
        with pytest.raises(parallel.WorkerLost, match="died 1 times in one generation, more than the 0 retries"):
            backend.evaluate(spec, params, seed=9)
    finally:
        backend.close()
        ray.shutdown()


@pytest.mark.slow                               # a second local Ray: the local grid test covers the logic
def test_a_ray_grid_cell_whose_task_keeps_dying_is_marked_failed(tmp_path, doomed):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    import ray
    cfg = grid_config(tmp_path, backend="ray")
    # Ray's workers import this module (the doomed level lives here): put it on their path
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        ex.run_experiment(cfg, progress=False)
    finally:
        ray.shutdown()
    check_failed_cell_is_reported(cfg, "its Ray task died on each of 2 tries")
