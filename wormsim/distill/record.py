"""Recording a brain: closed loop on the body through the one episode runner (wormsim.rollout.run_episodes,
with a probe that gives every row its drive and input noise), open loop on given inputs through the level's
``run_open_loop``, and the teacher's trial means.

Alignment of one recorded step t (the runner's, identical for every level): u_t is sensed from obs_t (plus
noise, with the row's drive values), the brain integrates one control step with u_t and gives a_t, the
muscles m_t = motor(a_t) step the body to obs_{t+1}; curvature_t, bend_rate_t and head_velocity_t are read
from obs_{t+1}.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from wormsim.distill.config import TEACHER_TASK
from wormsim.realism_levels.base import Brain


class Probe:
    """Stands between the body and the brain: every sensed input row gets that row's drive values and
    Gaussian noise of std ``noise`` (the runner's ``sense``)."""

    def __init__(self, interface, drives: np.ndarray, noise: float, rng: np.random.Generator):
        self.iface = interface
        self.drives = torch.as_tensor(np.asarray(drives, np.float32))
        self.noise = float(noise)
        self.rng = rng

    def sense(self, obs, device="cpu") -> torch.Tensor:
        u = self.iface.sense(obs, device=device).clone()
        j = self.iface.n_joints
        u[:, j:j + 2] = self.drives.to(u.device)
        if self.noise > 0:
            u = u + torch.as_tensor(self.rng.normal(0.0, self.noise, tuple(u.shape)), dtype=u.dtype,
                                    device=u.device)
        return u


@dataclass
class Setup:
    """A brain behind its interface (built on one circuit), and the state every episode starts from
    (a student's data-driven start, see student.train_student; None: the level's own reset)."""
    brain: object
    interface: object
    state: dict | None = None

    def start(self, batch: int) -> None:
        """reset(batch), then the start state (batch 1) copied to every row."""
        self.brain.reset(batch)
        if self.state is not None:
            dev = self.brain.device
            self.brain.set_state({k: v.to(dev).expand(batch, *v.shape[1:]).clone() for k, v in self.state.items()})


class ConstantBrain:
    """The constant-mean baseline: every neuron at a fixed activity (N,) (the target's mean), whatever the
    input; behind the interface its muscles are motor(mean activity). It runs through the episode runner
    and run_open_loop with the Brain contract's own default loop (drive) and nothing else of a level."""

    outputs_muscles = False
    n_params = 0
    drive = Brain.drive
    run_open_loop = Brain.run_open_loop

    def __init__(self, activity: np.ndarray):
        self.activity = torch.as_tensor(np.asarray(activity, np.float32))
        self.device = torch.device("cpu")
        self._rec: list | None = None

    def reset(self, batch: int) -> None:
        pass

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        a = self.activity.expand(inputs.shape[0], -1).clone()
        if self._rec is not None:
            self._rec.append(a.numpy())
        return a

    def failed_rows(self) -> None:
        return None

    def start_recording(self) -> None:
        self._rec = []

    def stop_recording(self) -> dict[str, np.ndarray]:
        rec, self._rec = self._rec, None
        return {"activity": np.stack(rec)} if rec else {}


class Bodies:
    """Vector environments of the teacher's task by (batch, medium, head oscillator), built once."""

    def __init__(self, n_segments: int, duration: float, reset_noise: float, head_cpg: float = 0.0):
        self.n_segments, self.duration, self.reset_noise = n_segments, float(duration), float(reset_noise)
        self.head_cpg = float(head_cpg)
        self._envs: dict = {}

    def get(self, batch: int, medium, head_cpg: float | None = None):
        head = self.head_cpg if head_cpg is None else float(head_cpg)
        key = (batch, medium, head)
        if key not in self._envs:
            import gymnasium as gym

            import wormsim  # noqa: F401  (registers the environments)
            from wormsim.rollout import task_env_id
            self._envs[key] = gym.make_vec(task_env_id(TEACHER_TASK), num_envs=batch,
                                           vectorization_mode="vector_entry_point",
                                           n_segments=self.n_segments, medium=medium,
                                           duration=self.duration, reset_noise_scale=self.reset_noise,
                                           head_cpg=head)
        return self._envs[key]

    def close(self):
        for env in self._envs.values():
            env.close()
        self._envs = {}


def make_setup(level: str, circuit, layout, control_dt: float, level_kwargs: dict, device="cpu") -> Setup:
    """A population-1 brain of ``level`` on ``circuit`` behind the shared interface."""
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import make_level_config
    iface = Interface(circuit, layout, control_dt=control_dt)
    brain = get_level(level)(circuit, iface.io_spec(), make_level_config(level, level_kwargs),
                             population=1, device=device)
    return Setup(brain, iface)


# ---- running ---------------------------------------------------------------------------------------------
def closed_loop(setup: Setup, env, drives: np.ndarray, seeds: Sequence[int], noise: float,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One episode of ``setup``'s brain per row of ``env`` (num_envs == len(seeds)), through
    wormsim.rollout.run_episodes with a Probe (the row's drives, input noise of std ``noise``).

    Returns u (T, B, C), activity (T, B, N), muscles (T, B, M), curvature (T, B, J) rad/BL,
    bend_rate (T, B, J) rad/BL/s, head_velocity (T, B, 2) (forward, lateral; BL/s, in the head's
    frame), speed (B,) BL/s, failed (B,), drives (B, 2), seeds (B,)."""
    from wormsim.rollout import run_episodes
    probe = Probe(setup.interface, drives, noise, rng)
    seeds = [int(s) for s in seeds]
    ep = run_episodes(setup.brain, setup.interface, env, seeds, record=True, sense=probe.sense,
                      initial_state=setup.state)
    tr, lay = ep.traces, env.layout
    obs = np.asarray(tr["obs"], np.float64)          # obs_{t+1} of every step t
    return {"u": np.asarray(tr["u"], np.float32), "activity": np.asarray(tr["activity"], np.float32),
            "muscles": np.asarray(tr["muscles"], np.float32),
            "curvature": (obs[:, :, lay.angles] * lay.n_segments).astype(np.float32),
            "bend_rate": (obs[:, :, lay.velocities] * lay.n_segments).astype(np.float32),
            "head_velocity": obs[:, :, lay.head_velocity].astype(np.float32),
            "speed": np.asarray(ep.speed, float), "failed": np.asarray(ep.failed, bool),
            "drives": np.asarray(drives, np.float32), "seeds": np.asarray(seeds)}


@torch.no_grad()
def open_loop(setup: Setup, u: np.ndarray) -> dict[str, np.ndarray]:
    """The brain's activity (T, B, N) and muscles (T, B, M) driven by the input sequence u (T, B, C)."""
    brain, iface = setup.brain, setup.interface
    t, b, _ = u.shape
    setup.start(b)
    out = brain.run_open_loop(u, record=True)
    y = out["output"]
    mus = y if brain.outputs_muscles else iface.motor(y.reshape(t * b, -1)).reshape(t, b, -1)
    return {"activity": np.asarray(out["activity"], np.float32), "muscles": mus.cpu().numpy().astype(np.float32)}


def trial_means(setup: Setup, u: np.ndarray, n_replays: int, noise: float, seed, sets: int = 1) -> list[dict]:
    """``sets`` independent trial means of the brain on u (T, B, C): each the mean activity and
    muscles over ``n_replays`` open-loop replays on u + N(0, noise^2), all replays in one batch."""
    t, b, c = u.shape
    k = n_replays * sets
    rng = np.random.default_rng(seed)
    uu = np.repeat(u, k, axis=1) + rng.normal(0.0, noise, (t, b * k, c)).astype(np.float32)
    out = open_loop(setup, uu)
    act = out["activity"].reshape(t, b, sets, n_replays, -1).mean(3)
    mus = out["muscles"].reshape(t, b, sets, n_replays, -1).mean(3)
    return [{"activity": act[:, :, i], "muscles": mus[:, :, i]} for i in range(sets)]


def with_targets(setup: Setup, data: dict, n_replays: int, noise: float, seed, reliability: bool = False) -> dict:
    """data (from closed_loop) with the recorded trial moved to trial_activity / trial_muscles and the
    student's target in activity / muscles: the trial mean of ``n_replays`` replays (the recorded
    trial itself when n_replays is 0). reliability: also a second, independent trial mean
    (activity2, muscles2) to measure how reproducible the target is."""
    out = dict(data, trial_activity=data["activity"], trial_muscles=data["muscles"])
    if n_replays > 0:
        means = trial_means(setup, data["u"], n_replays, noise, seed, sets=2 if reliability else 1)
        out["activity"], out["muscles"] = means[0]["activity"], means[0]["muscles"]
        if reliability:
            out["activity2"], out["muscles2"] = means[1]["activity"], means[1]["muscles"]
    return out


# ---- the teacher -----------------------------------------------------------------------------------------
def teacher_spec(teacher_run, teacher_level: str, dataset: str, n_segments: int):
    """(EvalSpec, params or None for the level's initial ones, description) of the teacher: a trained run
    of a task with a body (the distillation records it in TEACHER_TASK), or an untrained level."""
    from wormsim.envs.tasks import get_task
    from wormsim.realism_levels import get_level
    from wormsim.rollout import EvalSpec
    if teacher_run is None:
        spec = EvalSpec(level=teacher_level, dataset=dataset, env_kwargs=(("n_segments", n_segments),))
        params, desc = None, f"untrained {teacher_level} (connectome-derived initial parameters)"
    else:
        spec, params, desc = _trained_teacher(Path(teacher_run))
        task = get_task(spec.task)
        if not task.has_body or task.name != TEACHER_TASK:
            raise ValueError(f"teacher run {teacher_run} was trained on task {task.name!r}; distillation needs "
                             f"a {TEACHER_TASK} teacher (a task with a body, recorded in {TEACHER_TASK})")
    get_level(spec.level).require("uses_wiring", "a distillation teacher (it must report the activity of "
                                  "the worm's neurons)")
    return spec, params, desc


def _trained_teacher(path: Path):
    from wormsim.config import TrainConfig
    from wormsim.runs import Run, RunError
    if not path.is_dir():
        raise ValueError(f"teacher run {path} does not exist (expected a run directory with config.json "
                         "and policy.npz)")
    try:
        run = Run.open(path)
        cfg = TrainConfig.from_dict(run.config)
        params, _ = run.load_policy()
    except RunError as exc:
        raise ValueError(f"teacher run {path}: {exc}") from None
    return cfg.eval_spec(), np.asarray(params, np.float32), f"trained run {path} ({cfg.level}, {cfg.wiring})"


def perturb_teacher(brain, params: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """An untrained teacher made different from a fresh student: every parameter scaled by a factor
    uniform in [1 - fraction, 1 + fraction], the biases (parameter group "bias") shifted by +-fraction."""
    out = np.asarray(params, np.float64) * rng.uniform(1 - fraction, 1 + fraction, np.shape(params))
    start = 0
    for name, size in brain.param_sizes().items():
        if brain.param_groups.get(name, name) == "bias":
            out[start:start + size] += rng.uniform(-fraction, fraction, size)
        start += size
    return out.astype(np.float32)


def perturb_synapses(brain, params: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """params with every synaptic parameter (the level's ``synaptic_params``: chemical and gap) scaled by
    an independent factor uniform in [1 - fraction, 1 + fraction]; the other parameters unchanged."""
    type(brain).require("has_synapses", "the plasticity test (perturbing the teacher's synapses)")
    out = np.array(params, np.float32, copy=True)
    start = 0
    for name, size in brain.param_sizes().items():
        if name in brain.synaptic_params:
            out[start:start + size] *= rng.uniform(1 - fraction, 1 + fraction, size).astype(np.float32)
        start += size
    return out
