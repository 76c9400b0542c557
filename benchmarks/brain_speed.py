"""Control steps per second of the torch realism levels (rate, spiking, mlp), and the gain of batching
a population.

    python benchmarks/brain_speed.py [--steps 50] [--repeats 3] [--threads 1] [--device cpu]
                                     [--levels rate spiking mlp]

For each level, on the Cook 2019 circuit (or the test suite's synthetic one when it cannot be loaded),
a 12-segment body and no_grad (the ES setting):
- batch 1: one member (P = 1), one episode;
- batch 64: one brain holding P = 64 members, one episode each, stepped as one batch;
- 64 one by one: 64 brains of P = 1 stepped in turn, the way a population runs without batching.
"steps/s" counts brain control steps of one worm; "speed-up" = (64 in one batch) / (64 one by one),
in worm-steps per second, measured in the same run (goal >= 20x).

Threads: torch.set_num_threads(1) by default. These matrices are small (81 x 81 per member), where
intra-op threading costs more than it gains, and a population is better spread over processes
(wormsim.parallel) than over threads; pass --threads to measure otherwise.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from wormsim.envs.layout import ObsLayout
from wormsim.interface import Agent, Interface
from wormsim.realism_levels import get_level


def load_circuit_or_synthetic():
    try:
        from wormsim.connectome import load_circuit
        return load_circuit("cook2019"), "cook2019"
    except Exception as err:  # offline or reader missing: still measure something
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from test_interface import synthetic_circuit
        print(f"(cook2019 unavailable: {err}; using the synthetic test circuit)")
        return synthetic_circuit(), "synthetic"


def steps_per_second(agents: list[Agent], obs: np.ndarray, steps: int, repeats: int) -> float:
    """Control steps per second of the whole list (each agent stepped in turn), after a warm-up;
    the best of ``repeats`` timings, since other load on the machine only ever slows a run down."""
    for ag in agents:
        ag.reset(obs.shape[0])
        ag.act(obs)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            for ag in agents:
                ag.act(obs)
        best = min(best, time.perf_counter() - start)
    return steps / best


def measure(level: str, circuit, layout: ObsLayout, steps: int, pop: int, device: str,
            repeats: int) -> dict:
    itf = Interface(circuit, layout)
    cls = get_level(level)
    rng = np.random.default_rng(0)
    obs1 = rng.normal(0, 0.1, (1, layout.obs_dim)).astype(np.float32)
    obs_pop = np.repeat(obs1, pop, axis=0)
    one = Agent(cls(circuit, itf.io_spec(), device=device), itf)
    big = Agent(cls(circuit, itf.io_spec(), population=pop, device=device), itf)
    many = [Agent(cls(circuit, itf.io_spec(), device=device), itf) for _ in range(pop)]
    sps1 = steps_per_second([one], obs1, steps, repeats)
    sps_big = steps_per_second([big], obs_pop, steps, repeats)
    sps_many = steps_per_second(many, obs1, max(steps // 10, 3), repeats)
    return {"level": level, "n_params": one.brain.n_params, "b1": sps1, "b64": sps_big,
            "worm_b64": sps_big * pop, "worm_seq": sps_many * pop,
            "speedup": (sps_big * pop) / (sps_many * pop)}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--population", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--levels", nargs="+", default=["rate", "spiking", "mlp"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    circuit, source = load_circuit_or_synthetic()
    layout = ObsLayout(n_segments=12)
    p = args.population
    print(f"circuit {source} ({circuit.n} neurons), torch threads {torch.get_num_threads()}, "
          f"device {args.device}, best of {args.repeats} x {args.steps} control steps")
    rows = [measure(lv, circuit, layout, args.steps, p, args.device, args.repeats) for lv in args.levels]
    head = (f"{'level':8} {'params':>7} {'steps/s b1':>11} {f'steps/s b{p}':>12} "
            f"{f'worm-steps/s b{p}':>17} {f'{p} one by one':>14} {'speed-up':>9} {'vs b1':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['level']:8} {r['n_params']:7d} {r['b1']:11.0f} {r['b64']:12.0f} {r['worm_b64']:17.0f} "
              f"{r['worm_seq']:14.0f} {r['speedup']:8.1f}x {r['worm_b64'] / r['b1']:6.1f}x")
    print(f"speed-up: worm-steps/s of {p} members in one batch over {p} brains stepped one by one "
          "(goal >= 20x); vs b1: over a single brain at batch 1.")
    return rows


if __name__ == "__main__":
    main()
