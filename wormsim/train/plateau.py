"""The stopping rule every trainer shares: train until the validation score stops improving.

A trainer checks its current policy (ES: the distribution's mean; PPO, BPTT: the network's weights) every
``val_every`` iterations on the same ``val_episodes`` episodes of the training distribution (fixed
seeds, so two checks differ only by the policy; never the held-out episodes the run is judged on). The
run has converged at check g when the best validation score of the last ``patience`` iterations beats
the best one before them by less than

    delta = max(plateau_tol * (best so far - untrained), standard error of the checks' scores)

i.e. the last window added less than a small fraction of what training has gained so far, or less than
what one check can resolve. Runs that never learn therefore stop too, after ``patience`` iterations
without a resolvable gain. ``--stop budget`` runs the whole budget and only records when the rule
would have fired.

The score is the task's own metric (TaskSpec.metric: speed on swim, recall R^2 on memory, accuracy on
digits; a task may name another per-episode value, TaskSpec.validate_on: navigate's shaped return, since
its success rate is 0 for nearly every early policy), so "converged" means the same for every trainer. Why by hand: early stopping in the
libraries we use (e.g. scikit-learn's n_iter_no_change, Keras' EarlyStopping) is bound to their own
training loops, not to an ES generation or a resumable run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# TaskSpec.metric -> the EvalResult.episodes key that holds it per episode
METRIC_KEY = {"final_speed": "speed", "final_return": "return", "final_score": "score"}

VALIDATE = 10**6 + 3            # episode-seed tag of the validation checks (outside generation numbers)


def episode_seed(seed: int, tag: int) -> int:
    """The episode seed of a run's ``seed`` and a tag (a generation, or VALIDATE and the trainers' other
    tags above 10**6): a SeedSequence draw, so nearby tags give unrelated episodes."""
    return int(np.random.SeedSequence([seed, tag]).generate_state(1)[0] % (2**31 - 10**6))


def validation_values(result, task: str, across_conditions: bool = False) -> np.ndarray:
    """(P, E): every member's per-episode value of what ``task`` validates on (TaskSpec.validate_on, else
    its metric) in an EvalResult (NaN where an episode failed), falling back on the return where that is
    not a per-episode value. across_conditions (a run trained under several loads, --also-at): the return,
    which is then the fitness over all of them, not the first condition's speed."""
    from wormsim.envs.tasks import get_task
    spec = get_task(task)
    key = "return" if across_conditions else spec.validate_on or METRIC_KEY.get(spec.metric, "return")
    values = np.asarray(result.episodes[key], float)
    if not np.isfinite(values).any():
        values = np.asarray(result.episodes["return"], float)
    return values


def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of one member's episode values (failed episodes count at the worst
    value seen, so a policy that fails is never the best)."""
    v = np.asarray(values, float).ravel()
    if not np.isfinite(v).any():
        return -np.inf, 0.0
    v = np.where(np.isfinite(v), v, np.nanmin(v))
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


@dataclass
class Plateau:
    """The validation checks of one run and the rule applied to them (state kept in checkpoints)."""
    patience: int
    tol: float
    checks: list = field(default_factory=list)     # [iteration, evaluations, score, se]
    converged_at: int | None = None                # iteration at which the rule first fired
    evaluations_at: int | None = None

    def add(self, iteration: int, evaluations: int, score: float, se: float) -> bool:
        """Record a check; True when the rule fires at it (the first time, its iteration is kept)."""
        self.checks.append([int(iteration), int(evaluations), float(score), float(se)])
        fired = self.fires()
        if fired and self.converged_at is None:
            self.converged_at, self.evaluations_at = int(iteration), int(evaluations)
        return fired

    def fires(self) -> bool:
        if not self.checks:
            return False
        it = np.array([c[0] for c in self.checks])
        score = np.array([c[2] for c in self.checks])
        se = np.array([c[3] for c in self.checks])
        g = it[-1]
        before, recent = it <= g - self.patience, it > g - self.patience
        if not before.any():
            return False                           # not yet ``patience`` iterations of history
        gain = max(score.max() - score[0], 0.0)
        delta = max(self.tol * gain, float(np.nanmean(se[recent])))
        # at most delta: a curve that has not moved at all (every check the same, standard error 0: a
        # policy that scores exactly 0 on every episode) has converged, rather than never
        return bool(score[recent].max() - score[before].max() <= delta)

    @property
    def best(self) -> tuple[int, float] | None:
        """(iteration, score) of the best check."""
        if not self.checks:
            return None
        c = max(self.checks, key=lambda c: c[2])
        return c[0], c[2]

    def summary(self) -> dict:
        best = self.best
        return {"converged": self.converged_at is not None, "converged_at": self.converged_at,
                "evaluations_at_convergence": self.evaluations_at,
                "val_best": None if best is None or not np.isfinite(best[1]) else best[1],
                "val_best_at": None if best is None else best[0],
                "val_untrained": self.checks[0][2] if self.checks and np.isfinite(self.checks[0][2]) else None,
                "patience": self.patience, "plateau_tol": self.tol}

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict) -> "Plateau":
        return cls(**d)


def evaluations_to_fraction(iterations, evaluations, scores, fraction: float = 0.9) -> int | None:
    """The evaluations at which a validation curve first reaches ``fraction`` of its gain from the first
    check to its best (how fast it learns, Schmidgall et al.'s "initial performance" view); None for a
    curve that gained nothing."""
    s = np.asarray(scores, float)
    ok = np.isfinite(s)
    if ok.sum() < 2:
        return None
    e, s = np.asarray(evaluations)[ok], s[ok]
    gain = s.max() - s[0]
    if gain <= 0:
        return None
    return int(e[np.argmax(s >= s[0] + fraction * gain)])


class Validation:
    """A run's validation checks: the fixed validation episodes, the rule, and the best policy they saw.

        val = Validation(config, x0)                     # check 0: the untrained policy
        row.update(val.check(iteration, evaluations, params))   # every config.val_every iterations
        if val.stop: break                               # --stop plateau and converged
        val.best_params                                  # early stopping's choice

    state_dict() goes into the trainer's checkpoint (resume continues the same checks); circuit: the
    trainer's circuit, so that it is not built twice."""

    def __init__(self, config, initial_params=None, state: dict | None = None, circuit=None):
        from wormsim.rollout import Evaluator
        self.config = config
        self.evaluator = Evaluator(config.eval_spec(episodes=config.val_episodes))
        if circuit is not None:
            self.evaluator.circuit = circuit
        if state is not None:
            self.plateau, self.best = Plateau.from_state(state["plateau"]), state["best"]
            self.last = state.get("last", (None, 0.0))
            return
        self.plateau = Plateau(config.patience, config.plateau_tol)
        x0 = np.asarray(initial_params)
        score, se = self.score(x0)
        self.plateau.add(0, 0, score, se)
        self.best = {"score": score, "params": x0.copy(), "iteration": 0}
        self.last = (score, se)

    def score(self, params) -> tuple[float, float]:
        """Mean and standard error of the task's metric for ``params`` on the validation episodes."""
        result = self.evaluator.evaluate(np.asarray(params)[None], seed=episode_seed(self.config.seed, VALIDATE))
        return mean_and_se(validation_values(result, self.config.task, bool(self.evaluator.spec.also_at))[0])

    def due(self, iteration: int) -> bool:
        return iteration % self.config.val_every == 0

    def check(self, iteration: int, evaluations: int, params) -> dict:
        """Validate ``params`` at ``iteration`` if a check is due; the metrics row's validation fields."""
        if not self.due(iteration):
            return {}
        params = np.asarray(params).copy()
        score, se = self.score(params)
        self.plateau.add(iteration, evaluations, score, se)
        if score > self.best["score"]:
            self.best = {"score": score, "params": params, "iteration": int(iteration)}
        self.last = (score, se)
        return {"val_score": float(score) if np.isfinite(score) else None, "val_se": se,
                "converged": self.plateau.converged_at is not None}

    def first_row(self) -> dict:
        """The validation fields of metrics row 0 (the untrained policy)."""
        score, se = self.last
        return {"evaluations": 0, "val_score": float(score) if np.isfinite(score) else None, "val_se": se}

    @property
    def stop(self) -> bool:
        return self.config.stop == "plateau" and self.plateau.converged_at is not None

    @property
    def best_params(self) -> np.ndarray:
        return np.asarray(self.best["params"])

    def summary(self) -> dict:
        return {"stop": self.config.stop, **self.plateau.summary()}

    def state_dict(self) -> dict:
        return {"plateau": self.plateau.state_dict(), "best": self.best, "last": self.last}

    def close(self) -> None:
        self.evaluator.close()
