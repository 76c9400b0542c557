"""Where a conductance-level generation spends its time: one closed-loop swim generation (population P,
the experiment's 3 s episodes, head oscillator on) run with Brian2's profiler, printed per code object as a
share of the generation's wall time; wormsim_body is the network operation that steps the interface and
the MuJoCo bodies once per control step, the rest Brian2's Python main loop between code objects.

    python benchmarks/conductance_profile.py [--population 24] [--duration 3.0]

Shares, not seconds, are the result: they are ratios taken within one run, so other load on the machine
changes them little. Measured in docs/experiment/converged/README.md ("Where the conductance level's time goes").
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=24)
    ap.add_argument("--duration", type=float, default=3.0, help="simulated seconds per episode")
    args = ap.parse_args()

    import brian2 as b2

    from wormsim.config import TrainConfig
    from wormsim.realism_levels import conductance
    from wormsim.rollout import Evaluator

    ev = Evaluator(TrainConfig(level="conductance", task="swim", duration=args.duration,
                               popsize=args.population).eval_spec())
    rng = np.random.default_rng(0)
    ev._setup(args.population)
    theta = ev.brain.get_params()[0].numpy()
    pop = theta[None] * (1 + 0.1 * rng.standard_normal((args.population, theta.size))).astype(np.float32)
    ev.evaluate(pop, seed=1)                      # build and compile (or load) outside the measurement

    def profiled_run(self, duration_s: float) -> None:
        b2.prefs.codegen.target = self.target
        self._sim.net.run(duration_s * b2.second, profile=True)

    conductance.ConductanceBrain._run = profiled_run
    t0 = time.perf_counter()
    ev.evaluate(pop, seed=2)
    wall = time.perf_counter() - t0
    net = ev.brain._sim.net
    rows = sorted(((name, float(t)) for name, t in net.profiling_info), key=lambda r: -r[1])
    inside = sum(t for _, t in rows)
    print(f"one generation: {args.population} worms x {args.duration:g} s, {wall:.2f} s wall, "
          f"{ev.brain._sim.group.N} neurons")
    print(f"{'code object':52s} share of the generation")
    for name, t in rows:
        if t / wall >= 0.005:
            print(f"{name:52s} {t / wall:6.1%}")
    print(f"{'(Brian2 main loop between the code objects)':52s} {1 - inside / wall:6.1%}")


if __name__ == "__main__":
    main()
