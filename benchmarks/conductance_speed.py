"""Speed of the conductance level in closed loop with the swimming body.

Prints simulated seconds per wall second (circuit + body, one Brian2 run per episode) for a
population of 1 and of P (default 32) evaluated as one batch, and the speed-up of the batched run
over P sequential single-member runs. Brian2's cython code is compiled once before timing.

    python benchmarks/conductance_speed.py [--population 32] [--duration 2.0] [--dt-ms 0.1] [--repeats 3]

Every body runs on the calling thread (nthread=0), so batched and sequential runs differ only in the
batching; each timing is the best of --repeats (other load on the machine only slows a run down). The
body has its head oscillator on (2 Hz), as in training.

For scale: Sibernetic (OpenWorm's SPH body) needs about 20 minutes of wall time per simulated second.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=32)
    ap.add_argument("--duration", type=float, default=2.0, help="simulated seconds per episode")
    ap.add_argument("--dt-ms", type=float, default=None, help="Brian2 integration step, ms "
                    "(default: the level's, ConductanceConfig.dt_ms)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--sequential", type=int, default=4,
                    help="sequential single-member runs timed (extrapolated to the population)")
    args = ap.parse_args()

    from wormsim.connectome import load_circuit
    from wormsim.envs.vector import SwimVectorEnv
    from wormsim.interface import Interface
    from wormsim.realism_levels.conductance import ConductanceBrain, ConductanceConfig
    from wormsim.rollout import run_episodes

    circuit = load_circuit("cook2019")
    cfg = ConductanceConfig() if args.dt_ms is None else ConductanceConfig(dt_ms=args.dt_ms)
    rng = np.random.default_rng(0)

    def episode(pop: int, theta: np.ndarray) -> tuple[float, dict]:
        env = SwimVectorEnv(num_envs=pop, duration=args.duration, head_cpg=2.0, nthread=0)
        itf = Interface(circuit, env.layout, control_dt=env.control_dt)
        brain = ConductanceBrain(circuit, itf.io_spec(), config=cfg, population=pop)
        brain.set_params(theta)
        n_steps = env.max_steps
        seeds = list(range(pop))
        run_episodes(brain, itf, env, seeds, n_steps=2)   # build + compile/load outside the timing
        best, out = float("inf"), None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = run_episodes(brain, itf, env, seeds, n_steps=n_steps)
            best = min(best, time.perf_counter() - t0)
        return best, {"sim_time": float(out.steps.max()) * env.control_dt}

    probe_env = SwimVectorEnv(1, duration=1.0)
    probe = ConductanceBrain(circuit, Interface(circuit, probe_env.layout, control_dt=probe_env.control_dt)
                             .io_spec(), config=cfg)
    base = probe.get_params().numpy()[0]
    P = args.population
    thetas = base[None] * (1 + 0.1 * rng.standard_normal((P, base.size)))

    rows = []
    wall1, out1 = episode(1, thetas[:1])
    rows.append(("population 1", 1, wall1, out1["sim_time"]))
    wallP, outP = episode(P, thetas)
    rows.append((f"population {P}, one batch", P, wallP, outP["sim_time"]))
    k = min(args.sequential, P)
    seq = [episode(1, thetas[i:i + 1])[0] for i in range(k)]
    wall_seq = float(np.mean(seq)) * P
    rows.append((f"population {P}, sequential (x{P} from {k} runs)", P, wall_seq, out1["sim_time"]))

    print(f"\nconductance level + SwimVectorEnv, {circuit.n} neurons, dt = {cfg.dt_ms} ms, "
          f"episode {args.duration} s, control_dt = {probe.io.control_dt} s, best of {args.repeats}")
    print(f"{'setup':<44}{'worms':>6}{'wall s':>9}{'sim s/wall s (per worm)':>26}{'worm-s/wall s':>16}")
    for name, n, wall, sim in rows:
        print(f"{name:<44}{n:>6}{wall:>9.2f}{sim / wall:>26.3f}{n * sim / wall:>16.2f}")
    print(f"\nbatched vs sequential speed-up at P={P}: {wall_seq / wallP:.1f}x")
    print(f"one worm (circuit + body) runs at {out1['sim_time'] / wall1:.2f}x real time "
          f"(goal >= 1x; Sibernetic ~ 1/1200x)")


if __name__ == "__main__":
    main()
