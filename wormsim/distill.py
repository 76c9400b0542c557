"""Functional distillation across realism levels ("Functional Connectome", Liu, Mavor-Parker & Barry).

A *teacher* brain (any level, typically the Brian2 conductance level; a trained run or an untrained
one) drives the body in closed loop under many drives, input noise and initial postures; its input
channels u_t (batch, C), neural activity a_t (batch, N) and muscle output m_t are recorded. A fresh
*student* of a differentiable level (rate by default; spiking or mlp) on a chosen wiring is trained by
backpropagation through time (Adam) to reproduce the teacher's activity from the same input sequence
(teacher forcing on the inputs, free-running state).

    from wormsim.distill import distill
    metrics = distill("runs/conductance-connectome-swim-s0", student="rate", wiring="connectome",
                      out="runs/distill-rate")

What the student learns: the teacher's trial-averaged activity
----------------------------------------------------------------
A conductance teacher need not be a smooth function of its inputs, so the target is its response
averaged over trials, like a firing rate:

    target_t = mean over r = 1..n_replays of teacher(u + eps_r)_t,   eps_r ~ N(0, replay_noise^2)

open-loop replays of each recorded sequence on its own inputs (default 16 replays, replay_noise = the
input noise). ``n_replays=0`` trains on the recorded single trial instead. The report measures how
reproducible that target is (the R^2 between two independent trial means) and how far a single trial
lies from it, so a user sees which case a teacher is in. Measured (Cook 2019, 2 s sequences, 50 Hz
control):

- A teacher of an earlier version of the conductance level (sensory input as currents, dt 0.2 ms;
  `wormsim train --level conductance --budget 30 --popsize 16 --duration 3`) was chaotic: a handful
  of neurons (VB1-VB5, VA1, DB1) followed their proprioceptive input, most sat on a depolarised
  plateau (release s(V) ~ 0.9) with brief network-wide collapses (40-60 ms events) whose timing a
  replay with input noise of std 3e-4 (1/150 of the sensor noise) decorrelated: median per-neuron
  R^2 0.02 against the original trial, while two independent 16-replay means agreed with median R^2
  0.89 (pooled 0.95). Low-passing does not help (the variance below 5 Hz was a median 9% of a
  neuron's) and ridge on the input history reached median R^2 0.03 on single trials.
- A teacher of the current level (sensory input as conductances, dt 0.1 ms; `--budget 40`, 0.046 BL/s)
  is regular: two independent trial means agree with pooled R^2 0.997, the trial mean explains a
  single trial with pooled R^2 0.996, and a rate student on the connectome reaches held-out pooled
  R^2 0.98 on neurons and 0.99 on muscles (ridge on the input history: 0.92 / 0.94). Of its 81
  neurons 44 have a flat target (std below MIN_STD: silent or saturated) and are not scored.

For a rate teacher (smooth, not chaotic) trial mean and single trial nearly coincide.

The first ``warmup`` seconds of every sequence (default 0.2 s) are left out of the loss and of every
score: each teacher episode starts from its resting state, a stereotyped transient the student
(started from the teacher's mean first-step activity) cannot know. With it in the loss, the
normalised error of that transient dominates the gradient.

Loss (full batch, Adam, gradient norm clipped to 1)::

    loss = mean ((a_student - target) / s_a)^2 + muscle_weight * mean ((motor(a_student) - m_target) / s_m)^2

with s the target's per-unit std after the warm-up (floor MIN_STD; normalize=False: s = 1), so the
loss is what R^2 scores (the mlp baseline has no neurons of the worm: its loss is on the muscles
only). A rate student starts with its bias and state at the fixed point of the target's mean
activity (data_init), which a saturated teacher otherwise leaves out of reach of a zero bias.

Report (held-out seeds and drives, steps after the warm-up)
-----------------------------------------------------------
- fit: R^2 of every neuron and muscle against the target (per unit, median; pooled = variance-
  weighted), the target's reliability (R^2 between two independent trial means; neurons with
  reliability >= RELIABLE are "reliable"), the student's R^2 on its own training data (a capacity
  check), R^2 against the single recorded trial with its ceiling (the trial mean's own R^2 on that
  trial), and baselines: an untrained student, a constant-mean predictor, and ridge regression on the
  input history (the last ``warmup`` seconds of inputs, regulariser by cross-validation over
  sequences), a linear benchmark the connectome-constrained student is measured against.
- data efficiency: the same against the number of teacher sequences (student and ridge).
- zero-shot gait: teacher, trained student, untrained student and constant-mean student (muscles
  from the teacher's mean activity) drive the body in closed loop in water with unseen drives and in
  agar (a medium never seen in training) with the training drive (1, 0) and the unseen ones, once with
  the teacher's head oscillator and once with it off (head_cpg 0: the circuit must make its own
  rhythm). Measured on the curvature kymograph after its first quarter: forward speed (BL/s),
  undulation frequency (FFT peak of the mid-body joint), amplitude (median over joints), and the
  travelling wave: the phase of every joint at that frequency, unwrapped head to tail and fitted by
  a line, gives the phase lag (cycles per body length, positive head to tail) and the wave speed
  (frequency / phase lag, BL/s). With the head oscillator on, every controller undulates at its
  frequency, so frequency alone cannot tell a good student from a failed one.
- robustness to plasticity: the teacher's synaptic conductances scaled by independent factors in
  [1 - p, 1 + p]; the trained student scored zero-shot on the perturbed teacher, and after
  fine-tuning on the perturbed teacher's own training sequences (as Liu et al. retrain), beside the
  unperturbed teacher used as a model of the perturbed one.
- decoding: ridge regression onto the head's forward velocity after the step (the inputs carry
  joint angles and drives, not velocities; the bending rate and the head's lateral velocity are no
  good targets, the angle history predicts them with R^2 0.99), from the input history alone and
  with a source's activity added (teacher's trial mean, trained student, untrained student,
  constant), reported as gain over the inputs alone; and "transfer": a decoder fitted on the
  teacher's activity applied to each source's activity, which a student reproducing the teacher
  passes and an untrained one need not (any rich enough activity gains over the inputs alone).

Alignment of one recorded step t (identical for Brian2's run_closed_loop and the torch loop): u_t is
sensed from obs_t (plus noise, with the row's drive values), the brain integrates one control step
with u_t and gives a_t, the muscles m_t = motor(a_t) step the body to obs_{t+1}; curvature_t,
bend_rate_t and head_velocity_t are read from obs_{t+1}.

Written into ``out``: report.md, metrics.json, dataset.npz and PNG figures, each atomically.
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
RELIABLE = 0.5                                           # target reliability of a "reliable" neuron
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)           # cross-validated ridge regularisers
# time series (T, B, ...) in a data dict; every other entry is per sequence (B, ...)
SERIES = ("u", "activity", "muscles", "trial_activity", "trial_muscles", "activity2", "muscles2",
          "curvature", "bend_rate", "head_velocity")


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


class ConstantBrain:
    """The constant-mean baseline: every neuron at a fixed activity (the target's mean), whatever the
    input; behind the interface its muscles are motor(mean activity)."""

    outputs_muscles = False
    device = "cpu"
    n_params = 0

    def __init__(self, activity: np.ndarray):
        self.activity = torch.as_tensor(np.asarray(activity, np.float32))
        self._rec: list | None = None
        self._b = 1

    def reset(self, batch: int) -> None:
        self._b = batch

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        a = self.activity.expand(inputs.shape[0], -1).clone()
        if self._rec is not None:
            self._rec.append(a.numpy())
        return a

    def start_recording(self) -> None:
        self._rec = []

    def stop_recording(self) -> dict[str, np.ndarray]:
        rec, self._rec = self._rec, None
        return {"activity": np.stack(rec)}


class Bodies:
    """Vector environments by (batch, medium, head oscillator), built once."""

    def __init__(self, n_segments: int, duration: float, reset_noise: float, head_cpg: float = 0.0):
        self.n_segments, self.duration, self.reset_noise = n_segments, float(duration), float(reset_noise)
        self.head_cpg = float(head_cpg)
        self._envs: dict = {}

    def get(self, batch: int, medium, head_cpg: float | None = None):
        head = self.head_cpg if head_cpg is None else float(head_cpg)
        key = (batch, medium, head)
        if key not in self._envs:
            import gymnasium as gym
            import wormsim  # noqa: F401
            self._envs[key] = gym.make_vec("wormsim/Swim-v0", num_envs=batch,
                                           vectorization_mode="vector_entry_point",
                                           n_segments=self.n_segments, medium=medium,
                                           duration=self.duration, reset_noise_scale=self.reset_noise,
                                           head_cpg=head)
        return self._envs[key]

    def close(self):
        for env in self._envs.values():
            env.close()
        self._envs = {}


def closed_loop(setup: Setup, env, drives: np.ndarray, seeds: Sequence[int], noise: float,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Run ``setup``'s brain (population 1) on ``env`` (num_envs == len(seeds)) for one episode.

    Returns u (T, B, C), activity (T, B, N), muscles (T, B, M), curvature (T, B, J) rad/BL,
    bend_rate (T, B, J) rad/BL/s, head_velocity (T, B, 2) (forward, lateral; BL/s, in the head's
    frame), speed (B,) BL/s, failed (B,),
    drives (B, 2), seeds (B,)."""
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
    obs = np.stack(probe.obs)[1:t + 1]              # obs_{t+1} of every step t
    lay = env.layout
    return {"u": np.stack(probe.us)[:t].astype(np.float32), "activity": np.asarray(act, np.float32),
            "muscles": np.asarray(mus, np.float32),
            "curvature": (obs[:, :, lay.angles] * lay.n_segments).astype(np.float32),
            "bend_rate": (obs[:, :, lay.velocities] * lay.n_segments).astype(np.float32),
            "head_velocity": obs[:, :, lay.head_velocity].astype(np.float32),
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


def _fit(target: np.ndarray, pred: np.ndarray, w: int) -> dict:
    """Scores of pred against target (T, B, K) on the steps after the warm-up w."""
    r2 = r2_per_unit(target[w:], pred[w:])
    return {**_summ(r2), "pooled": _pooled_r2(target[w:], pred[w:]), "per_unit": r2}


def gait(curvature: np.ndarray, control_dt: float, joint_positions: np.ndarray,
         skip: float = 0.25) -> dict[str, np.ndarray]:
    """The travelling wave of a curvature kymograph (T, B, J) rad/BL, after its first ``skip``
    fraction. Returns per sequence (B,): freq (Hz, FFT peak of the mid-body joint), amp (rad/BL,
    median over joints of sqrt(2) * std), phase_lag (cycles per body length, positive when the wave
    travels head to tail: the slope of a line fitted to the joints' unwrapped phases at that
    frequency, over the joints that move, amplitude >= 0.05 rad/BL, at least three) and wave_speed
    (freq / phase_lag, BL/s; NaN below 0.1 cycles/BL, a standing wave). freq, phase_lag and
    wave_speed are NaN where the body does not undulate (mid-body amplitude below 0.05 rad/BL)."""
    k = curvature[int(len(curvature) * skip):].astype(np.float64)
    k = k - k.mean(0)
    n_t, b, n_j = k.shape
    n = max(n_t * 4, 256)
    spec = np.fft.rfft(k * np.hanning(n_t)[:, None, None], n=n, axis=0)    # (F, B, J)
    freqs = np.fft.rfftfreq(n, d=control_dt)
    band = np.flatnonzero(freqs >= 0.1)
    mid = n_j // 2
    peak = band[np.abs(spec[band, :, mid]).argmax(0)]                       # (B,)
    amp_j = k.std(0) * math.sqrt(2)                                         # (B, J)
    out = {"freq": np.full(b, np.nan), "amp": np.median(amp_j, axis=1), "phase_lag": np.full(b, np.nan),
           "wave_speed": np.full(b, np.nan)}
    for i in range(b):
        if amp_j[i, mid] < 0.05:
            continue
        out["freq"][i] = freqs[peak[i]]
        use = amp_j[i] >= 0.05
        if use.sum() >= 3:
            # a wave travelling head to tail, cos(2 pi (f t - lag x)), has phase -2 pi lag x here
            phase = np.unwrap(np.angle(spec[peak[i], i, use]))
            out["phase_lag"][i] = -np.polyfit(np.asarray(joint_positions)[use], phase, 1)[0] / (2 * math.pi)
            if abs(out["phase_lag"][i]) >= 0.1:
                out["wave_speed"][i] = out["freq"][i] / out["phase_lag"][i]
    return out


def _lagged(u: np.ndarray, lags: int) -> np.ndarray:
    """(T, B, C) -> (T, B, C * (lags + 1)): u_t, u_{t-1}, ..., u_{t-lags} (zeros before t = 0)."""
    parts = [u]
    for k in range(1, lags + 1):
        s = np.zeros_like(u)
        s[k:] = u[:-k]
        parts.append(s)
    return np.concatenate(parts, axis=-1)


def _ridge_raw(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge on centred features in their own units (no z-scoring): a unit with tiny
    variance gets a small weight, not a huge one. x (S, F), y (S, K) -> (w (F, K), b (K,))."""
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - my))
    return w, my - mx @ w


def ridge_cv(x: np.ndarray, y: np.ndarray, w: int, alphas=RIDGE_ALPHAS, standardize: bool = True):
    """Ridge from features x (T, B, F) to y (T, B, K) on the steps after the warm-up w, its
    regulariser chosen by cross-validation over blocks of whole sequences (up to 4 folds; a single
    sequence: its two halves in time). standardize: z-scored features (reservoir.ridge_fit), else
    features in their own units. Returns predict(x') -> (T', B', K) and the chosen alpha."""
    from wormsim.reservoir import ridge_fit
    if not standardize:
        ridge_fit = _ridge_raw  # noqa: F811
    x, y = x[w:].astype(np.float64), y[w:].astype(np.float64)
    t, b = x.shape[:2]
    # fold id of every (step, sequence) sample
    fold = (np.broadcast_to((np.arange(t) >= t // 2)[:, None], (t, b)).astype(int) if b == 1
            else np.broadcast_to(np.arange(b) * min(4, b) // b, (t, b)))
    xf, yf, ff = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), fold.reshape(-1)
    scores = []
    for alpha in alphas:
        ss_res = 0.0
        for k in np.unique(ff):
            cw, cb = ridge_fit(xf[ff != k], yf[ff != k], alpha)
            ss_res += ((xf[ff == k] @ cw + cb - yf[ff == k]) ** 2).sum()
        scores.append(ss_res)
    alpha = alphas[int(np.argmin(scores))]
    coef, icpt = ridge_fit(xf, yf, alpha)

    def predict(xn: np.ndarray) -> np.ndarray:
        return (xn.reshape(-1, xn.shape[-1]).astype(np.float64) @ coef + icpt).reshape(xn.shape[:2] + (-1,))
    return predict, float(alpha)


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
    from wormsim.config import TrainConfig
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
    """For a rate student: the state v* = logit(mean target activity) (N,), after setting the bias so
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
                  seed: int, normalize: bool = True, data_init: bool = True,
                  warmup_steps: int = 0) -> list[float]:
    """Full-batch BPTT (Adam) of the student on data["u"] -> data["activity"], data["muscles"]
    (T, B, .), the steps before ``warmup_steps`` left out of the loss. normalize: each unit's error
    in units of the target's std (floor MIN_STD), so that the loss is what R^2 scores. data_init
    (rate): bias and initial state at the target's mean activity (_rate_fixed_point), kept in
    setup.v0; without it the student's parameters and setup.v0 are left as they are (fine-tuning).
    Returns the loss per epoch."""
    brain, iface = setup.brain, setup.interface
    w = int(warmup_steps)
    if data["u"].shape[0] <= w:
        raise ValueError(f"the warm-up ({w} steps) leaves nothing of {data['u'].shape[0]}-step sequences "
                         "to learn from")
    torch.manual_seed(seed)
    if data_init:
        setup.v0 = _rate_fixed_point(setup, data)
    u = torch.as_tensor(data["u"])
    a_t = torch.as_tensor(data["activity"][w:])
    m_t = torch.as_tensor(data["muscles"][w:])
    sa = _scale(data["activity"][w:], MIN_STD) if normalize else torch.ones(a_t.shape[-1])
    sm = _scale(data["muscles"][w:], MIN_STD) if normalize else torch.ones(m_t.shape[-1])
    t, b, _ = u.shape
    opt = torch.optim.Adam([p for p in brain.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(epochs):
        _reset(setup, b, setup.v0)
        outs = torch.stack([brain.step(u[k]) for k in range(t)])[w:]
        if brain.outputs_muscles:
            loss = (((outs - m_t) / sm) ** 2).mean()
        else:
            mus = iface.motor(outs.reshape(-1, outs.shape[-1])).reshape(t - w, b, -1)
            loss = (((outs - a_t) / sa) ** 2).mean() + muscle_weight * (((mus - m_t) / sm) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(brain.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _subset(data: dict, k: int) -> dict:
    return {key: (v[:, :k] if key in SERIES else v[:k]) for key, v in data.items()}


# ---- the pipeline --------------------------------------------------------------------------------
def _parse_drives(drives) -> list[tuple[float, float]]:
    out = []
    for d in drives:
        if len(d) != 2 or not all(math.isfinite(float(x)) for x in d):
            raise ValueError(f"a drive is a (forward, backward) pair of numbers, got {d!r}")
        out.append((float(d[0]), float(d[1])))
    return out


def _in_range(d) -> bool:
    (f0, f1), (b0, b1) = TRAIN_DRIVE_RANGE
    return bool(f0 <= d[0] <= f1 and b0 <= d[1] <= b1)


def distill(teacher_run: str | Path | None, student: str = "rate", wiring: str = "connectome",
            out: str | Path = "runs/distill", *, teacher_level: str = "conductance",
            teacher_perturb: float = 0.0, head_cpg: float | None = None, dataset: str = "cook2019",
            wiring_seed: int | None = None, n_train: int = 8, n_test: int = 4, duration: float = 2.0,
            input_noise: float = 0.05, reset_noise: float = 0.3, n_replays: int = 16,
            replay_noise: float | None = None, warmup: float = 0.2, epochs: int = 300,
            lr: float = 0.03, muscle_weight: float = 1.0, data_sizes: Sequence[int] = (1, 2, 4, 8),
            perturb: Sequence[float] = (0.1, 0.3), finetune_epochs: int | None = None,
            unseen_drives: Sequence[tuple[float, float]] = UNSEEN_DRIVES,
            normalize: bool = True, data_init: bool = True,
            student_kwargs: dict | None = None, seed: int = 0, command: str | None = None,
            progress: bool = False) -> dict:
    """Distil a teacher brain into a student of level ``student`` on ``wiring``; write the report.

    teacher_run: a trained run directory (its policy, level, wiring and body), or None for an
        untrained ``teacher_level`` teacher (connectome; its initial parameters, with every parameter
        scaled by factors uniform in [1 - teacher_perturb, 1 + teacher_perturb], biases shifted by
        +-teacher_perturb, so that a rate teacher differs from a fresh rate student).
    head_cpg: the body's head oscillator (Hz) while recording; None: the teacher run's own (0, off,
        for an untrained teacher). The gait comparison also runs with it off.
    wiring_seed: seed of the student's null wiring; None: ``seed``.
    n_train, n_test: teacher sequences (episodes of ``duration`` s) for training and held-out testing
        (unseen seeds and drives). Drives are drawn uniformly in TRAIN_DRIVE_RANGE; each input channel
        gets Gaussian noise of std ``input_noise``; initial joint angles uniform in +-reset_noise rad.
    n_replays, replay_noise: the target is the teacher's mean over n_replays open-loop replays of a
        sequence with extra input noise of std replay_noise (None: input_noise); 0: the recorded trial.
    warmup: seconds at the start of every sequence left out of the loss and the scores.
    epochs, lr, muscle_weight: full-batch BPTT with Adam. normalize, data_init: see train_student.
    data_sizes: training-set sizes of the data-efficiency curve (those <= n_train). perturb: fractions
        of the plasticity test; finetune_epochs: epochs of fine-tuning on each perturbed teacher
        (None: epochs // 3; 0: zero-shot only). unseen_drives: (forward, backward) drives of the
        zero-shot test (water and agar).
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
    if n_replays < 0 or (replay_noise is not None and replay_noise < 0) or input_noise < 0:
        raise ValueError("n_replays, replay_noise and input_noise must be >= 0")
    if n_replays > 0 and (input_noise if replay_noise is None else replay_noise) == 0:
        raise ValueError("trial means need replay_noise > 0 (identical replays average to the trial); "
                         "or use n_replays=0 for the recorded trial")
    if warmup < 0 or warmup >= duration:
        raise ValueError(f"warmup must lie in [0, duration), got {warmup} s of {duration} s")
    if head_cpg is not None and not head_cpg >= 0:
        raise ValueError(f"head_cpg must be a frequency >= 0 Hz, got {head_cpg}")
    if not all(int(k) >= 1 for k in data_sizes):
        raise ValueError(f"data_sizes must be >= 1 sequences, got {list(data_sizes)}")
    unseen = _parse_drives(unseen_drives)
    if out is None:
        raise ValueError("out (the report directory) is required")
    replay_noise = input_noise if replay_noise is None else float(replay_noise)
    finetune_epochs = epochs // 3 if finetune_epochs is None else int(finetune_epochs)
    wiring_seed = seed if wiring_seed is None else int(wiring_seed)

    torch.set_num_threads(1)
    rng = np.random.default_rng([seed, 7])
    spec, t_params, t_desc = _teacher_spec(teacher_run, teacher_level, dataset, 12)
    if spec.level == "mlp":
        raise ValueError("an mlp teacher has no neurons of the worm to distil; use a conductance, spiking "
                         "or rate teacher")
    env_kw = dict(spec.env_kwargs)
    n_segments = int(env_kw.get("n_segments", 12))
    head = float(env_kw.get("head_cpg", 0.0)) if head_cpg is None else float(head_cpg)
    bodies = Bodies(n_segments, duration, reset_noise, head_cpg=head)
    log = (lambda *a: print("[distill]", *a, flush=True)) if progress else (lambda *a: None)

    try:
        env0 = bodies.get(n_train, "water")
        layout, control_dt = env0.layout, layout_control_dt(env0)
        w = int(round(warmup / control_dt))
        n_steps = int(round(duration / control_dt))
        if n_steps - w < 2:
            raise ValueError(f"{duration} s sequences leave {n_steps - w} steps after the {warmup} s warm-up")
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

        def record(brain_setup, n, drives, seeds, tag, reliability=False):
            d = closed_loop(brain_setup, bodies.get(n, "water"), drives, seeds, input_noise, rng)
            return with_targets(brain_setup, d, n_replays, replay_noise, [seed, 19, tag], reliability)

        # 1. the teacher's data: training and held-out sequences (different seeds and drives)
        log(f"teacher: {t_desc}; recording {n_train} + {n_test} sequences of {duration} s, "
            f"{n_replays} replays each")
        train_seeds = [seed * 100_003 + i for i in range(n_train)]
        test_seeds = [seed * 100_003 + 50_000 + i for i in range(n_test)]
        train = record(teacher, n_train, drives_uniform(n_train), train_seeds, 0)
        test = record(teacher, n_test, drives_uniform(n_test), test_seeds, 1, reliability=n_replays > 0)
        t_record = time.perf_counter() - t_start

        # 2. the student
        log(f"training a {student} student on {wiring} ({epochs} epochs)")
        t0 = time.perf_counter()
        stud = new_student()
        losses = train_student(stud, train, epochs, lr, muscle_weight, seed, normalize, data_init, w)
        t_train = time.perf_counter() - t0
        has_neurons = not stud.brain.outputs_muscles
        heldout, pred = _heldout(stud, new_student(), train, test, w, has_neurons)
        log(f"held-out: neurons pooled {heldout['neuron']['pooled'] if has_neurons else None}, "
            f"muscles pooled {heldout['muscle']['pooled']}")
        const = Setup("constant", ConstantBrain(train["activity"][w:].reshape(-1, train["activity"].shape[-1]).mean(0)),
                      teacher.interface, n_segments, control_dt)

        # 3a. data efficiency
        curve = []
        for k in sorted({int(k) for k in data_sizes if int(k) <= n_train} | {n_train}):
            if k == n_train:
                fk = heldout
            else:
                s = new_student()
                sub = _subset(train, k)
                train_student(s, sub, epochs, lr, muscle_weight, seed, normalize, data_init, w)
                fk = _heldout(s, None, sub, test, w, has_neurons, full=False)[0]
            curve.append({"n_sequences": k, "steps": k * (n_steps - w),
                          **{f"{part}_{q}": (fk[part][q] if fk[part] else None)
                             for part in ("neuron", "muscle") for q in ("median", "pooled")},
                          "ridge_neuron_pooled": fk["ridge"]["neuron_pooled"],
                          "ridge_muscle_pooled": fk["ridge"]["muscle_pooled"]})
            log(f"data efficiency: {curve[-1]}")

        # 3b. zero-shot generalisation: closed loop, water and agar, head oscillator on and off
        controllers = {"teacher": teacher, "student": stud, "untrained": new_student(), "constant": const}
        gen = _generalisation(controllers, bodies, unseen, sorted({head, 0.0}, reverse=True), layout,
                              control_dt, seed, n_replays, replay_noise, w, has_neurons, rng, log)

        # 3c. robustness to plasticity: perturbed teacher, same seeds and drives
        plast = []
        for p in perturb:
            pp = perturb_synapses(spec.level, teacher.brain, t_params, float(p),
                                  np.random.default_rng([seed, 13, int(round(p * 1000))]))
            teacher.brain.set_params(pp)
            tag = 100 + int(round(p * 1000))
            p_test = record(teacher, n_test, test["drives"], test_seeds, tag)
            p_train = record(teacher, n_train, train["drives"], train_seeds, tag + 1) if finetune_epochs else None
            teacher.brain.set_params(t_params)
            ref = (trial_means(teacher, p_test["u"], n_replays, replay_noise, [seed, 23, tag])[0]
                   if n_replays else open_loop(teacher, p_test["u"]))
            row = {"fraction": float(p), "zero_shot": _pair(p_test, open_loop(stud, p_test["u"]), w, has_neurons),
                   "unperturbed_teacher": _pair(p_test, ref, w, has_neurons), "finetuned": None,
                   "finetune_epochs": finetune_epochs}
            if finetune_epochs:
                ft = new_student()
                ft.brain.set_params(stud.brain.get_params())
                ft.v0 = stud.v0
                train_student(ft, p_train, finetune_epochs, lr, muscle_weight, seed, normalize, False, w)
                row["finetuned"] = _pair(p_test, open_loop(ft, p_test["u"]), w, has_neurons)
            plast.append(row)
            log(f"plasticity {p}: {row}")

        # 3d. decoding what the inputs do not contain (bending rate, head velocity)
        decoding = _decoding(controllers, train, test, w)

        names = list(s_circuit.names)
        metrics = {
            "teacher": {"description": t_desc, "level": spec.level, "wiring": spec.wiring,
                        "run": str(teacher_run) if teacher_run is not None else None, "head_cpg": head,
                        "failed_sequences": int(train["failed"].sum() + test["failed"].sum())},
            "student": {"level": student, "wiring": wiring, "wiring_seed": wiring_seed,
                        "n_params": int(stud.brain.n_params)},
            "data": {"n_train": n_train, "n_test": n_test, "duration_s": duration,
                     "steps_per_sequence": n_steps, "warmup_s": warmup, "warmup_steps": w,
                     "control_dt": control_dt, "n_inputs": int(train["u"].shape[2]),
                     "n_neurons": int(train["activity"].shape[2]), "n_muscles": int(train["muscles"].shape[2]),
                     "input_noise": input_noise, "reset_noise_rad": reset_noise,
                     "target": ("trial mean" if n_replays else "single trial"), "n_replays": n_replays,
                     "replay_noise": replay_noise if n_replays else None, "drive_range": TRAIN_DRIVE_RANGE,
                     "train_drives": train["drives"].tolist(), "test_drives": test["drives"].tolist()},
            "training": {"epochs": epochs, "lr": lr, "muscle_weight": muscle_weight,
                         "normalized_loss": normalize, "data_init": data_init,
                         "loss_first": losses[0], "loss_last": losses[-1], "losses": losses,
                         "wall_time_s": round(t_train, 2)},
            "heldout": _jsonable(heldout, names),
            "data_efficiency": curve,
            "generalisation": gen,
            "plasticity": plast,
            "decoding": decoding,
            "seed": seed,
            "wall_time_s": {"record_teacher": round(t_record, 1),
                            "total": round(time.perf_counter() - t_start, 1)},
        }
        _write_outputs(Path(out), metrics, train, test, pred, heldout, names, command, losses)
        return metrics
    finally:
        bodies.close()


def _pair(target: dict, pred: dict, w: int, has_neurons: bool) -> dict:
    """Pooled and median R^2 of pred's neurons and muscles against target's (activity, muscles)."""
    n = _fit(target["activity"], pred["activity"], w) if has_neurons else None
    m = _fit(target["muscles"], pred["muscles"], w)
    return {"neuron_pooled": n["pooled"] if n else None, "neuron_median": n["median"] if n else None,
            "muscle_pooled": m["pooled"], "muscle_median": m["median"]}


def _heldout(stud: Setup, untrained: Setup | None, train: dict, test: dict, w: int, has_neurons: bool,
             full: bool = True) -> tuple[dict, dict]:
    """The student's held-out scores with their ceilings and baselines; and its prediction."""
    pred = open_loop(stud, test["u"])
    lags = w
    x_tr, x_te = _lagged(train["u"], lags), _lagged(test["u"], lags)
    ridge = {}
    for part in ("activity", "muscles"):
        if part == "activity" and not has_neurons:
            ridge["neuron_pooled"] = ridge["neuron_median"] = None
            continue
        predict, alpha = ridge_cv(x_tr, train[part], w)
        f = _fit(test[part], predict(x_te), w)
        key = "neuron" if part == "activity" else "muscle"
        ridge.update({f"{key}_pooled": f["pooled"], f"{key}_median": f["median"], f"{key}_alpha": alpha})
    ridge["history_steps"] = lags + 1
    out = {"neuron": _fit(test["activity"], pred["activity"], w) if has_neurons else None,
           "muscle": _fit(test["muscles"], pred["muscles"], w), "ridge": ridge}
    if not full:
        return out, pred
    if "activity2" in test:
        rel_n = _fit(test["activity"], test["activity2"], w)
        rel_m = _fit(test["muscles"], test["muscles2"], w)
        out["reliability"] = {"neuron": rel_n, "muscle": rel_m}
        if has_neurons:
            good = np.isfinite(rel_n["per_unit"]) & (rel_n["per_unit"] >= RELIABLE)
            r = out["neuron"]["per_unit"][good]
            out["reliable_neurons"] = {"n": int(good.sum()), "threshold": RELIABLE,
                                       "student_median": float(np.nanmedian(r)) if good.any() else None,
                                       "reliability_median": float(np.median(rel_n["per_unit"][good]))
                                       if good.any() else None}
    else:
        out["reliability"] = None
    fit_tr = open_loop(stud, train["u"])
    out["train_fit"] = _pair(train, fit_tr, w, has_neurons)
    trial = {"activity": test["trial_activity"], "muscles": test["trial_muscles"]}
    out["single_trial"] = {"student": _pair(trial, pred, w, has_neurons),
                           "ceiling": _pair(trial, test, w, has_neurons)}
    base = {}
    if untrained is not None:
        base["untrained"] = _pair(test, open_loop(untrained, test["u"]), w, has_neurons)
    mean_a = train["activity"][w:].reshape(-1, train["activity"].shape[-1]).mean(0)
    mean_m = train["muscles"][w:].reshape(-1, train["muscles"].shape[-1]).mean(0)
    base["constant"] = _pair(test, {"activity": np.broadcast_to(mean_a, test["activity"].shape),
                                    "muscles": np.broadcast_to(mean_m, test["muscles"].shape)}, w, has_neurons)
    out["baselines"] = base
    return out, pred


def _generalisation(controllers: dict, bodies: Bodies, unseen, heads, layout, control_dt, seed,
                    n_replays, replay_noise, w, has_neurons, rng, log) -> list[dict]:
    """Closed-loop gait of every controller in water (unseen drives) and agar (the training drive
    (1, 0) and the unseen ones), for every head-oscillator setting; plus the student's open-loop
    R^2 against the teacher's trial mean on the teacher's inputs in each condition."""
    rows = []
    teacher, stud = controllers["teacher"], controllers["student"]
    for head in heads:
        for medium in ("water", "agar"):
            drives = np.array(([(1.0, 0.0)] if medium == "agar" else []) + list(unseen), np.float32)
            if not len(drives):
                continue
            seeds = [seed * 100_003 + 90_000 + i for i in range(len(drives))]
            env = bodies.get(len(drives), medium, head)
            runs = {name: closed_loop(c, env, drives, seeds, 0.0, rng) for name, c in controllers.items()}
            waves = {name: gait(r["curvature"], control_dt, layout.joint_positions) for name, r in runs.items()}
            tch = runs["teacher"]
            ref = (trial_means(teacher, tch["u"], n_replays, replay_noise, [seed, 29, int(head * 100)])[0]
                   if n_replays else tch)
            po = open_loop(stud, tch["u"])
            for i, d in enumerate(drives):
                sl = slice(i, i + 1)
                row = {"medium": medium, "head_cpg": float(head), "drive_forward": float(d[0]),
                       "drive_backward": float(d[1]), "seen_drive_range": _in_range(d),
                       "seen_medium": medium == "water",
                       "open_loop_neuron_r2": (_fit(ref["activity"][:, sl], po["activity"][:, sl], w)["pooled"]
                                               if has_neurons else None),
                       "open_loop_muscle_r2": _fit(ref["muscles"][:, sl], po["muscles"][:, sl], w)["pooled"]}
                for name in controllers:
                    row[name] = {"speed": _f(runs[name]["speed"][i]), "failed": bool(runs[name]["failed"][i]),
                                 **{k: _f(v[i]) for k, v in waves[name].items()}}
                rows.append(row)
            log(f"generalisation {medium}, head oscillator {head:g} Hz: done")
    return rows


def _decoding(controllers: dict, train: dict, test: dict, w: int) -> dict:
    """Ridge decoding of the head's forward velocity after each step (not among the inputs, which
    carry joint angles and drives) from the last ``w + 1`` input steps alone, from those plus a
    source's activity ("with_inputs"; gain = its R^2 minus the inputs' alone), and from the activity
    alone. The teacher's activity is its trial mean (the student's target); the other sources run
    open loop on the teacher's recorded inputs. "transfer": a decoder fitted on the teacher's
    training activity (in its own units, so that near-flat neurons get little weight) applied to each
    source's held-out activity: does the source's activity support the teacher's decoder?"""
    lags = max(w, 1)
    x_tr, x_te = _lagged(train["u"], lags), _lagged(test["u"], lags)
    acts = {}
    for name, c in controllers.items():
        acts[name] = ((train["activity"], test["activity"]) if name == "teacher" else
                      (open_loop(c, train["u"])["activity"], open_loop(c, test["u"])["activity"]))
    y_tr, y_te = train["head_velocity"][..., :1], test["head_velocity"][..., :1]
    score = lambda predict, x: _pooled_r2(y_te[w:], predict(x)[w:])  # noqa: E731
    base = score(ridge_cv(x_tr, y_tr, w)[0], x_te)
    teacher_dec = ridge_cv(acts["teacher"][0], y_tr, w, standardize=False)[0]
    sources = {}
    for name, (a_tr, a_te) in acts.items():
        both = score(ridge_cv(np.concatenate([x_tr, a_tr], -1), y_tr, w)[0], np.concatenate([x_te, a_te], -1))
        sources[name] = {"with_inputs": both, "alone": score(ridge_cv(a_tr, y_tr, w)[0], a_te),
                         "gain": None if both is None or base is None else both - base,
                         "transfer": (score(teacher_dec, a_te) if a_te.shape[-1] == acts["teacher"][1].shape[-1]
                                      else None)}
    return {"target": "head forward velocity (BL/s)", "history_steps": lags + 1, "inputs_only": base,
            "sources": sources}


def _f(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _jsonable(h: dict, names: list[str]) -> dict:
    """heldout with the per-unit arrays turned into named lists."""
    def fit(f, unit_names=None):
        if f is None:
            return None
        d = {k: v for k, v in f.items() if k != "per_unit"}
        vals = [_f(v) for v in f["per_unit"]]
        d["per_unit"] = dict(zip(unit_names, vals)) if unit_names else vals
        return d
    out = dict(h)
    out["neuron"] = fit(h["neuron"], names)
    out["muscle"] = fit(h["muscle"])
    if h.get("reliability"):
        out["reliability"] = {"neuron": fit(h["reliability"]["neuron"], names),
                              "muscle": fit(h["reliability"]["muscle"])}
    return out


# ---- outputs -------------------------------------------------------------------------------------
def _save_fig(fig, path: Path) -> None:
    from wormsim.viz.plots import save_figure
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def _fmt(x, nd=3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


CONTROLLERS = ("teacher", "student", "untrained", "constant")
GAIT_KEYS = ("speed", "freq", "phase_lag", "amp")


def _write_outputs(out: Path, m: dict, train, test, pred, heldout, names, command, losses) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from wormsim.runs import atomic_write_bytes, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"{split}_{k}": d[k] for split, d in (("train", train), ("test", test))
                                for k in ("u", "activity", "muscles", "trial_activity", "trial_muscles",
                                          "curvature", "bend_rate", "head_velocity", "drives", "seeds")},
                        test_student_activity=pred["activity"], test_student_muscles=pred["muscles"],
                        neuron_names=np.array(names), warmup_steps=m["data"]["warmup_steps"])
    atomic_write_bytes(out / "dataset.npz", buf.getvalue())
    atomic_write_text(out / "metrics.json", json.dumps(m, indent=2))
    w = m["data"]["warmup_steps"]
    figs = []
    if heldout["neuron"] is not None:
        r2 = heldout["neuron"]["per_unit"]
        fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.16), 3.2))
        x = np.arange(len(names))
        colors = ["tab:blue" if np.isfinite(v) else "lightgrey" for v in r2]
        ax.bar(x, np.clip(np.nan_to_num(r2, nan=0.0), -1, 1), color=colors)
        if heldout.get("reliability"):
            from matplotlib.patches import Patch
            rel = heldout["reliability"]["neuron"]["per_unit"]
            line, = ax.plot(x, np.clip(rel, -1, 1), "k_", ms=6)
            ax.legend([Patch(color="tab:blue"), line], ["student", "target reliability"], fontsize=7,
                      loc="lower right")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=90, fontsize=5)
        ax.set_ylim(-1, 1)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel("held-out R$^2$ (clipped at -1)")
        ax.set_title(f"{m['student']['level']} student of the {m['teacher']['level']} teacher: R$^2$ per neuron "
                     "(grey: flat target)")
        _save_fig(fig, out / "r2_per_neuron.png")
        figs.append("r2_per_neuron.png")

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    c = m["data_efficiency"]
    xs = [r["n_sequences"] for r in c]
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    if heldout["neuron"] is not None:
        ax.plot(xs, [nan(r["neuron_pooled"]) for r in c], "o-", label="student, neurons")
        ax.plot(xs, [nan(r["ridge_neuron_pooled"]) for r in c], "o:", color="tab:blue", alpha=0.6,
                label="ridge, neurons")
    ax.plot(xs, [nan(r["muscle_pooled"]) for r in c], "s--", color="tab:orange", label="student, muscles")
    ax.plot(xs, [nan(r["ridge_muscle_pooled"]) for r in c], "s:", color="tab:orange", alpha=0.6,
            label="ridge, muscles")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"teacher sequences ({m['data']['duration_s']} s each)")
    ax.set_ylabel("held-out pooled R$^2$")
    ax.legend(fontsize=7)
    ax.set_title("data efficiency")
    _save_fig(fig, out / "data_efficiency.png")
    figs.append("data_efficiency.png")

    g = m["generalisation"]
    if g:
        keys = (("speed", "speed (BL/s)"), ("freq", "frequency (Hz)"), ("phase_lag", "phase lag (cycles/BL)"),
                ("amp", "amplitude (rad/BL)"))
        fig, axes = plt.subplots(len(keys), 1, figsize=(max(8, len(g) * 0.9), 2.2 * len(keys)), sharex=True)
        x = np.arange(len(g))
        for ax, (key, unit) in zip(axes, keys):
            for j, name in enumerate(CONTROLLERS):
                ax.bar(x + (j - 1.5) * 0.2, [nan(r[name][key]) for r in g], 0.2, label=name)
            ax.set_ylabel(unit, fontsize=8)
        axes[0].legend(fontsize=7, ncol=4)
        axes[-1].set_xticks(x)
        axes[-1].set_xticklabels([f"{r['medium']} ({r['drive_forward']:g},{r['drive_backward']:g})\n"
                                  f"head {r['head_cpg']:g} Hz" for r in g], fontsize=6)
        fig.suptitle("zero-shot gait, closed loop (medium, drive forward/backward, head oscillator)")
        _save_fig(fig, out / "gait_comparison.png")
        figs.append("gait_comparison.png")

    if heldout["neuron"] is not None:
        order = np.argsort(-np.nan_to_num(test["activity"][w:].std((0, 1))))[:6]
        fig, axes = plt.subplots(len(order), 1, figsize=(7, 1.2 * len(order)), sharex=True)
        tt = np.arange(test["activity"].shape[0]) * m["data"]["control_dt"]
        for ax, i in zip(np.atleast_1d(axes), order):
            ax.plot(tt, test["trial_activity"][:, 0, i], color="0.7", lw=0.8, label="teacher, one trial")
            ax.plot(tt, test["activity"][:, 0, i], "k", lw=1, label="target")
            ax.plot(tt, pred["activity"][:, 0, i], "r--", lw=1, label="student")
            ax.axvspan(0, w * m["data"]["control_dt"], color="0.9", lw=0)
            ax.set_ylabel(names[i], fontsize=7)
        np.atleast_1d(axes)[0].legend(fontsize=6, loc="upper right", ncol=3)
        np.atleast_1d(axes)[-1].set_xlabel("time (s), held-out sequence 0 (shaded: warm-up, not scored)")
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
    neurons = h["neuron"] is not None
    target = (f"the teacher's trial mean (mean of {d['n_replays']} open-loop replays of each sequence on "
              f"its own inputs plus noise of std {d['replay_noise']:g})" if d["n_replays"]
              else "the teacher's recorded single trial")
    L = [f"# Functional distillation: {m['student']['level']} student ({m['student']['wiring']}) "
         f"of a {m['teacher']['level']} teacher", ""]
    L += ["Command:", "", "```", command or "(called from Python: wormsim.distill.distill)", "```", ""]
    L += [f"Teacher: {m['teacher']['description']}, head oscillator {m['teacher']['head_cpg']:g} Hz. "
          f"Student: {m['student']['level']} on the {m['student']['wiring']} wiring, "
          f"{m['student']['n_params']} parameters, trained by BPTT (Adam, lr {tr['lr']}, {tr['epochs']} "
          f"full-batch epochs, {tr['wall_time_s']} s) to reproduce {target} from the teacher's input "
          "channels (teacher forcing on inputs, free-running state).", "",
          f"Data: {d['n_train']} training and {d['n_test']} held-out closed-loop sequences of "
          f"{d['duration_s']} s ({d['steps_per_sequence']} steps of {d['control_dt']} s), "
          f"{d['n_inputs']} input channels, {d['n_neurons']} neurons, {d['n_muscles']} muscles; drives "
          f"forward U{tuple(d['drive_range'][0])}, backward U{tuple(d['drive_range'][1])}, input noise "
          f"std {d['input_noise']}, initial joint angles +-{d['reset_noise_rad']} rad; held-out "
          f"sequences have unseen seeds and drives. The first {d['warmup_s']:g} s ({d['warmup_steps']} "
          "steps) of every sequence, the teacher's start from rest, are left out of the loss and of "
          "every score below.", ""]
    L += ["## Held-out fit", "", "R^2 against the target on held-out sequences; pooled = all units at "
          "once (variance-weighted); median over the units whose target varies (std >= "
          f"{MIN_STD:g}).", "", "| model | neurons pooled | neurons median | muscles pooled | muscles median |",
          "|---|---|---|---|---|"]

    def row(label, pair):
        return (f"| {label} | {_fmt(pair.get('neuron_pooled'))} | {_fmt(pair.get('neuron_median'))} | "
                f"{_fmt(pair.get('muscle_pooled'))} | {_fmt(pair.get('muscle_median'))} |")
    stu = {"neuron_pooled": h["neuron"]["pooled"] if neurons else None,
           "neuron_median": h["neuron"]["median"] if neurons else None,
           "muscle_pooled": h["muscle"]["pooled"], "muscle_median": h["muscle"]["median"]}
    L.append(row("trained student", stu))
    L.append(row("trained student, on its training data", h["train_fit"]))
    if "untrained" in h["baselines"]:
        L.append(row("untrained student", h["baselines"]["untrained"]))
    L.append(row("constant (training mean)", h["baselines"]["constant"]))
    rg = h["ridge"]
    L.append(row(f"ridge on the last {rg['history_steps']} input steps", rg))
    if h.get("reliability"):
        rel = h["reliability"]
        r_ = {"neuron_pooled": rel["neuron"]["pooled"], "neuron_median": rel["neuron"]["median"],
              "muscle_pooled": rel["muscle"]["pooled"], "muscle_median": rel["muscle"]["median"]}
        L.append(row("target reliability r (R^2 of a second, independent trial mean)", r_))
        L.append(row("ceiling (1 + r) / 2: a perfect model of the trial average", _ceiling(r_)))
    st = h["single_trial"]
    L.append(row("student vs the single recorded trial", st["student"]))
    if d["n_replays"]:
        L.append(row("ceiling: the trial mean vs the single trial", st["ceiling"]))
    if neurons:
        L += ["", f"Scored neurons: {h['neuron']['n_scored']} ({h['neuron']['n_flat']} with a flat target)."]
        if h.get("reliable_neurons"):
            rn = h["reliable_neurons"]
            L.append(f"Reliable neurons (target reliability >= {rn['threshold']:g}): {rn['n']}; the student's "
                     f"median R^2 on them {_fmt(rn['student_median'])} (their median reliability "
                     f"{_fmt(rn['reliability_median'])}).")
    L += ["", f"Training loss {tr['loss_first']:.4g} -> {tr['loss_last']:.4g}.", ""]
    L += ["## Data efficiency", "", "| teacher sequences | scored steps | student neurons pooled | student "
          "neurons median | student muscles pooled | ridge neurons pooled | ridge muscles pooled |",
          "|---|---|---|---|---|---|---|"]
    for r in m["data_efficiency"]:
        L.append(f"| {r['n_sequences']} | {r['steps']} | {_fmt(r['neuron_pooled'])} | {_fmt(r['neuron_median'])} | "
                 f"{_fmt(r['muscle_pooled'])} | {_fmt(r['ridge_neuron_pooled'])} | {_fmt(r['ridge_muscle_pooled'])} |")
    L += ["", "## Zero-shot gait (closed loop, no input noise)", "",
          "Each cell: teacher / trained student / untrained student / constant-mean student. Speed: "
          "forward speed of the centre of mass; frequency: FFT peak of the mid-body curvature; phase "
          "lag: cycles of the wave per body length from the joints' phases at that frequency (positive: "
          "travelling head to tail, 0: a standing wave; wave speed = frequency / phase lag is in "
          "metrics.json); amplitude: median over joints; all after the first quarter of the episode "
          "(n/a: no undulation). Open-loop R^2: "
          "the student on the teacher's own inputs in that condition, against the teacher's trial mean "
          "(pooled).", "",
          "| head osc. | medium | drive (f, b) | drive in training range | speed (BL/s) | frequency (Hz) | "
          "phase lag (cycles/BL) | amplitude (rad/BL) | open-loop R^2 neurons / muscles |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in m["generalisation"]:
        cells = [" / ".join(_fmt(r[c][k], 2 if k == "freq" else 3) for c in CONTROLLERS)
                 for k in GAIT_KEYS]
        L.append(f"| {r['head_cpg']:g} Hz | {r['medium']} | ({r['drive_forward']:g}, {r['drive_backward']:g}) | "
                 f"{'yes' if r['seen_drive_range'] else 'no'} | " + " | ".join(cells) +
                 f" | {_fmt(r['open_loop_neuron_r2'])} / {_fmt(r['open_loop_muscle_r2'])} |")
    L += ["", "Mean absolute difference from the teacher over the conditions above:", "",
          "| head osc. | controller | speed (BL/s) | frequency (Hz) | phase lag (cycles/BL) | amplitude (rad/BL) |",
          "|---|---|---|---|---|---|"]
    for head, ctrl, diffs in _gait_errors(m["generalisation"]):
        L.append(f"| {head:g} Hz | {ctrl} | " + " | ".join(_fmt(diffs[k], 2 if k == "freq" else 3)
                                                         for k in GAIT_KEYS) + " |")
    L += ["", "## Robustness to plasticity", "",
          "Teacher synaptic conductances (chemical and gap) scaled by independent factors uniform in "
          "[1-p, 1+p]; held-out seeds and drives; pooled R^2 against the perturbed teacher's target. "
          "Zero-shot: the student trained on the unperturbed teacher, not retrained. Fine-tuned: that "
          "student trained further on the perturbed teacher's own training sequences. Unperturbed "
          "teacher: the original teacher used as a model of the perturbed one.", "",
          "| p | zero-shot neurons / muscles | fine-tuned neurons / muscles | unperturbed teacher neurons / muscles |",
          "|---|---|---|---|"]
    for r in m["plasticity"]:
        cells = [("n/a" if r[k] is None else f"{_fmt(r[k]['neuron_pooled'])} / {_fmt(r[k]['muscle_pooled'])}")
                 for k in ("zero_shot", "finetuned", "unperturbed_teacher")]
        L.append(f"| {r['fraction']:g} | " + " | ".join(cells) + " |")
    dc = m["decoding"]
    L += ["", f"## Decoding the {dc['target']} (ridge, fit on training, scored on held-out; R^2)", "",
          f"Features: the last {dc['history_steps']} steps of the input channels (joint angles and drives, "
          f"not velocities: alone they give R^2 {_fmt(dc['inputs_only'])}), with or without a source's activity "
          "at the step; the teacher's activity is its trial mean, the student and the baselines run open loop "
          "on the teacher's recorded inputs. Gain: R^2 with the activity minus R^2 of the inputs alone. "
          "Transfer: a decoder fitted on the teacher's activity alone, applied to the source's activity.", "",
          "| source | inputs + activity | gain over inputs | activity alone | transfer of the teacher's decoder |",
          "|---|---|---|---|---|"]
    for sname, s_ in dc["sources"].items():
        L.append(f"| {sname} | {_fmt(s_['with_inputs'])} | {_fmt(s_['gain'])} | {_fmt(s_['alone'])} | "
                 f"{_fmt(s_['transfer'])} |")
    L += ["", "## Findings", ""] + _findings(m) + [""]
    L += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    return "\n".join(L)


def _transfers(src: dict) -> bool:
    """Whether the teacher's decoder scores at least half as well on the student's activity as on the
    teacher's own held-out activity."""
    t, st = src["teacher"]["transfer"], src.get("student", {}).get("transfer")
    return t is not None and st is not None and t > 0 and st >= 0.5 * t


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _span(values) -> str:
    """'a-b' (or 'a', or 'n/a') of the finite values."""
    values = list(values)
    v = [x for x in values if x is not None]
    if not v:
        return "n/a"
    lo, hi = min(v), max(v)
    text = f"{lo:.2f}" if abs(hi - lo) < 5e-3 else f"{lo:.2f} to {hi:.2f}"
    return text + (f" (n/a in {len(values) - len(v)} of {len(values)})" if len(v) < len(values) else "")


def _ceiling(rel: dict) -> dict:
    """The expected R^2 of a perfect model of the infinite-replay average against a target of n
    replays whose reliability (R^2 between two such targets) is r: (1 + r) / 2 (the target's
    replay noise counts once against the model, twice between two targets)."""
    return {k: None if v is None else (1 + v) / 2 for k, v in rel.items()}


def _gait_errors(gen: list[dict]):
    """(head, controller, mean |x - teacher's x| per gait quantity) over the conditions; a quantity
    that is n/a for one of the two (no undulation) is left out of that mean."""
    out = []
    for head in sorted({r["head_cpg"] for r in gen}, reverse=True):
        rows = [r for r in gen if r["head_cpg"] == head]
        for ctrl in CONTROLLERS[1:]:
            diffs = {}
            for k in GAIT_KEYS:
                v = [abs(r[ctrl][k] - r["teacher"][k]) for r in rows
                     if r[ctrl][k] is not None and r["teacher"][k] is not None]
                diffs[k] = float(np.mean(v)) if v else None
            out.append((head, ctrl, diffs))
    return out


def _findings(m: dict) -> list[str]:
    out = []
    h, d = m["heldout"], m["data"]
    what = "trial-averaged activity" if d["n_replays"] else "recorded activity"
    rel = h.get("reliability")
    if h["neuron"] is not None and h["neuron"]["pooled"] is not None:
        n = h["neuron"]
        sent = (f"- On held-out seeds and drives the student explains {100 * max(n['pooled'], 0):.0f}% of the "
                f"variance of the teacher's {what} (pooled R^2 {n['pooled']:.2f})")
        if rel and rel["neuron"]["pooled"] is not None:
            sent += (f"; a perfect model of the trial average would score about "
                     f"{(1 + rel['neuron']['pooled']) / 2:.2f} against this {d['n_replays']}-replay target")
        rg = h["ridge"]["neuron_pooled"]
        if rg is not None:
            sent += (f"; ridge regression on the input history reaches {rg:.2f}, so the student is "
                     + ("above" if n["pooled"] > rg + 0.02 else "below" if n["pooled"] < rg - 0.02 else "level with")
                     + " that linear benchmark")
        out.append(sent + ".")
        sent = f"- The median R^2 over the {n['n_scored']} neurons whose target varies is {n['median']:.2f}"
        if h.get("reliable_neurons"):
            rn = h["reliable_neurons"]
            sent += (f"; {rn['n']} of them have a reproducible target (reliability >= {rn['threshold']:g})"
                     + (f", and on those the student's median R^2 is {rn['student_median']:.2f}" if rn["n"] else ""))
        out.append(sent + ".")
        tf = h["train_fit"]["neuron_pooled"]
        if tf is not None:
            gap = tf - n["pooled"]
            out.append(f"- On its own training data it reaches pooled R^2 {tf:.2f}: "
                       + ("what it misses held-out it also misses in training (a limit of fitting, not "
                          "overfitting)." if gap < 0.05 else f"a generalisation gap of {gap:.2f}."))
        st = h["single_trial"]
        if d["n_replays"] and st["ceiling"]["neuron_pooled"] is not None:
            out.append(f"- Against the single recorded trial the student reaches pooled R^2 "
                       f"{_fmt(st['student']['neuron_pooled'], 2)}; the trial mean itself, about the best any "
                       f"model of the inputs can do there, reaches {_fmt(st['ceiling']['neuron_pooled'], 2)} "
                       f"(median over neurons {_fmt(st['ceiling']['neuron_median'], 2)}).")
    mu = h["muscle"]
    if mu["pooled"] is not None:
        out.append(f"- Muscles: pooled R^2 {mu['pooled']:.2f} (median {_fmt(mu['median'], 2)}; ridge "
                   f"{_fmt(h['ridge']['muscle_pooled'], 2)}).")
    c = [r for r in m["data_efficiency"] if r["neuron_pooled" if h["neuron"] else "muscle_pooled"] is not None]
    if len(c) > 1:
        k = "neuron_pooled" if h["neuron"] else "muscle_pooled"
        out.append(f"- Data efficiency: pooled R^2 goes from {c[0][k]:.2f} with {c[0]['n_sequences']} "
                   f"sequence(s) to {c[-1][k]:.2f} with {c[-1]['n_sequences']} (ridge: "
                   f"{_fmt(c[0]['ridge_' + k], 2)} to {_fmt(c[-1]['ridge_' + k], 2)}).")
    errs = _gait_errors(m["generalisation"])
    for head in sorted({e[0] for e in errs}, reverse=True):
        by = {ctrl: diffs for hh, ctrl, diffs in errs if hh == head}
        names = {"speed": "speed", "freq": "frequency", "phase_lag": "phase lag", "amp": "amplitude"}
        closer = [names[k] for k in GAIT_KEYS if by["student"][k] is not None
                  and all(by[c][k] is None or by["student"][k] < by[c][k] for c in ("untrained", "constant"))]
        rest = [names[k] for k in GAIT_KEYS if by["student"][k] is not None and names[k] not in closer]
        out.append(f"- Closed loop, head oscillator {'off' if head == 0 else f'at {head:g} Hz'}: the trained "
                   "student is closer to the teacher than both the untrained and the constant-mean student in "
                   + (_and(closer) if closer else "none of the gait measures")
                   + (f", not in {_and(rest)}" if rest and closer else "")
                   + " (mean absolute differences in the table above).")
    gen, head0 = m["generalisation"], m["teacher"]["head_cpg"]
    rng_ = lambda rows, c, k: _span([r[c][k] for r in rows])  # noqa: E731
    off = [r for r in gen if r["head_cpg"] == 0]
    if off and head0 > 0:
        on = [r for r in gen if r["head_cpg"] == head0]
        out.append(f"- Head oscillator off, the circuit must make the rhythm: the teacher's amplitude is "
                   f"{rng_(off, 'teacher', 'amp')} rad/BL (with the oscillator {rng_(on, 'teacher', 'amp')}), "
                   f"its frequency {rng_(off, 'teacher', 'freq')} Hz, its speed {rng_(off, 'teacher', 'speed')} "
                   f"BL/s; the student's amplitude is {rng_(off, 'student', 'amp')} rad/BL at "
                   f"{rng_(off, 'student', 'freq')} Hz.")
    agar = [r for r in gen if r["medium"] == "agar" and r["head_cpg"] == head0]
    if agar:
        inside = [r for r in agar if r["seen_drive_range"]]
        part = "neurons" if h["neuron"] else "muscles"
        out.append(f"- Agar is a medium the student never saw (it was trained on water); {len(inside)} of the "
                   f"{len(agar)} drives tried there {'lies' if len(inside) == 1 else 'lie'} inside the training "
                   "drive range. Open-loop pooled R^2 "
                   f"of the {part} in agar: " + ", ".join(
                       f"{_fmt(r['open_loop_neuron_r2'] if h['neuron'] else r['open_loop_muscle_r2'], 2)} at "
                       f"({r['drive_forward']:g}, {r['drive_backward']:g})" for r in agar)
                   + (f"; in water at unseen drives: " + ", ".join(
                       f"{_fmt(r['open_loop_neuron_r2'] if h['neuron'] else r['open_loop_muscle_r2'], 2)} at "
                       f"({r['drive_forward']:g}, {r['drive_backward']:g})"
                       for r in gen if r["medium"] == "water" and r["head_cpg"] == head0)) + ".")
    key = "neuron_pooled" if h["neuron"] else "muscle_pooled"
    for r in m["plasticity"]:
        zs, ref, ft = r["zero_shot"][key], r["unperturbed_teacher"][key], (r["finetuned"] or {}).get(key)
        if zs is None:
            continue
        sent = (f"- Teacher synapses perturbed by up to {100 * r['fraction']:.0f}%: the student, not retrained, "
                f"scores pooled R^2 {zs:.2f} against the perturbed teacher (against the unperturbed one: "
                f"{_fmt(h['neuron' if h['neuron'] else 'muscle']['pooled'], 2)}; the unperturbed teacher as a model "
                f"of the perturbed one: {_fmt(ref, 2)})")
        if ft is not None:
            sent += f"; fine-tuned for {r['finetune_epochs']} epochs on the perturbed teacher it scores {ft:.2f}"
        out.append(sent + ".")
    dc = m["decoding"]
    src = dc["sources"]
    out.append(f"- Decoding the {dc['target']}: the input history alone gives R^2 {_fmt(dc['inputs_only'], 2)}; "
               "adding activity gains " + ", ".join(f"{_fmt(v['gain'], 2)} ({k})" for k, v in src.items())
               + "; the teacher's decoder applied to the activity scores "
               + ", ".join(f"{_fmt(v['transfer'], 2)} ({k})" for k, v in src.items() if k != "teacher")
               + f" (on the teacher's own held-out activity: {_fmt(src['teacher']['transfer'], 2)}).")
    g_s, g_u = (src.get(k, {}).get("gain") for k in ("student", "untrained"))
    if g_s is not None and g_u is not None and g_s > 0.05:
        out.append("- " + ("The untrained student's activity gains about as much as the trained one's, so that gain "
                           "measures a nonlinear expansion of the input history, not the teacher's computation; "
                           if g_u >= 0.8 * g_s else "The trained student's activity gains clearly more than the "
                           "untrained one's; ")
                   + ("the teacher's decoder transfers to the student's activity."
                      if _transfers(src) else "the teacher's own decoder does not transfer to the student's "
                      "activity (it scores below half of what it scores on the teacher's)."))
    if m["teacher"]["failed_sequences"]:
        out.append(f"- Warning: {m['teacher']['failed_sequences']} teacher sequences failed numerically.")
    return out


__all__ = ["STUDENT_LEVELS", "ConstantBrain", "closed_loop", "distill", "gait", "open_loop",
           "perturb_synapses", "r2_per_unit", "ridge_cv", "train_student", "trial_means", "with_targets"]
