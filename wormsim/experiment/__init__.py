"""Does biophysical detail matter? The grid of realism levels x wirings x tasks x seeds, and its report.

    wormsim experiment --out results/NAME        # the default grid (below)
    wormsim experiment --quick --out /tmp/q      # a tiny grid, a minute or two (CI)
    wormsim experiment --levels rate mlp --wirings connectome shuffled --tasks swim --seeds 5 --out ...

The default grid: every registered realism level (a level without a wiring, the mlp, is trained once
per seed), the connectome and three null wirings (shuffled, erdos-renyi, watts-strogatz; add
barabasi-albert with --wirings), swim, memory and digits, 8 seeds (stats.py says why 8). Every circuit is
trained to its plateau (``stop="plateau"``: wormsim/train/plateau.py; at most ``budget`` CMA-ES
generations of 24, or ``bptt_budget`` gradient steps), on the tasks with a body by CMA-ES, on the tasks
without one by backpropagation through time where the level is differentiable (``nonmotor_gradient``;
ES with ``nonmotor_episodes`` per candidate for the others), and, on the tasks without a body, also used
as a fixed reservoir with a fitted linear readout (``trains``: weights, readout). Before the grid, a
tuning phase (grid.tune) gives every level the same trials of its search on every task (ES step sizes
relative to each parameter group's natural scale, BPTT learning rates), each one run on the first wiring
with a seed no cell uses, and the one with the best validation score is used by every cell.
``--train ... bptt`` with ``--no-nonmotor-gradient`` keeps ES on the weights axis and adds BPTT as an axis.
docs/experiment/README.md gives the measured cost of the default grid.

The steps, one module each:
- config.py: ``ExperimentConfig``, whose fields are the command's flags, and ``command_line``;
- grid.py: the cells, their run directories, stale detection, running them locally or on Ray;
- stats.py: intervals, Hedges' g, exact permutation tests, Holm's correction, the test families;
- claims.py: the published claims and the verdict the tests give on each;
- report.py and figures.py: the tables, report.md and the learning curves;
- references.py and neural.py: the reference rows, the trained swimmers' probes, and their neurons against
  the measured signal-propagation atlas (Randi et al. 2023; wormsim/atlas.py);
- gait_load.py: the trained swimmers replayed from water to agar without retraining, and whether the
  connectome adapts its gait to the load more than the null wirings (Fang-Yen et al. 2010's question).

Every cell (task, level, wiring, train, seed) is an ordinary training run under ``OUT/runs/``, trained
by the trainer the registry (wormsim.train) gives its run. A cell whose config.json matches the cell's
configuration is finished (summary.json: skipped) or resumed (checkpoint.pkl); a cell made with another
configuration (another budget, population, ...) is *stale*: the grid refuses to start, naming the cells
and the fields that differ, unless ``rerun_stale`` (``--rerun-stale``) retrains them from scratch. So
the experiment can be stopped and started again at any point, and a report never mixes configurations.

Cells are independent, so they run concurrently: ``workers`` processes on this machine (each cell
then evaluates its population in its own process), or one Ray task per cell on a Ray cluster
(``backend="ray"``; Ray is imported only then). A cell's result does not depend on where it ran.

Into OUT:

- ``cells.csv``: one row per cell: the analysed value, the task's score, parameters, wall time, the
  trainer and its search, whether the run converged and after how many evaluations, the evaluations it
  took to reach 90% of its validation gain, the hash of the cell's configuration;
- ``tuning.json`` and ``tuning/``: the tuning trials and the search chosen for each (task, level, train);
- ``table_<task>.csv``: per level x wiring, mean and 95% t-interval over seeds of the analysed value
  (clamped to the value's range where it is bounded), the task's clipped score, parameters, and a
  floor / ceiling flag;
- ``tests.csv``: every comparison of the grid (stats.py) with interval estimates (rliable) and the exact
  two-sided permutation test, of the plateau (``measure`` "plateau") and of the learning speed
  ("evaluations"); ``families.csv``: the comparisons of each claim's family (claims.py) with
  Holm's correction within the family and the family's verdict;
- ``curves_<task>.png``: mean validation curves of every level x wiring against evaluations, in the task's
  own units, with the point where each run reached its plateau;
- ``report.md``: the tables, the findings in plain words, a verdict on each published claim, and
  the exact command that made it.

The analysed value of a cell is its task's metric (wormsim.envs.tasks, ``TaskSpec.metric``): forward
speed (body lengths / s) for swim, the return for navigate, the *unclipped* recall R^2 for memory and
memory-capacity (the episode return, 1 - MSE / target variance on average: the clipped score would
make every failing cell 0 and hide their differences), the accuracy for digits; all measured on fresh
episodes after training (digits: held-out images).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from wormsim.experiment.claims import CLAIMS, FAMILIES, family_results
from wormsim.experiment.config import TRAINS, ExperimentConfig, command_line
from wormsim.experiment.grid import (cell_dir, cell_label, cell_state, cell_value, cells, check_grid,
                                     config_hash, finished_results, run_cell, run_grid, stale_fields,
                                     train_config, tune)
from wormsim.experiment.grid import check_before_tuning
from wormsim.experiment.report import build_tables, write_report
from wormsim.experiment.stats import (ALPHA, comparisons, format_g, hedges_g, holm, mean_ci, permutation_p,
                                      smallest_p)


def run_experiment(cfg: ExperimentConfig, progress: bool = True, log=print, command: str | None = None) -> Path:
    """Run (or finish) the grid and write its report; returns the report's path. ``command``: the
    command line to print in the report (default: the full equivalent ``wormsim experiment`` line)."""
    if cfg.report_only:                              # an interim report: what has finished, nothing trained
        cfg = tune(cfg, progress=progress, log=log)
        results, total = finished_results(cfg)
        write_report(cfg, results, command=command, grid_size=total)
        return Path(cfg.out) / "report.md"
    check_before_tuning(cfg)                         # a grid run_grid would refuse costs nothing
    with _only_driver(Path(cfg.out)):
        cfg = tune(cfg, progress=progress, log=log)  # each level's search, the same effort for every level
        results = run_grid(cfg, progress=progress, log=log)
        write_report(cfg, results, command=command)
    return Path(cfg.out) / "report.md"


@contextlib.contextmanager
def _only_driver(out: Path):
    """Hold OUT/.driver.lock (an advisory lock the OS drops when the process dies, however it dies) for a
    run that trains: two grids training into one --out would train the same cells twice and overwrite
    each other's files. A report-only run trains nothing and needs no lock."""
    import fcntl
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".driver.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            raise ValueError(f"another `wormsim experiment` (pid {pid}) is training into {out}: wait for it to "
                             "finish, stop it, or give another --out (--report-only reads a running grid)") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


__all__ = ["ALPHA", "CLAIMS", "TRAINS", "ExperimentConfig", "build_tables", "cell_dir", "cell_label",
           "cell_state", "cell_value", "cells", "check_grid", "FAMILIES", "family_results", "command_line",
           "comparisons",
           "config_hash", "format_g", "hedges_g", "holm", "mean_ci", "permutation_p", "run_cell",
           "run_experiment", "run_grid", "smallest_p", "stale_fields", "train_config", "write_report"]
