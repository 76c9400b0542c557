"""The iteration loop the gradient trainers share (PPO, BPTT): start or resume, one metrics row, checkpoint and
policy per iteration, the plateau rule's checks, and the final judgement on held-out episodes.

A trainer brings what is its own: a ``setup`` (the brain, its optimiser and environment: ``brain``,
``circuit``, ``env``, ``state_dict()``, ``load_state_dict()``) and ``step(iteration) -> (row, env_steps)``,
one update with the metrics it measured (``best``, ``mean``, ``std``, ``speed_*``, ``score_*`` and its
own losses). Everything else, and so every guarantee a run gives (exact resume after a kill, atomic files,
early stopping's choice of the final policy), lives here once.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import numpy as np

from wormsim.runs import Run, RunError
from wormsim.train.es import _finite
from wormsim.train.plateau import Validation


def episode_seed(seed: int, stream: int, iteration: int = 0) -> int:
    """The episode seed of a gradient trainer's ``stream`` (0: training, 1: the untrained row, 2: the final
    judgement) at ``iteration``, from the run's seed."""
    return int(np.random.SeedSequence([seed, stream, iteration]).generate_state(1)[0] % (2**31 - 10**6))


def run_iterations(config, run: Run, state: dict | None, *, algo: str, title: str, hyper, setup,
                   step: Callable[[int], tuple[dict, int]], evaluations_per_iteration: int, progress: bool,
                   untrained_note: str, source: str, summary_extra: dict) -> dict:
    """Train ``setup`` by ``step`` from ``state`` (a checkpoint of this set-up, or None) to --budget or the
    plateau; returns the summary written to summary.json. hyper: the trainer's hyper-parameter dataclass,
    kept in every checkpoint under ``algo``."""
    from tqdm.auto import tqdm

    from wormsim.rollout import Evaluator, heldout_trials

    dim = setup.brain.n_params
    judge = Evaluator(config.eval_spec(episodes=config.eval_episodes, held_out=True))
    judge.circuit = setup.circuit                 # same spec, same circuit: do not build it twice
    if state is not None:
        if state.get("algo") != algo or state.get("dim") != dim:
            raise RunError(f"{run.path}'s checkpoint is not a {title} checkpoint of this set-up ({dim} "
                           f"parameters): it belongs to another run")
        setup.load_state_dict(state["model"])
        start, elapsed, env_steps = state["iteration"], state["elapsed"], state["env_steps"]
        validation = Validation(config, state=state["validation"], circuit=setup.circuit)
        run.truncate_metrics(start + 1)           # rows past the checkpoint are redone identically
    else:
        run.truncate_metrics(0)
        start, elapsed = 0, 0.0
        x0 = setup.brain.get_params()[0].detach().numpy()
        untrained = judge.evaluate(x0[None], seed=episode_seed(config.seed, 1))
        env_steps = untrained.steps
        validation = Validation(config, x0, circuit=setup.circuit)   # check 0: the untrained brain
        ret, speed, score = (_finite(x[0]) for x in (untrained.returns, untrained.speed, untrained.score))
        run.append_metrics({"iteration": 0, "best": ret, "mean": ret, "std": 0.0, "speed_best": speed,
                            "speed_mean": speed, "score_best": score, "score_mean": score,
                            "wall_time": 0.0, "env_steps": env_steps, **validation.first_row(),
                            "note": untrained_note})

    spec = config.eval_spec()
    bar = tqdm(total=config.budget, initial=start, disable=not progress, unit="it",
               desc=f"{algo} {config.level}/{config.wiring}")
    try:
        for it in range(start, config.budget):
            if validation.stop:
                break
            t0 = time.perf_counter()
            measured, steps = step(it)
            elapsed += time.perf_counter() - t0
            env_steps += steps
            row = {"iteration": it + 1, **measured, "wall_time": round(elapsed, 3), "env_steps": env_steps,
                   "evaluations": (it + 1) * evaluations_per_iteration}
            # the policy as it is judged (PPO: the mean action)
            row.update(validation.check(it + 1, row["evaluations"], setup.brain.get_params()[0].detach().numpy()))
            run.append_metrics(row)
            run.save_checkpoint({"algo": algo, "fingerprint": config.fingerprint(), algo: asdict(hyper),
                                 "iteration": it + 1, "dim": dim, "model": setup.state_dict(),
                                 "elapsed": elapsed, "env_steps": env_steps, "validation": validation.state_dict()})
            run.save_policy(setup.brain.get_params()[0].detach().numpy(), level=config.level, generation=it + 1,
                            algo=algo, spec=spec.as_dict())
            shown = ({"speed": f"{row['speed_mean']:.3f}BL/s"} if row.get("speed_mean") is not None else
                     {"score": f"{row['score_mean']:.3f}"} if row.get("score_mean") is not None else {})
            bar.set_postfix(ret=f"{row['mean']:.3f}", **shown)
            bar.update(1)
    finally:
        bar.close()
        setup.env.close()

    validation.close()
    # early stopping's choice: the iterate with the best validation score (training distribution)
    final, done = validation.best_params, int(run.metrics()[-1]["iteration"])
    judged, heldout = heldout_trials(judge, final, judge.initial_params(), episode_seed(config.seed, 2))
    policy = run.save_policy(final, level=config.level, generation=validation.best["iteration"], algo=algo,
                             source=source, spec=spec.as_dict())
    untrained = run.metrics()[0]
    summary = {"final_speed": _finite(judged.speed[0]), "final_return": float(judged.returns[0]),
               "final_score": _finite(judged.score[0]), "untrained_speed": untrained["speed_mean"],
               "untrained_score": untrained["score_mean"], "generations": done, "budget": config.budget,
               "evaluations": done * evaluations_per_iteration, **validation.summary(),
               "wall_time": round(elapsed, 1), "env_steps": env_steps, "n_params": dim, "policy": str(policy),
               "algo": algo, **summary_extra, "heldout": heldout}
    run.write_summary(summary)
    return summary
