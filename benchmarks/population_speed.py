"""Aggregate env steps per second of a population: Swimmer-v5 (one env), a SyncVectorEnv of 64
wormsim/Swim-v0, and the native vector env at P = 1, 8, 64, 256 (and with/without rollout threads);
resident memory at P = 256. Goals (issues): P = 64 at >= 10x Swimmer-v5 and >= 5x Sync64; P = 256 < 1 GB.
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


def rate(envs, steps: int) -> float:
    envs.reset(seed=0)
    acts = np.random.default_rng(0).uniform(0, 1, (steps,) + envs.action_space.shape).astype(np.float32)
    single = not hasattr(envs, "num_envs")
    t = time.perf_counter()
    for a in acts:
        out = envs.step(a)
        if single and (out[2] or out[3]):
            envs.reset()          # a single env is reset at episode end (vector envs autoreset)
    return steps * getattr(envs, "num_envs", 1) / (time.perf_counter() - t)


def main() -> None:
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
        rows.append((f"native SwimVectorEnv P={P}", rate(envs, max(5, args.steps * 8 // P))))
        if P == 256:
            mem = rss_mb()
        envs.close()
    # Rollout worker threads (the default is 0 below 32 worms, 2 from 32 on): on a loaded machine they
    # may gain nothing, so both are shown.
    for P in (64, 256):
        for nthread in (0, 2):
            envs = SwimVectorEnv(num_envs=P, nthread=nthread)
            rows.append((f"native P={P}, nthread={nthread}", rate(envs, max(5, args.steps * 8 // P))))
            envs.close()
    # (The lead adds the closed-loop brain row here later.)
    sw_rate, sync_rate = rows[0][1], rows[1][1]
    print(f"{'population':36s} {'env steps/s':>12s} {'vs Swimmer':>11s} {'vs Sync64':>10s}")
    for name, r in rows:
        print(f"{name:36s} {r:12.0f} {r / sw_rate:10.2f}x {r / sync_rate:9.2f}x")
    print(f"resident memory with P=256 built: {mem:.0f} MB")


if __name__ == "__main__":
    main()
