"""Whole-generation rollouts: P parameter vectors of a realism level on one vector environment.

    ev = Evaluator(EvalSpec(level="rate", task="swim"))
    result = ev.evaluate(params, seed=0)          # params (P, n_params) -> result.returns (P,)

The brain batch and the worm batch are the same P (times ``episodes`` per member), stepped together:
one brain step and one vector-environment step per control step for the whole population. The
conductance level runs its own loop inside one Brian2 run (its ``run_closed_loop``) on the same vector
environment. An Evaluator keeps its environment and brain between calls, so a trainer pays for
building them once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import torch

TASKS: dict[str, str] = {
    "swim": "wormsim/Swim-v0",
    "navigate": "wormsim/Navigate-v0",
    "memory": "wormsim/Memory-v0",
    "memory-capacity": "wormsim/MemoryCapacity-v0",
    "digits": "wormsim/Digits-v0",
}
MOTOR_TASKS = ("swim", "navigate")


def task_env_id(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return TASKS[task]


@dataclass(frozen=True)
class EvalSpec:
    """Everything that defines an evaluation, hashable so that workers can cache evaluators.

    level: realism level name. dataset, wiring, wiring_seed: the circuit. task: a key of TASKS.
    env_kwargs: keyword arguments of the environment (n_segments, medium, duration, ...), as a
    tuple of (key, value) pairs. level_kwargs: config overrides of the level, likewise.
    episodes: episodes per member, averaged.
    """
    level: str = "rate"
    dataset: str = "cook2019"
    wiring: str = "connectome"
    wiring_seed: int = 0
    task: str = "swim"
    env_kwargs: tuple = ()
    level_kwargs: tuple = ()
    episodes: int = 1
    device: str = "cpu"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["env_kwargs"] = dict(self.env_kwargs)
        d["level_kwargs"] = dict(self.level_kwargs)
        return d


@dataclass
class EvalResult:
    """returns, speed: (P,) means over a member's episodes. speed: forward speed of the centre of
    mass in body lengths / s (Swim; NaN for tasks without it). failed: (P,) bool, a member whose
    episode ended in a numerical failure. steps: environment steps taken (all worms). score: (P,)
    the task's own score at the end of an episode (info["score"]: accuracy, recall R^2 in [0, 1];
    NaN for tasks without one)."""
    returns: np.ndarray
    speed: np.ndarray
    failed: np.ndarray
    steps: int
    traces: dict = field(default_factory=dict)
    score: np.ndarray | None = None

    def __post_init__(self):
        if self.score is None:
            self.score = np.full(len(self.returns), np.nan)


def build_circuit(spec: EvalSpec):
    """The circuit of ``spec`` (dataset, wiring, wiring seed); ValueError if it cannot do the task (a
    motor task needs motor neurons that reach the muscles)."""
    import warnings

    from wormsim.connectome import load_circuit
    from wormsim.wiring import rewire
    with warnings.catch_warnings():
        if spec.task in MOTOR_TASKS:       # the error below says more than the missing-neuron warning
            warnings.simplefilter("ignore")
        base = load_circuit(spec.dataset)
    if spec.task in MOTOR_TASKS and not base.nmj.any():
        raise ValueError(f"dataset {spec.dataset!r} has no motor neurons that reach a muscle, so its "
                         f"circuit cannot drive the body in {spec.task!r}; "
                         "use cook2019, openworm, varshney, white or wang2024, or a non-motor task")
    return rewire(base, spec.wiring, spec.wiring_seed)


def make_level_config(level: str, overrides: dict):
    """The level's default config with ``overrides`` applied; unknown keys are a clear error."""
    import dataclasses
    from wormsim.realism_levels import get_level
    cls = get_level(level)
    cfg = cls.default_config()
    if not overrides:
        return cfg
    known = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ValueError(f"unknown {level} option(s) {', '.join(bad)}; choose from {', '.join(sorted(known))}")
    return dataclasses.replace(cfg, **overrides)


class Evaluator:
    """Evaluates populations of one spec; rebuilds its brain and environment only when P changes."""

    def __init__(self, spec: EvalSpec):
        self.spec = spec
        self._population = None
        self.env = self.brain = self.interface = self.agent = None

    @cached_property
    def circuit(self):
        return build_circuit(self.spec)

    def make_env(self, num_envs: int):
        import gymnasium as gym
        import wormsim  # noqa: F401  (registers the environments)
        return gym.make_vec(task_env_id(self.spec.task), num_envs=num_envs,
                            vectorization_mode="vector_entry_point", **dict(self.spec.env_kwargs))

    def _setup(self, population: int) -> None:
        if self._population == population:
            return
        from wormsim.interface import Agent, Interface
        from wormsim.realism_levels import get_level
        if self.env is not None:
            self.env.close()
        self.env = self.make_env(population * self.spec.episodes)
        layout = self.env.layout
        self.interface = Interface(self.circuit, layout, control_dt=layout_control_dt(self.env))
        level_cls = get_level(self.spec.level)
        cfg = make_level_config(self.spec.level, dict(self.spec.level_kwargs))
        self.brain = level_cls(self.circuit, self.interface.io_spec(), cfg, population=population,
                               device=self.spec.device)
        self.agent = Agent(self.brain, self.interface)
        self._population = population

    def close(self) -> None:
        """Close the environment and drop the brain (a closed Evaluator rebuilds them when used again).
        Brian2's objects hold reference cycles: collect them now, not at some later garbage collection."""
        import gc
        if self.env is not None:
            self.env.close()
        self.env = self.brain = self.interface = self.agent = None
        self._population = None
        gc.collect()

    @property
    def n_params(self) -> int:
        self._setup(self._population or 1)
        return self.brain.n_params

    def initial_params(self) -> np.ndarray:
        """The level's initial parameter vector (n_params,): connectome-derived magnitudes."""
        self._setup(self._population or 1)
        return self.brain.get_params()[0].cpu().numpy()

    @torch.no_grad()
    def evaluate(self, params: np.ndarray, seed: int = 0, record: bool = False) -> EvalResult:
        """params: (P, n_params). Member p runs ``episodes`` episodes with environment seeds
        seed + 1000 * p + e, so a member's score does not depend on how a population is chunked."""
        params = np.atleast_2d(np.asarray(params, np.float32))
        P, E = len(params), self.spec.episodes
        self._setup(P)
        self.brain.set_params(params)
        seeds = [int(seed) + 1000 * p + e for p in range(P) for e in range(E)]
        if hasattr(self.brain, "run_closed_loop"):
            out = self.brain.run_closed_loop(self.env, self.interface, n_steps=max_episode_steps(self.env),
                                             record=record, seed=seeds)
            returns, speed, failed = (np.asarray(out["returns"]), np.asarray(out["speed"]),
                                      np.asarray(out["failed"]))
            score = np.asarray(out.get("score", np.full(len(returns), np.nan)))
            steps = int(np.sum(out["steps"]))
            traces = {k: out[k] for k in ("voltage", "activity", "actions") if k in out}
        else:
            returns, speed, failed, steps, traces, score = self._loop(seeds, record)
        return EvalResult(returns=returns.reshape(P, E).mean(1), speed=speed.reshape(P, E).mean(1),
                          failed=failed.reshape(P, E).any(1), steps=steps, traces=traces,
                          score=score.reshape(P, E).mean(1))

    def _loop(self, seeds, record):
        n = len(seeds)
        obs, _ = self.env.reset(seed=seeds)
        self.agent.reset(n)
        if record:
            self.brain.start_recording()
        total = np.zeros(n)
        speed_sum = np.zeros(n)
        has_speed = False
        counted = np.zeros(n)
        alive = np.ones(n, bool)
        failed = np.zeros(n, bool)
        score = np.full(n, np.nan)
        steps = 0
        body = {"curvature": [], "com": []}
        while alive.any():
            action = self.agent.act(obs)
            obs, reward, terminated, truncated, info = self.env.step(action)
            steps += int(alive.sum())
            total += np.where(alive, reward, 0.0)
            if "speed" in info:
                has_speed = True
                speed_sum += np.where(alive, info["speed"], 0.0)
            counted += alive
            for flag in ("diverged", "bad_action"):
                if flag in info:
                    failed |= alive & np.asarray(info[flag], bool)
            if record:
                body["curvature"].append(np.asarray(info.get("curvature", np.zeros((n, 0)))).copy())
                body["com"].append(np.stack([info.get("x_position", np.zeros(n)),
                                             info.get("y_position", np.zeros(n))], -1))
            ended = alive & (np.asarray(terminated) | np.asarray(truncated))
            if "score" in info:
                score[ended] = np.asarray(info["score"], float)[ended]
            alive &= ~ended
        speed = speed_sum / np.maximum(counted, 1) if has_speed else np.full(n, np.nan)
        traces = {}
        if record:
            traces = self.brain.stop_recording()
            traces.update({k: np.stack(v) for k, v in body.items() if v})
        return total, speed, failed, steps, traces, score


def layout_control_dt(env) -> float:
    """Seconds per environment step of a wormsim (vector) environment."""
    for owner in (env, getattr(env, "task", None), getattr(getattr(env, "unwrapped", None), "task", None)):
        value = getattr(owner, "control_dt", None)
        if value is not None:
            return float(value)
    raise AttributeError("the environment exposes no control_dt")


def max_episode_steps(env) -> int:
    for owner in (env, getattr(env, "task", None), getattr(getattr(env, "unwrapped", None), "task", None)):
        value = getattr(owner, "max_steps", None)
        if value is not None:
            return int(value)
    raise AttributeError("the environment exposes no max_steps")
