"""Train one rate circuit (head oscillator off) to swim at several loads at once: CMA-ES as `wormsim train`
runs it (same step sizes per parameter group, same population, same episodes), with the fitness of a
candidate the mean over the loads of log10(0.001 + max(speed, 0)) (speed in BL/s), so that a 10% gain counts
the same in water as at 300x water's viscosity, where every speed is ten times smaller. One circuit, one
set of parameters for all loads: the replay along the load axis (gait_vs_load.py) is without retraining.
The run directory is a wormsim run (config.json: the water set-up; policy.npz; metrics.jsonl; summary.json).

    python docs/body/train_across_loads.py --out runs/NAME [--loads 1 300] [--budget 300] [--init RUN]
                                           [--agar-loads 3000] [--wiring shuffled] [--seed S]
                                           [--anterior-reach N] [--anterior-field N] [--stretch-field N]
                                           [--bending-stiffness EI]

--init RUN starts from a trained run's policy (a curriculum: a water swimmer that then meets the load).

This script is the recipe of docs/body/self-rhythm.md sections 3-12, kept as it was so that their commands
reproduce their tables. New runs across loads: `wormsim train --also-at water:1000 [agar:10000 ...]`, the
same fitness (wormsim.rollout.load_mix_fitness) in the project's trainer, so with its workers, resume after a
kill, checkpoints, validation every --val-every generations and the plateau rule; not bit-identical to this
script (other episode seeds, and validation on four episodes).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from wormsim.config import TrainConfig
from wormsim.rollout import Evaluator
from wormsim.runs import Run
from wormsim.train.es import step_scales

OFFSET = 1e-3         # BL/s, added to a speed before the log: progress below it still counts, a little
VAL_SEED, FINAL_SEED = 7_000_000, 8_000_000


def at_load(spec, load: float, medium: str = "water"):
    return spec.at(medium, load)


def fitness(speeds: np.ndarray) -> np.ndarray:
    """(L, P) speeds -> (P,) mean over loads of log10(OFFSET + max(speed, 0))."""
    return np.log10(OFFSET + np.maximum(np.nan_to_num(speeds, nan=0.0), 0.0)).mean(axis=0)


def main(argv=None) -> None:
    import cma
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--loads", type=float, nargs="+", default=[1.0, 300.0], help="loads in water")
    p.add_argument("--agar-loads", type=float, nargs="*", default=[],
                   help="loads on agar (drag ratio 10), trained beside the water ones")
    p.add_argument("--budget", type=int, default=300)
    p.add_argument("--popsize", type=int, default=24)
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--sigma", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", default="rate", help="realism level (spiking: with --bistable-gain 0)")
    p.add_argument("--wiring", default="connectome", help="the connectome or a null model (wormsim train's "
                   "--wiring; its seed is --seed)")
    p.add_argument("--bistable-gain", type=float, default=8.0)
    p.add_argument("--own-stretch", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--anterior-reach", type=int, default=1,
                   help="segments ahead of the soma that a B cell's anterior entry reads (1: as always)")
    p.add_argument("--anterior-field", type=int, default=1,
                   help="segments ahead of the soma that a B cell's anterior field spans; entries beyond the "
                        "first start at 0 (1: as always)")
    p.add_argument("--stretch-field", type=int, default=1,
                   help="joints a B cell's own-side stretch field spans, from its NMJs' centre tailward; the "
                        "own-stretch gain starts spread evenly over them (1: as always)")
    p.add_argument("--bending-stiffness", type=float, default=2.3,
                   help="the body's EI, force BL^2 (2.3: Sznitman et al. 2010, as always; 28.8: Fang-Yen et al. "
                        "2010's whole-animal value; envs/body.py BodyParams)")
    p.add_argument("--circuit", default="motor", help="motor, or motor+head: the head motor neurons bend "
                   "the head joints that the motor circuit leaves passive")
    p.add_argument("--head-stretch", action="store_true", help="with --circuit motor+head: the SMD cells "
                   "sense their own side's head stretch (Yeon et al. 2018)")
    p.add_argument("--init", default=None, help="start from this run's policy (same level set-up)")
    p.add_argument("--val-every", type=int, default=10)
    a = p.parse_args(argv)
    if a.budget < 1 or a.popsize < 2 or min(a.loads + a.agar_loads) <= 0:
        p.error("--budget >= 1, --popsize >= 2 and loads > 0")
    if min(a.anterior_reach, a.anterior_field, a.stretch_field) < 1:
        p.error("--anterior-reach, --anterior-field and --stretch-field are whole numbers of segments >= 1")
    if not a.bending_stiffness > 0:
        p.error("--bending-stiffness is an EI > 0 (force BL^2)")
    if a.stretch_field > 1 and not a.own_stretch:
        p.error("--stretch-field spreads the own-segment stretch entry: it needs --own-stretch")
    t0 = time.time()
    config = TrainConfig(level=a.level, wiring=a.wiring, head_cpg=0.0, bistable_gain=a.bistable_gain, own_stretch=a.own_stretch,
                         anterior_reach=a.anterior_reach, anterior_field=a.anterior_field,
                         stretch_field=a.stretch_field, bending_stiffness=a.bending_stiffness, init=a.init,
                         circuit=a.circuit, head_stretch=a.head_stretch,
                         duration=a.duration, popsize=a.popsize, seed=a.seed, budget=a.budget,
                         sigma=a.sigma, workers=1, video=False, tensorboard=False, stop="budget", out=a.out)
    try:
        spec = config.eval_spec()
    except ValueError as exc:
        p.error(str(exc))
    conditions = [("water", load) for load in a.loads] + [("agar", load) for load in a.agar_loads]
    evs = [Evaluator(at_load(spec, load, medium)) for medium, load in conditions]
    x0 = evs[0].initial_params()
    if a.init:   # carried over as `wormsim train --init` does: new entries (a wider field) start at 0
        from wormsim.train.warmstart import initial_params_from_run
        try:
            x0 = np.asarray(initial_params_from_run(config, evs[0]), np.float64)
        except ValueError as exc:
            p.error(str(exc))
    stds, _ = step_scales(config, evs[0].brain)
    run = Run.create(a.out, {**dataclasses.asdict(config),
                             "across_loads": {"loads": a.loads, "agar_loads": a.agar_loads, "init": a.init,
                                              "fitness": "mean log10 speed"}},
                     overwrite=True)
    es = cma.CMAEvolutionStrategy(x0, a.sigma, {
        "popsize": a.popsize, "seed": a.seed + 1, "verbose": -9, "randn": np.random.RandomState(a.seed + 1).randn,
        "CMA_diagonal": len(x0) > config.diagonal_above, "tolfun": 0, "tolx": 0, "tolflatfitness": 10**9,
        "tolstagnation": 10**9, "maxiter": 10**9, "CMA_stds": stds})

    def speeds(params, seed) -> np.ndarray:
        return np.stack([ev.evaluate(np.atleast_2d(params), seed=seed).speed for ev in evs])

    best = {"fitness": -np.inf, "params": x0, "generation": 0}
    for gen in range(1, a.budget + 1):
        cands = np.asarray(es.ask())
        s = speeds(cands, seed=1000 * gen)
        f = fitness(s)
        es.tell(list(cands), list(-f))
        row = {"iteration": gen, "best": float(f.max()), "mean": float(f.mean()),
               "speed_best_by_load": s[:, int(np.argmax(f))].round(4).tolist(), "wall_time": round(time.time() - t0, 1)}
        if gen % a.val_every == 0 or gen == a.budget:
            vs = speeds(np.asarray(es.mean), seed=VAL_SEED)[:, 0]
            vf = float(fitness(vs[:, None])[0])
            row.update(val_fitness=vf, val_speed_by_load=vs.round(4).tolist())
            if vf > best["fitness"]:
                best = {"fitness": vf, "params": np.asarray(es.mean).copy(), "generation": gen}
        run.append_metrics(row)
        if gen % a.val_every == 0:
            print(json.dumps(row), flush=True)
    run.save_policy(best["params"], level=a.level, generation=best["generation"], source="best validated mean",
                    spec=spec.as_dict())
    final = speeds(best["params"], seed=FINAL_SEED)[:, 0]
    summary = {"loads": a.loads, "agar_loads": a.agar_loads, "final_speed_by_load": final.tolist(),
               "val_best": best["fitness"],
               "val_best_at": best["generation"], "generations": a.budget, "init": a.init,
               "wall_time": round(time.time() - t0, 1), "n_params": len(x0)}
    run.write_summary(summary)
    print(json.dumps(summary))
    for ev in evs:
        ev.close()


if __name__ == "__main__":
    main()
