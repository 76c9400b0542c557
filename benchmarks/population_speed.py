"""Aggregate env steps per second of a population: Swimmer-v5 (one env), a SyncVectorEnv of 64
wormsim/Swim-v0, and the native vector env at P = 1, 8, 64, 256 (and with/without rollout threads);
resident memory at P = 256; 64 rate brains in closed loop with the native env, and the wall time of one
ES generation of 64 rate candidates over a 10 s episode. Goals (issues): P = 64 at >= 10x Swimmer-v5 and
>= 5x Sync64; the closed loop >= 5x Swimmer-v5; the generation < 5 s; P = 256 < 1 GB.
A report, not a test.

    python benchmarks/population_speed.py [--steps 200]
"""
from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from gymnasium.vector import SyncVectorEnv

import wormsim  # noqa: F401
from wormsim.envs.vector import SwimVectorEnv


def rss_mb() -> float:
    """Resident memory of this process, MB (VmRSS from /proc/self/status; Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


REPEATS = 3  # every figure is the best of this many timings: other load only ever slows a run down


def rate(envs, steps: int) -> float:
    acts = np.random.default_rng(0).uniform(0, 1, (steps,) + envs.action_space.shape).astype(np.float32)
    single = not hasattr(envs, "num_envs")
    best = float("inf")
    for _ in range(REPEATS):
        envs.reset(seed=0)
        t = time.perf_counter()
        for a in acts:
            out = envs.step(a)
            if single and (out[2] or out[3]):
                envs.reset()          # a single env is reset at episode end (vector envs autoreset)
        best = min(best, time.perf_counter() - t)
    return steps * getattr(envs, "num_envs", 1) / best


def closed_loop_rate(P: int, steps: int) -> float:
    """Aggregate env steps/s of P rate brains (one batch) driving a native vector env of P worms."""
    import torch

    from wormsim.interface import Agent
    from wormsim.rollout import EvalSpec, Evaluator
    ev = Evaluator(EvalSpec(level="rate", env_kwargs=(("head_cpg", 2.0),)))   # as training runs it
    x0 = ev.initial_params()
    ev._setup(P)
    ev.brain.set_params(np.tile(x0, (P, 1)))
    agent = Agent(ev.brain, ev.interface)
    best = float("inf")
    for _ in range(REPEATS):
        obs, _ = ev.env.reset(seed=0)
        agent.reset(P)
        with torch.no_grad():
            t = time.perf_counter()
            for _ in range(steps):
                obs, *_ = ev.env.step(agent.act(obs))
        best = min(best, time.perf_counter() - t)
    return steps * P / best


def es_generation_wall(P: int, duration: float) -> float:
    """Wall time of one Evaluator call on P candidates, one episode of ``duration`` s each (warm)."""
    from wormsim.rollout import EvalSpec, Evaluator
    ev = Evaluator(EvalSpec(level="rate", env_kwargs=(("duration", duration), ("head_cpg", 2.0))))
    x0 = ev.initial_params()
    params = x0 + 0.1 * np.random.default_rng(0).standard_normal((P, len(x0)))
    ev.evaluate(params[:, :], seed=0)            # builds the P-worm env and brain once
    best = float("inf")
    for k in range(REPEATS):
        t = time.perf_counter()
        ev.evaluate(params, seed=1 + k)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    import torch
    torch.set_num_threads(1)  # as the trainer's workers do: small matrices, rollout threads need the cores
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    rows = []
    sw = gym.make("Swimmer-v5")
    rows.append(("Swimmer-v5, one env", rate(sw, 10 * args.steps)))
    sync = SyncVectorEnv([lambda: gym.make("wormsim/Swim-v0") for _ in range(64)])
    rows.append(("SyncVectorEnv of 64 Swim-v0", rate(sync, args.steps)))
    mem = None
    for P in (1, 8, 64, 256):
        envs = SwimVectorEnv(num_envs=P)
        rows.append((f"native SwimVectorEnv P={P}", rate(envs, max(50, args.steps * 8 // P))))
        if P == 256:
            mem = rss_mb()
        envs.close()
    # Rollout worker threads (the default is 0 below 32 worms, 2 from 32 on): on a loaded machine they
    # may gain nothing, so both are shown.
    for P in (64, 256):
        for nthread in (0, 2):
            envs = SwimVectorEnv(num_envs=P, nthread=nthread)
            rows.append((f"native P={P}, nthread={nthread}", rate(envs, max(50, args.steps * 8 // P))))
            envs.close()
    # The closed loop: 64 rate-level circuits (one brain batch) driving the native environment, and one
    # whole ES generation (64 candidates, a 10 s episode each) through the trainer's Evaluator.
    rows.append(("64 rate brains, closed loop", closed_loop_rate(64, args.steps)))
    gen_wall = es_generation_wall(64, duration=10.0)
    # the reference once more at the end (the best of both): a slow first timing would flatter every ratio
    rows[0] = (rows[0][0], max(rows[0][1], rate(sw, 10 * args.steps)))
    sw_rate, sync_rate = rows[0][1], rows[1][1]
    print(f"{'population':36s} {'env steps/s':>12s} {'vs Swimmer':>11s} {'vs Sync64':>10s}")
    for name, r in rows:
        print(f"{name:36s} {r:12.0f} {r / sw_rate:10.2f}x {r / sync_rate:9.2f}x")
    print(f"resident memory with P=256 built: {mem:.0f} MB")
    print(f"one ES generation, 64 rate-level candidates x 10 s episode (500 steps): {gen_wall:.2f} s wall")
    by = dict(rows)
    native64, loop64 = by["native SwimVectorEnv P=64"], by["64 rate brains, closed loop"]
    goals = [("native P=64 >= 10x Swimmer-v5", native64 / sw_rate, 10.0, "x"),
             ("native P=64 >= 5x SyncVectorEnv of 64", native64 / sync_rate, 5.0, "x"),
             ("64 rate brains closed loop >= 5x Swimmer-v5", loop64 / sw_rate, 5.0, "x"),
             ("ES generation (64 x 10 s) < 5 s", gen_wall, 5.0, "s"),
             ("P=256 resident memory < 1 GB", mem / 1024, 1.0, "GB")]
    print("\ngoals (issue 11):")
    for name, value, bound, unit in goals:
        met = value >= bound if unit == "x" else value < bound
        print(f"  {name:46s} measured {value:7.2f} {unit:2s} {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
