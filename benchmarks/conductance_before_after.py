"""The default conductance level at another git revision against the working tree, in one process.

Loads realism_levels/conductance.py as it was at --rev (git show) next to the current one, runs the same
closed-loop swim episodes with both (population P as one batch, head oscillator on), interleaved round by
round so that load on a shared machine slows both alike, and prints the best wall time of each, their
ratio and whether the returns are equal (the default model's behaviour must not change).

    python benchmarks/conductance_before_after.py --rev 5995d2e^ [--population 8] [--repeats 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_revision(rev: str):
    """realism_levels/conductance.py at ``rev`` as a module of its own."""
    try:
        src = subprocess.run(["git", "show", f"{rev}:realism_levels/conductance.py"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"git show {rev}:realism_levels/conductance.py failed: {exc.stderr.strip()}") from None
    path = Path(tempfile.mkdtemp()) / "conductance_at_rev.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("conductance_at_rev", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", required=True, help="git revision to compare with, e.g. HEAD~3")
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds per episode")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from wormsim.connectome import load_circuit
    from wormsim.envs.vector import SwimVectorEnv
    from wormsim.interface import Interface
    from wormsim.realism_levels import conductance as now
    from wormsim.rollout import run_episodes

    then = load_revision(args.rev)
    circuit = load_circuit("cook2019")
    P = args.population
    env = SwimVectorEnv(num_envs=P, duration=args.duration, head_cpg=2.0, nthread=0)
    itf = Interface(circuit, env.layout, control_dt=env.control_dt)
    seeds = list(range(P))
    brains = {}
    for name, mod in ((args.rev, then), ("working tree", now)):
        brain = mod.ConductanceBrain(circuit, itf.io_spec(), population=P)
        base = brain.get_params().numpy()[0]
        brain.set_params(base[None] * (1 + 0.1 * np.random.default_rng(0).standard_normal((P, base.size))))
        run_episodes(brain, itf, env, seeds, n_steps=2)      # build + compile/load outside the timing
        brains[name] = brain
    best = {k: float("inf") for k in brains}
    returns = {}
    for _ in range(args.repeats):
        for name, brain in brains.items():
            t0 = time.perf_counter()
            returns[name] = run_episodes(brain, itf, env, seeds, n_steps=env.max_steps).returns
            best[name] = min(best[name], time.perf_counter() - t0)
    a, b = best[args.rev], best["working tree"]
    print(f"default conductance level, population {P}, {args.duration}-s episodes, best of {args.repeats} "
          f"interleaved: {args.rev} {a:.3f} s, working tree {b:.3f} s, working tree / {args.rev} = {b / a:.3f}; "
          f"returns equal: {bool(np.allclose(returns[args.rev], returns['working tree'], rtol=1e-6))}")


if __name__ == "__main__":
    main()
