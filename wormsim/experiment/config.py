"""The experiment's set-up: one dataclass whose fields are the flags of `wormsim experiment`, and the
command line that makes exactly a given grid."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields

from wormsim.config import opt


# the training axis: the circuit trained by ES, fixed as a reservoir with a fitted readout, or trained
# by backpropagation through time
TRAINS = ("weights", "readout", "bptt")


@dataclass
class ExperimentConfig:
    """The grid, every field a flag of `wormsim experiment` (underscores become dashes; ``trains`` is
    --train). docs/experiment/README.md gives the measured cost of the default grid; ``quick`` is a tiny
    grid for CI."""
    # the shipped realism levels, most to least biophysical, and NCAP's hand-abstracted prior (Bhattasali et
    # al. 2022; variants such as mlp-direct and ncap-direct, with another output stage, only when asked)
    levels: list[str] = opt(["conductance", "spiking", "rate", "mlp", "ncap"], "realism levels", choices="levels")
    wirings: list[str] = opt(["connectome", "shuffled", "erdos-renyi", "watts-strogatz"],
                             "wirings; the connectome is the reference", choices="wirings")
    tasks: list[str] = opt(["swim", "memory", "digits"], "tasks", choices="tasks")
    trains: list[str] = opt(["weights", "readout"], "weights: train the circuit by ES; readout: the circuit "
                            "fixed at connectome-derived values, only a linear readout fitted (reservoir, "
                            "closed form on the tasks without a body); bptt: the circuit trained by "
                            "backpropagation through time (differentiable levels on the tasks without a "
                            "body); each one more axis", choices=list(TRAINS), flag="train")
    readout_motor: bool = opt(False, "readout cells on the tasks with a body too (an ES-trained readout on the "
                              "fixed circuit, as costly as a trained circuit; without it, readout cells only "
                              "on the tasks without a body)")
    seeds: int = opt(8, "seeds per cell", low=1)
    first_seed: int = opt(0, "the seeds are first_seed, first_seed + 1, ... (a grid split over machines, or "
                          "the tuning runs, which use seeds no cell uses)", low=0)
    stop: str = opt("plateau", "plateau: every run trains until its validation score has converged (the "
                    "plateau rule of wormsim train), at most --budget; budget: every run takes its whole budget",
                    choices=("plateau", "budget"))
    # 600: the pilot's GRU had not levelled off at 300 (docs/experiment/plateau.md); a run that converges
    # stops at its plateau, so the larger cap costs only the runs that are still learning
    budget: int = opt(600, "most ES generations per run", low=1)
    bptt_budget: int = opt(1000, "most gradient steps of a BPTT run", low=1)
    patience: int = opt(30, "plateau rule: iterations over which the validation score must still gain "
                        "(ES generations; BPTT steps count --bptt-patience)", low=1)
    bptt_patience: int = opt(100, "plateau rule of the BPTT runs, in gradient steps", low=1)
    plateau_tol: float = opt(0.02, "plateau rule: the smallest gain over the patience window, as a fraction "
                             "of the gain so far", low=0)
    val_every: int = opt(5, "iterations between validation checks (ES generations, BPTT gradient steps)", low=1)
    val_episodes: int = opt(4, "episodes of each validation check", low=1)
    popsize: int = opt(24, "ES population", low=2)
    sigma: float = opt(0.2, "initial CMA-ES step size, a fraction of each parameter group's natural scale "
                       "(used as is when --tune is off)", positive=True)
    nonmotor_gradient: bool = opt(True, "on the tasks without a body, train the differentiable levels' weights "
                                  "by backpropagation through time (ES stays for the others, with "
                                  "--nonmotor-episodes per candidate)")
    # ES to a plateau on a task without a body costs the conductance level ~15 s a generation at 8 episodes
    # per candidate, hours a cell (docs/experiment/plateau.md): not in the default grid
    nonmotor_es: bool = opt(False, "with --nonmotor-gradient, also train by ES on the tasks without a body the "
                            "levels BPTT cannot train (the conductance level: hours a cell); without it "
                            "those levels enter those tasks as fixed reservoirs only (the readout axis)")
    tune: bool = opt(True, "before the grid, tune each level's search on every task with the same number of "
                     "trials (the --tune-sigmas for ES, the --tune-lrs for BPTT), each a run on the first "
                     "wiring with a seed no cell uses, chosen by its best validation score")
    # 0.8 and 0.003: the pilot's rate swimmer did best at 0.4, the edge of a sweep that stopped there
    # (docs/experiment/plateau.md)
    tune_sigmas: list[float] = opt([0.1, 0.2, 0.4, 0.8], "ES step sizes tried per level and task (fractions "
                                   "of the natural scales), paired with --tune-lrs into trials")
    tune_lrs: list[float] = opt([0.003, 0.01, 0.03, 0.1], "BPTT learning rates tried per level and task")
    duration: float = opt(3.0, "seconds per episode on the tasks with a body", positive=True)
    episodes: int = opt(1, "episodes per candidate on the tasks with a body", low=1)
    nonmotor_episodes: int = opt(8, "ES episodes per candidate on the tasks without a body, whose short "
                                 "episodes make a noisy fitness", low=1)
    eval_episodes: int = opt(8, "fresh episodes of each cell's final evaluation", low=1)
    head_cpg: float = opt(2.0, "frequency (Hz) of the head oscillator on the tasks with a body; 0: off", low=0)
    dataset: str = opt("cook2019", "connectome dataset", choices="datasets")
    spectral_radius: float = opt(0.9, "readout cells: spectral radius of the fixed circuit", positive=True)
    ridge_alpha: float = opt(1.0, "readout cells: ridge regularisation", low=0)
    reference_level: str = opt("rate", "the level every other level is compared with on the connectome "
                               "(without it among --levels the level-vs-level tests are skipped, with a "
                               "note)", choices="levels")
    workers: int = opt(2, "cells run at once, one process each", low=1)
    backend: str = opt("local", "local processes, or one Ray task per cell", choices=("local", "ray"))
    ray_address: str | None = opt(None, "address of a running Ray cluster (default: start a local one with "
                                  "--workers CPUs)")
    probes: bool = opt(True, "probe every trained swimmer with the head oscillator off and with the command "
                       "drive reversed (a report section; two more held-out evaluations per cell)")
    atlas: bool = opt(True, "compare every trained swimmer's neurons with the measured signal-propagation atlas "
                      "(Randi et al. 2023; a report section, one stimulation per cell)")
    gait: bool = opt(True, "replay every trained swimmer along the load axis, water to agar, with the head "
                     "oscillator as trained and off, and test whether the connectome adapts its gait more than "
                     "the null wirings (a report section, experiment/gait_load.py; ten replays of 2 x 10 s per cell)")
    rerun_stale: bool = opt(False, "retrain from scratch the cells in --out that were made with another "
                            "configuration (without it the grid refuses to start)", command=False)
    tensorboard: bool = opt(True, "TensorBoard event files in every cell's run (tensorboard --logdir "
                            "OUT/runs: the hparams view compares the cells)", command=False)
    report_only: bool = opt(False, "train nothing: write the report from the cells finished so far (a grid "
                            "still running, or stopped part-way), saying how much of the grid it covers",
                            command=False)
    out: str = opt("results/experiment", "results directory")
    # the tuned search of each (task, level, train), "task/level/train" -> {"sigma", "lr"}: set by the
    # tuning phase (grid.tune), read by every cell's run; not a flag
    searches: dict = field(default_factory=dict)

    @classmethod
    def quick(cls, out: str) -> "ExperimentConfig":
        """A tiny grid that runs in a minute or two on 2 cores (the CI check of the whole pipeline)."""
        return cls(levels=["rate", "mlp"], wirings=["connectome", "shuffled"],
                   tasks=["swim", "memory", "digits"], seeds=2, stop="budget", budget=3, bptt_budget=3,
                   popsize=6, duration=0.5, nonmotor_episodes=2, eval_episodes=1, val_every=1,
                   val_episodes=1, tune=False, workers=1, probes=False, atlas=False, gait=False, out=out)


def command_line(cfg: ExperimentConfig, only=None, prefix: tuple[str, ...] = ("wormsim", "experiment")) -> str:
    """The `wormsim experiment` command that makes exactly this grid: every setting spelled out, so that
    a later change of a default does not change what it means (a true flag as --flag; a false one and
    an unset address left out; --rerun-stale, an action rather than a setting, never). only: the
    names of the fields to spell out (default: all); prefix: the words before the flags."""
    parts = list(prefix)
    for f in fields(cfg):
        if only is not None and f.name not in only:
            continue
        value = getattr(cfg, f.name)
        if "help" not in f.metadata or not f.metadata.get("command", True) or value is None or value is False:
            continue
        parts.append("--" + f.metadata.get("flag", f.name.replace("_", "-")))
        if isinstance(value, list):
            parts += [str(v) for v in value]
        elif isinstance(value, float):
            parts.append(f"{value:.12g}")
        elif value is not True:
            parts.append(str(value))
    return " ".join(shlex.quote(p) for p in parts)
