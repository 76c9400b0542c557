"""Environment steps per second: wormsim/Swim-v0 (5 and 12 segments) vs Gymnasium's Swimmer-v5, and the
native vector env. Prints a table and ratios, each the best of 3 timings; a report, not a test.

    python benchmarks/env_speed.py [--steps 3000]
"""
from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import wormsim  # noqa: F401  (registers wormsim/Swim-v0)


REPEATS = 3  # each figure is the best of this many timings: other load only ever slows a run down


def single_rate(env: gym.Env, steps: int) -> float:
    """env steps / s with random actions (drawn beforehand), including resets at episode ends."""
    acts = np.random.default_rng(0).uniform(env.action_space.low, env.action_space.high,
                                            (steps,) + env.action_space.shape).astype(np.float32)
    best = float("inf")
    for _ in range(REPEATS):
        env.reset(seed=0)
        t = time.perf_counter()
        for a in acts:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
        best = min(best, time.perf_counter() - t)
    return steps / best


def vector_rate(envs, steps: int) -> float:
    """Aggregate env steps / s (num_envs per call)."""
    acts = np.random.default_rng(0).uniform(0, 1, (steps,) + envs.action_space.shape).astype(np.float32)
    best = float("inf")
    for _ in range(REPEATS):
        envs.reset(seed=0)
        t = time.perf_counter()
        for a in acts:
            envs.step(a)
        best = min(best, time.perf_counter() - t)
    return steps * envs.num_envs / best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    args = p.parse_args()
    rows = [("Swimmer-v5 (gymnasium)", single_rate(gym.make("Swimmer-v5"), args.steps))]
    for n in (5, 12):
        rows.append((f"wormsim/Swim-v0 n={n}", single_rate(gym.make("wormsim/Swim-v0", n_segments=n), args.steps)))
    # two 10 ms midpoint steps per control step instead of one of 20 ms (the default): what accuracy
    # costs (the open-loop wave's water speed within 0.2% of a 2.5 ms step instead of 3%)
    rows.append(("wormsim/Swim-v0 n=12, timestep 0.01 s",
                 single_rate(gym.make("wormsim/Swim-v0", timestep=0.01), args.steps)))
    for P in (8, 64):
        native = gym.make_vec("wormsim/Swim-v0", num_envs=P, vectorization_mode="vector_entry_point",
                              nthread=0)
        rows.append((f"wormsim/Swim-v0 native vector P={P}, n=12", vector_rate(native, max(10, args.steps // P))))
        native.close()
    base = rows[0][1]
    print(f"{'environment':44s} {'steps/s':>10s} {'vs Swimmer-v5':>14s}")
    for name, rate in rows:
        print(f"{name:44s} {rate:10.0f} {rate / base:13.2f}x")
    print("every row runs on one thread (the vector rows with nthread=0), so the ratios are per core; "
          "benchmarks/population_speed.py measures rollout threads too")


if __name__ == "__main__":
    main()
