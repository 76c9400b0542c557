"""Speed of each rung of the conductance level's ladder of detail, relative to the default level, in one run.

Every rung (conductance-passive, conductance, conductance-ca-inactivation, conductance-synaptic-kinetics,
and the c302-C1 parameter set) runs the same closed-loop swim episodes (population P as one batch,
head oscillator on) on the Cook 2019 circuit; the table gives wall time, simulated worm-seconds per
wall second and the ratio to the default "conductance" level. Timings interleave the rungs round by round
and keep each rung's best, so load on a shared machine slows all of them alike.

    python benchmarks/conductance_ladder_speed.py [--population 8] [--duration 1.0] [--repeats 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds per episode")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each rung keeps its best")
    args = ap.parse_args()

    from wormsim.connectome import load_circuit
    from wormsim.envs.vector import SwimVectorEnv
    from wormsim.interface import Interface
    from wormsim.realism_levels import conductance as cond
    from wormsim.realism_levels import get_level
    from wormsim.rollout import run_episodes

    circuit = load_circuit("cook2019")
    P = args.population
    env = SwimVectorEnv(num_envs=P, duration=args.duration, head_cpg=2.0, nthread=0)
    itf = Interface(circuit, env.layout, control_dt=env.control_dt)
    rungs = {name: (get_level(name), None) for name in cond.LADDER_LEVELS}
    rungs["c302-C1 set"] = (cond.ConductanceBrain, cond.parameter_set("c302-C1"))
    brains, seeds = {}, list(range(P))
    rng = np.random.default_rng(0)
    for name, (cls, cfg) in rungs.items():
        brain = cls(circuit, itf.io_spec(), config=cfg, population=P)
        base = brain.get_params().numpy()[0]
        brain.set_params(base[None] * (1 + 0.1 * rng.standard_normal((P, base.size))))
        run_episodes(brain, itf, env, seeds, n_steps=2)      # build + compile/load outside the timing
        brains[name] = brain
    best = {name: float("inf") for name in brains}
    sim = {}
    for _ in range(args.repeats):
        for name, brain in brains.items():
            t0 = time.perf_counter()
            out = run_episodes(brain, itf, env, seeds, n_steps=env.max_steps)
            best[name] = min(best[name], time.perf_counter() - t0)
            sim[name] = float(out.steps.max()) * env.control_dt
    ref = best["conductance"]
    print(f"\nconductance ladder + SwimVectorEnv, {circuit.n} neurons, population {P} as one batch, "
          f"episode {args.duration} s, best of {args.repeats}")
    print(f"{'rung':<34}{'wall s':>9}{'worm-s/wall s':>16}{'time / default':>16}")
    for name in brains:
        print(f"{name:<34}{best[name]:>9.2f}{P * sim[name] / best[name]:>16.2f}{best[name] / ref:>16.2f}")


if __name__ == "__main__":
    main()
