"""Does biophysical detail matter? The grid of realism levels x wirings x tasks x seeds, and its report.

    wormsim experiment --out results/NAME        # the default grid (below)
    wormsim experiment --quick --out /tmp/q      # a tiny grid, under a minute (CI)
    wormsim experiment --levels rate mlp --wirings connectome shuffled --tasks swim --seeds 5 --out ...

The default grid: every realism level (conductance, spiking, rate, and the mlp, which has no wiring
and is trained once per seed), the connectome and three null wirings (shuffled, erdos-renyi,
watts-strogatz; add barabasi-albert with --wirings), swim, memory and digits, each circuit trained
by CMA-ES (30 generations of 24) and, on memory and digits, also used as a fixed reservoir with a
fitted linear readout (``trains``: weights, readout), 8 seeds. ``--train ... bptt`` adds cells of the
differentiable levels (rate, spiking, mlp) on the non-motor tasks trained by backpropagation through
time (``bptt_budget`` gradient steps; wormsim/train/bptt.py), set against the same circuits trained
by ES and, like every trained cell, connectome against each null wiring.

Why 8 seeds: the report's tests are exact permutation tests, Holm-corrected over all of them (about
60 in the default grid). With n seeds a side the smallest two-sided p is 2 / C(2n, n): 0.1 at 3
seeds, 0.0079 at 5, 1.6e-4 at 8, and Holm multiplies the smallest by the number of tests. At 5 seeds
no test of the default report could reach 0.05 after correction, whatever the data; at 8 it can.

Cost (measured on this 2-core machine, one cell alone in its process, build and final evaluation
included): conductance swim ~80 s, digits ~45 s, memory ~23 s, its two reservoir fits ~15 s;
spiking swim ~18 s, digits ~4 s, memory ~2 s; rate swim ~9 s; mlp swim ~6 s; every other cell 0-3 s.
About 200 s per (wiring, seed), 32 of them: ~6,500 s of cell time, ~55 min with 2 cells at a time on
2 quiet cores. With other jobs on the cores two concurrent cells ran at half speed each (measured:
conductance swim 161 s), i.e. up to ~110 min. Barabasi-albert adds a quarter.

Every cell (task, level, wiring, train, seed) is an ordinary training run under ``OUT/runs/``. A cell
whose config.json matches the cell's configuration is finished (summary.json: skipped) or resumed
(checkpoint.pkl); a cell made with another configuration (another budget, population, ...) is
*stale*: the grid refuses to start, naming the cells and the fields that differ, unless
``rerun_stale`` (``--rerun-stale``) retrains them from scratch. So the experiment can be stopped and
started again at any point, and a report never mixes configurations.

Cells are independent, so they run concurrently: ``workers`` processes on this machine (each cell
then evaluates its population in its own process), or one Ray task per cell on a Ray cluster
(``backend="ray"``; Ray is imported only then). A cell's result does not depend on where it ran.

Into OUT:

- ``cells.csv``: one row per cell: the analysed value, the task's score, parameters, wall time,
  the hash of the cell's configuration;
- ``table_<task>.csv``: per level x wiring, mean and 95% t-interval over seeds of the analysed value
  (clamped to the value's range where it is bounded), the task's clipped score, parameters, and a
  floor / ceiling flag;
- ``tests.csv``: every comparison of the report: the connectome against each null wiring per level,
  each level against the rate level on the connectome (does biophysical detail matter?), the trained
  circuit against its reservoir (if both are in the grid); difference of means, Hedges' g, the exact
  two-sided permutation test, and Holm's correction over all the report's tests;
- ``curves_<task>.png``: mean learning curves of every level x wiring, in the task's own units;
- ``report.md``: the tables, the findings in plain words, a verdict on each published claim, and
  the exact command that made it.

The analysed value of a cell (``TASK_INFO[task].value``): forward speed (body lengths / s) for swim, the
return for navigate, the *unclipped* recall R^2 for memory and memory-capacity (the episode return,
1 - MSE / target variance on average; see envs/nonmotor.py RegressionTask: the clipped score would
make every failing cell 0 and hide their differences), the accuracy for digits; all measured on
fresh episodes after training (digits: held-out images).
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import math
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormsim.runs import Run, atomic_write_text
from wormsim.config import TrainConfig
from wormsim.train.es import train_es

CLAIMS = {
    "schmidgall": ("Schmidgall, Schuman & Parsa 2022: the motor circuit helps locomotion without "
                   "biophysical realism; its architectural statistics carry the benefit; it may hinder "
                   "non-motor tasks."),
    "bio2art": ("Goulas, Damicelli & Hilgetag 2021 (bio2art): connectome-wired RNNs show no general gain "
                "over randomly wired ones on memory tasks."),
    "elegans_ai": ("Bardozzo et al. 2024 (Elegans-AI): connectome-derived topology beats random "
                   "rewiring; Watts-Strogatz null models come close."),
}


@dataclass(frozen=True)
class TaskInfo:
    """What is analysed for a task: the summary key, its name, its range, chance level, and the
    task's own (clipped) score if it differs from the analysed value."""
    value: str
    name: str
    low: float = -math.inf
    high: float = math.inf
    chance: float | None = None
    score: str | None = None
    score_name: str = ""


TASK_INFO = {
    "swim": TaskInfo("final_speed", "forward speed, body lengths / s"),
    "navigate": TaskInfo("final_return", "return"),
    # the unclipped R^2's expectation, 1 - MSE / variance, is at most 1 (one episode's may pass 1)
    "memory": TaskInfo("final_return", "recall R^2, unclipped (1 - MSE / cue variance)", high=1.0,
                       chance=0.0, score="final_score", score_name="clipped R^2 (the env's score)"),
    "memory-capacity": TaskInfo("final_return", "recall R^2 of u(t-1), unclipped", high=1.0, chance=0.0,
                                score="final_score", score_name="clipped R^2 (the env's score)"),
    "digits": TaskInfo("final_score", "accuracy on held-out images", low=0.0, high=1.0, chance=0.1),
}


def _info(task: str) -> TaskInfo:
    return TASK_INFO.get(task, TaskInfo("final_return", "return"))


# a cell is at the floor when no seed beats chance by more than this, at the ceiling when every
# seed's score is within this of 1
FLOOR_MARGIN = 0.01
ALPHA = 0.05
N_RESAMPLES = 19999            # exact permutation tests up to 8 seeds a side (C(16, 8) = 12870 splits)
REFERENCE_LEVEL = "rate"       # the level-vs-level tests compare every level with this one
# fields of a cell's TrainConfig that do not change its result (where and how fast it runs)
RUNTIME_FIELDS = ("workers", "backend", "ray_address", "video", "out")


@dataclass
class ExperimentConfig:
    """The grid. The default finishes on 2 cores in under two hours (the module docstring gives the
    measured costs); ``quick`` is a tiny grid for CI."""
    levels: list[str] = field(default_factory=lambda: ["conductance", "spiking", "rate", "mlp"])
    wirings: list[str] = field(default_factory=lambda: ["connectome", "shuffled", "erdos-renyi",
                                                        "watts-strogatz"])
    tasks: list[str] = field(default_factory=lambda: ["swim", "memory", "digits"])
    trains: list[str] = field(default_factory=lambda: ["weights", "readout"])
    readout_motor: bool = False    # readout cells on swim / navigate too (ES-trained readouts, as costly as
    #                                a trained circuit; the default fits readouts on the non-motor tasks only)
    seeds: int = 8
    budget: int = 30
    bptt_budget: int = 300         # gradient steps of a "bptt" cell (train axis; rate, spiking, mlp on the
    #                                non-motor tasks: BPTT through the brain, wormsim/train/bptt.py)
    popsize: int = 24
    sigma: float = 0.2
    duration: float = 3.0
    episodes: int = 1              # per candidate, swim and navigate
    nonmotor_episodes: int = 2     # per candidate, memory, memory-capacity, digits (short, noisy episodes)
    eval_episodes: int = 8
    head_cpg: float = 2.0
    dataset: str = "cook2019"
    spectral_radius: float = 0.9   # reservoir (readout) cells
    ridge_alpha: float = 1.0       # reservoir (readout) cells
    workers: int = 2
    backend: str = "local"
    ray_address: str | None = None
    rerun_stale: bool = False
    out: str = "results/experiment"

    @classmethod
    def quick(cls, out: str) -> "ExperimentConfig":
        """A tiny grid that runs in a minute or two on 2 cores (the CI check of the whole pipeline)."""
        return cls(levels=["rate", "mlp"], wirings=["connectome", "shuffled"],
                   tasks=["swim", "memory", "digits"], seeds=2, budget=3, popsize=6, duration=0.5,
                   nonmotor_episodes=2, eval_episodes=1, workers=1, out=out)


# ---- cells -------------------------------------------------------------------------------------------
def cells(cfg: ExperimentConfig):
    """(task, level, wiring, train, seed) of every cell. The mlp has no wiring: one set of seeds
    (filed under the first wiring) stands for every wiring. Readout (reservoir) cells on a body task
    are ES-trained readouts, run only with ``readout_motor``, and need a level that steps in torch,
    so conductance x readout x (swim, navigate) is left out. BPTT cells exist for the differentiable
    levels on the non-motor tasks only (a body is not differentiable)."""
    from wormsim.rollout import MOTOR_TASKS
    from wormsim.train.ppo import DIFFERENTIABLE_LEVELS
    for task, level, wiring, train, seed in itertools.product(cfg.tasks, cfg.levels, cfg.wirings,
                                                              cfg.trains, range(cfg.seeds)):
        if level == "mlp" and wiring != cfg.wirings[0]:
            continue
        if train == "bptt" and (task in MOTOR_TASKS or level not in DIFFERENTIABLE_LEVELS):
            continue
        if train == "readout" and task in MOTOR_TASKS and (level == "conductance" or not cfg.readout_motor):
            continue
        yield task, level, wiring, train, seed


def cell_dir(cfg: ExperimentConfig, task, level, wiring, train, seed) -> Path:
    mode = "" if train == "weights" else f"-{train}"
    return Path(cfg.out) / "runs" / task / f"{level}{mode}-{wiring}-s{seed}"


def train_config(cfg: ExperimentConfig, task, level, wiring, train, seed, workers=None) -> TrainConfig:
    from wormsim.rollout import MOTOR_TASKS
    bptt = train == "bptt"        # a training axis of the grid; for the run it is an algorithm
    return TrainConfig(level=level, wiring=wiring, dataset=cfg.dataset, task=task, seed=seed,
                       algo="bptt" if bptt else "es", budget=cfg.bptt_budget if bptt else cfg.budget,
                       popsize=cfg.popsize, sigma=cfg.sigma, duration=cfg.duration,
                       episodes=cfg.episodes if task in MOTOR_TASKS else cfg.nonmotor_episodes,
                       eval_episodes=cfg.eval_episodes, head_cpg=cfg.head_cpg,
                       train="weights" if bptt else train,
                       spectral_radius=cfg.spectral_radius, ridge_alpha=cfg.ridge_alpha,
                       workers=cfg.workers if workers is None else workers, backend="local",
                       video=False, out=str(cell_dir(cfg, task, level, wiring, train, seed)))


def _semantic(config: dict | TrainConfig) -> dict:
    """The fields of a cell's config that decide its result (a stored dict is read as TrainConfig
    reads it, so a field added later with a default compares equal to its default)."""
    tc = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    return {k: v for k, v in dataclasses.asdict(tc).items() if k not in RUNTIME_FIELDS}


def config_hash(config: dict | TrainConfig) -> str:
    return hashlib.sha256(json.dumps(_semantic(config), sort_keys=True).encode()).hexdigest()[:12]


def stale_fields(path: Path, tc: TrainConfig) -> dict:
    """{field: (stored, wanted)} where the run in ``path`` was made with another configuration ({} if
    it matches or there is no run yet)."""
    if not (path / "config.json").is_file():
        return {}
    stored, wanted = _semantic(Run.open(path).config), _semantic(tc)
    return {k: (stored.get(k), wanted[k]) for k in wanted if stored.get(k) != wanted[k]}


def cell_state(cfg: ExperimentConfig, cell) -> str:
    """'done', 'resume', 'new' or 'stale'."""
    path = cell_dir(cfg, *cell)
    if stale_fields(path, train_config(cfg, *cell)):
        return "stale"
    if (path / "summary.json").is_file():
        return "done"
    return "resume" if (path / "checkpoint.pkl").is_file() else "new"


def run_cell(cfg: ExperimentConfig, task, level, wiring, train, seed, progress=False, workers=None) -> dict:
    """Train one cell (or return its summary if it is finished); see the module docstring for stale
    cells."""
    from wormsim.rollout import MOTOR_TASKS
    path = cell_dir(cfg, task, level, wiring, train, seed)
    tc = train_config(cfg, task, level, wiring, train, seed, workers)
    from wormsim.reservoir import train_readout
    from wormsim.train.bptt import train_bptt
    # a reservoir cell on a non-motor task: the ridge readout on the fixed circuit (its summary's
    # final_r2, the unclipped held-out R^2, is what the statistics of a regression task use)
    trainer = (train_readout if train == "readout" and task not in MOTOR_TASKS else
               train_bptt if train == "bptt" else train_es)
    diff = stale_fields(path, tc)
    if diff and not cfg.rerun_stale:
        raise ValueError(f"{path} was made with another configuration ({_describe(diff)}); "
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
    return trainer(tc, Run.create(path, tc, overwrite=True), progress=progress)


def _describe(diff: dict) -> str:
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())


def _label(level: str, train: str) -> str:
    return level if train == "weights" else f"{level} ({train})"


def cell_value(task: str, summary: dict) -> tuple[float, bool]:
    """(the analysed value of a finished cell, whether it is the clipped score standing in for it).
    Reservoir cells on regression tasks have no episode return; they report the held-out pooled R^2
    if their summary has it, else the clipped score (flagged)."""
    info = _info(task)
    v = summary.get(info.value)
    if v is not None and math.isfinite(float(v)):
        return float(v), False
    for key in ("pooled_r2", "final_r2"):
        if summary.get(key) is not None and math.isfinite(float(summary[key])):
            return float(summary[key]), False
    return float(summary.get(info.score or "final_score", math.nan)), True


# ---- statistics --------------------------------------------------------------------------------------
def mean_ci(x, low: float = -math.inf, high: float = math.inf) -> tuple[float, float, float]:
    """Mean and 95% t-interval (NaN interval for fewer than 2 values), the interval clamped to
    [low, high], the range of the quantity (a t-interval knows nothing of bounds: a score in [0, 1]
    near 0 would otherwise get an interval below 0)."""
    from scipy import stats
    x = np.asarray(x, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, max(m - half, low), min(m + half, high)


def hedges_g(a, b) -> float:
    """Hedges' g (pooled SD, J = 1 - 3 / (4 (n1 + n2) - 9)). Ties: with no spread in either group, g
    is 0 if the means are equal and +-inf if they differ (every value of one above every value of the
    other); NaN for fewer than 2 values in a group."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    diff = float(a.mean() - b.mean())
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled <= 1e-12 * max(1.0, abs(a.mean()), abs(b.mean())):
        return 0.0 if abs(diff) <= 1e-12 * max(1.0, abs(a.mean())) else math.copysign(math.inf, diff)
    return diff / pooled * (1 - 3 / (4 * (na + nb) - 9))


def format_g(g: float) -> str:
    if math.isnan(g):
        return "n/a"
    if math.isinf(g):
        return f"{'+' if g > 0 else '-'}inf (no spread)"
    if g == 0.0:
        return "0 (tie)"
    return f"{g:+.2f}"


def permutation_p(a, b) -> float:
    """Two-sided permutation test on the difference of means (scipy; exact when the number of
    distinct splits is at most N_RESAMPLES, as it is up to 8 seeds per group)."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    res = stats.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=N_RESAMPLES,
                                 alternative="two-sided", random_state=0)
    return float(res.pvalue)


def smallest_p(na: int, nb: int) -> float:
    """The smallest two-sided p the permutation test can return with groups of na and nb: 2 / the
    number of distinct splits when exact, else 2 / (N_RESAMPLES + 1). With 3 seeds a side it is 0.1,
    so such a test can never reach 0.05."""
    splits = math.comb(na + nb, na)
    return min(1.0, 2.0 / splits if splits <= N_RESAMPLES else 2.0 / (N_RESAMPLES + 1))


def holm(ps) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    ps = [float(p) for p in ps]
    idx = [i for i, p in enumerate(ps) if math.isfinite(p)]
    m = len(idx)
    out = [math.nan] * len(ps)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: ps[i])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


# ---- running the grid ----------------------------------------------------------------------------------
_COST = {"conductance": 0, "spiking": 1, "rate": 2, "mlp": 3}
_TASK_COST = {"swim": 0, "navigate": 0, "digits": 1, "memory-capacity": 2, "memory": 3}


def _timed(cfg: ExperimentConfig, cell, workers: int) -> tuple[dict, float]:
    """(summary, seconds the whole cell took: building, training, final evaluation)."""
    t0 = time.perf_counter()
    summary = run_cell(cfg, *cell, workers=workers)
    return summary, round(time.perf_counter() - t0, 2)


def _job(cfg_dict: dict, cell) -> tuple[dict, float]:
    """One cell in a worker process (or Ray task): one torch thread, population evaluated in-process."""
    from wormsim.parallel import _init_worker
    _init_worker()
    return _timed(ExperimentConfig(**cfg_dict), cell, workers=1)


def _execute(cfg: ExperimentConfig, todo: list, on_done) -> None:
    """Run the cells of ``todo``, calling on_done(cell, (summary, seconds)) as each finishes. Sequential in this
    process (workers = 1: the population is evaluated here), or ``workers`` cells at once in spawned
    processes, or one Ray task per cell. Longest cells first, so the last ones to finish are short."""
    todo = sorted(todo, key=lambda c: (_COST.get(c[1], 9), _TASK_COST.get(c[0], 9)))
    if cfg.backend == "ray":
        return _execute_ray(cfg, todo, on_done)
    if cfg.workers <= 1 or len(todo) <= 1:
        for cell in todo:
            on_done(cell, _timed(cfg, cell, cfg.workers))
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    cfg_dict = dataclasses.asdict(cfg)
    from wormsim.parallel import _init_worker       # one torch thread; ends with this process
    with ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as pool:
        pending = {pool.submit(_job, cfg_dict, cell): cell for cell in todo}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    on_done(pending.pop(f), f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise


def _execute_ray(cfg: ExperimentConfig, todo: list, on_done) -> None:
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'wormsim[ray]' (or pip install ray)") from None
    if not ray.is_initialized():   # a cluster runs as many cells at once as it has CPUs; a local Ray, workers
        kwargs = {"address": cfg.ray_address} if cfg.ray_address else {"num_cpus": cfg.workers}
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False, **kwargs)
    remote = ray.remote(num_cpus=1)(_job)
    cfg_dict = dataclasses.asdict(cfg)
    pending = {remote.remote(cfg_dict, cell): cell for cell in todo}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                on_done(pending.pop(ref), ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def check_grid(cfg: ExperimentConfig, everything: list) -> None:
    """Reject, before anything runs, a grid that would fail part-way: a level that cannot do a task, a
    dataset without motor neurons on a body task, a reservoir setting out of range."""
    from wormsim.rollout import MOTOR_TASKS, build_circuit
    if not everything:
        raise ValueError("the grid is empty: give at least one level, wiring, task, training and seed"
                         + ("; bptt cells exist only for rate, spiking and mlp on memory, "
                            "memory-capacity and digits" if "bptt" in cfg.trains else ""))
    if "readout" in cfg.trains and not (math.isfinite(cfg.spectral_radius) and cfg.spectral_radius > 0
                                        and math.isfinite(cfg.ridge_alpha) and cfg.ridge_alpha >= 0):
        raise ValueError(f"--spectral-radius must be > 0 and --ridge-alpha >= 0, got {cfg.spectral_radius} "
                         f"and {cfg.ridge_alpha}")
    seen = set()
    for task, level, wiring, train, seed in everything:
        if (task, level, train) not in seen:
            seen.add((task, level, train))
            spec = train_config(cfg, task, level, wiring, train, seed).eval_spec()
            if task in MOTOR_TASKS and ("motor", cfg.dataset) not in seen:
                seen.add(("motor", cfg.dataset))
                build_circuit(spec)


def run_experiment(cfg: ExperimentConfig, progress: bool = True, log=print, command: str | None = None) -> Path:
    """Run (or finish) the grid and write its report; returns the report's path. ``command``: the
    command line to print in the report (default: the full equivalent ``wormsim experiment`` line)."""
    out = Path(cfg.out)
    everything = list(cells(cfg))
    check_grid(cfg, everything)
    states = {cell: cell_state(cfg, cell) for cell in everything}
    stale = [c for c in everything if states[c] == "stale"]
    if stale and not cfg.rerun_stale:
        first = cell_dir(cfg, *stale[0])
        raise ValueError(
            f"{len(stale)} of {len(everything)} cells in {out} were made with another configuration, "
            f"e.g. {first} ({_describe(stale_fields(first, train_config(cfg, *stale[0])))}); use another "
            f"--out, or --rerun-stale to retrain them")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "experiment.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    summaries = {c: json.loads((cell_dir(cfg, *c) / "summary.json").read_text())
                 for c in everything if states[c] == "done"}
    todo = [c for c in everything if states[c] != "done"]
    t0 = time.perf_counter()
    if progress:
        log(f"{len(everything)} cells: {len(summaries)} done, {len(todo)} to run"
            + (f" ({sum(states[c] == 'stale' for c in todo)} stale, retrained)" if stale else ""))

    seconds = {}

    def on_done(cell, result):
        summaries[cell], seconds[cell] = result
        if progress:
            task, level, wiring, train, seed = cell
            value, _ = cell_value(task, summaries[cell])
            log(f"[{len(summaries)}/{len(everything)}] {task:8s} {_label(level, train):19s} {wiring:15s} "
                f"seed {seed}: {value:.4f} ({seconds[cell]:.0f} s)  [{time.perf_counter() - t0:.0f} s]")

    _execute(cfg, todo, on_done)
    results = []
    for cell in everything:
        task, level, wiring, train, seed = cell
        s = summaries[cell]
        value, clipped = cell_value(task, s)
        info = TASK_INFO.get(task)
        results.append({"task": task, "level": _label(level, train), "wiring": wiring, "seed": seed,
                        "value": value, "value_is_clipped_score": clipped,
                        "score": float(s[info.score]) if info and info.score and s.get(info.score) is not None
                        else value, "n_params": s["n_params"], "generations": s.get("generations"),
                        "wall_time": s.get("wall_time"), "cell_seconds": seconds.get(cell),
                        "config_hash": config_hash(train_config(cfg, *cell))})
    _write_csv(out / "cells.csv", results)
    write_report(cfg, results, command=command)
    return out / "report.md"


# ---- the report ----------------------------------------------------------------------------------------
def _values(rows, level, wiring):
    return [r["value"] for r in rows if r["level"] == level and r["wiring"] == wiring]


def _flag(task: str, scores: list[float], values: list[float]) -> str:
    info = TASK_INFO.get(task)
    if info is None or info.chance is None or not values:
        return ""
    if all(v <= info.chance + FLOOR_MARGIN for v in values):
        return "floor" if info.chance == 0 else "chance"
    if all(s >= 1 - FLOOR_MARGIN for s in scores):
        return "ceiling"
    return ""


def build_tables(cfg: ExperimentConfig, results: list[dict]) -> tuple[dict, list[dict]]:
    """({task: table rows}, every test of the report with Holm-adjusted p)."""
    labels = list(dict.fromkeys(r["level"] for r in results))
    tables, tests = {}, []
    ref_wiring = cfg.wirings[0] if "connectome" not in cfg.wirings else "connectome"
    for task in cfg.tasks:
        info = _info(task)
        rows = [r for r in results if r["task"] == task]
        table = []
        for level in labels:
            for wiring in cfg.wirings:
                sel = [r for r in rows if r["level"] == level and r["wiring"] == wiring]
                if not sel:
                    continue
                values = [r["value"] for r in sel]
                scores = [r["score"] for r in sel]
                m, lo, hi = mean_ci(values, info.low, info.high)
                table.append({"level": level, "wiring": "(none)" if level.startswith("mlp") else wiring,
                              "n": len(values), "mean": m, "ci_low": lo, "ci_high": hi,
                              "score_mean": float(np.mean(scores)), "n_params": sel[0]["n_params"],
                              "flag": _flag(task, scores, values),
                              "clipped": any(r["value_is_clipped_score"] for r in sel)})
        tables[task] = table

        def add(family, a_level, a_wiring, b_level, b_wiring):
            a, b = _values(rows, a_level, a_wiring), _values(rows, b_level, b_wiring)
            if not a or not b:
                return
            fa = next(t["flag"] for t in table if t["level"] == a_level and
                      t["wiring"] in (a_wiring, "(none)"))
            fb = next(t["flag"] for t in table if t["level"] == b_level and
                      t["wiring"] in (b_wiring, "(none)"))
            tests.append({"task": task, "family": family, "a": _cell_name(a_level, a_wiring),
                          "b": _cell_name(b_level, b_wiring), "level_a": a_level, "wiring_a": a_wiring,
                          "level_b": b_level, "wiring_b": b_wiring, "n_a": len(a), "n_b": len(b),
                          "mean_a": float(np.mean(a)), "mean_b": float(np.mean(b)),
                          "diff": float(np.mean(a) - np.mean(b)), "hedges_g": hedges_g(a, b),
                          "p": permutation_p(a, b), "p_min": smallest_p(len(a), len(b)),
                          "floor": " and ".join(f for f in dict.fromkeys((fa, fb)) if f)})

        # the connectome against each null wiring, per level
        for level in labels:
            if level.startswith("mlp") or "connectome" not in cfg.wirings:
                continue
            for wiring in cfg.wirings:
                if wiring != "connectome":
                    add("wiring", level, "connectome", level, wiring)
        # level against level on the connectome: each level against the reference level
        weights = [lv for lv in labels if "(" not in lv]
        ref = REFERENCE_LEVEL if REFERENCE_LEVEL in weights else (weights[0] if weights else None)
        for level in weights:
            if level != ref:
                add("level", level, ref_wiring if level != "mlp" else cfg.wirings[0], ref, ref_wiring)
        # the circuit trained by ES against its reservoir (readout only) and against BPTT, on the connectome
        for level in weights:
            for other in ("readout", "bptt"):
                if f"{level} ({other})" in labels:
                    w = ref_wiring if level != "mlp" else cfg.wirings[0]
                    add("training", level, w, f"{level} ({other})", w)
    for t, p in zip(tests, holm([t["p"] for t in tests])):
        t["p_holm"] = p
    return tables, tests


def _cell_name(level: str, wiring: str) -> str:
    return level if level.startswith("mlp") else f"{level} / {wiring}"


def write_report(cfg: ExperimentConfig, results: list[dict], command: str | None = None) -> None:
    from wormsim.train.bptt import BPTTConfig
    out = Path(cfg.out)
    tables, tests = build_tables(cfg, results)
    for task, table in tables.items():
        _write_csv(out / f"table_{task}.csv", table)
    _write_csv(out / "tests.csv", tests)
    n_min = min((min(t["n_a"], t["n_b"]) for t in tests), default=cfg.seeds)
    m = sum(math.isfinite(t["p"]) for t in tests)
    p_min = smallest_p(cfg.seeds, cfg.seeds)
    lines = ["# Does biophysical detail matter? Realism levels x wirings", "",
             f"Grid: levels {', '.join(cfg.levels)}; wirings {', '.join(cfg.wirings)}; training "
             f"{', '.join(cfg.trains)}" + (" (readout: the circuit fixed at connectome-derived values, a "
                                         "linear readout fitted)" if "readout" in cfg.trains else "")
             + f"; tasks {', '.join(cfg.tasks)}; {cfg.seeds} seeds; dataset {cfg.dataset}. CMA-ES, "
             f"{cfg.budget} generations of {cfg.popsize} candidates (sigma {cfg.sigma:g}), "
             f"{cfg.episodes} episode(s) per candidate on swim ({cfg.duration:g} s, head oscillator "
             f"{cfg.head_cpg:g} Hz), {cfg.nonmotor_episodes} on the non-motor tasks"
             + (f"; bptt cells: {cfg.bptt_budget} gradient steps of backpropagation through time "
                f"(Adam, {BPTTConfig().num_envs} episodes a step; rate, spiking and mlp on the non-motor tasks)"
                if "bptt" in cfg.trains else "") + "; the final policy "
             f"judged on {cfg.eval_episodes} fresh episodes. The mlp has no wiring: it is trained once per "
             f"seed and appears once per task.", "",
             "Reproduce with:", "", "```", command or command_line(cfg), "```", "",
             "## How to read the numbers", "",
             "- Each table gives, per level x wiring, the mean over seeds and its 95% t-interval, clamped to "
             "the range the mean can take (accuracy to [0, 1], R^2 to at most 1); speed is not clamped.",
             *(["- Memory tasks are analysed on the unclipped recall R^2 (1 - MSE / variance of the targets; "
                "0 is answering the targets' mean, below 0 is worse than that): the task's own score clips it "
                "at 0, which would make every failing cell equal. The clipped score is shown beside it."
                + (" Reservoir (readout) cells report the held-out R^2 pooled over all test steps."
                   if "readout" in cfg.trains else "")]
               if {"memory", "memory-capacity"} & set(cfg.tasks) else []),
             f"- A cell marked *floor* (*chance*) has no seed more than {FLOOR_MARGIN} above chance (R^2 0, "
             f"accuracy 0.1); *ceiling*: every seed's score within {FLOOR_MARGIN} of 1. A difference between "
             f"such cells says how badly they fail (or that both are saturated), not which one learns the task.",
             f"- Tests: difference of means, Hedges' g (0 (tie): identical values; inf: no spread in either "
             f"group), and the two-sided permutation test on the difference of means. With {cfg.seeds} seeds a "
             f"side the smallest p it can return is {p_min:.4f}"
             + (" -- never below 0.05, so no test of this report can be significant whatever the data."
                if p_min >= ALPHA else ".")
             + f" Holm's correction runs over all {m} tests of this report (p_holm), so the smallest adjusted "
             f"p is {min(1.0, m * smallest_p(n_min, n_min)):.3f}"
             + (": no test can reach 0.05 after correction at this number of seeds (more seeds, or fewer "
                "tests, would be needed)." if m * smallest_p(n_min, n_min) >= ALPHA else ".")
             + " A p above 0.05 means no difference was detected, not that there is none.", ""]
    findings = []
    for task in cfg.tasks:
        info = _info(task)
        table = tables[task]
        _plot_curves(cfg, task, out / f"curves_{task}.png")
        lines += [f"## {task} (value: {info.name})", ""]
        head = "| level | wiring | seeds | mean | 95% CI |" + (f" {info.score_name} |" if info.score else "")
        lines += [head + " parameters | note |", "|" + "---|" * (head.count("|") + 1)]
        for t in table:
            note = t["flag"] + ("; clipped score (no unclipped value stored)" if t["clipped"] else "")
            lines.append(f"| {t['level']} | {t['wiring']} | {t['n']} | {t['mean']:.4f} | "
                         f"[{t['ci_low']:.4f}, {t['ci_high']:.4f}] |"
                         + (f" {t['score_mean']:.4f} |" if info.score else "") + f" {t['n_params']} | {note} |")
        task_tests = [t for t in tests if t["task"] == task]
        if task_tests:
            lines += ["", "| comparison | a - b | g | p | p (Holm) | note |", "|---|---|---|---|---|---|"]
            lines += [f"| {t['a']} vs {t['b']} | {t['diff']:+.4f} | {format_g(t['hedges_g'])} | "
                      f"{_fmt_p(t['p'])} | {_fmt_p(t['p_holm'])} | {t['floor']} |" for t in task_tests]
        lines += ["", f"![learning curves](curves_{task}.png)", ""]
        findings += _findings(task, table, task_tests)
    lines += ["## Findings in plain words", ""] + [f"- {f}" for f in findings] + [""]
    lines += ["## Next to the published claims", ""]
    for key, text in CLAIMS.items():
        lines += [f"**{text}**", ""] + [f"- {v}" for v in claim_verdicts(key, cfg, tests)] + [""]
    lines += ["## Cost", ""]
    recorded = [r for r in results if r.get("wall_time") is not None]
    if recorded:
        total = sum(r["wall_time"] for r in recorded)
        lines += [f"Training time as each run recorded it, {total / 60:.1f} min over {len(recorded)} cells "
                  "(build and final evaluation not included; seconds per cell, mean over its seeds and "
                  "wirings): " + _costs(recorded, "wall_time") + ".", ""]
    timed = [r for r in results if r.get("cell_seconds") is not None]
    if timed:
        total = sum(r["cell_seconds"] for r in timed)
        lines += [f"{len(timed)} cells run by this invocation, {total / 60:.1f} min of cell time in all, on "
                  f"{cfg.workers} worker(s); seconds per cell, build and final evaluation included: "
                  + _costs(timed, "cell_seconds") + ".", ""]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def _costs(results, key: str) -> str:
    """'level task seconds, ...': the mean of ``key`` over each (level, task)'s cells."""
    out = {}
    for r in results:
        out.setdefault((r["level"], r["task"]), []).append(r[key])
    return ", ".join(f"{lv} {task} {np.mean(v):.1f}" for (lv, task), v in out.items())


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _verdict_word(t) -> str:
    if not math.isfinite(t["p"]):
        return "not testable (fewer than 2 seeds)"
    if t["p_holm"] < ALPHA:
        return "higher" if t["diff"] > 0 else "lower"
    if t["diff"] == 0:
        return "tied"
    return "no difference detected"


def _findings(task, table, tests) -> list[str]:
    out = []
    if table:
        means = [t["mean"] for t in table]
        top = max(means)
        if len(table) == 1:
            t = table[0]
            out.append(f"{task}: one cell only, {t['level']} on {t['wiring']}: {top:.4f}.")
        elif max(means) - min(means) <= 1e-12 * max(1.0, abs(top)):
            out.append(f"{task}: every cell ties at {top:.4f}.")
        else:
            best = [t for t in table if t["mean"] >= top - 1e-12 * max(1.0, abs(top))]
            names = " and ".join(t["level"] if t["wiring"] == "(none)" else f"{t['level']} on {t['wiring']}"
                                 for t in best)
            within = [t for t in table if t not in best and t["ci_high"] >= top]
            out.append(f"{task}: highest mean {top:.4f} ({names})"
                       + (f"; {len(within)} other cell(s) have 95% intervals reaching it" if within else "")
                       + ".")
        flagged = [t for t in table if t["flag"]]
        if flagged:
            out.append(f"{task}: {len(flagged)} of {len(table)} cells at the floor / chance / ceiling ("
                       + ", ".join(f"{t['level']} {t['wiring']}: {t['flag']}" for t in flagged) + ").")
    for t in tests:
        word = _verdict_word(t)
        what = {"wiring": f"{t['level_a']} level, the connectome", "level": t["level_a"],
                "training": f"{t['level_a']} level, the circuit trained by ES"}[t["family"]]
        against = {"wiring": t["wiring_b"], "level": f"the {t['level_b']} level",
                   "training": ("the same circuit trained by BPTT" if t["level_b"].endswith("(bptt)")
                                else "its reservoir (readout only)")}[t["family"]]
        sentence = (f"{task}, {what} vs {against}: " + (f"significantly {word}" if word in ("higher", "lower")
                                                       else word)
                    + f" (a - b {t['diff']:+.4f}, g = {format_g(t['hedges_g'])}, p = {_fmt_p(t['p'])}, "
                      f"Holm p = {_fmt_p(t['p_holm'])})")
        if t["floor"]:
            sentence += f"; cells at {t['floor']}: read with care"
        out.append(sentence + ".")
    return out


# ---- verdicts on the published claims ------------------------------------------------------------------
def _pick(tests, tasks=None, family=None, b_wirings=None, levels=None, a_levels=None, b_levels=None):
    sel = []
    for t in tests:
        if tasks is not None and t["task"] not in tasks:
            continue
        if family is not None and t["family"] != family:
            continue
        if b_wirings is not None and t["wiring_b"] not in b_wirings:
            continue
        if levels is not None and t["level_a"] not in levels:
            continue
        if a_levels is not None and t["level_a"] not in a_levels:
            continue
        if b_levels is not None and t["level_b"] not in b_levels:
            continue
        if math.isfinite(t["p"]):
            sel.append(t)
    return sel


def _evidence(sel) -> str:
    return "; ".join(f"{t['task']} {t['a']} vs {t['b']}: g {format_g(t['hedges_g'])}, Holm p "
                     f"{_fmt_p(t['p_holm'])}" + (f" ({t['floor']})" if t["floor"] else "") for t in sel)


def _floor_note(sel) -> str:
    k = sum(bool(t["floor"]) for t in sel)
    return f" {k} of these {len(sel)} test(s) involve a cell at the floor or at chance." if k else ""


def _unreachable(sel, m: int) -> bool:
    """True if no test of ``sel`` could reach p_holm < ALPHA: Holm multiplies the smallest p by m."""
    return min(t["p_min"] for t in sel) * max(m, 1) >= ALPHA


def _directional(sel, sign: int, what: str, missing: str, m: int) -> str:
    """Verdict on 'a > b' (sign +1) or 'a < b' (sign -1) over the tests ``sel`` (m: the number of
    tests Holm's correction ran over)."""
    if not sel:
        return f"{what}: not tested here ({missing})."
    agree = [t for t in sel if t["p_holm"] < ALPHA and np.sign(t["diff"]) == sign]
    against = [t for t in sel if t["p_holm"] < ALPHA and np.sign(t["diff"]) == -sign]
    if agree and against:
        return (f"{what}: mixed -- {len(agree)} significant test(s) agree, {len(against)} contradict "
                f"({_evidence(agree + against)}).")
    if agree:
        return f"{what}: consistent ({_evidence(agree)})" + (
            f"; {len(sel) - len(agree)} other test(s) show no significant difference." if len(sel) > len(agree)
            else ".")
    if against:
        return f"{what}: contradicted ({_evidence(against)})."
    lean = int(sum(np.sign(t["diff"]) == sign for t in sel))
    return (f"{what}: inconclusive at this n -- no significant difference in {len(sel)} test(s), "
            f"{lean} of {len(sel)} pointing the claimed way"
            + (" (at this number of seeds no test can reach p < 0.05 after Holm's correction)"
               if _unreachable(sel, m) else "") + "." + _floor_note(sel))


def _null_claim(sel, what: str, missing: str, m: int) -> str:
    """Verdict on 'no gain of a over b': contradicted by a significant gain; consistent only if a gain
    could have been detected at this n, inconclusive otherwise."""
    if not sel:
        return f"{what}: not tested here ({missing})."
    gains = [t for t in sel if t["p_holm"] < ALPHA and t["diff"] > 0]
    if gains:
        return f"{what}: contradicted -- a significant gain ({_evidence(gains)})."
    if _unreachable(sel, m):
        return (f"{what}: inconclusive at this n -- no gain detected in {len(sel)} test(s), but at this "
                f"number of seeds no test can reach p < 0.05 after Holm's correction, so none could have "
                f"been detected.")
    losses = [t for t in sel if t["p_holm"] < ALPHA and t["diff"] < 0]
    return (f"{what}: consistent -- no significant gain in {len(sel)} test(s)"
            + (f", {len(losses)} significant loss(es)" if losses else "")
            + " (absence of a detected gain, not proof of none)." + _floor_note(sel))


def claim_verdicts(key: str, cfg: ExperimentConfig, tests: list[dict]) -> list[str]:
    """Each published claim, split into what this grid can test, with a verdict from the numbers."""
    from wormsim.rollout import MOTOR_TASKS
    m = sum(math.isfinite(t["p"]) for t in tests)
    nonmotor = [t for t in cfg.tasks if t not in MOTOR_TASKS]
    random_nulls = ("erdos-renyi", "shuffled")
    if key == "schmidgall":
        detailed = [lv for lv in ("conductance", "spiking") if lv in cfg.levels]
        return [
            _directional(_pick(tests, tasks=("swim",), family="wiring"), +1,
                         "The connectome helps locomotion (swim: connectome above each null, every level)",
                         "needs swim and at least one null wiring", m),
            _null_claim(_pick(tests, family="level", a_levels=detailed, b_levels=(REFERENCE_LEVEL,)),
                        "Biophysical realism is not needed (no detailed level above the rate level)",
                        "needs the rate level and conductance or spiking", m),
            _null_claim(_pick(tests, tasks=("swim",), family="wiring", b_wirings=("shuffled",)),
                        "Architectural statistics carry the benefit (swim: no gain of the exact wiring over "
                        "the degree-preserving shuffle)", "needs swim and the shuffled wiring", m),
            _directional(_pick(tests, tasks=nonmotor, family="wiring"), -1,
                         "It may hinder non-motor tasks (connectome below the nulls on "
                         + (", ".join(nonmotor) or "non-motor tasks") + ")",
                         "needs a non-motor task and a null wiring", m),
        ]
    if key == "bio2art":
        mem = [t for t in ("memory", "memory-capacity") if t in cfg.tasks]
        return [_null_claim(_pick(tests, tasks=mem, family="wiring", b_wirings=random_nulls),
                            "No gain of the connectome over random wiring on memory tasks",
                            "needs memory or memory-capacity and erdos-renyi or shuffled", m)]
    if key == "elegans_ai":
        rand = _pick(tests, family="wiring", b_wirings=random_nulls)
        ws = _pick(tests, family="wiring", b_wirings=("watts-strogatz",))
        out = [_directional(rand, +1, "The connectome beats random rewiring (erdos-renyi, shuffled; every "
                                      "task and level)", "needs erdos-renyi or shuffled", m)]
        if not ws:
            out.append("Watts-Strogatz comes close: not tested here (needs the watts-strogatz wiring).")
        elif any(t["p_holm"] < ALPHA for t in ws):  # noqa: SIM114
            out.append(f"Watts-Strogatz comes close: contradicted -- significant differences "
                       f"({_evidence([t for t in ws if t['p_holm'] < ALPHA])}).")
        else:
            g_ws = np.mean([min(abs(t["hedges_g"]), 10.0) for t in ws])
            g_r = np.mean([min(abs(t["hedges_g"]), 10.0) for t in rand]) if rand else math.nan
            closer = math.isfinite(g_r) and g_ws < g_r and not _unreachable(ws, m)
            out.append("Watts-Strogatz comes close: " + (
                "consistent as far as this n can tell -- " if closer else "inconclusive at this n -- ")
                + f"no significant difference, mean |g| {g_ws:.2f} against watts-strogatz vs "
                + (f"{g_r:.2f} against random rewiring." if math.isfinite(g_r) else "no random null to compare."))
        return out
    raise KeyError(key)


# ---- files ---------------------------------------------------------------------------------------------
def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _curve_key(task: str) -> tuple[str, str]:
    if task in ("swim",):
        return "speed_best", "forward speed of the generation's best candidate (BL/s)"
    if task == "navigate":
        return "best", "best return in the generation"
    return "score_best", "score of the generation's best candidate"


WIRING_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))   # one per wiring, in grid order


def _plot_curves(cfg: ExperimentConfig, task: str, path: Path) -> None:
    """Mean learning curves over seeds (band: min to max) in the task's own units: one colour per
    level (and training), one line style per wiring; a reservoir cell, fitted in closed form, is a
    thin horizontal line at its held-out score."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wormsim.viz.plots import save_figure
    key, ylabel = _curve_key(task)
    fig, ax = plt.subplots(figsize=(9, 5))
    colours: dict[str, str] = {}
    flat, n_max = [], 1
    for level, train, wiring in itertools.product(cfg.levels, cfg.trains, cfg.wirings):
        curves = []
        for seed in range(cfg.seeds):
            p = cell_dir(cfg, task, level, wiring, train, seed)
            if (p / "metrics.jsonl").is_file():
                rows = Run(p).metrics()
                c = [r.get(key) for r in rows]
                if c and all(v is not None for v in c):
                    curves.append(c)
        if not curves:
            continue
        name = _label(level, train)
        colour = colours.setdefault(name, f"C{len(colours) % 10}")
        style = WIRING_STYLES[cfg.wirings.index(wiring) % len(WIRING_STYLES)]
        label = name if level == "mlp" else f"{name} / {wiring}"
        n = min(map(len, curves))
        if n == 1:
            flat.append((label, float(np.mean([c[0] for c in curves])), colour, style))
            continue
        c = np.array([x[:n] for x in curves], float)
        n_max = max(n_max, n)
        ax.plot(np.arange(n), c.mean(0), color=colour, ls=style, lw=1.6, label=label)
        ax.fill_between(np.arange(n), c.min(0), c.max(0), color=colour, alpha=0.08)
    for label, y, colour, style in flat:
        ax.hlines(y, 0, n_max - 1, colors=colour, linestyles=[style], lw=1.0,
                  label=f"{label} (fitted; held-out)")
    ax.set_xlabel("generation (bptt cells: gradient step)" if "bptt" in cfg.trains else "generation")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{task}: mean over seeds (band: min to max); colour: level, line style: wiring")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        ax.text(0.5, 0.5, "no learning curves in this grid", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def command_line(cfg: ExperimentConfig) -> str:
    """The `wormsim experiment` command that makes exactly this grid (every setting spelled out, so a
    later change of a default does not change what it means)."""
    parts = ["wormsim", "experiment", "--levels", *cfg.levels, "--wirings", *cfg.wirings,
             "--tasks", *cfg.tasks, "--train", *cfg.trains, "--seeds", str(cfg.seeds),
             "--budget", str(cfg.budget), "--popsize", str(cfg.popsize), "--sigma", f"{cfg.sigma:g}",
             "--duration", f"{cfg.duration:g}", "--episodes", str(cfg.episodes),
             "--nonmotor-episodes", str(cfg.nonmotor_episodes), "--eval-episodes", str(cfg.eval_episodes),
             "--head-cpg", f"{cfg.head_cpg:g}", "--dataset", cfg.dataset]
    if "bptt" in cfg.trains:
        parts += ["--bptt-budget", str(cfg.bptt_budget)]
    if "readout" in cfg.trains:
        parts += ["--spectral-radius", f"{cfg.spectral_radius:g}", "--ridge-alpha", f"{cfg.ridge_alpha:g}"]
        parts += ["--readout-motor"] if cfg.readout_motor else []
    parts += ["--workers", str(cfg.workers)]
    if cfg.backend != "local":
        parts += ["--backend", cfg.backend] + (["--ray-address", cfg.ray_address] if cfg.ray_address else [])
    parts += ["--out", cfg.out]
    return " ".join(shlex.quote(p) for p in parts)
