"""Whole-generation rollouts: P parameter vectors of a realism level on one vector environment.

    ev = Evaluator(EvalSpec(level="rate", task="swim"))
    result = ev.evaluate(params, seed=0)          # params (P, n_params) -> result.returns (P,)

The brain batch and the worm batch are the same P (times ``episodes`` per member), stepped together:
one brain step and one vector-environment step per control step for the whole population.
``run_episodes`` is the one closed-loop episode runner: the Evaluator, distillation and the video call
it, and a level with a simulator of its own (conductance: one Brian2 run per episode) plugs in through
its ``drive`` hook. An Evaluator keeps its environment and brain between calls, so a trainer pays for
building them once.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property

import numpy as np
import torch

FAILURE_RETURN = -1.0e6   # the return of an episode that failed (finite, so that ES can rank it)
# torch threads while run_episodes steps (None: torch's own setting): one, since the per-step tensors are
# tiny (batch x ~100 neurons) and a second thread only waits on the first; on a loaded 2-core machine 24
# rate worms for 3 s took 1.2 s on one thread and 18-23 s on two (benchmarks/torch_threads.py)
RUNNER_THREADS: int | None = 1


def task_env_id(task: str) -> str:
    """The Gymnasium id of a registered task."""
    from wormsim.envs.tasks import get_task
    return get_task(task).env_id


@dataclass(frozen=True)
class EvalSpec:
    """Everything that defines an evaluation, hashable so that workers can cache evaluators.

    level: realism level name. dataset, wiring, wiring_seed, circuit: the circuit (circuit: which
    neurons, wormsim.connectome.CIRCUITS; "motor" by default). task: a registered task
    (wormsim.envs.tasks).
    env_kwargs: keyword arguments of the environment (n_segments, medium, duration, ...), as a
    tuple of (key, value) pairs. level_kwargs: config overrides of the level, likewise.
    episodes: episodes per member, averaged. drive: (forward, backward) values of the interface's
    command drive channels (forward swimming by default; (0, 1) asks a circuit to reverse).
    also_at: further (medium, load) conditions of the body, each trained beside the one env_kwargs
    set, with the same parameters and the same episode seeds: the Evaluator then scores a member by
    load_mix_fitness over all of them (TrainConfig.also_at, `wormsim train --also-at`).
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
    drive: tuple = (1.0, 0.0)
    interface_kwargs: tuple = ()
    circuit: str = "motor"
    also_at: tuple = ()

    def at(self, medium, load: float) -> "EvalSpec":
        """This spec with the body in ``medium`` (a name or a drag ratio) at ``load`` times water's
        viscosity, and no further conditions."""
        kw = dict(self.env_kwargs)
        kw["medium"] = medium
        if float(load) != 1.0:
            kw["load"] = float(load)
        else:
            kw.pop("load", None)       # load 1 is the env's default: the spec as a run made at 1 has it
        return replace(self, env_kwargs=tuple(kw.items()), also_at=())

    def conditions(self) -> list[tuple]:
        """[(medium, load)]: the condition env_kwargs sets, then also_at's."""
        kw = dict(self.env_kwargs)
        return [(kw.get("medium", "water"), float(kw.get("load", 1.0))), *(tuple(c) for c in self.also_at)]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["env_kwargs"] = dict(self.env_kwargs)
        d["level_kwargs"] = dict(self.level_kwargs)
        if self.interface_kwargs:          # only when set: specs stored before the field keep their form
            d["interface_kwargs"] = dict(self.interface_kwargs)
        else:
            del d["interface_kwargs"]
        if self.circuit == "motor":        # likewise
            del d["circuit"]
        if self.also_at:                   # likewise
            d["also_at"] = [list(c) for c in self.also_at]
        else:
            del d["also_at"]
        return d


LOAD_MIX_OFFSET = 1e-3   # BL/s added to a speed before its log: progress below it still counts, a little


def load_mix_fitness(speeds: np.ndarray, failed: np.ndarray | None = None) -> np.ndarray:
    """(C, ...) speeds (BL/s) of the same episodes under C conditions -> (...) the mean over conditions
    of log10(LOAD_MIX_OFFSET + max(speed, 0)), so that a 10% gain counts the same in water as at a
    thousand times its viscosity, where every speed is ten times smaller (docs/body/self-rhythm.md
    section 3); FAILURE_RETURN where ``failed`` (same shape as the result) or a speed is not finite."""
    speeds = np.asarray(speeds, float)
    bad = ~np.isfinite(speeds).all(axis=0)
    if failed is not None:
        bad |= np.asarray(failed, bool)
    f = np.log10(LOAD_MIX_OFFSET + np.maximum(np.nan_to_num(speeds, nan=0.0), 0.0)).mean(axis=0)
    return np.where(bad, FAILURE_RETURN, f)


def condition_key(medium, load: float) -> str:
    """"water:1000", "agar:10000", "4:1": a condition's name in results and summaries."""
    return f"{medium}:{float(load):g}"


def member_stride(spec: EvalSpec) -> int:
    """How far apart the episode seeds of consecutive population members are: 1000 (every member its
    own episodes), or 0 on a task that declares ``common_episodes`` (every member the same episodes:
    common random numbers, so that a ranking compares policies, not the luck of their episodes)."""
    from wormsim.envs.tasks import get_task
    return 0 if get_task(spec.task).common_episodes else 1000


@dataclass
class EvalResult:
    """returns, speed: (P,) means over a member's episodes. speed: forward speed of the centre of
    mass in body lengths / s (Swim; NaN for tasks without it). failed: (P,) bool, a member whose
    episode ended in a numerical failure. steps: environment steps taken (all worms). score: (P,)
    the task's own score at the end of an episode (info["score"]: accuracy, recall R^2 in [0, 1];
    NaN for tasks without one). episodes: {"return", "speed", "score"} -> (P, E), every episode's own
    value (the trials a test of "did it learn" pools), plus the task's own per-episode scores
    ("score_*" info keys at each episode's end, e.g. navigate's score_distance), each (P, E)."""
    returns: np.ndarray
    speed: np.ndarray
    failed: np.ndarray
    steps: int
    traces: dict = field(default_factory=dict)
    score: np.ndarray | None = None
    episodes: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.score is None:
            self.score = np.full(len(self.returns), np.nan)


def heldout_trials(judge: "Evaluator", final: np.ndarray, initial: np.ndarray, seed: int) -> tuple[EvalResult, dict]:
    """The final judgement of a trained policy and, on the very same held-out episodes, of the untrained
    one (the level's initial parameters): (the final EvalResult, the per-episode record a summary keeps
    as "heldout": {"trained": {...}, "untrained": {...}}, each {"return", "speed", "score"} -> list of
    floats, None where a task has no such value). A test of whether a run learned pairs the two."""
    def record(result: EvalResult) -> dict:
        return {k: [float(x) if np.isfinite(x) else None for x in v[0]] for k, v in result.episodes.items()}
    final_result = judge.evaluate(np.asarray(final)[None], seed=seed)
    untrained = judge.evaluate(np.asarray(initial)[None], seed=seed)
    return final_result, {"trained": record(final_result), "untrained": record(untrained), "seed": int(seed)}


def build_circuit(spec: EvalSpec):
    """The circuit of ``spec`` (dataset, circuit, wiring, wiring seed); ValueError if it cannot do the task (a
    motor task needs motor neurons that reach the muscles)."""
    import warnings

    from wormsim.connectome import load_circuit
    from wormsim.envs.tasks import get_task
    from wormsim.wiring import rewire
    body = get_task(spec.task).has_body
    with warnings.catch_warnings():
        if body:                           # the error below says more than the missing-neuron warning
            warnings.simplefilter("ignore")
        base = load_circuit(spec.dataset, circuit=getattr(spec, "circuit", "motor"))
    if body and not base.nmj.any():
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
    """Evaluates populations of one spec; rebuilds its brain and environment only when P changes.

    A spec with ``also_at`` conditions is evaluated under each of them (one Evaluator per further
    condition, sharing the circuit), on the same episode seeds: a member's return is then
    load_mix_fitness of its speeds, per episode; speed, score and the recorded traces are those of the
    first condition, and ``episodes`` holds every condition's speeds as "speed@MEDIUM:LOAD"."""

    def __init__(self, spec: EvalSpec):
        self.spec = spec
        self._population = None
        self.env = self.brain = self.interface = None
        self._others: list[Evaluator] = []
        if spec.also_at:
            self._main = Evaluator(replace(spec, also_at=()))
            self._others = [Evaluator(spec.at(medium, load)) for medium, load in spec.also_at]

    @cached_property
    def circuit(self):
        return build_circuit(self.spec)

    def _mixed(self) -> bool:
        if not self._others:
            return False
        for ev in (self._main, *self._others):          # one circuit, built once (or set by the caller)
            ev.circuit = self.circuit
        return True

    def make_env(self, num_envs: int):
        import gymnasium as gym
        import wormsim  # noqa: F401  (registers the environments)
        return gym.make_vec(task_env_id(self.spec.task), num_envs=num_envs,
                            vectorization_mode="vector_entry_point", **dict(self.spec.env_kwargs))

    def _setup(self, population: int) -> None:
        if self._mixed():
            self._main._setup(population)
            self.env, self.brain, self.interface = self._main.env, self._main.brain, self._main.interface
            self._population = population
            return
        if self._population == population:
            return
        from wormsim.interface import Interface
        from wormsim.realism_levels import get_level
        if self.env is not None:
            self.env.close()
        self.env = self.make_env(population * self.spec.episodes)
        layout = self.env.layout
        self.interface = Interface(self.circuit, layout, control_dt=layout_control_dt(self.env),
                                   drive=tuple(self.spec.drive), **dict(self.spec.interface_kwargs))
        level_cls = get_level(self.spec.level)
        cfg = make_level_config(self.spec.level, dict(self.spec.level_kwargs))
        self.brain = level_cls(self.circuit, self.interface.io_spec(), cfg, population=population,
                               device=self.spec.device)
        self._population = population

    def close(self) -> None:
        """Close the environment and drop the brain (a closed Evaluator rebuilds them when used again).
        Brian2's objects hold reference cycles: collect them now, not at some later garbage collection."""
        import gc
        for ev in ((self._main, *self._others) if self._others else ()):
            ev.close()
        if self.env is not None and not self._others:
            self.env.close()
        self.env = self.brain = self.interface = None
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

    def evaluate(self, params: np.ndarray, seed: int = 0, record: bool = False) -> EvalResult:
        """params: (P, n_params). Member p runs ``episodes`` episodes with environment seeds
        seed + member_stride(spec) * p + e (1000 apart; 0 on a task with TaskSpec.common_episodes,
        where every member meets the same episodes), so a member's score does not depend on how a
        population is chunked."""
        params = np.atleast_2d(np.asarray(params, np.float32))
        if self._mixed():
            return self._evaluate_mixed(params, seed, record)
        P, E = len(params), self.spec.episodes
        self._setup(P)
        self.brain.set_params(params)
        stride = member_stride(self.spec)
        seeds = [int(seed) + stride * p + e for p in range(P) for e in range(E)]
        out = run_episodes(self.brain, self.interface, self.env, seeds, record=record)
        per = {"return": out.returns.reshape(P, E), "speed": out.speed.reshape(P, E),
               "score": out.score.reshape(P, E), **{k: v.reshape(P, E) for k, v in out.scores.items()}}
        return EvalResult(returns=per["return"].mean(1), speed=per["speed"].mean(1),
                          failed=out.failed.reshape(P, E).any(1), steps=int(out.steps.sum()),
                          traces=out.traces, score=per["score"].mean(1), episodes=per)

    def _evaluate_mixed(self, params: np.ndarray, seed: int, record: bool) -> EvalResult:
        """Every condition on the same seeds; the return per episode is load_mix_fitness of its speeds."""
        results = [self._main.evaluate(params, seed=seed, record=record),
                   *(ev.evaluate(params, seed=seed) for ev in self._others)]
        self._setup(len(params))                   # this Evaluator's env and brain are the first condition's
        main = results[0]
        speeds = np.stack([np.asarray(r.episodes["speed"], float) for r in results])       # (C, P, E)
        # a failed episode's return is FAILURE_RETURN (run_episodes), in whichever condition it failed
        failed_pe = np.any([np.asarray(r.episodes["return"], float) == FAILURE_RETURN for r in results], axis=0)
        mixed = load_mix_fitness(speeds, failed_pe)                                            # (P, E)
        episodes = dict(main.episodes)
        episodes["return"] = mixed
        for (medium, load), sp in zip(self.spec.conditions(), speeds):
            episodes[f"speed@{condition_key(medium, load)}"] = sp
        return EvalResult(returns=mixed.mean(1), speed=main.speed, failed=np.any([r.failed for r in results], 0),
                          steps=int(sum(r.steps for r in results)), traces=main.traces, score=main.score,
                          episodes=episodes)


# ---- THE closed-loop episode runner ---------------------------------------------------------------------
@dataclass
class Episodes:
    """What ``run_episodes`` measured, one entry per row (episode), numpy arrays.

    returns (B,): summed rewards until each episode's first end (FAILURE_RETURN where it failed).
    speed (B,): mean info["speed"] over the counted steps, body lengths / s (NaN for tasks without one).
    score (B,): info["score"] at each episode's end (NaN for tasks without one).
    failed (B,) bool: the body (info "diverged" / "bad_action") or the brain's own simulation failed.
    steps (B,): environment steps counted.
    scores: every other "score_*" key of info at each episode's end, (B,) each (NaN where it has none).
    traces: with record, each (T, B, ...): the brain's recorded traces ("activity" always; the level's
    own, e.g. "voltage"), "u" (inputs), "muscles", "obs" (the observation after each step) and, where
    the task reports them, "curvature" (rad per segment) and "com" (x, y of the centre of mass, m).
    """
    returns: np.ndarray
    speed: np.ndarray
    score: np.ndarray
    failed: np.ndarray
    steps: np.ndarray
    traces: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)


class _Book:
    """The bookkeeping of a batch of episodes: which rows still run, what each has earned."""

    def __init__(self, n: int, record: bool):
        self.returns, self.speed_sum = np.zeros(n), np.zeros(n)
        self.score = np.full(n, np.nan)
        self.scores: dict[str, np.ndarray] = {}          # the task's "score_*" keys, kept like "score"
        self.steps = np.zeros(n, np.int64)
        self.alive, self.failed = np.ones(n, bool), np.zeros(n, bool)
        self.has_speed = False
        self.record = record
        self.series: dict[str, list] = {}

    def add(self, reward, terminated, truncated, info: dict, brain_failed) -> None:
        alive = self.alive
        if brain_failed is not None:
            self.failed |= alive & np.asarray(brain_failed, bool)
        for flag in ("diverged", "bad_action"):
            if flag in info:
                self.failed |= alive & np.asarray(info[flag], bool)
        self.returns += np.where(alive, np.nan_to_num(np.asarray(reward, np.float64)), 0.0)
        if "speed" in info:
            self.has_speed = True
            self.speed_sum += np.where(alive, np.nan_to_num(np.asarray(info["speed"], np.float64)), 0.0)
        self.steps += alive
        ended = alive & (np.asarray(terminated, bool) | np.asarray(truncated, bool))
        if "score" in info:
            self.score[ended] = np.asarray(info["score"], np.float64)[ended]
        for key in info:
            if key.startswith("score_"):
                kept = self.scores.setdefault(key, np.full(len(self.score), np.nan))
                kept[ended] = np.asarray(info[key], np.float64)[ended]
        self.alive = alive & ~ended & ~self.failed

    def keep(self, **arrays) -> None:
        if self.record:
            for k, v in arrays.items():
                self.series.setdefault(k, []).append(np.array(v, copy=True))

    def result(self, brain_traces: dict) -> Episodes:
        speed = (self.speed_sum / np.maximum(self.steps, 1) if self.has_speed
                 else np.full(len(self.returns), np.nan))
        returns = np.where(self.failed, FAILURE_RETURN, self.returns)
        traces = dict(brain_traces)
        traces.update({k: np.stack(v) for k, v in self.series.items() if v})
        return Episodes(returns, speed, self.score, self.failed.copy(), self.steps, traces,
                        {k: v.copy() for k, v in self.scores.items()})


@torch.no_grad()
def run_episodes(brain, interface, env, seeds, n_steps: int | None = None, record: bool = False,
                 sense=None, observe=None, initial_state: dict | None = None) -> Episodes:
    """Run one episode per row of ``env`` (a vector env, num_envs == len(seeds)) with ``brain`` behind
    ``interface``: THE closed-loop runner that training, video, distillation and the experiment call.

    Per control step: inputs sensed from the observation, one brain step (through the level's
    ``drive``, so a level with its own simulator runs the whole episode in it), muscles = the brain's
    output (levels that output muscles) or interface.motor(activity), one environment step. Rows stop
    counting at their first termination, truncation or failure; the run ends when every row has.
    n_steps: control steps at most (default: the env's episode). sense: replaces interface.sense
    (distillation adds its drives and noise there). observe(obs, info): called after every environment
    step (video frames, extra recordings). record: keep the traces (see Episodes). initial_state: the
    brain state every row starts from (get_state's dict, batch 1; None: the level's own reset).
    """
    sense = sense or interface.sense
    seeds = [int(s) for s in seeds]
    n = len(seeds)
    book = _Book(n, record)
    obs, _ = env.reset(seed=seeds)
    brain.reset(n)
    if initial_state is not None:
        brain.set_state({k: v.to(brain.device).expand(n, *v.shape[1:]).clone() for k, v in initial_state.items()})
    if record:
        brain.start_recording()
    inputs = sense(obs, device=brain.device)

    def on_step(out: torch.Tensor):
        nonlocal obs, inputs
        muscles = out if brain.outputs_muscles else interface.motor(out)
        muscles = np.nan_to_num(muscles.detach().cpu().numpy().astype(np.float32, copy=False), copy=False)
        obs, reward, terminated, truncated, info = env.step(muscles)
        info = info if isinstance(info, dict) else {}
        book.add(reward, terminated, truncated, info, brain.failed_rows())
        if record:
            book.keep(u=inputs.detach().cpu().numpy().astype(np.float32), muscles=muscles, obs=obs)
            if "curvature" in info:
                book.keep(curvature=info["curvature"])
            if "x_position" in info:
                book.keep(com=np.stack([info["x_position"], info.get("y_position", np.zeros(n))], -1))
        if observe is not None:
            observe(obs, info)
        if not book.alive.any():
            return None
        inputs = sense(obs, device=brain.device)
        return inputs

    from wormsim.train import torch_threads
    with torch_threads(RUNNER_THREADS):
        brain.drive(inputs, on_step, int(n_steps or max_episode_steps(env)))
    traces = brain.stop_recording() if record else {}
    return book.result(traces)


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
