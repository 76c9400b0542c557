"""The task registry: what every task declares once, so that the trainers, the reservoir, the CLI and the
experiment read it here instead of keeping lists of task names.

    from wormsim.envs.tasks import get_task, task_names
    get_task("digits").chance        # 0.1
    get_task("swim").has_body        # True

A new task is a Gymnasium environment (with a native vector env, as envs/vector.py and envs/nonmotor.py
build them) and one ``register_task(TaskSpec(...), entry_point=..., vector_entry_point=...)`` call.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    """What a task is, for the code that trains and judges on it.

    name: the --task value. env_id: its Gymnasium id. has_body: a MuJoCo worm (speed, gait, video);
    False for tasks whose observation does not depend on the actions (no body in the loop).
    metric: the summary key a comparison of runs uses ("final_speed", "final_return", "final_score",
    or "final_r2" for a reservoir's unclipped R^2); metric_label its words and unit.
    low, high: the metric's bounds where it has them. chance: its value for a policy that knows
    nothing of the input (None: no such level). score, score_label: a second summary key the report
    shows beside it (e.g. the env's clipped score), if any.
    held_out: environment keyword arguments of the final, held-out judgement (digits: the test images;
    swim, navigate: the head oscillator's starting phase at random and a wider initial posture).
    readout: how a fixed reservoir's linear readout is fitted on it: "regression" (info "target" on
    info "scored" steps), "classification" (info "label" on "respond" steps, judged on the task's
    ``decide`` steps) or None (trained by ES through the muscles instead).
    animal: (the metric's value for C. elegans, its source) where the literature gives one.
    episode_scores: ((info key, words), ...): the task's own per-episode scores (info "score_*" keys,
    kept at each episode's end) whose means over held-out episodes a run's summary and the CLI's last
    line report beside the metric (navigate: chemotaxis index, final distance, ...).
    validate_on: the per-episode value the plateau rule and the experiment's tuning validate on
    ("return", "speed" or "score"; None: the metric). A metric that is a rate of rare events (navigate's
    success) is 0 for nearly every policy early in training and cannot rank them; the return can.
    common_episodes: every member of a population meets the same episodes (common random numbers,
    rollout.member_stride) instead of its own. For a task whose episodes differ far more than the
    policies do (navigate: a target straight ahead is reached by any swimmer, one behind by none), a
    generation ranked on each member's own episodes ranks their luck.
    """
    name: str
    env_id: str
    has_body: bool
    metric: str = "final_return"
    metric_label: str = "return"
    low: float | None = None
    high: float | None = None
    chance: float | None = None
    score: str | None = None
    score_label: str = ""
    held_out: tuple = ()
    readout: str | None = None
    animal: tuple[float, str] | None = None
    episode_scores: tuple = ()
    validate_on: str | None = None
    common_episodes: bool = False

    def __post_init__(self):
        if self.readout not in (None, "regression", "classification"):
            raise ValueError(f"readout must be None, 'regression' or 'classification', got {self.readout!r}")


TASKS: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, entry_point=None, vector_entry_point=None, replace: bool = False,
                  _builtin: bool = False) -> None:
    """Add a task; with entry points ("module:Class" or the class) its environment (and native vector
    environment) is registered with Gymnasium too."""
    if spec.name in TASKS and not replace:
        raise ValueError(f"task {spec.name!r} is registered already (replace=True to replace it)")
    if entry_point is not None:
        from gymnasium.envs.registration import register, registry
        if spec.env_id not in registry or replace:
            register(id=spec.env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)
    TASKS[spec.name] = spec
    if not _builtin:
        ADDED[spec.name] = (spec, entry_point, vector_entry_point)


def unregister_task(name: str) -> None:
    TASKS.pop(name, None)
    ADDED.pop(name, None)


# the tasks registered at run time (not shipped): worker processes register them too (wormsim.extensions)
ADDED: dict[str, tuple] = {}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]


def task_names(has_body: bool | None = None) -> list[str]:
    """Registered tasks, in order; only those with (True) or without (False) a body if given."""
    return [n for n, t in TASKS.items() if has_body is None or t.has_body == has_body]


def _register_builtin() -> None:
    vec = "wormsim.envs.vector:{}VectorEnv"
    nm = "wormsim.envs.nonmotor:{}"
    # held-out episodes of a body task: the head oscillator starts at a random phase and the posture from a
    # wider range (training: phase 0, joints within +-0.05 rad), so a judgement is not on replays of training
    body_held_out = (("head_cpg_phase", "random"), ("reset_noise_scale", 0.3))
    register_task(TaskSpec("swim", "wormsim/Swim-v0", True, "final_speed",
                           "forward speed, body lengths / s", held_out=body_held_out,
                           animal=(0.35, "C. elegans swimming in buffer, about 0.35 BL/s (Sznitman et al. "
                                         "2010, Biophys. J.)")),
                  "wormsim.envs.swim:SwimEnv", vec.format("Swim"), replace=True, _builtin=True)
    # navigate: judged by the success rate (head within the success radius) on held-out episodes
    register_task(TaskSpec("navigate", "wormsim/Navigate-v0", True, "final_score",
                           "success rate (head tip within 0.3 BL of the target)", low=0.0, high=1.0,
                           held_out=body_held_out,
                           episode_scores=(("score_chemotaxis", "chemotaxis index"),
                                           ("score_distance", "final distance (BL)"),
                                           ("score_time", "time to target (s, arrivals)"),
                                           ("score_efficiency", "path efficiency")),
                           validate_on="return", common_episodes=True),
                  "wormsim.envs.navigate:NavigateEnv",
                  vec.format("Navigate"), replace=True, _builtin=True)
    # wormsim's swim task on dm_control's n-link swimmer, the body of NCAP (envs/dmc_swimmer.py; the
    # dmc extra installs dm_control)
    register_task(TaskSpec("dmc-swim", "wormsim/DMCSwim-v0", True, "final_speed",
                           "forward speed on dm_control's swimmer, body lengths / s", held_out=body_held_out),
                  "wormsim.envs.dmc_swimmer:DMCSwimEnv", "wormsim.envs.dmc_swimmer:DMCSwimVectorEnv",
                  replace=True, _builtin=True)
    # the unclipped R^2's expectation, 1 - MSE / variance, is at most 1 (one episode's may pass 1)
    register_task(TaskSpec("memory", "wormsim/Memory-v0", False, "final_return",
                           "recall R^2, unclipped (1 - MSE / cue variance)", high=1.0, chance=0.0,
                           score="final_score", score_label="clipped R^2 (the env's score)",
                           readout="regression"),
                  nm.format("MemoryEnv"), nm.format("MemoryVectorEnv"), replace=True, _builtin=True)
    register_task(TaskSpec("memory-capacity", "wormsim/MemoryCapacity-v0", False, "final_return",
                           "recall R^2 of u(t-1), unclipped", high=1.0, chance=0.0, score="final_score",
                           score_label="clipped R^2 (the env's score)", readout="regression"),
                  nm.format("MemoryCapacityEnv"), nm.format("MemoryCapacityVectorEnv"), replace=True, _builtin=True)
    register_task(TaskSpec("digits", "wormsim/Digits-v0", False, "final_score", "accuracy on held-out images",
                           low=0.0, high=1.0, chance=0.1, held_out=(("split", "test"),),
                           readout="classification"),
                  nm.format("DigitsEnv"), nm.format("DigitsVectorEnv"), replace=True, _builtin=True)


_register_builtin()
