"""Functional distillation across realism levels ("Functional Connectome", Liu, Mavor-Parker & Barry).

A *teacher* brain (any level, typically the Brian2 conductance level; a trained run or an untrained
one) drives the body in closed loop under many drives, input noise and initial postures; its input
channels u_t (batch, C), neural activity a_t (batch, N) and muscle output m_t are recorded. A fresh
*student* of a differentiable level (rate by default; spiking or mlp) on a chosen wiring is trained by
backpropagation through time (Adam) to reproduce the teacher's activity sequence from the same input
sequence (teacher forcing on the inputs, free-running state):

    loss = mean ((a_student - a_teacher) / s_a)^2 + muscle_weight * mean ((motor(a_student) - m_teacher) / s_m)^2

with s the teacher's per-unit std (floor MIN_STD; normalize=False: s = 1), so the loss is what R^2
scores (the mlp baseline has no neurons of the worm: its loss is on the muscles only). A rate student
starts with its bias and state at the fixed point of the teacher's mean activity (data_init), which a
saturated teacher (most conductance neurons release near 0 or 1) otherwise leaves out of reach.

    from wormsim.distill import distill
    metrics = distill("runs/conductance-connectome-swim-s0", student="rate", wiring="connectome",
                      out="runs/distill-rate")

Report (on held-out seeds and drives): R^2 of every neuron's activity and of the muscles; R^2 against
the number of teacher sequences (data efficiency); zero-shot generalisation (the student driving the
body in agar and with drives it never saw, gait compared with the teacher's: forward speed BL/s and
undulation frequency Hz of the mid-body curvature); robustness to plasticity (the teacher's synaptic
conductances scaled by random factors in [1 - p, 1 + p], the student's R^2 on the perturbed teacher,
beside the unperturbed teacher's own R^2 on it); decoding (body curvature from activity by ridge
regression, student vs teacher). Written into ``out``: report.md, metrics.json, dataset.npz and PNG
figures, each atomically.

Alignment of one recorded step t (identical for Brian2's run_closed_loop and the torch loop): u_t is
sensed from obs_t (plus noise, with the row's drive values), the brain integrates one control step
with u_t and gives a_t, the muscles m_t = motor(a_t) step the body to obs_{t+1}; curvature_t is the
body curvature of obs_{t+1} (rad per body length).
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

STUDENT_LEVELS = ("rate", "spiking", "mlp")
SYNAPTIC_PARAMS = {"conductance": ("g_chem", "g_gap"), "rate": ("chem", "gap"), "spiking": ("chem", "gap")}
TRAIN_DRIVE_RANGE = ((0.5, 1.5), (0.0, 0.5))            # forward, backward drive: uniform ranges
UNSEEN_DRIVES = ((2.0, 0.0), (0.25, 0.0), (0.0, 1.0))    # outside the training range
MIN_STD = 1e-2                                           # R^2 is not scored for a (near-)flat target


# ---- recording ------------------------------------------------------------------------------------
class _Probe:
    """Stands between the brain and the interface: every sensed input row gets that row's drive
    values and Gaussian noise, and the inputs and observations are recorded."""

    def __init__(self, interface, drives: np.ndarray, noise: float, rng: np.random.Generator):
        self.iface = interface
        self.drives = torch.as_tensor(np.asarray(drives, np.float32))
        self.noise = float(noise)
        self.rng = rng
        self.us: list[np.ndarray] = []
        self.obs: list[np.ndarray] = []

    def sense(self, obs, device="cpu"):
        u = self.iface.sense(obs, device=device).clone()
        j = self.iface.n_joints
        u[:, j:j + 2] = self.drives.to(u.device)
        if self.noise > 0:
            u = u + torch.as_tensor(self.rng.normal(0.0, self.noise, tuple(u.shape)), dtype=u.dtype,
                                    device=u.device)
        self.us.append(u.detach().cpu().numpy().astype(np.float32))
        self.obs.append(np.asarray(obs, np.float64).copy())
        return u

    def motor(self, activity):
        return self.iface.motor(activity)


@dataclass
class Setup:
    """A brain with its interface (built on one circuit) and the body settings."""
    level: str
    brain: object
    interface: object
    n_segments: int
    control_dt: float
    v0: object = None          # initial state of a rate student (train_student's data_init)


class Bodies:
    """Vector environments by (batch, medium), built once."""

    def __init__(self, n_segments: int, duration: float, reset_noise: float, head_cpg: float = 0.0):
        self.n_segments, self.duration, self.reset_noise = n_segments, float(duration), float(reset_noise)
        self.head_cpg = float(head_cpg)
        self._envs: dict = {}

    def get(self, batch: int, medium):
        key = (batch, medium)
        if key not in self._envs:
            import gymnasium as gym
            import wormsim  # noqa: F401
            self._envs[key] = gym.make_vec("wormsim/Swim-v0", num_envs=batch,
                                           vectorization_mode="vector_entry_point",
                                           n_segments=self.n_segments, medium=medium,
                                           duration=self.duration, reset_noise_scale=self.reset_noise,
                                           head_cpg=self.head_cpg)
        return self._envs[key]

    def close(self):
        for env in self._envs.values():
            env.close()
        self._envs = {}


def closed_loop(setup: Setup, env, drives: np.ndarray, seeds: Sequence[int], noise: float,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Run ``setup``'s brain (population 1) on ``env`` (num_envs == len(seeds)) for one episode.

    Returns u (T, B, C), activity (T, B, N), muscles (T, B, M), curvature (T, B, J) rad/BL,
    speed (B,) BL/s, failed (B,), drives (B, 2), seeds (B,)."""
    from wormsim.rollout import max_episode_steps
    brain, iface = setup.brain, setup.interface
    n_steps = max_episode_steps(env)
    probe = _Probe(iface, drives, noise, rng)
    seeds = [int(s) for s in seeds]
    b = len(seeds)
    if hasattr(brain, "run_closed_loop"):
        out = brain.run_closed_loop(env, probe, n_steps=n_steps, record=True, seed=seeds)
        act, mus = out["activity"], out["actions"]
        speed, failed = np.asarray(out["speed"], float), np.asarray(out["failed"], bool)
    else:
        obs, _ = env.reset(seed=seeds)
        _reset(setup, b, setup.v0)
        brain.start_recording()
        mus_l, speed_sum = [], np.zeros(b)
        failed = np.zeros(b, bool)
        with torch.no_grad():
            for _ in range(n_steps):
                u = probe.sense(obs, device=brain.device)
                a = brain.step(u)
                m = a if brain.outputs_muscles else iface.motor(a)
                m = m.cpu().numpy().astype(np.float64)
                mus_l.append(m)
                obs, _, term, trunc, info = env.step(m.astype(np.float32))
                speed_sum += np.nan_to_num(np.asarray(info.get("speed", np.zeros(b)), float))
                for flag in ("diverged", "bad_action"):
                    if flag in info:
                        failed |= np.asarray(info[flag], bool)
            probe.sense(obs, device=brain.device)   # obs_T, for the last step's curvature
        act = brain.stop_recording()["activity"]
        mus = np.stack(mus_l)
        speed = speed_sum / n_steps
    t = len(act)
    obs = np.stack(probe.obs)                       # (T + 1, B, obs_dim)
    lay = env.layout
    return {"u": np.stack(probe.us)[:t].astype(np.float32), "activity": np.asarray(act, np.float32),
            "muscles": np.asarray(mus, np.float32),
            "curvature": (obs[1:t + 1, :, lay.angles] * lay.n_segments).astype(np.float32),
            "speed": speed, "failed": failed, "drives": np.asarray(drives, np.float32),
            "seeds": np.asarray(seeds)}


@torch.no_grad()
def open_loop(setup: Setup, u: np.ndarray) -> dict[str, np.ndarray]:
    """The brain's activity (T, B, N) and muscles (T, B, M) driven by the input sequence u (T, B, C)."""
    brain, iface = setup.brain, setup.interface
    t, b, _ = u.shape
    if hasattr(brain, "run_open_loop"):
        brain.reset(b)
        act = brain.run_open_loop(u, record=True)["activity"]
        mus = iface.motor(torch.as_tensor(act.reshape(t * b, -1), dtype=torch.float32)).numpy()
        return {"activity": act.astype(np.float32), "muscles": mus.reshape(t, b, -1)}
    _reset(setup, b, setup.v0)
    brain.start_recording()
    outs = [brain.step(torch.as_tensor(u[k], device=brain.device)) for k in range(t)]
    act = brain.stop_recording()["activity"]
    out = torch.stack(outs)
    mus = out if brain.outputs_muscles else iface.motor(out.reshape(t * b, -1)).reshape(t, b, -1)
    return {"activity": act.astype(np.float32), "muscles": mus.cpu().numpy().astype(np.float32)}


# ---- metrics -------------------------------------------------------------------------------------
def r2_per_unit(target: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(T, B, K) arrays -> (K,) R^2 over time and sequences; NaN where the target is flat."""
    y = np.asarray(target, np.float64).reshape(-1, target.shape[-1])
    p = np.asarray(pred, np.float64).reshape(-1, target.shape[-1])
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    ss_res = ((y - p) ** 2).sum(0)
    flat = y.std(0) < MIN_STD
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    r2[flat] = np.nan
    return r2


def _summ(r2: np.ndarray) -> dict:
    ok = np.isfinite(r2)
    return {"median": float(np.median(r2[ok])) if ok.any() else None,
            "mean": float(np.mean(r2[ok])) if ok.any() else None,
            "n_scored": int(ok.sum()), "n_flat": int((~ok).sum())}


def _pooled_r2(target: np.ndarray, pred: np.ndarray) -> float | None:
    """R^2 of all units at once (variance-weighted), or None when the target is flat."""
    y = np.asarray(target, np.float64).reshape(-1, target.shape[-1])
    p = np.asarray(pred, np.float64).reshape(-1, target.shape[-1])
    ss_tot = ((y - y.mean(0)) ** 2).sum()
    return float(1.0 - ((y - p) ** 2).sum() / ss_tot) if ss_tot > 0 else None


def undulation(curvature: np.ndarray, control_dt: float, skip: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Mid-body curvature (T, B, J) -> (frequency Hz (B,), amplitude rad/BL (B,)): the FFT peak of
    the mid-body joint's curvature after the first ``skip`` fraction of the episode."""
    k = curvature[int(len(curvature) * skip):, :, curvature.shape[2] // 2].astype(np.float64)
    k = k - k.mean(0)
    n = max(len(k) * 4, 256)
    spec = np.abs(np.fft.rfft(k * np.hanning(len(k))[:, None], n=n, axis=0))
    freqs = np.fft.rfftfreq(n, d=control_dt)
    band = freqs >= 0.1
    peak = freqs[band][spec[band].argmax(0)]
    amp = k.std(0) * math.sqrt(2)
    return np.where(amp > 0.05, peak, np.nan), amp


def _decode_r2(x_train, y_train, x_test, y_test, alpha: float = 1.0) -> float | None:
    from sklearn.linear_model import Ridge
    xs = lambda a: a.reshape(-1, a.shape[-1]).astype(np.float64)  # noqa: E731
    model = Ridge(alpha=alpha).fit(xs(x_train), xs(y_train))
    return _pooled_r2(y_test, model.predict(xs(x_test)).reshape(y_test.shape))


# ---- building ------------------------------------------------------------------------------------
def _teacher_spec(teacher_run, teacher_level: str, dataset: str, n_segments: int):
    """(EvalSpec, params or None for the level's initial ones, description)."""
    from wormsim.rollout import EvalSpec, MOTOR_TASKS
    if teacher_run is None:
        from wormsim.realism_levels import LEVELS
        if teacher_level not in LEVELS:
            raise ValueError(f"unknown teacher level {teacher_level!r}; choose from {', '.join(sorted(LEVELS))}")
        return (EvalSpec(level=teacher_level, dataset=dataset, env_kwargs=(("n_segments", n_segments),)),
                None, f"untrained {teacher_level} (connectome-derived initial parameters)")
    from wormsim.runs import Run, RunError
    from wormsim.train.es import TrainConfig
    path = Path(teacher_run)
    if not path.is_dir():
        raise ValueError(f"teacher run {path} does not exist (expected a run directory with config.json "
                         "and policy.npz)")
    try:
        run = Run.open(path)
        cfg = TrainConfig.from_dict(run.config)
        params, _ = run.load_policy()
    except RunError as exc:
        raise ValueError(f"teacher run {path}: {exc}") from None
    if cfg.task not in MOTOR_TASKS or cfg.task != "swim":
        raise ValueError(f"teacher run {path} was trained on task {cfg.task!r}; distillation needs a swim teacher")
    return cfg.eval_spec(), np.asarray(params, np.float32), f"trained run {path} ({cfg.level}, {cfg.wiring})"


def _make_setup(level: str, circuit, layout, control_dt: float, level_kwargs: dict, device="cpu") -> Setup:
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import make_level_config
    iface = Interface(circuit, layout, control_dt=control_dt)
    brain = get_level(level)(circuit, iface.io_spec(), make_level_config(level, level_kwargs),
                             population=1, device=device)
    return Setup(level, brain, iface, layout.n_segments, control_dt)


def perturb_synapses(level: str, brain, params: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> np.ndarray:
    """params with every synaptic conductance (chemical and gap parameters) scaled by an independent
    factor uniform in [1 - fraction, 1 + fraction]; the other parameters unchanged."""
    out = np.array(params, np.float32, copy=True)
    start = 0
    for name, size in brain.param_sizes().items():
        if name in SYNAPTIC_PARAMS.get(level, ()):
            out[start:start + size] *= rng.uniform(1 - fraction, 1 + fraction, size).astype(np.float32)
        start += size
    return out


# ---- training ------------------------------------------------------------------------------------
def _rate_fixed_point(setup: Setup, data: dict) -> torch.Tensor | None:
    """For a rate student: the state v* = logit(mean teacher activity) (N,), after setting the bias so
    that v* is the fixed point under the mean input (b = v* - a* W - v* L - u U), or None for other
    levels. Saturated teachers (activity near 0 or 1) are out of reach of a bias that starts at 0."""
    brain = setup.brain
    if setup.level != "rate":
        return None
    a_star = torch.as_tensor(data["activity"].reshape(-1, data["activity"].shape[-1]).mean(0)).clamp(1e-3, 1 - 1e-3)
    u_bar = torch.as_tensor(data["u"].reshape(-1, data["u"].shape[-1]).mean(0))
    v_star = torch.log(a_star / (1 - a_star))
    with torch.no_grad():
        w, lap, u = brain._matrices()
        b = v_star - a_star @ w[0] - v_star @ lap[0] - u_bar @ u[0]
        brain.bias.copy_(b.expand_as(brain.bias))
    # start where the teacher is after its first step (the teacher's own initial state is unknown)
    a0 = torch.as_tensor(data["activity"][0].mean(0)).clamp(1e-3, 1 - 1e-3)
    return torch.log(a0 / (1 - a0))


def _reset(setup: Setup, batch: int, v0: torch.Tensor | None) -> None:
    setup.brain.reset(batch)
    if v0 is not None:
        setup.brain.v = v0.to(setup.brain.device).expand(batch, -1).clone()


def _scale(x: np.ndarray, floor: float) -> torch.Tensor:
    """Per-unit normaliser max(std, floor) of (T, B, K) data, (K,)."""
    return torch.as_tensor(np.maximum(x.reshape(-1, x.shape[-1]).std(0), floor), dtype=torch.float32)


def train_student(setup: Setup, data: dict, epochs: int, lr: float, muscle_weight: float,
                  seed: int, normalize: bool = True, data_init: bool = True) -> list[float]:
    """Full-batch BPTT (Adam) of the student on data["u"], data["activity"], data["muscles"]
    (T, B, .). normalize: each unit's error in units of the teacher's std (floor MIN_STD), so that the
    loss is what R^2 scores. data_init (rate): bias and initial state at the teacher's mean activity
    (_rate_fixed_point). The student's initial state is kept in setup.v0. Returns the loss per epoch."""
    brain, iface = setup.brain, setup.interface
    torch.manual_seed(seed)
    setup.v0 = _rate_fixed_point(setup, data) if data_init else None
    u = torch.as_tensor(data["u"])
    a_t = torch.as_tensor(data["activity"])
    m_t = torch.as_tensor(data["muscles"])
    sa = _scale(data["activity"], MIN_STD) if normalize else torch.ones(a_t.shape[-1])
    sm = _scale(data["muscles"], MIN_STD) if normalize else torch.ones(m_t.shape[-1])
    t, b, _ = u.shape
    opt = torch.optim.Adam([p for p in brain.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(epochs):
        _reset(setup, b, setup.v0)
        outs = torch.stack([brain.step(u[k]) for k in range(t)])
        if brain.outputs_muscles:
            loss = (((outs - m_t) / sm) ** 2).mean()
        else:
            mus = iface.motor(outs.reshape(t * b, -1)).reshape(t, b, -1)
            loss = (((outs - a_t) / sa) ** 2).mean() + muscle_weight * (((mus - m_t) / sm) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(brain.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _subset(data: dict, k: int) -> dict:
    return {key: (v[:, :k] if key in ("u", "activity", "muscles", "curvature") else v[:k])
            for key, v in data.items()}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts], axis=1 if k in ("u", "activity", "muscles", "curvature")
                              else 0) for k in parts[0]}


# ---- the pipeline --------------------------------------------------------------------------------
def distill(teacher_run: str | Path | None, student: str = "rate", wiring: str = "connectome",
            out: str | Path = "runs/distill", *, teacher_level: str = "conductance",
            teacher_perturb: float = 0.0, dataset: str = "cook2019", wiring_seed: int = 0,
            n_train: int = 8, n_test: int = 4, duration: float = 2.0, input_noise: float = 0.05,
            reset_noise: float = 0.3, epochs: int = 150, lr: float = 0.02, muscle_weight: float = 1.0,
            data_sizes: Sequence[int] = (1, 2, 4, 8), perturb: Sequence[float] = (0.1, 0.3),
            unseen_drives: Sequence[tuple[float, float]] = UNSEEN_DRIVES,
            normalize: bool = True, data_init: bool = True,
            student_kwargs: dict | None = None, seed: int = 0, command: str | None = None,
            progress: bool = False) -> dict:
    """Distil a teacher brain into a student of level ``student`` on ``wiring``; write the report.

    teacher_run: a trained run directory (its policy, level, wiring and body), or None for an
        untrained ``teacher_level`` teacher (connectome; its initial parameters, with every parameter
        scaled by factors uniform in [1 - teacher_perturb, 1 + teacher_perturb], biases shifted by
        +-teacher_perturb, so that a rate teacher differs from a fresh rate student).
    n_train, n_test: teacher sequences (episodes of ``duration`` s) for training and held-out testing
        (unseen seeds and drives). Drives are drawn uniformly in TRAIN_DRIVE_RANGE; each input channel
        gets Gaussian noise of std ``input_noise``; initial joint angles uniform in +-reset_noise rad.
    epochs, lr, muscle_weight: full-batch BPTT with Adam. normalize, data_init: see train_student. data_sizes: training-set sizes of the
        data-efficiency curve (those <= n_train). perturb: fractions of the plasticity test.
    unseen_drives: (forward, backward) drives of the zero-shot test (water and agar).
    Returns the metrics (also in out/metrics.json).
    """
    t_start = time.perf_counter()
    from wormsim.connectome import load_circuit
    from wormsim.realism_levels import LEVELS
    from wormsim.rollout import build_circuit, layout_control_dt
    from wormsim.wiring import WIRINGS, rewire

    if student == "conductance":
        raise ValueError("conductance is not differentiable; choose rate, spiking or mlp")
    if student not in STUDENT_LEVELS:
        raise ValueError(f"unknown student level {student!r}; choose rate, spiking or mlp"
                         + ("" if student in LEVELS else f" (known levels: {', '.join(sorted(LEVELS))})"))
    if wiring not in WIRINGS:
        raise ValueError(f"unknown wiring {wiring!r}; choose from {', '.join(WIRINGS)}")
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be >= 1, got {n_train}, {n_test}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if duration <= 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if not all(0 <= p < 1 for p in perturb) or not 0 <= teacher_perturb < 1:
        raise ValueError("perturbation fractions must lie in [0, 1)")
    if out is None:
        raise ValueError("out (the report directory) is required")

    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, 7])
    spec, t_params, t_desc = _teacher_spec(teacher_run, teacher_level, dataset, 12)
    if spec.level == "mlp":
        raise ValueError("an mlp teacher has no neurons of the worm to distil; use a conductance, spiking "
                         "or rate teacher")
    env_kw = dict(spec.env_kwargs)
    n_segments = int(env_kw.get("n_segments", 12))
    # the teacher's body: its head oscillator too (a run's env_kwargs carry it)
    bodies = Bodies(n_segments, duration, reset_noise, head_cpg=float(env_kw.get("head_cpg", 0.0)))
    log = (lambda *a: print("[distill]", *a, flush=True)) if progress else (lambda *a: None)

    try:
        env0 = bodies.get(n_train, "water")
        layout, control_dt = env0.layout, layout_control_dt(env0)
        t_circuit = build_circuit(spec)
        teacher = _make_setup(spec.level, t_circuit, layout, control_dt, dict(spec.level_kwargs))
        if t_params is None:
            t_params = teacher.brain.get_params()[0].cpu().numpy()
            if teacher_perturb > 0:
                prng = np.random.default_rng([seed, 11])
                t_params = t_params * prng.uniform(1 - teacher_perturb, 1 + teacher_perturb, t_params.shape)
                start = 0
                for name, size in teacher.brain.param_sizes().items():
                    if name == "bias":
                        t_params[start:start + size] += prng.uniform(-teacher_perturb, teacher_perturb, size)
                    start += size
        t_params = np.asarray(t_params, np.float32)
        teacher.brain.set_params(t_params)

        s_circuit = rewire(load_circuit(spec.dataset), wiring, wiring_seed)
        if tuple(s_circuit.names) != tuple(t_circuit.names):
            raise ValueError("teacher and student circuits have different neurons; use the same dataset")

        def new_student() -> Setup:
            return _make_setup(student, s_circuit, layout, control_dt, dict(student_kwargs or {}))

        def drives_uniform(n):
            (f0, f1), (b0, b1) = TRAIN_DRIVE_RANGE
            return np.stack([rng.uniform(f0, f1, n), rng.uniform(b0, b1, n)], 1)

        # 1. the teacher's data: training and held-out sequences (different seeds and drives)
        log(f"teacher: {t_desc}; recording {n_train} + {n_test} sequences of {duration} s")
        train = closed_loop(teacher, bodies.get(n_train, "water"), drives_uniform(n_train),
                            [seed * 100_003 + i for i in range(n_train)], input_noise, rng)
        test = closed_loop(teacher, bodies.get(n_test, "water"), drives_uniform(n_test),
                           [seed * 100_003 + 50_000 + i for i in range(n_test)], input_noise, rng)
        t_record = time.perf_counter() - t_start

        # 2. the student
        log(f"training a {student} student on {wiring} ({epochs} epochs)")
        t0 = time.perf_counter()
        stud = new_student()
        losses = train_student(stud, train, epochs, lr, muscle_weight, seed, normalize, data_init)
        t_train = time.perf_counter() - t0
        pred = open_loop(stud, test["u"])
        has_neurons = not stud.brain.outputs_muscles
        r2_neuron = r2_per_unit(test["activity"], pred["activity"]) if has_neurons else None
        r2_muscle = r2_per_unit(test["muscles"], pred["muscles"])
        # baseline: an untrained student of the same level and wiring
        r2_untrained = (r2_per_unit(test["activity"], open_loop(new_student(), test["u"])["activity"])
                        if has_neurons else None)

        # 3a. data efficiency
        curve = []
        for k in sorted({int(k) for k in data_sizes if 1 <= int(k) <= n_train} | {n_train}):
            if k == n_train:
                r2k, mk = r2_neuron, r2_muscle
            else:
                s = new_student()
                train_student(s, _subset(train, k), epochs, lr, muscle_weight, seed, normalize, data_init)
                pk = open_loop(s, test["u"])
                r2k = r2_per_unit(test["activity"], pk["activity"]) if has_neurons else None
                mk = r2_per_unit(test["muscles"], pk["muscles"])
            curve.append({"n_sequences": k, "steps": k * train["u"].shape[0],
                          "neuron_r2_median": _summ(r2k)["median"] if r2k is not None else None,
                          "muscle_r2_median": _summ(mk)["median"]})
            log(f"data efficiency: {curve[-1]}")

        # 3b. zero-shot generalisation: closed loop, water and agar, unseen drives
        gen = []
        gen_drives = np.array([(1.0, 0.0)] + [tuple(d) for d in unseen_drives], np.float32)
        for medium in ("water", "agar"):
            drives = gen_drives if medium == "agar" else gen_drives[1:]
            if not len(drives):
                continue
            seeds = [seed * 100_003 + 90_000 + i for i in range(len(drives))]
            env = bodies.get(len(drives), medium)
            tch = closed_loop(teacher, env, drives, seeds, 0.0, rng)
            stu = closed_loop(stud, env, drives, seeds, 0.0, rng)
            f_t, a_t = undulation(tch["curvature"], control_dt)
            f_s, a_s = undulation(stu["curvature"], control_dt)
            # open loop on the teacher's own inputs: how well the activity transfers off-distribution
            po = open_loop(stud, tch["u"])
            for i, d in enumerate(drives):
                sl = slice(i, i + 1)
                gen.append({"medium": medium, "drive_forward": float(d[0]), "drive_backward": float(d[1]),
                            "seen_drive_range": bool(TRAIN_DRIVE_RANGE[0][0] <= d[0] <= TRAIN_DRIVE_RANGE[0][1]
                                                     and TRAIN_DRIVE_RANGE[1][0] <= d[1] <= TRAIN_DRIVE_RANGE[1][1]),
                            "teacher_speed": float(tch["speed"][i]), "student_speed": float(stu["speed"][i]),
                            "teacher_freq_hz": _f(f_t[i]), "student_freq_hz": _f(f_s[i]),
                            "teacher_amp": float(a_t[i]), "student_amp": float(a_s[i]),
                            "open_loop_neuron_r2": (_summ(r2_per_unit(tch["activity"][:, sl],
                                                                      po["activity"][:, sl]))["median"]
                                                    if has_neurons else None),
                            "open_loop_muscle_r2": _summ(r2_per_unit(tch["muscles"][:, sl],
                                                                     po["muscles"][:, sl]))["median"],
                            "teacher_failed": bool(tch["failed"][i]), "student_failed": bool(stu["failed"][i])})
            log(f"generalisation {medium}: done")

        # 3c. robustness to plasticity: perturbed teacher, same held-out seeds and drives
        plast = []
        for p in perturb:
            pp = perturb_synapses(spec.level, teacher.brain,
                                  t_params, float(p), np.random.default_rng([seed, 13, int(round(p * 1000))]))
            teacher.brain.set_params(pp)
            pt = closed_loop(teacher, bodies.get(n_test, "water"), test["drives"], test["seeds"],
                             input_noise, np.random.default_rng([seed, 17]))
            teacher.brain.set_params(t_params)
            ref = open_loop(teacher, pt["u"])        # the unperturbed teacher on the same inputs
            ps = open_loop(stud, pt["u"])
            row = {"fraction": float(p), "student_muscle_r2": _summ(r2_per_unit(pt["muscles"], ps["muscles"]))["median"],
                   "unperturbed_teacher_muscle_r2": _summ(r2_per_unit(pt["muscles"], ref["muscles"]))["median"],
                   "student_neuron_r2": None, "unperturbed_teacher_neuron_r2": None,
                   "student_neuron_mse": None}
            if has_neurons:
                row.update(student_neuron_r2=_summ(r2_per_unit(pt["activity"], ps["activity"]))["median"],
                           unperturbed_teacher_neuron_r2=_summ(r2_per_unit(pt["activity"], ref["activity"]))["median"],
                           student_neuron_mse=float(np.mean((pt["activity"] - ps["activity"]) ** 2)))
            plast.append(row)
            log(f"plasticity {p}: {row}")

        # 3d. decoding body curvature from activity (ridge; fit on training, scored on held-out)
        s_train_act = open_loop(stud, train["u"])["activity"]
        decoding = {"teacher_r2": _decode_r2(train["activity"], train["curvature"], test["activity"], test["curvature"]),
                    "student_r2": _decode_r2(s_train_act, train["curvature"], pred["activity"], test["curvature"]),
                    "inputs_only_r2": _decode_r2(train["u"], train["curvature"], test["u"], test["curvature"]),
                    "alpha": 1.0}

        names = list(s_circuit.names)
        metrics = {
            "teacher": {"description": t_desc, "level": spec.level, "wiring": spec.wiring,
                        "run": str(teacher_run) if teacher_run is not None else None,
                        "failed_sequences": int(train["failed"].sum() + test["failed"].sum())},
            "student": {"level": student, "wiring": wiring, "wiring_seed": wiring_seed,
                        "n_params": int(stud.brain.n_params)},
            "data": {"n_train": n_train, "n_test": n_test, "duration_s": duration,
                     "steps_per_sequence": int(train["u"].shape[0]), "control_dt": control_dt,
                     "n_inputs": int(train["u"].shape[2]), "n_neurons": int(train["activity"].shape[2]),
                     "n_muscles": int(train["muscles"].shape[2]), "input_noise": input_noise,
                     "reset_noise_rad": reset_noise, "drive_range": TRAIN_DRIVE_RANGE,
                     "train_drives": train["drives"].tolist(), "test_drives": test["drives"].tolist()},
            "training": {"epochs": epochs, "lr": lr, "muscle_weight": muscle_weight,
                         "normalized_loss": normalize, "data_init": data_init,
                         "loss_first": losses[0], "loss_last": losses[-1], "losses": losses,
                         "wall_time_s": round(t_train, 2)},
            "heldout": {"neuron_r2": _summ(r2_neuron) if has_neurons else None,
                        "neuron_r2_pooled": _pooled_r2(test["activity"], pred["activity"]) if has_neurons else None,
                        "untrained_student_neuron_r2": _summ(r2_untrained) if has_neurons else None,
                        "muscle_r2": _summ(r2_muscle),
                        "muscle_r2_pooled": _pooled_r2(test["muscles"], pred["muscles"]),
                        "neuron_r2_per_neuron": ({n: _f(v) for n, v in zip(names, r2_neuron)}
                                                 if has_neurons else None),
                        "muscle_r2_per_muscle": [_f(v) for v in r2_muscle]},
            "data_efficiency": curve,
            "generalisation": gen,
            "plasticity": plast,
            "decoding": decoding,
            "seed": seed,
            "wall_time_s": {"record_teacher": round(t_record, 1),
                            "total": round(time.perf_counter() - t_start, 1)},
        }
        _write_outputs(Path(out), metrics, train, test, pred, r2_neuron, names, command, losses)
        return metrics
    finally:
        bodies.close()


def _f(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


# ---- outputs -------------------------------------------------------------------------------------
def _save_fig(fig, path: Path) -> None:
    from wormsim.viz.plots import save_figure
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def _fmt(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def _write_outputs(out: Path, m: dict, train, test, pred, r2_neuron, names, command, losses) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from wormsim.runs import atomic_write_bytes, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"{split}_{k}": d[k] for split, d in (("train", train), ("test", test))
                                for k in ("u", "activity", "muscles", "curvature", "drives", "seeds")},
                        neuron_names=np.array(names))
    atomic_write_bytes(out / "dataset.npz", buf.getvalue())
    atomic_write_text(out / "metrics.json", json.dumps(m, indent=2))

    figs = []
    if r2_neuron is not None:
        fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.16), 3.2))
        vals = np.nan_to_num(r2_neuron, nan=0.0)
        colors = ["tab:blue" if np.isfinite(v) else "lightgrey" for v in r2_neuron]
        ax.bar(np.arange(len(names)), np.clip(vals, -1, 1), color=colors)
        ax.set_xticks(np.arange(len(names)))
        ax.set_xticklabels(names, rotation=90, fontsize=5)
        ax.set_ylim(-1, 1)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("held-out R$^2$ (clipped at -1)")
        ax.set_title(f"{m['student']['level']} student of the {m['teacher']['level']} teacher: R$^2$ per neuron "
                     "(grey: flat in the teacher)")
        _save_fig(fig, out / "r2_per_neuron.png")
        figs.append("r2_per_neuron.png")

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    c = m["data_efficiency"]
    xs = [r["n_sequences"] for r in c]
    if r2_neuron is not None:
        ax.plot(xs, [np.nan if r["neuron_r2_median"] is None else r["neuron_r2_median"] for r in c], "o-",
                label="neurons (median)")
    ax.plot(xs, [np.nan if r["muscle_r2_median"] is None else r["muscle_r2_median"] for r in c], "s--",
            label="muscles (median)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"teacher sequences ({m['data']['duration_s']} s each)")
    ax.set_ylabel("held-out R$^2$")
    ax.legend()
    ax.set_title("data efficiency")
    _save_fig(fig, out / "data_efficiency.png")
    figs.append("data_efficiency.png")

    g = m["generalisation"]
    if g:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        labels = [f"{r['medium']}\n({r['drive_forward']:g},{r['drive_backward']:g})" for r in g]
        x = np.arange(len(g))
        for ax, key, unit in ((axes[0], "speed", "forward speed (BL/s)"), (axes[1], "freq_hz", "undulation (Hz)")):
            tv = [np.nan if r[f"teacher_{key}"] is None else r[f"teacher_{key}"] for r in g]
            sv = [np.nan if r[f"student_{key}"] is None else r[f"student_{key}"] for r in g]
            ax.bar(x - 0.2, tv, 0.4, label="teacher")
            ax.bar(x + 0.2, sv, 0.4, label="student")
            ax.set_xticks(x)
            ax.set_xticklabels(labels, fontsize=7)
            ax.set_ylabel(unit)
        axes[0].legend()
        fig.suptitle("zero-shot gait, closed loop (medium, drive forward/backward)")
        _save_fig(fig, out / "gait_comparison.png")
        figs.append("gait_comparison.png")

    if r2_neuron is not None:
        order = np.argsort(-np.nan_to_num(test["activity"].std((0, 1))))[:6]
        fig, axes = plt.subplots(len(order), 1, figsize=(7, 1.2 * len(order)), sharex=True)
        tt = np.arange(test["activity"].shape[0]) * m["data"]["control_dt"]
        for ax, i in zip(np.atleast_1d(axes), order):
            ax.plot(tt, test["activity"][:, 0, i], "k", lw=1, label="teacher")
            ax.plot(tt, pred["activity"][:, 0, i], "r--", lw=1, label="student")
            ax.set_ylabel(names[i], fontsize=7)
        np.atleast_1d(axes)[0].legend(fontsize=6, loc="upper right")
        np.atleast_1d(axes)[-1].set_xlabel("time (s), held-out sequence 0")
        _save_fig(fig, out / "traces.png")
        figs.append("traces.png")

    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.semilogy(losses)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    _save_fig(fig, out / "loss.png")
    figs.append("loss.png")

    atomic_write_text(out / "report.md", _report(m, figs, command))


def _report(m: dict, figs: list[str], command: str | None) -> str:
    h, d, tr = m["heldout"], m["data"], m["training"]
    L = [f"# Functional distillation: {m['student']['level']} student ({m['student']['wiring']}) "
         f"of a {m['teacher']['level']} teacher", ""]
    L += ["Command:", "", "```", command or "(called from Python: wormsim.distill.distill)", "```", ""]
    L += [f"Teacher: {m['teacher']['description']}. Student: {m['student']['level']} on the "
          f"{m['student']['wiring']} wiring, {m['student']['n_params']} parameters, trained by BPTT "
          f"(Adam, lr {tr['lr']}, {tr['epochs']} full-batch epochs, {tr['wall_time_s']} s) to reproduce "
          "the teacher's activity from the teacher's input channels (teacher forcing on inputs, "
          "free-running state).", "",
          f"Data: {d['n_train']} training and {d['n_test']} held-out closed-loop sequences of "
          f"{d['duration_s']} s ({d['steps_per_sequence']} steps of {d['control_dt']} s), "
          f"{d['n_inputs']} input channels, {d['n_neurons']} neurons, {d['n_muscles']} muscles; drives "
          f"forward U{tuple(d['drive_range'][0])}, backward U{tuple(d['drive_range'][1])}, input noise "
          f"std {d['input_noise']}, initial joint angles +-{d['reset_noise_rad']} rad; held-out "
          "sequences have unseen seeds and drives.", ""]
    L += ["## Held-out fit", "", "| quantity | median R^2 | mean R^2 | scored | flat (excluded) |",
          "|---|---|---|---|---|"]
    if h["neuron_r2"]:
        for label, s in (("neuron activity (trained student)", h["neuron_r2"]),
                         ("neuron activity (untrained student)", h["untrained_student_neuron_r2"])):
            L.append(f"| {label} | {_fmt(s['median'])} | {_fmt(s['mean'])} | {s['n_scored']} | {s['n_flat']} |")
    s = h["muscle_r2"]
    L.append(f"| muscle output | {_fmt(s['median'])} | {_fmt(s['mean'])} | {s['n_scored']} | {s['n_flat']} |")
    L += ["", f"Pooled (variance-weighted) R^2: neurons {_fmt(h['neuron_r2_pooled'])}, muscles "
          f"{_fmt(h['muscle_r2_pooled'])}. Training loss {tr['loss_first']:.4g} -> {tr['loss_last']:.4g}.", ""]
    L += ["## Data efficiency", "", "| teacher sequences | steps | neuron R^2 (median) | muscle R^2 (median) |",
          "|---|---|---|---|"]
    for r in m["data_efficiency"]:
        L.append(f"| {r['n_sequences']} | {r['steps']} | {_fmt(r['neuron_r2_median'])} | {_fmt(r['muscle_r2_median'])} |")
    L += ["", "## Zero-shot generalisation (closed loop, no input noise)", "",
          "| medium | drive (f, b) | in training range | speed teacher | speed student (BL/s) | "
          "freq teacher | freq student (Hz) | open-loop neuron R^2 | open-loop muscle R^2 |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in m["generalisation"]:
        L.append(f"| {r['medium']} | ({r['drive_forward']:g}, {r['drive_backward']:g}) | "
                 f"{'yes' if r['seen_drive_range'] else 'no'} | {_fmt(r['teacher_speed'])} | "
                 f"{_fmt(r['student_speed'])} | {_fmt(r['teacher_freq_hz'], 2)} | {_fmt(r['student_freq_hz'], 2)} | "
                 f"{_fmt(r['open_loop_neuron_r2'])} | {_fmt(r['open_loop_muscle_r2'])} |")
    L += ["", "Frequency: FFT peak of the mid-body curvature after the first quarter of the episode "
          "(n/a: amplitude below 0.05 rad/BL, no undulation). Open-loop R^2: the student driven by "
          "the teacher's own inputs in that condition.", ""]
    L += ["## Robustness to plasticity", "",
          "Teacher synaptic conductances (chemical and gap) scaled by independent factors uniform in "
          "[1-p, 1+p]; held-out seeds and drives.", "",
          "| p | student neuron R^2 | unperturbed teacher neuron R^2 | student muscle R^2 | "
          "unperturbed teacher muscle R^2 |", "|---|---|---|---|---|"]
    for r in m["plasticity"]:
        L.append(f"| {r['fraction']:g} | {_fmt(r['student_neuron_r2'])} | {_fmt(r['unperturbed_teacher_neuron_r2'])} | "
                 f"{_fmt(r['student_muscle_r2'])} | {_fmt(r['unperturbed_teacher_muscle_r2'])} |")
    dc = m["decoding"]
    L += ["", "## Decoding body curvature (ridge regression, fit on training, scored on held-out)", "",
          "| from | R^2 |", "|---|---|", f"| teacher activity | {_fmt(dc['teacher_r2'])} |",
          f"| student activity | {_fmt(dc['student_r2'])} |",
          f"| input channels alone | {_fmt(dc['inputs_only_r2'])} |", ""]
    L += ["## Findings", ""] + _findings(m) + [""]
    L += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    return "\n".join(L)


def _findings(m: dict) -> list[str]:
    out = []
    h = m["heldout"]
    if h["neuron_r2"] and h["neuron_r2"]["median"] is not None:
        med, un = h["neuron_r2"]["median"], (h["untrained_student_neuron_r2"] or {}).get("median")
        out.append(f"- On held-out seeds and drives the student reproduces the teacher's neurons with "
                   f"median R^2 {med:.2f} ({h['neuron_r2']['n_scored']} neurons that vary; "
                   f"{h['neuron_r2']['n_flat']} are flat in the teacher), against {_fmt(un, 2)} before training.")
    if h["muscle_r2"]["median"] is not None:
        out.append(f"- Its muscle output matches with median R^2 {h['muscle_r2']['median']:.2f}.")
    c = [r for r in m["data_efficiency"] if r["neuron_r2_median"] is not None]
    if len(c) > 1:
        out.append(f"- Data efficiency: median neuron R^2 goes from {c[0]['neuron_r2_median']:.2f} with "
                   f"{c[0]['n_sequences']} sequence(s) to {c[-1]['neuron_r2_median']:.2f} with {c[-1]['n_sequences']}.")
    g = [r for r in m["generalisation"] if r["medium"] == "agar"]
    if g:
        dv = [abs(r["student_speed"] - r["teacher_speed"]) for r in g]
        out.append(f"- In agar (never seen in training) the student's speed differs from the teacher's by "
                   f"{np.mean(dv):.3f} BL/s on average (teacher speeds "
                   f"{', '.join(_fmt(r['teacher_speed']) for r in g)} BL/s).")
    for r in m["plasticity"]:
        if r["student_neuron_r2"] is not None:
            out.append(f"- With the teacher's synapses perturbed by up to {100 * r['fraction']:.0f}%, the student "
                       f"still explains median R^2 {r['student_neuron_r2']:.2f} of its activity (the unperturbed "
                       f"teacher itself: {_fmt(r['unperturbed_teacher_neuron_r2'], 2)}).")
    dc = m["decoding"]
    out.append(f"- Body curvature is decoded with R^2 {_fmt(dc['teacher_r2'], 2)} from the teacher's activity "
               f"and {_fmt(dc['student_r2'], 2)} from the student's ({_fmt(dc['inputs_only_r2'], 2)} from the "
               "input channels alone).")
    if m["teacher"]["failed_sequences"]:
        out.append(f"- Warning: {m['teacher']['failed_sequences']} teacher sequences failed numerically.")
    return out


__all__ = ["STUDENT_LEVELS", "closed_loop", "distill", "open_loop", "perturb_synapses", "r2_per_unit",
           "train_student", "undulation"]
