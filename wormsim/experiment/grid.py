"""The grid's cells: which exist, where each one's run lives, whether it is finished, resumable or
stale, and running them here (one after another or in worker processes) or as Ray tasks.

A cell is (task, level, wiring, train, seed) and is an ordinary training run under ``OUT/runs/``.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from wormsim.config import TrainConfig, check_bounds
from wormsim.envs.tasks import get_task, task_names
from wormsim.experiment.config import ExperimentConfig
from wormsim.realism_levels import get_level, level_names
from wormsim.runs import Run, atomic_write_bytes, atomic_write_text
from wormsim.trainers import get_trainer, trainer_for

# which per-episode value of a run's held-out record ("heldout" in its summary) stands for a task's metric
TRIAL_OF_METRIC = {"final_speed": "speed", "final_return": "return", "final_score": "score", "final_r2": "return"}
# fields of a cell's TrainConfig that do not change its result (where and how fast it runs)
RUNTIME_FIELDS = ("workers", "backend", "ray_address", "video", "tensorboard", "out")
# how fast a cell learns: the evaluations it took to reach this fraction of its validation gain
FRACTION = 0.9
# the tuning runs' seeds (grid.tune): no cell of a grid of fewer seeds uses them
TUNE_SEED = 10_000
# A cell whose process dies is run again (from its checkpoint) this many times before it is marked failed.
CELL_RETRIES = 2
# In a cell's run directory: the error of a cell given up on, until a later invocation finishes it.
FAILED = "failed.json"


# ---- what a cell is --------------------------------------------------------------------------------------
def cell_label(level: str, train: str) -> str:
    """The name of a level on a training axis in tables and tests: "rate", "rate (readout)"."""
    return level if train == "weights" else f"{level} ({train})"


def split_label(label: str) -> tuple[str, str]:
    """(level, train) of a cell_label."""
    level, _, train = label.partition(" (")
    return level, train.rstrip(")") or "weights"


def uses_wiring(label: str) -> bool:
    """Whether the level of a label (or a level name) lives on the wiring; one without a wiring is
    trained once per seed, filed under the grid's first wiring."""
    return get_level(split_label(label)[0]).uses_wiring


def _trainable(cfg: ExperimentConfig, task: str, level: str, train: str) -> bool:
    """Whether a (task, level, train) cell can exist: its trainer accepts the level on the task (bptt
    needs a differentiable level and a task without a body); an ES-trained readout on a task with a
    body is run only with ``readout_motor`` and needs a level that steps in torch; with
    ``nonmotor_gradient``, a level BPTT cannot train gets weights cells on a task without a body only
    with ``nonmotor_es``."""
    brain, spec = get_level(level), get_task(task)     # an unknown name is an error, not an empty grid
    if train == "readout" and spec.has_body:
        return cfg.readout_motor and brain.steps_in_torch
    if train == "bptt" and cfg.nonmotor_gradient:       # the weights axis is trained by BPTT already
        return False
    if (train == "weights" and not spec.has_body and cfg.nonmotor_gradient and not cfg.nonmotor_es
            and cell_algo(cfg, task, level, train) == "es"):
        return False
    try:
        trainer_for(train_config(cfg, task, level, cfg.wirings[0], train, 0))
    except ValueError:                          # CapabilityError included
        return False
    return True


def cells(cfg: ExperimentConfig):
    """(task, level, wiring, train, seed) of every cell. A level without a wiring (the mlp) has one set
    of seeds, filed under the first wiring, standing for every wiring; see _trainable for which
    trainings a level gets on a task."""
    able = {(t, lv, tr): _trainable(cfg, t, lv, tr) for t, lv, tr in
            itertools.product(cfg.tasks, cfg.levels, cfg.trains)} if cfg.wirings else {}
    seeds = range(cfg.first_seed, cfg.first_seed + cfg.seeds)
    for task, level, wiring, train, seed in itertools.product(cfg.tasks, cfg.levels, cfg.wirings,
                                                              cfg.trains, seeds):
        if able[task, level, train] and (wiring == cfg.wirings[0] or uses_wiring(level)):
            yield task, level, wiring, train, seed


def cell_dir(cfg: ExperimentConfig, task, level, wiring, train, seed) -> Path:
    mode = "" if train == "weights" else f"-{train}"
    return Path(cfg.out) / "runs" / task / f"{level}{mode}-{wiring}-s{seed}"


def cell_algo(cfg: ExperimentConfig, task: str, level: str, train: str) -> str:
    """The trainer of a cell: BPTT on the bptt axis, and on the weights axis for a level BPTT takes on a
    task without a body when ``nonmotor_gradient``; CMA-ES otherwise (ridge readouts: see trainer_for)."""
    if train == "bptt":
        return "bptt"
    if train == "weights" and cfg.nonmotor_gradient and not get_task(task).has_body:
        try:
            get_trainer("bptt").check(level, task)
            return "bptt"
        except ValueError:                      # CapabilityError included: the level is not differentiable
            pass
    return "es"


def search_key(task: str, level: str, train: str) -> str:
    """The key of a (task, level, train)'s tuned search in ExperimentConfig.searches."""
    return f"{task}/{level}/{train}"


def train_config(cfg: ExperimentConfig, task, level, wiring, train, seed, workers=None) -> TrainConfig:
    """The run of a cell: its trainer (cell_algo), the plateau rule, and its level's tuned search on the
    task (``cfg.searches``: ES step size, BPTT learning rate), or the grid's defaults."""
    gradient = cell_algo(cfg, task, level, train) == "bptt"
    search = cfg.searches.get(search_key(task, level, train), {})
    return TrainConfig(level=level, wiring=wiring, dataset=cfg.dataset, task=task, seed=seed,
                       algo="bptt" if gradient else "es", budget=cfg.bptt_budget if gradient else cfg.budget,
                       stop=cfg.stop, patience=cfg.bptt_patience if gradient else cfg.patience,
                       plateau_tol=cfg.plateau_tol, val_every=cfg.val_every, val_episodes=cfg.val_episodes,
                       popsize=cfg.popsize, sigma=float(search.get("sigma", cfg.sigma)),
                       lr=search.get("lr") if gradient else None, duration=cfg.duration,
                       episodes=cfg.episodes if get_task(task).has_body else cfg.nonmotor_episodes,
                       eval_episodes=cfg.eval_episodes, head_cpg=cfg.head_cpg,
                       train="weights" if train == "bptt" else train,
                       spectral_radius=cfg.spectral_radius, ridge_alpha=cfg.ridge_alpha,
                       workers=cfg.workers if workers is None else workers, backend="local",
                       video=False, tensorboard=cfg.tensorboard,
                       out=str(cell_dir(cfg, task, level, wiring, train, seed)))


# ---- finished, resumable, stale ------------------------------------------------------------------------
def _semantic(config: dict | TrainConfig) -> dict:
    """The fields of a cell's config that decide its result (a stored dict is read as TrainConfig
    reads it, so a field added later with a default compares equal to its default)."""
    tc = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    return {k: v for k, v in dataclasses.asdict(tc).items() if k not in RUNTIME_FIELDS
            and not (k in tc.OMITTED_UNSET and v == tc.OMITTED_UNSET[k])}


def config_hash(config: dict | TrainConfig) -> str:
    return hashlib.sha256(json.dumps(_semantic(config), sort_keys=True).encode()).hexdigest()[:12]


CIRCUIT_FILE = "circuit.json"
_DIGESTS: dict = {}


def circuit_digest(tc: TrainConfig) -> str:
    """A short hash of what a cell runs on that its configuration's fields cannot show: the circuit (its
    wiring's chemical and gap matrices and signs: a null model whose generator changed makes other graphs
    under the same name and seed) and, on a task with a body, the body's physical constants (a body
    recalibrated in the code, as envs/body.py was against the animal, makes every swim cell stale)."""
    key = (tc.dataset, tc.wiring, tc.seed, tc.task)
    if key not in _DIGESTS:
        from wormsim.rollout import build_circuit
        c = build_circuit(tc.eval_spec())
        h = hashlib.sha256()
        for arr in (c.chem, c.gap, c.sign):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        if get_task(tc.task).has_body:
            from wormsim.envs.body import BodyParams
            h.update(json.dumps(dataclasses.asdict(BodyParams()), sort_keys=True, default=str).encode())
        _DIGESTS[key] = h.hexdigest()[:12]
    return _DIGESTS[key]


def stale_fields(path: Path, tc: TrainConfig) -> dict:
    """{field: (stored, wanted)} where the run in ``path`` was made with another configuration or on
    another circuit ({} if it matches or there is no run yet). A run from before circuits were recorded
    counts as made on another circuit unless it is on the connectome (the null models' graphs changed)."""
    if not (path / "config.json").is_file():
        return {}
    stored, wanted = _semantic(Run.open(path).config), _semantic(tc)
    diff = {k: (stored.get(k), wanted[k]) for k in wanted if stored.get(k) != wanted[k]}
    record = path / CIRCUIT_FILE
    digest = json.loads(record.read_text()).get("digest") if record.is_file() else None
    if digest != circuit_digest(tc) and not (digest is None and tc.wiring == "connectome"):
        diff["circuit"] = (digest or "not recorded", circuit_digest(tc))
    return diff


def describe(diff: dict) -> str:
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())


def _has_training(path: Path) -> bool:
    return (path / "summary.json").is_file() or (path / "checkpoint.pkl").is_file()


def cell_state(cfg: ExperimentConfig, cell) -> str:
    """'done', 'resume', 'new', 'stale' or 'failed' (an earlier invocation gave it up, its error in
    FAILED; the next one tries it again, from its checkpoint if it has one). Only a cell with something
    trained (a summary or a checkpoint) can be stale: one that died before its first checkpoint (its
    config.json half-way, say) has nothing to lose and starts afresh."""
    path = cell_dir(cfg, *cell)
    if _has_training(path) and stale_fields(path, train_config(cfg, *cell)):
        return "stale"
    if (path / "summary.json").is_file():
        return "done"
    if (path / FAILED).is_file():
        return "failed"
    return "resume" if (path / "checkpoint.pkl").is_file() else "new"


def run_cell(cfg: ExperimentConfig, task, level, wiring, train, seed, progress=False, workers=None) -> dict:
    """Train one cell with the trainer the registry gives its run (or return its summary if it is
    finished). A stale cell is an error unless ``cfg.rerun_stale``: then it starts afresh."""
    path = cell_dir(cfg, task, level, wiring, train, seed)
    tc = train_config(cfg, task, level, wiring, train, seed, workers)
    trainer = trainer_for(tc).load()
    diff = stale_fields(path, tc)
    if diff and not cfg.rerun_stale and _has_training(path):
        raise ValueError(f"{path} was made with another configuration ({describe(diff)}); "
                         f"use another --out, or --rerun-stale to retrain it")
    if not diff:
        if (path / "summary.json").is_file():
            return json.loads((path / "summary.json").read_text())
        if (path / "checkpoint.pkl").is_file():
            return trainer(tc, Run.open(path), resume=True, progress=progress)
    # a new or stale cell starts afresh: drop the old summary and checkpoint *before* the new
    # config.json is written, so that an interruption can never pair them with it
    for name in ("summary.json", "checkpoint.pkl"):
        (path / name).unlink(missing_ok=True)
    run = Run.create(path, tc, overwrite=True)
    atomic_write_text(path / CIRCUIT_FILE, json.dumps({"digest": circuit_digest(tc)}))
    return trainer(tc, run, progress=progress)


def cell_cache(cfg: ExperimentConfig, cell, name: str, compute):
    """What ``compute()`` gives for a finished cell (a JSON-able value), cached in its run directory as
    NAME.json (atomic) and recomputed only when the cell's configuration changed (the probes, the atlas)."""
    path = cell_dir(cfg, *cell)
    key = config_hash(train_config(cfg, *cell))
    cache = path / f"{name}.json"
    if cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("config_hash") == key:
            return stored[name]
    value = compute()
    atomic_write_text(cache, json.dumps({"config_hash": key, name: value}))
    return value


def cell_value(task: str, summary: dict) -> tuple[float, bool]:
    """(the analysed value of a finished cell, whether it is the clipped score standing in for it). The
    value is the task's metric (TaskSpec.metric; a reservoir cell on a regression task has it too, the mean
    of its held-out episodes' returns); a summary written before reservoirs recorded their returns falls
    back on the held-out pooled R^2, else on the clipped score (flagged)."""
    spec = get_task(task)
    v = summary.get(spec.metric)
    if v is not None and math.isfinite(float(v)):
        return float(v), False
    for key in ("pooled_r2", "final_r2"):
        if summary.get(key) is not None and math.isfinite(float(summary[key])):
            return float(summary[key]), False
    return float(summary.get(spec.score or "final_score", math.nan)), True


# ---- checks before anything runs ----------------------------------------------------------------------------
def _and(names) -> str:
    names = list(names)
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _bptt_scope() -> str:
    """Which registered levels and tasks the bptt trainer takes, in words."""
    def ok(level, task):
        try:
            get_trainer("bptt").check(level, task)
        except ValueError:
            return False
        return True
    pairs = [(lv, t) for lv in level_names() for t in task_names() if ok(lv, t)]
    return (f"bptt cells exist only for {_and(dict.fromkeys(lv for lv, _ in pairs))} on "
            f"{_and(dict.fromkeys(t for _, t in pairs))}")


def check_grid(cfg: ExperimentConfig, everything: list) -> None:
    """Reject, before anything runs, a grid that would fail part-way: a setting out of its range, an
    empty grid, a dataset without motor neurons on a task with a body."""
    from wormsim.rollout import build_circuit
    check_bounds(cfg)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"--{f.name.replace('_', '-')} must be finite, got {value}")
    if not everything:
        raise ValueError("the grid is empty: give at least one level, wiring, task, training and seed"
                         + ("; " + _bptt_scope() if "bptt" in cfg.trains else ""))
    body = [cell for cell in everything if get_task(cell[0]).has_body]
    if body:                                    # the dataset's motor neurons must reach the muscles
        build_circuit(train_config(cfg, *body[0]).eval_spec())


# ---- running cells -----------------------------------------------------------------------------------------
def _timed(cfg: ExperimentConfig, cell, workers: int) -> tuple[dict, float]:
    """(summary, seconds the whole cell took: building, training, final evaluation)."""
    t0 = time.perf_counter()
    summary = run_cell(cfg, *cell, workers=workers)
    return summary, round(time.perf_counter() - t0, 2)


def _job(cfg_dict: dict, cell) -> tuple[dict, float]:
    """One cell in a worker process, its population evaluated in-process."""
    return _timed(ExperimentConfig(**cfg_dict), cell, workers=1)


def _staging(out: str) -> Path:
    """Where a Ray task trains its cells on its own node: a directory of the node's temporary space, the
    same for every task of one grid (so a task run again on the same node resumes from its checkpoint)."""
    import tempfile
    key = hashlib.sha256(str(out).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "wormsim-ray" / key


def _ray_job(cfg_dict: dict, cell, extensions: dict) -> tuple[dict, float, dict, str, str]:
    """One cell as a Ray task, set up as a worker process is (parallel._init_worker). It trains in its
    node's staging directory, not in --out (a node of a cluster need not see the driver's disk), and
    returns (summary, seconds, the run's files but its checkpoint {relative path: bytes}, the node's
    id, the staging directory of the run); the driver writes the files under its --out (ship_back)."""
    import ray

    from wormsim.parallel import _init_worker
    _init_worker(extensions)
    local = ExperimentConfig(**{**cfg_dict, "out": str(_staging(cfg_dict["out"]))})
    summary, seconds = _job(dataclasses.asdict(local), cell)
    path = cell_dir(local, *cell)
    files = {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
             if f.is_file() and f.name != "checkpoint.pkl"}
    return summary, seconds, files, ray.get_runtime_context().get_node_id(), str(path)


def ship_back(cfg: ExperimentConfig, cell, files: dict, node: str, staged: str) -> dict:
    """Write a cell's files, trained on a Ray node, under the driver's --out (atomically, paths in its
    JSON files moved from the node's staging directory to --out); its summary records the node."""
    path = cell_dir(cfg, *cell)
    for rel, data in files.items():
        if rel.endswith((".json", ".jsonl")):
            data = data.decode().replace(json.dumps(staged)[1:-1], json.dumps(str(path.resolve()))[1:-1]).encode()
        atomic_write_bytes(path / rel, data)
    summary = json.loads((path / "summary.json").read_text())
    summary["trained_on"] = node
    atomic_write_text(path / "summary.json", json.dumps(summary, indent=2))
    return summary


def _run_order(cell) -> tuple:
    """Sort key: seed by seed, so that a grid stopped part-way (a session's end, a chunk) leaves every
    (task, level, wiring) with the same seeds done, give or take one; within a seed the more biophysical
    levels first (registry order), tasks with a body before the others, so that the last cells of each
    round are short ones."""
    task, level, seed = cell[0], cell[1], cell[4]
    order = level_names()
    return (seed, order.index(level) if level in order else len(order), not get_task(task).has_body,
            task_names().index(task))


def _one_line(exc: BaseException) -> str:
    """An error as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def execute(jobs: list, on_done, on_failed=None) -> None:
    """Run ``jobs``, (grid config, cell) pairs of one grid or of several (the tuning trials run together,
    so that a trial of one cell does not leave the other workers idle and no trial waits for the slowest
    cell of the one before), calling on_done(i, (summary, seconds)) as job i finishes. The first grid's
    settings say how: sequential in this process (workers = 1: the population is evaluated here), or
    ``workers`` cells at once in spawned processes, or one Ray task per cell. Seed by seed, longest cells
    first within a seed (_run_order).

    A cell whose process dies (SIGKILL from the OOM killer; for a Ray task, its worker or node lost) is
    run again, from its last checkpoint, up to ``CELL_RETRIES`` times. A cell that raises (its error
    would come again) or whose process keeps dying is given to on_failed(i, error, tries), error one
    line, and the other cells go on; without on_failed (or with WORMSIM_DEBUG set) the error is raised.
    An interruption (Ctrl-C, SIGTERM) stops every running cell's process before it goes on."""
    if not jobs:
        return
    lead = jobs[0][0]
    order = sorted(range(len(jobs)), key=lambda i: _run_order(jobs[i][1]))

    def failed(i, error: str, tries: int, exc: BaseException) -> None:
        if on_failed is None or os.environ.get("WORMSIM_DEBUG"):
            raise exc
        on_failed(i, error, tries)

    if lead.backend == "ray":
        return _execute_ray(lead, jobs, order, on_done, failed)
    if lead.workers <= 1 or len(jobs) <= 1:
        for i in order:
            try:
                result = _timed(jobs[i][0], jobs[i][1], lead.workers)
            except Exception as exc:              # the cell's own error; KeyboardInterrupt stops the grid
                failed(i, _one_line(exc), 1, exc)
                continue
            on_done(i, result)
        return
    _execute_local(lead, jobs, order, on_done, failed)


def _execute_local(lead: ExperimentConfig, jobs: list, order: list, on_done, failed) -> None:
    """``workers`` lanes, each a pool of one spawned process that runs cell after cell: a process that
    dies takes only its own cell with it (one pool of several processes is broken as a whole by one
    death, every running cell with it), and the lane knows which cell that was."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    from wormsim.parallel import describe_deaths, kill_pool, new_pool, pool_processes, shut_pool
    as_dict = {}                              # each grid's config, as a worker receives it
    queue = list(order)
    lanes: list = [None] * min(lead.workers, len(jobs))
    procs: list = [{} for _ in lanes]         # each lane's process, to say how it died
    running: dict = {}                        # future -> (lane, job)
    deaths: dict = {}                         # job -> [what died, per try]
    try:
        while queue or running:
            busy = {k for k, _ in running.values()}
            for k in range(len(lanes)):
                if queue and k not in busy:
                    if lanes[k] is None:
                        lanes[k] = new_pool(1)
                    i = queue.pop(0)
                    cfg, cell = jobs[i]
                    cfg_dict = as_dict.setdefault(id(cfg), dataclasses.asdict(cfg))
                    running[lanes[k].submit(_job, cfg_dict, cell)] = (k, i)
                    procs[k].update(pool_processes(lanes[k]))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                k, i = running.pop(f)
                try:
                    result = f.result()
                except BrokenProcessPool as exc:      # the lane's process died: a new one, the cell again
                    shut_pool(lanes[k])
                    deaths.setdefault(i, []).append(describe_deaths(procs[k]))
                    lanes[k], procs[k] = None, {}
                    if len(deaths[i]) <= CELL_RETRIES:
                        queue.insert(0, i)
                    else:
                        tries = len(deaths[i])
                        failed(i, f"its process died on each of {tries} tries "
                                  f"({'; '.join(dict.fromkeys(deaths[i]))})", tries, exc)
                    continue
                except Exception as exc:
                    failed(i, _one_line(exc), len(deaths.get(i, [])) + 1, exc)
                    continue
                on_done(i, result)
    except BaseException:
        for pool in lanes:
            kill_pool(pool)
        raise
    for pool in lanes:
        shut_pool(pool)


def _execute_ray(lead: ExperimentConfig, jobs: list, order: list, on_done, failed) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'wormsim[ray]' (or pip install ray)") from None
    if not ray.is_initialized():   # a cluster runs as many cells at once as it has CPUs; a local Ray, workers
        kwargs = {"address": lead.ray_address} if lead.ray_address else {"num_cpus": lead.workers}
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
    from wormsim.extensions import snapshot
    # max_retries: Ray runs a task again when its worker process or node dies (not when it raises)
    remote = ray.remote(num_cpus=1, max_retries=CELL_RETRIES)(_ray_job)
    # each grid's identity on every node: its --out as the driver resolves it
    extensions, as_dict = snapshot(), {}
    for cfg, _ in jobs:
        as_dict.setdefault(id(cfg), {**dataclasses.asdict(cfg), "out": str(Path(cfg.out).resolve())})
    pending = {remote.remote(as_dict[id(jobs[i][0])], jobs[i][1], extensions): i for i in order}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                cfg, cell = jobs[i]
                try:
                    summary, seconds, files, node, staged = ray.get(ref)
                    result = ship_back(cfg, cell, files, node, staged), seconds
                except ray.exceptions.RayTaskError as exc:        # the cell raised
                    failed(i, _one_line(getattr(exc, "cause", None) or exc), 1, exc)
                    continue
                except ray.exceptions.RayError as exc:            # its process died on every try
                    failed(i, f"its Ray task died on each of {CELL_RETRIES + 1} tries "
                              f"({type(exc).__name__})", CELL_RETRIES + 1, exc)
                    continue
                on_done(i, result)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


# ---- the whole grid -------------------------------------------------------------------------------------------
def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows as CSV; the columns are every key of any row, in order of appearance (a failed cell's row
    has fewer)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


# the fields of a cell's run that the tuning phase sets (grid.tune)
SEARCH_FIELDS = ("sigma", "lr")


def check_before_tuning(cfg: ExperimentConfig) -> None:
    """What run_grid would refuse, checked before the tuning phase spends anything: the grid's settings,
    and cells made with another configuration in any field the tuning does not choose."""
    everything = list(cells(cfg))
    check_grid(cfg, everything)
    if cfg.rerun_stale:
        return
    stale = {}
    for cell in everything:
        diff = {k: v for k, v in stale_fields(cell_dir(cfg, *cell), train_config(cfg, *cell)).items()
                if k not in SEARCH_FIELDS}
        if diff:
            stale[cell] = diff
    if stale:
        first = next(iter(stale))
        raise ValueError(f"{len(stale)} of {len(everything)} cells in {cfg.out} were made with another "
                         f"configuration, e.g. {cell_dir(cfg, *first)} ({describe(stale[first])}); use another "
                         "--out, or --rerun-stale to retrain them")


def _refuse_stale(cfg: ExperimentConfig, everything: list, states: dict) -> None:
    stale = [c for c in everything if states[c] == "stale"]
    if stale and not cfg.rerun_stale:
        first = cell_dir(cfg, *stale[0])
        raise ValueError(
            f"{len(stale)} of {len(everything)} cells in {cfg.out} were made with another configuration, "
            f"e.g. {first} ({describe(stale_fields(first, train_config(cfg, *stale[0])))}); use another "
            f"--out, or --rerun-stale to retrain them")


def heldout_values(task: str, summary: dict) -> tuple[list | None, list | None]:
    """A finished run's held-out trials of its task's metric, and the untrained circuit's on the same
    episodes (None where the run recorded none: a run from before the record, or a fitted readout's
    untrained side)."""
    record = summary.get("heldout") or {}
    key = TRIAL_OF_METRIC.get(get_task(task).metric, "return")

    def side(name):
        values = (record.get(name) or {}).get(key)
        return list(values) if values else None
    return side("trained"), side("untrained")


def learning_speed(path: Path, fraction: float = FRACTION) -> int | None:
    """Evaluations (episodes) a run took to reach ``fraction`` of its validation gain (None: no validation
    curve, or no gain)."""
    from wormsim.train.plateau import evaluations_to_fraction
    if not (path / "metrics.jsonl").is_file():
        return None
    rows = [r for r in Run.open(path).metrics() if r.get("val_score") is not None and "evaluations" in r]
    return evaluations_to_fraction([r["iteration"] for r in rows], [r["evaluations"] for r in rows],
                                   [r["val_score"] for r in rows], fraction)


def result_row(cfg: ExperimentConfig, cell, summary: dict, seconds: float | None) -> dict:
    """The row of cells.csv for a finished cell: its held-out value and trials, and how it trained
    (trainer, search, whether it converged, after how many evaluations, how fast it learned)."""
    task, level, wiring, train, seed = cell
    value, clipped = cell_value(task, summary)
    score = get_task(task).score
    trials, untrained = heldout_values(task, summary)
    tc = train_config(cfg, *cell)
    return {"task": task, "level": cell_label(level, train), "wiring": wiring, "seed": seed,
            "value": value, "value_is_clipped_score": clipped, "trials": trials, "untrained_trials": untrained,
            "score": float(summary[score]) if score and summary.get(score) is not None else value,
            "n_params": summary["n_params"], "generations": summary.get("generations"),
            "algo": summary.get("algo", tc.algo), "sigma": tc.sigma if tc.algo == "es" else None,
            "lr": summary.get("learning_rate") if tc.algo != "es" else None,
            "converged": summary.get("converged"), "converged_at": summary.get("converged_at"),
            "evaluations": summary.get("evaluations"), "val_best": summary.get("val_best"),
            "val_untrained": summary.get("val_untrained"),
            f"evals_to_{round(FRACTION * 100)}": learning_speed(cell_dir(cfg, *cell)),
            "wall_time": summary.get("wall_time"), "cell_seconds": seconds,
            "config_hash": config_hash(tc)}


def failed_row(cfg: ExperimentConfig, cell, error: str, tries: int) -> dict:
    """The row of cells.csv for a cell given up on: no value, its error."""
    task, level, wiring, train, seed = cell
    return {"task": task, "level": cell_label(level, train), "wiring": wiring, "seed": seed,
            "config_hash": config_hash(train_config(cfg, *cell)), "status": "failed", "error": error,
            "tries": tries}


def run_grid(cfg: ExperimentConfig, progress: bool = True, log=print) -> list[dict]:
    """Run (or finish) every cell; write experiment.json and cells.csv into cfg.out; return the rows
    (``status`` "done", or "failed" with the ``error`` of a cell given up on: see execute; its run
    directory keeps the error in FAILED, and the next invocation tries it again)."""
    return run_grids([cfg], progress=progress, log=log)[0]


def _where(cell) -> str:
    task, level, wiring, train, seed = cell
    return f"{task:8s} {cell_label(level, train):19s} {wiring:15s} seed {seed}"


def run_grids(cfgs: list[ExperimentConfig], progress: bool = True, log=print,
              names: list[str] | None = None) -> list[list[dict]]:
    """run_grid for several grids at once (the tuning trials), their unfinished cells run together in
    one pool (the first grid's workers or Ray backend); each grid's rows, as run_grid returns them.
    ``names`` prefix each grid's progress lines."""
    names = names or [""] * len(cfgs)
    plans, jobs, owner = [], [], []
    for g, cfg in enumerate(cfgs):
        everything = list(cells(cfg))
        check_grid(cfg, everything)
        states = {cell: cell_state(cfg, cell) for cell in everything}
        _refuse_stale(cfg, everything, states)
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(cfg.out) / "experiment.json", json.dumps(dataclasses.asdict(cfg), indent=2))
        summaries = {c: json.loads((cell_dir(cfg, *c) / "summary.json").read_text())
                     for c in everything if states[c] == "done"}
        todo = [c for c in everything if states[c] != "done"]
        n_stale = sum(states[c] == "stale" for c in todo)
        n_failed = sum(states[c] == "failed" for c in todo)
        if progress:
            log(f"{names[g]}{len(everything)} cells: {len(summaries)} done, {len(todo)} to run"
                + (f" ({n_stale} stale, retrained)" if n_stale else "")
                + (f" ({n_failed} failed before, tried again)" if n_failed else ""))
        plans.append({"everything": everything, "summaries": summaries, "seconds": {}, "failures": {}})
        jobs += [(cfg, c) for c in todo]
        owner += [g] * len(todo)
    t0 = time.perf_counter()

    def on_done(i, result):
        g, (cfg, cell) = owner[i], jobs[i]
        plan = plans[g]
        plan["summaries"][cell], plan["seconds"][cell] = result
        (cell_dir(cfg, *cell) / FAILED).unlink(missing_ok=True)
        if progress:
            value, _ = cell_value(cell[0], plan["summaries"][cell])
            log(f"{names[g]}[{len(plan['summaries'])}/{len(plan['everything'])}] {_where(cell)}: {value:.4f} "
                f"({plan['seconds'][cell]:.0f} s)  [{time.perf_counter() - t0:.0f} s]")

    def on_failed(i, error, tries):
        g, (cfg, cell) = owner[i], jobs[i]
        plans[g]["failures"][cell] = (error, tries)
        path = cell_dir(cfg, *cell)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / FAILED, json.dumps({"error": error, "tries": tries}, indent=2))
        log(f"{names[g]}[failed] {_where(cell)}: {error}")     # said even without progress: a result is missing

    execute(jobs, on_done, on_failed)
    out_rows = []
    for g, (cfg, plan) in enumerate(zip(cfgs, plans)):
        summaries, failures = plan["summaries"], plan["failures"]
        results = [{**result_row(cfg, c, summaries[c], plan["seconds"].get(c)), "status": "done"}
                   if c in summaries else failed_row(cfg, c, *failures[c]) for c in plan["everything"]]
        write_csv(Path(cfg.out) / "cells.csv", results)
        if failures:
            log(f"{names[g]}{len(failures)} of {len(plan['everything'])} cells failed (status 'failed' in "
                f"{Path(cfg.out) / 'cells.csv'}, listed in the report); run the same command again to try them "
                "again")
        out_rows.append(results)
    return out_rows


def trained_cells(cfg: ExperimentConfig, results: list[dict], eligible) -> list[tuple[dict, tuple]]:
    """(row, cell) of every finished row of ``results`` whose cell ``eligible(cell)`` admits and whose run
    keeps its policy (a table reread without its runs has none): what the report's replays (probes,
    atlas, gait) replay."""
    out = []
    for r in results:
        level, train = split_label(r["level"])
        cell = (r["task"], level, r["wiring"], train, r["seed"])
        if (r.get("status", "done") == "done" and eligible(cell)
                and (cell_dir(cfg, *cell) / "policy.npz").is_file()):
            out.append((r, cell))
    return out


def finished_results(cfg: ExperimentConfig) -> tuple[list[dict], int]:
    """(the rows of cells.csv for the cells of the grid finished so far, training nothing; the number of
    cells in the grid): what an interim report (--report-only) is made of. Cells made with another
    configuration are left out, as are those not finished."""
    everything = list(cells(cfg))
    check_grid(cfg, everything)
    rows = []
    for cell in everything:
        if cell_state(cfg, cell) == "done":
            summary = json.loads((cell_dir(cfg, *cell) / "summary.json").read_text())
            rows.append({**result_row(cfg, cell, summary, None), "status": "done"})
    return rows, len(everything)


# ---- tuning the search ---------------------------------------------------------------------------------------
class TuningFailed(ValueError):
    """A tuning trial failed: no cell may train on a choice among the others (the CLI says it in one line)."""


def tuning_grids(cfg: ExperimentConfig) -> list[ExperimentConfig]:
    """One small grid per tuning trial i: every (task, level, train) of the grid once, on the first
    wiring, with seed TUNE_SEED, its ES runs at ``tune_sigmas[i]`` and its BPTT runs at ``tune_lrs[i]``;
    so every level gets the same number of trials, on the same footing. (Fitted readouts have nothing
    to tune and are left out.)"""
    if len(cfg.tune_sigmas) != len(cfg.tune_lrs):
        raise ValueError(f"--tune-sigmas and --tune-lrs pair up into trials, so they need as many values "
                         f"({len(cfg.tune_sigmas)} vs {len(cfg.tune_lrs)})")
    trains = [t for t in cfg.trains if t != "readout" or cfg.readout_motor]
    grids = []
    for i, (sigma, lr) in enumerate(zip(cfg.tune_sigmas, cfg.tune_lrs)):
        sub = dataclasses.replace(cfg, out=str(Path(cfg.out) / "tuning" / f"trial{i}"), wirings=cfg.wirings[:1],
                                  seeds=1, first_seed=TUNE_SEED, trains=trains, tune=False, probes=False,
                                  searches={})
        sub.searches = {search_key(t, lv, tr): {"sigma": float(sigma), "lr": float(lr)}
                        for t, lv, _, tr, _ in cells(sub)}
        grids.append(sub)
    return grids


def tune(cfg: ExperimentConfig, progress: bool = True, log=print) -> ExperimentConfig:
    """The tuning phase: run every trial's grid (resumable like any grid), choose for each (task, level,
    train) the trial with the best validation score (the run's best check on training-distribution
    episodes; never the held-out ones), write OUT/tuning.json (every trial and the choice) and return
    ``cfg`` with the choice in ``searches``. Without ``cfg.tune``, ``cfg`` as it is. With
    ``cfg.report_only`` it runs no trial and chooses among the trials finished so far. A failed trial
    stops the grid (TuningFailed, before any cell): the choice must be among all of a level's trials."""
    if not cfg.tune:
        return cfg
    trials = []
    grids = [(i, sub) for i, sub in enumerate(tuning_grids(cfg)) if sub.searches]   # readouts: nothing to tune
    if cfg.report_only:
        rows_of = [finished_results(sub)[0] for _, sub in grids]
    else:                                       # every trial's cells in one pool: no trial waits for another
        rows_of = run_grids([sub for _, sub in grids], progress=progress, log=log,
                            names=[f"tuning trial {i + 1} (ES sigma {cfg.tune_sigmas[i]:g}, BPTT lr "
                                   f"{cfg.tune_lrs[i]:g}): " for i, _ in grids])
    for (i, sub), rows in zip(grids, rows_of):
        for row in rows:
            level, train = split_label(row["level"])
            val = row.get("val_best") if row.get("status") == "done" else None
            trials.append({"trial": i, "key": search_key(row["task"], level, train),
                           **sub.searches[search_key(row["task"], level, train)],
                           "val_best": val if val is not None and math.isfinite(float(val)) else None,
                           "status": row.get("status")})
    failed = [t for t in trials if t["status"] != "done"]
    if failed and not cfg.report_only:
        # a choice among the trials that happened to finish would give that level an unequal search
        where = ", ".join(f"{t['key']} trial {t['trial'] + 1}" for t in failed)
        raise TuningFailed(f"tuning: {len(failed)} trial(s) failed ({where}; the error is in each run's "
                           f"{FAILED} under {Path(cfg.out) / 'tuning'}): fix the cause and run the same "
                           "command again (it retries them); no cell was trained")
    choice = {}
    for key in dict.fromkeys(t["key"] for t in trials):
        tried = [t for t in trials if t["key"] == key]
        scored = [t for t in tried if t["val_best"] is not None]
        best = max(scored, key=lambda t: t["val_best"]) if scored else tried[0]
        choice[key] = {"sigma": best["sigma"], "lr": best["lr"], "trial": best["trial"]}
    atomic_write_text(Path(cfg.out) / "tuning.json", json.dumps({"trials": trials, "choice": choice}, indent=2))
    return dataclasses.replace(cfg, searches={k: {"sigma": v["sigma"], "lr": v["lr"]} for k, v in choice.items()})
