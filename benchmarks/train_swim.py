"""Train every realism level on the connectome to swim with ES for a fixed budget; print a table.

    python benchmarks/train_swim.py [--budget 100] [--popsize 32] [--levels rate spiking mlp conductance]
        [--ppo-budget 100] [--out runs/bench]

For each level: final forward speed (body lengths / s) of the trained policy on fresh episodes, the
untrained circuit's speed, and the training wall time; plus a PPO mlp baseline on the same task
(--ppo-budget 0 skips it) and the open-loop travelling wave of the body (head oscillator off: the wave
drives the head itself) as the bar to approach. Finished runs under --out are reused when their config
is the one asked for (--fresh retrains them); every level gets the same --budget of generations.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wormsim.runs import Run
from wormsim.config import TrainConfig
from wormsim.train.es import train_es


def open_loop_speed(duration: float, seeds=range(4)) -> tuple[float, float]:
    """Forward speed of the body's open-loop travelling wave (2 Hz, wavelength 1.5 BL, full amplitude)."""
    import gymnasium as gym

    import wormsim  # noqa: F401
    from wormsim.envs.waves import TravellingWave
    speeds = []
    for seed in seeds:
        env = gym.make("wormsim/Swim-v0", duration=duration, head_cpg=0.0)
        wave = TravellingWave(n_segments=env.unwrapped.layout.n_segments)
        env.reset(seed=seed)
        t, done, s = 0.0, False, []
        while not done:
            _, _, term, trunc, info = env.step(wave(t))
            s.append(info["speed"])
            t += env.unwrapped.control_dt
            done = term or trunc
        speeds.append(np.mean(s))
    return float(np.mean(speeds)), float(np.std(speeds))


def finished(cfg, fresh: bool) -> dict | None:
    """The summary of a finished run of exactly ``cfg`` under cfg.out (reused unless --fresh), else None."""
    import json
    from dataclasses import asdict
    path = Path(cfg.out)
    if fresh or not (path / "summary.json").is_file() or not (path / "config.json").is_file():
        return None
    if json.loads((path / "config.json").read_text()).get("config") != json.loads(json.dumps(asdict(cfg))):
        return None
    return json.loads((path / "summary.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--levels", nargs="+", default=["rate", "spiking", "mlp", "conductance"])
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--popsize", type=int, default=32)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ppo-budget", type=int, default=100, help="PPO iterations for the mlp baseline (0: skip)")
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--fresh", action="store_true", help="retrain levels whose run under --out has finished")
    args = p.parse_args()

    rows = []
    for level in args.levels:
        budget = args.budget
        cfg = TrainConfig(level=level, budget=budget, popsize=args.popsize, duration=args.duration,
                          workers=args.workers, video=False, out=f"{args.out}/{level}-es")
        s = finished(cfg, args.fresh) or train_es(cfg, Run.create(cfg.out, cfg, overwrite=True),
                                                  progress=False)
        rows.append((f"{level} (ES, {budget} gen)", s["untrained_speed"], s["final_speed"],
                     s["wall_time"], s["n_params"]))
        print(f"  done {rows[-1][0]}: {s['final_speed']:.3f} BL/s", flush=True)
    if args.ppo_budget:
        from wormsim.train.ppo import train_ppo
        cfg = TrainConfig(level="mlp", algo="ppo", budget=args.ppo_budget, duration=args.duration,
                          video=False, out=f"{args.out}/mlp-ppo")
        s = finished(cfg, args.fresh) or train_ppo(cfg, Run.create(cfg.out, cfg, overwrite=True),
                                                   progress=False)
        rows.append((f"mlp (PPO, {args.ppo_budget} it)", s["untrained_speed"], s["final_speed"],
                     s["wall_time"], s["n_params"]))
    wave, wave_sd = open_loop_speed(args.duration)

    print(f"\nswim training on the cook2019 connectome, {args.duration:g} s episodes, popsize {args.popsize}")
    print(f"{'level':28s}{'params':>8s}{'untrained BL/s':>16s}{'trained BL/s':>14s}{'train s':>9s}")
    for name, before, after, wall, n in rows:
        print(f"{name:28s}{n:8d}{before:16.3f}{after:14.3f}{wall:9.0f}")
    print(f"{'open-loop travelling wave':28s}{'-':>8s}{'':16s}{wave:14.3f}  (sd {wave_sd:.3f}, the bar)")
    Path(args.out).mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":
    main()
