"""Torch threads in the episode runner: one generation of a population evaluated with run_episodes on one
torch thread (wormsim.rollout.RUNNER_THREADS = 1, the default) against torch's own setting (one thread per
core), in turns in one process, and the ratio of the two.

    python benchmarks/torch_threads.py                     # rate 24 x 3 s and conductance 12 x 1 s
    python benchmarks/torch_threads.py --level spiking --population 24 --duration 3

The brains' per-step tensors are tiny (batch x ~100 neurons): a second torch thread only waits on the
first, worst when the cores are busy with other work (MuJoCo, Brian2, other processes).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from wormsim import rollout
from wormsim.config import TrainConfig
from wormsim.rollout import Evaluator


def one(level: str, population: int, duration: float, repeats: int) -> None:
    ev = Evaluator(TrainConfig(level=level, duration=duration).eval_spec())
    x0 = ev.initial_params()
    pop = x0 + 0.01 * np.random.default_rng(0).standard_normal((population, len(x0)))
    ev.evaluate(pop, seed=1)                       # build, compile, warm up
    times = {"torch's own": [], "one thread": []}
    for _ in range(repeats):
        for name, threads in (("torch's own", None), ("one thread", 1)):
            rollout.RUNNER_THREADS = threads
            t = time.perf_counter()
            ev.evaluate(pop, seed=2)
            times[name].append(time.perf_counter() - t)
    rollout.RUNNER_THREADS = 1
    own, single = np.median(times["torch's own"]), np.median(times["one thread"])
    print(f"{level:12s} {population:3d} worms x {duration:g} s: torch's own ({torch.get_num_threads()} threads) "
          f"{own:6.2f} s, one thread {single:6.2f} s, ratio {own / single:5.2f} (median of {repeats})")
    ev.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--level", nargs="+", default=None)
    p.add_argument("--population", type=int, default=None)
    p.add_argument("--duration", type=float, default=None)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cases = ([(lv, args.population or 24, args.duration or 3.0) for lv in args.level] if args.level
             else [("rate", 24, 3.0), ("conductance", 12, 1.0)])
    for level, population, duration in cases:
        one(level, population, duration, args.repeats)


if __name__ == "__main__":
    main()
