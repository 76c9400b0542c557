"""Evolution strategies for every realism level: CMA-ES (the `cma` library) on the flat parameter vector.

The one trainer every level accepts, Brian2's non-differentiable conductance level included, so it is
the fair common ground for comparing levels and wirings. One generation: CMA-ES proposes `popsize`
parameter vectors, the backend evaluates them as batched rollouts (one vector environment and one brain
batch per worker), CMA-ES is told the returns. Above `diagonal_above` parameters the separable
(diagonal) variant is used: its cost per generation is linear in the dimension (Ros & Hansen 2008).

Every iteration appends a metrics row and rewrites the checkpoint atomically (CMA-ES state with its
own random generator, the best parameters so far), so `wormsim resume` after kill -9
continues exactly: a resumed run gives the same curve as an uninterrupted one with the same seed.

A worker process that dies during a generation costs a retry of that generation's lost chunks
(wormsim.parallel), not the run; the row of that generation says so (``worker_retries``: how many
times, ``worker_lost``: what died), and the run ends identical to an uninterrupted one. Workers that
die on every try end the run with `WorkerLost`, one line naming what died, how often, and the
`wormsim resume` command that continues from the last finished generation.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from wormsim.config import TrainConfig
from wormsim.runs import Run, RunError
from wormsim.train.plateau import Validation
from wormsim.train.plateau import episode_seed as _generation_seed


def _finite(x):
    return float(x) if np.isfinite(x) else None


def _nanmean(x):
    x = np.asarray(x, float)
    return float(x[np.isfinite(x)].mean()) if np.isfinite(x).any() else None


def _nanstd(x):
    x = np.asarray(x, float)
    return float(x[np.isfinite(x)].std()) if np.isfinite(x).any() else None


UNTRAINED, FINAL, CHOOSE = 10**6 + 1, 10**6, 10**6 + 2  # episode-seed tags outside the generation numbers


def step_scales(config: TrainConfig, brain) -> tuple[np.ndarray | None, dict]:
    """CMA-ES's per-coordinate step multipliers (CMA_stds) and the per-group scales they come from:
    each parameter group's natural scale (--sigma-scale group), or None (--sigma-scale none)."""
    if config.sigma_scale == "none":
        return None, {}
    return brain.scale_vector(), brain.natural_scales()


def _new_state(config: TrainConfig, run: Run, local, validation: Validation, x0: np.ndarray) -> dict:
    """A fresh CMA-ES state; metrics row 0 is the untrained policy (and the first validation check)."""
    import cma
    run.truncate_metrics(0)                   # a run killed before its first checkpoint restarts
    stds, scales = step_scales(config, local.brain)
    # CMA-ES draws from its own generator, pickled with it, so that nothing else in the process (or a
    # resumed process) can shift its samples
    es = cma.CMAEvolutionStrategy(x0, config.sigma, {
        "popsize": config.popsize, "seed": config.seed + 1, "verbose": -9,
        "randn": np.random.RandomState(config.seed + 1).randn,
        "CMA_diagonal": len(x0) > config.diagonal_above, "tolfun": 0, "tolx": 0,
        "tolflatfitness": 10**9, "tolstagnation": 10**9, "maxiter": 10**9,
        **({"CMA_stds": stds} if stds is not None else {})})
    untrained = local.evaluate(x0[None], seed=_generation_seed(config.seed, UNTRAINED))
    r = float(untrained.returns[0])
    run.append_metrics({"iteration": 0, "best": r, "mean": r, "std": 0.0,
                        "score_best": _finite(untrained.score[0]), "score_mean": _finite(untrained.score[0]),
                        "speed_best": _finite(untrained.speed[0]), "speed_mean": _finite(untrained.speed[0]),
                        "failed": int(untrained.failed[0]), "sigma": config.sigma, "wall_time": 0.0,
                        "env_steps": untrained.steps, **validation.first_row(), "step_scales": scales,
                        "note": (f"the start: the trained policy of {config.init}" if config.init else
                                 "untrained (connectome-derived initial parameters)")})
    return {"es": es, "generation": 0, "best": {"return": -np.inf, "params": x0, "generation": -1},
            "dim": len(x0), "elapsed": 0.0, "env_steps": untrained.steps, "evaluations": 0,
            "validation": validation.state_dict(), "step_scales": scales}


def _resumed_state(config: TrainConfig, run: Run, dim: int) -> dict | None:
    state = run.load_checkpoint(algo="es", fingerprint=config.fingerprint())
    if state is None:
        return None
    if state.get("dim") != dim:
        raise RunError(f"{run.path}'s checkpoint holds {state.get('dim')} parameters, this "
                       f"configuration has {dim}: the checkpoint belongs to another set-up")
    run.truncate_metrics(state["generation"] + 1)   # rows past the checkpoint are redone identically
    return state


def _generation(config: TrainConfig, run: Run, spec, backend, validation, state: dict) -> dict:
    """Ask, evaluate, tell (and, every val_every generations, a validation check of the distribution
    mean); one metrics row, the checkpoint and the best policy so far, all atomic."""
    from wormsim.parallel import WorkerLost
    gen, es = state["generation"], state["es"]
    t0 = time.perf_counter()
    candidates = np.asarray(es.ask())
    try:
        result = backend.evaluate(spec, candidates, seed=_generation_seed(config.seed, gen))
    except WorkerLost as exc:
        raise WorkerLost(f"generation {gen + 1} of {run.path}: {exc}; the run keeps its {gen} finished "
                         f"generation(s): continue with `wormsim resume {run.path}`") from None
    retried = list(getattr(backend, "retried", []))
    fitness = np.where(np.isfinite(result.returns), result.returns, -1e6)
    es.tell(list(candidates), list(-fitness))   # cma minimises
    k = int(np.argmax(fitness))
    if fitness[k] > state["best"]["return"]:
        state["best"] = {"return": float(fitness[k]), "params": candidates[k].copy(), "generation": gen}
    state.update(generation=gen + 1, env_steps=state["env_steps"] + result.steps,
                 evaluations=state["evaluations"] + len(candidates) * spec.episodes)
    row = {"iteration": gen + 1, "best": float(fitness.max()), "mean": float(fitness.mean()),
           "std": float(fitness.std()), "speed_best": _finite(result.speed[k]),
           "speed_mean": _nanmean(result.speed), "speed_std": _nanstd(result.speed),
           "score_best": _finite(result.score[k]), "score_mean": _nanmean(result.score),
           "failed": int(result.failed.sum()), "sigma": float(es.sigma)}
    row.update(validation.check(gen + 1, state["evaluations"], es.mean))
    state["validation"] = validation.state_dict()
    state["elapsed"] += time.perf_counter() - t0
    row.update(wall_time=round(state["elapsed"], 3), env_steps=state["env_steps"],
               evaluations=state["evaluations"])
    if retried:                               # only where it happened: other rows stay as an uninterrupted run's
        row.update(worker_retries=len(retried), worker_lost="; ".join(retried))
    run.append_metrics(row)
    run.save_checkpoint({"algo": "es", "fingerprint": config.fingerprint(), **state})
    run.save_policy(state["best"]["params"], level=config.level, generation=state["best"]["generation"],
                    spec=spec.as_dict())
    return row


def train_es(config: TrainConfig, run: Run, resume: bool = False, progress: bool = True) -> dict:
    """Run (or continue) CMA-ES in ``run``; returns the summary written to summary.json."""
    from tqdm.auto import tqdm

    from wormsim.parallel import make_backend
    from wormsim.rollout import Evaluator

    spec = config.eval_spec()
    local = Evaluator(spec)                       # for the initial vector and the final evaluation
    x0 = local.initial_params()
    if config.init:                               # a curriculum: another run's trained circuit
        from wormsim.train.warmstart import initial_params_from_run
        x0 = initial_params_from_run(config, local)
    state = _resumed_state(config, run, len(x0)) if resume else None
    if state is None:
        validation = Validation(config, x0, circuit=local.circuit)     # check 0: the untrained policy
        state = _new_state(config, run, local, validation, x0)
    else:
        validation = Validation(config, state=state["validation"], circuit=local.circuit)
    backend = make_backend(config.backend, config.workers, config.ray_address)
    bar = tqdm(total=config.budget, initial=state["generation"], disable=not progress, unit="gen",
               desc=f"{config.level}/{config.wiring}")
    try:
        while state["generation"] < config.budget and not validation.stop:
            row = _generation(config, run, spec, backend, validation, state)
            shown = ({"speed": f"{row['speed_best']:.3f}BL/s"} if row["speed_best"] is not None else
                     {"score": f"{row['score_best']:.3f}"} if row["score_best"] is not None else {})
            bar.set_postfix(best=f"{row['best']:.2f}", mean=f"{row['mean']:.2f}", **shown)
            if row.get("worker_retries") and progress:
                bar.write(f"generation {row['iteration']}: retried after {row['worker_lost']}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        backend.close()
    local.close()
    validation.close()
    return _finish(config, run, spec, state, validation)


def _finish(config: TrainConfig, run: Run, spec, state: dict, validation: Validation) -> dict:
    """The final policy: the better of the best candidate seen and the distribution's mean, chosen on
    validation episodes of the training distribution (fresh seeds; digits: training images) and judged
    on held-out ones (the task's held-out options: digits' test images, a body task's random oscillator
    phase and wider posture), so that the choice never sees the data it is judged on; the summary."""
    from wormsim.rollout import Evaluator, heldout_trials
    best = state["best"]
    chooser = Evaluator(config.eval_spec(episodes=config.eval_episodes))
    sources = ("best candidate", "distribution mean", "best validated mean")
    pair = np.stack([best["params"], np.asarray(state["es"].mean), validation.best_params])
    k = int(np.argmax(chooser.evaluate(pair, seed=_generation_seed(config.seed, CHOOSE)).returns))
    chooser.close()
    judge = Evaluator(config.eval_spec(episodes=config.eval_episodes, held_out=True))
    final = pair[k]
    scores, heldout = heldout_trials(judge, final, judge.initial_params(), _generation_seed(config.seed, FINAL))
    judge.close()
    generation = (best["generation"], state["generation"], validation.best["iteration"])[k]
    policy = run.save_policy(final, level=config.level, generation=generation, source=sources[k],
                             spec=spec.as_dict())
    untrained = run.metrics()[0]
    by_condition = {k.split("@", 1)[1]: _nanmean(v[0]) for k, v in scores.episodes.items()
                    if k.startswith("speed@")}          # a run across loads (--also-at): each condition's speed
    # None, not NaN, where a task has no speed or no score: summary.json stays valid JSON
    summary = {"final_speed": _finite(scores.speed[0]), "final_return": float(scores.returns[0]),
               "final_score": _finite(scores.score[0]), "algo": "es",
               "untrained_speed": untrained["speed_mean"], "generations": state["generation"],
               "budget": config.budget, "evaluations": state["evaluations"], **validation.summary(),
               "step_scales": state.get("step_scales", {}), "sigma": config.sigma,
               "sigma_scale": config.sigma_scale, "final_source": sources[k],
               "wall_time": round(state["elapsed"], 1), "env_steps": state["env_steps"],
               "n_params": state["dim"],
               "policy": str(policy), "speed_unit": "body lengths / s", "heldout": heldout,
               **({"final_speed_by_condition": by_condition} if by_condition else {})}
    run.write_summary(summary)
    return summary
