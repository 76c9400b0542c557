"""Reservoir mode: the circuit as a fixed echo-state network, only a linear readout is fitted
(the use of the connectome in Elegans-AI and bio2art).

    from wormsim.reservoir import fit_readout, memory_capacity_curve
    out = fit_readout("rate", "connectome", "memory", seed=0, n_train=64, n_test=32)
    out["score"]                       # held-out recall max(0, R^2), as the env scores it
    lags, r2 = memory_capacity_curve("rate", "connectome", seed=0, max_lag=10)   # MC = r2.sum()

The fixed circuit (``build_reservoir``)
---------------------------------------
Neurons, signs, time constants and biases are the level's defaults; nothing is trained.

- rate, spiking: the chemical edge magnitudes start where the level puts them (log1p of the synapse
  count, degree-normalised, i.e. derived from the connectome or the null wiring's counts) and are then
  multiplied by one factor so that the spectral radius (largest |eigenvalue|) of the effective signed
  chemical weight matrix ``brain.chem_matrix()`` equals ``spectral_radius`` (default 0.9). Gap
  junctions stay at the level's default. (For the rate level the sigmoid's slope is at most 1/4, so
  the linearised recurrent gain is spectral_radius / 4 before the leak: an echo-state regime.) A
  wiring whose chemical matrix is nilpotent (spectral radius 0, e.g. an acyclic graph) cannot be
  scaled and keeps the level's default magnitudes (``info["spectral_radius_before"]`` is 0).
- conductance: its knob is ``conductance_scale`` (default 1), not the spectral radius. Every chemical
  and gap conductance is the level's default times that factor: g = conductance_scale *
  init_g_chem * g_syn * synapse count (c302-style, derived from the connectome; init_g_chem is 0.1,
  so at 1 each synapse carries a tenth of the literature's 0.1 nS and the untrained circuit rests in
  its graded regime, see realism_levels/conductance.py), gap junctions likewise with init_g_gap and
  g_gap. The network is nonlinear in physical units and has no single weight matrix to take a
  spectral radius of, so ``spectral_radius`` is ignored for it and reported as None; the result
  reports ``conductance_scale`` instead (None for the other levels, which reject a value other
  than 1).
- mlp: the mlp has no connectome: the reservoir is its untrained random GRU (weights from its
  ``init_seed``), whose hidden state h (in (-1, 1)) is the activity the readout reads.
- input gains: the interface's prior (``io.input_init``: +1 on every mask entry, -1 for
  proprioception into ventral cells) times ``input_scale``, or (``input_weights="random"``)
  echo-state-style random gains uniform in [-1, 1] on the same mask entries, drawn from the seed, times
  ``input_scale``. Note that with the prior every task input channel reaches every command
  interneuron with the same gain +1, so a multi-channel input (the 64 digit pixels) reaches the
  circuit only as its sum; random gains keep the pattern.

Non-motor tasks (memory, memory-capacity, digits)
-------------------------------------------------
The reservoir runs open loop on ``n_train`` episodes of the task's vector env. The action sent to
the env is a constant 0.5 on every muscle: these envs have no body, their observations and targets do
not depend on the actions, so the recorded activity is the same whatever is sent (the readout
replaces the muscle decoder). Activity after seeing observation t is paired with the target of step
t (info["target"] where info["scored"] for memory and memory-capacity; the label on info["respond"]
steps for digits). A ridge regression (closed form on z-scored features, those that barely moved in
training dropped, intercept unpenalised,
regulariser ``ridge_alpha``) maps activity (N,) to the target (digits: the one-hot class, predicted class =
argmax). Scores on ``n_test`` held-out episodes with other env seeds (digits: ``split="test"``
images, never seen in training), computed as the env computes info["score"]: per episode
max(0, R^2) with SS_tot about the episode's target mean (memory, memory-capacity), or the accuracy
at the last respond step of each image (digits); averaged over test episodes.

Readout against trained weights: what differs besides training
------------------------------------------------------------------
The experiment's "readout" and "weights" cells differ in more than which parameters are fitted,
and a comparison of the two must say so:

- output: a readout is a ridge regression on all N neurons' activity (81 features on Cook 2019, for
  digits N * 10 + 10 parameters); "weights" training reads the task's answer from the 2J muscles
  through the fixed neuromuscular map (interface.motor) and the task's fixed decoder, so its
  output stage has no trained parameter and sees the circuit only through the motor neurons.
- input gains: a readout on digits uses random gains (``input_weights="random"``) so that the 64
  pixels reach the command interneurons as a pattern; "weights" training starts from the
  interface's prior (+1 on every entry: the pixels arrive as their sum) and trains the gains.
  memory and memory-capacity use the prior in both modes.
- fitting: ridge in closed form on ``n_train`` episodes against CMA-ES on the task's return.
- swim: both modes are trained by CMA-ES on the swimming return and both drive the muscles; the
  readout (``ReadoutBrain``) maps all N neurons to the 2J muscles (N * 2J + 2J parameters, started
  at the neuromuscular map) on a fixed circuit, "weights" keeps that map fixed and trains the circuit.
train_readout records these in the run's summary (``readout_features``, ``input_weights``,
``compared_with_weights``).

Swim (motor): ``ReadoutBrain``
------------------------------
A Brain with ``outputs_muscles=True`` that holds the fixed reservoir (population 1) and per-member
readout parameters ``w_out`` (N, 2J) and ``b_out`` (2J,): muscles = sigmoid(a @ w_out + b_out). That is
N * 2J + 2J parameters (81 * 22 + 22 = 1804 on Cook 2019 with 12 segments). The readout starts at the
interface's own neuromuscular map (w_out = motor_gain * NMJ weights, b_out = -motor_offset), so the
untrained ReadoutBrain behaves exactly as the reservoir behind the standard interface. train_es and
the Evaluator work unchanged once a class is registered in realism_levels.LEVELS, e.g.

    "readout-rate": "wormsim.reservoir:ReadoutRateBrain",
    "readout-spiking": "wormsim.reservoir:ReadoutSpikingBrain",
    "readout-mlp": "wormsim.reservoir:ReadoutMLPBrain",

(``readout_brain_class(level)`` returns the same classes). The conductance reservoir is not offered
for swim: its step() costs a Brian2 run per control step (use fit_readout on non-motor tasks).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from wormsim.realism_levels.base import Brain, IOSpec

LEVELS = ("rate", "spiking", "conductance", "mlp")
NONMOTOR_TASKS = ("memory", "memory-capacity", "digits")
INPUT_WEIGHTS = ("prior", "random")
SWIM_LEVELS = ("rate", "spiking", "mlp")
# Env seeds of the training and test episodes: disjoint ranges, a block of 10_000 per seed.
_TRAIN_SEED0, _TEST_SEED0, _SEED_BLOCK = 1_000_000, 2_000_000, 10_000


# ----------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------
def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")


def _check_common(level, spectral_radius, input_scale, input_weights, conductance_scale=1.0) -> None:
    _check_choice("level", level, LEVELS)
    if not (isinstance(conductance_scale, (int, float)) and math.isfinite(conductance_scale)
            and conductance_scale > 0):
        raise ValueError(f"conductance_scale must be a finite number > 0, got {conductance_scale!r}")
    if level != "conductance" and conductance_scale != 1.0:
        raise ValueError(f"conductance_scale applies to the conductance level only; the {level} reservoir "
                         "is scaled by spectral_radius")
    _check_choice("input_weights", input_weights, INPUT_WEIGHTS)
    if not (isinstance(spectral_radius, (int, float)) and math.isfinite(spectral_radius)
            and spectral_radius > 0):
        raise ValueError(f"spectral_radius must be a finite number > 0, got {spectral_radius!r}")
    if not (isinstance(input_scale, (int, float)) and math.isfinite(input_scale) and input_scale >= 0):
        raise ValueError(f"input_scale must be a finite number >= 0, got {input_scale!r}")


def _check_alpha(ridge_alpha) -> None:
    if not (isinstance(ridge_alpha, (int, float)) and math.isfinite(ridge_alpha) and ridge_alpha >= 0):
        raise ValueError(f"ridge_alpha must be a finite number >= 0, got {ridge_alpha!r}")


def _check_count(name, value, lo=1) -> None:
    if not (isinstance(value, (int, np.integer)) and value >= lo):
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


# ----------------------------------------------------------------------------------------------------
# the fixed circuit
# ----------------------------------------------------------------------------------------------------
def chem_spectral_radius(brain: Brain) -> float:
    """Largest |eigenvalue| of member 0's effective signed chemical matrix (rate, spiking)."""
    with torch.no_grad():
        w = brain.chem_matrix()[0].double().cpu().numpy()
    return float(np.abs(np.linalg.eigvals(w)).max()) if w.size else 0.0


def _random_gains(io: IOSpec, seed: int) -> np.ndarray:
    n = int(np.asarray(io.input_mask, bool).sum())
    return np.random.default_rng([int(seed), 0x5E5]).uniform(-1.0, 1.0, n)


@torch.no_grad()
def fix_reservoir(brain: Brain, spectral_radius: float = 0.9, input_scale: float = 1.0,
                  input_weights: str = "prior", seed: int = 0, conductance_scale: float = 1.0) -> dict:
    """Put ``brain`` (population any, every member the same) into its reservoir state in place; see
    the module docstring. Returns what was done: spectral radius before/after and the chemical scale
    factor (rate, spiking), or the conductance scale (conductance)."""
    name = brain.name
    info: dict[str, Any] = {"spectral_radius_before": None, "spectral_radius": None, "chem_factor": None,
                            "conductance_scale": None}
    if name in ("rate", "spiking"):
        rho = chem_spectral_radius(brain)
        info["spectral_radius_before"] = rho
        if rho > 1e-12:
            factor = float(spectral_radius) / rho
            brain.chem.copy_(brain.chem.abs() * factor)
            info["chem_factor"] = factor
        info["spectral_radius"] = chem_spectral_radius(brain)
        gains = (brain.io.initial_gains(brain.config.input_gain) if input_weights == "prior"
                 else _random_gains(brain.io, seed))
        brain.gain.copy_(torch.as_tensor(gains * float(input_scale), dtype=torch.float32))
    elif name == "conductance":
        scale = float(conductance_scale)
        brain.g_chem.copy_(torch.full_like(brain.g_chem, brain.config.init_g_chem * scale))
        brain.g_gap.copy_(torch.full_like(brain.g_gap, brain.config.init_g_gap * scale))
        info["conductance_scale"] = scale
        gains = (brain.io.initial_gains(brain.config.init_input_gain) if input_weights == "prior"
                 else _random_gains(brain.io, seed))
        brain.input_gain.copy_(torch.as_tensor(gains * float(input_scale), dtype=torch.float32))
    elif name == "mlp":
        # the GRU's input weights are already random; input_scale multiplies them
        w = brain.w_ih if brain.config.kind == "gru" else brain.w_1
        w.mul_(float(input_scale))
    else:
        raise ValueError(f"no reservoir rule for level {name!r}; choose from {', '.join(LEVELS)}")
    return info


def _circuit(dataset: str, wiring: str, seed: int):
    from wormsim.connectome import load_circuit
    from wormsim.wiring import rewire
    return rewire(load_circuit(dataset), wiring, seed)


def build_reservoir(level: str, circuit, layout, control_dt: float, spectral_radius: float = 0.9,
                    input_scale: float = 1.0, input_weights: str = "prior", seed: int = 0,
                    level_kwargs: dict | None = None, conductance_scale: float = 1.0):
    """(brain (population 1), interface, info) of the fixed reservoir on ``circuit`` for ``layout``."""
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import make_level_config
    _check_common(level, spectral_radius, input_scale, input_weights, conductance_scale)
    interface = Interface(circuit, layout, control_dt=control_dt)
    cfg = make_level_config(level, dict(level_kwargs or {}))
    brain = get_level(level)(circuit, interface.io_spec(), cfg, population=1)
    brain.requires_grad_(False)
    info = fix_reservoir(brain, spectral_radius, input_scale, input_weights, seed, conductance_scale)
    return brain, interface, info


# ----------------------------------------------------------------------------------------------------
# running the reservoir on a non-motor task
# ----------------------------------------------------------------------------------------------------
def _make_env(task: str, num_envs: int, env_kwargs: dict):
    import gymnasium as gym
    import wormsim  # noqa: F401  (registers the environments)
    from wormsim.rollout import task_env_id
    return gym.make_vec(task_env_id(task), num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **env_kwargs)


def _collect_episodes(task: str, env_kwargs: dict, seeds: list[int]) -> dict[str, np.ndarray]:
    """Step the task's vector env through one episode per seed with constant 0.5 actions.
    Returns obs (T, B, obs_dim) (the observation the brain sees at step t) and the per-step infos."""
    env = _make_env(task, len(seeds), env_kwargs)
    try:
        obs, _ = env.reset(seed=[int(s) for s in seeds])
        T = int(env.max_steps)
        action = np.full((len(seeds), env.layout.n_muscles), 0.5, np.float32)
        out: dict[str, list] = {"obs": []}
        for _ in range(T):
            out["obs"].append(obs)
            obs, _, _, _, info = env.step(action)
            for k in ("target", "scored", "label", "respond", "decide"):
                if k in info:
                    out.setdefault(k, []).append(np.asarray(info[k]).copy())
        res = {k: np.stack(v) for k, v in out.items()}
        res["layout"] = env.layout
        res["control_dt"] = float(env.control_dt)
        task_obj = env.task
        if task == "digits":       # the decision step of each image (the env's accuracy)
            res["decide"] = np.repeat(task_obj.decide[:T, None], len(seeds), axis=1)
        if task == "memory-capacity":
            res["u"] = task_obj.u[:, :T].T.copy()        # (T, B) the input stream
        return res
    finally:
        env.close()


@torch.no_grad()
def run_reservoir(brain: Brain, interface, obs: np.ndarray) -> np.ndarray:
    """Open-loop run: obs (T, B, obs_dim) -> activity (T, B, N) (mlp: hidden state (T, B, H))."""
    T, B = obs.shape[:2]
    inputs = np.stack([interface.sense(obs[t]).numpy() for t in range(T)])      # (T, B, C)
    brain.reset(B)
    if hasattr(brain, "run_open_loop"):                                           # conductance
        out = brain.run_open_loop(inputs, record=True)
        return np.asarray(out["activity"], np.float64)
    acts = []
    for t in range(T):
        a = brain.step(torch.from_numpy(inputs[t]))
        acts.append((brain.h if brain.outputs_muscles else a).cpu().numpy())
    return np.stack(acts).astype(np.float64)


# ----------------------------------------------------------------------------------------------------
# ridge readout
# ----------------------------------------------------------------------------------------------------
MIN_REL_STD = 1e-2   # ridge_fit drops features whose training std is below this fraction of the RMS std


def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge with an unpenalised intercept on standardised features (each feature
    z-scored on the training samples), so that ``alpha`` means the same for every level whatever
    the scale of its activity. x (S, N), y (S,) or (S, K) -> (w (N,) or (N, K), b scalar or (K,)) in
    the original feature units: prediction = x @ w + b.

    Features that (nearly) did not move in training are dropped: std below MIN_REL_STD of the RMS
    std of all features. z-scoring would blow such a feature up (a spiking neuron silent but for a
    transient, std 1e-8) into a huge weight, which its activity on held-out data turns into a huge
    prediction: measured on a spiking reservoir, pooled held-out R^2 -290 on one memory seed with
    only constant features dropped, 0.13 with this rule; rate reservoirs' fits were unchanged."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    sx = x.std(axis=0)
    keep = sx > max(1e-9, MIN_REL_STD * float(np.sqrt(np.mean(np.square(sx)))))
    inv = np.where(keep, 1.0 / np.where(keep, sx, 1.0), 0.0)
    xc, yc = (x - mx) * inv, y - my
    a = xc.T @ xc + float(alpha) * np.eye(x.shape[1])
    w = np.linalg.lstsq(a, xc.T @ yc, rcond=None)[0]
    w = w * (inv[:, None] if w.ndim == 2 else inv)
    return w, my - mx @ w


def _episode_r2(pred: np.ndarray, target: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Per-episode max(0, R^2) as RegressionTask._final_score computes it (about the targets' known
    mean 0, not the episode's own mean). (T, B) arrays -> (B,)."""
    out = np.zeros(pred.shape[1])
    for b in range(pred.shape[1]):
        m = scored[:, b]
        tg, yp = target[m, b], pred[m, b]
        ss_tot = np.square(tg).sum()
        ss_res = np.square(yp - tg).sum()
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 1e-12 else float(ss_res <= 1e-12)
        out[b] = min(max(r2, 0.0), 1.0)
    return out


def _pooled_r2(pred, target) -> float:
    ss_tot = np.square(target - target.mean()).sum()
    return float(1.0 - np.square(pred - target).sum() / ss_tot) if ss_tot > 0 else float("nan")


def _seeds(base: int, seed: int, n: int) -> list[int]:
    if n > _SEED_BLOCK:
        raise ValueError(f"at most {_SEED_BLOCK} episodes per split, got {n}")
    return [base + _SEED_BLOCK * int(seed) + i for i in range(n)]


def _task_env_kwargs(task: str, env_kwargs: dict | None, split: str) -> dict:
    kw = dict(env_kwargs or {})
    if task == "digits":
        if "split" in kw:
            raise ValueError("digits: the reservoir chooses the split itself (train for the fit, test "
                             "for the score); do not pass split in env_kwargs")
        kw["split"] = split
    return kw


def fit_readout(level: str, wiring: str, task: str, seed: int = 0, n_train: int = 64, n_test: int = 32,
                ridge_alpha: float = 1.0, spectral_radius: float = 0.9, dataset: str = "cook2019",
                input_scale: float = 1.0, input_weights: str = "prior", env_kwargs: dict | None = None,
                level_kwargs: dict | None = None, shuffle_targets: bool = False,
                conductance_scale: float = 1.0) -> dict:
    """Fit a ridge readout on the fixed reservoir for a non-motor task and score it on held-out
    episodes. Deterministic for a seed (the null wiring, the episodes, random input gains).

    level: rate, spiking, conductance or mlp. wiring: a wiring of wormsim.wiring (seed = wiring seed).
    task: memory, memory-capacity or digits. env_kwargs: the task env's keyword arguments (e.g.
    {"lag": 3} for memory-capacity). shuffle_targets: a control, the training targets are permuted
    across samples before the fit (the held-out score should then be ~0 / chance).
    spectral_radius scales rate and spiking reservoirs, conductance_scale the conductance one (see
    the module docstring); the mlp reservoir takes neither.

    Returns dict: score (held-out, in [0, 1]: mean per-episode max(0, R^2), or accuracy), train_score,
    pooled_r2 (held-out R^2 over all scored steps pooled; regression tasks), n_readout_params,
    n_features, n_train_samples, spectral_radius (after scaling; None for conductance and mlp),
    spectral_radius_before, chem_factor, conductance_scale (None except for conductance), and the
    arguments.
    """
    _check_choice("task", task, NONMOTOR_TASKS)
    _check_common(level, spectral_radius, input_scale, input_weights, conductance_scale)
    _check_alpha(ridge_alpha)
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    _check_count("seed", seed, 0)
    from wormsim.wiring import available_wirings
    _check_choice("wiring", wiring, available_wirings())

    train = _collect_episodes(task, _task_env_kwargs(task, env_kwargs, "train"),
                              _seeds(_TRAIN_SEED0, seed, n_train))
    test = _collect_episodes(task, _task_env_kwargs(task, env_kwargs, "test"),
                             _seeds(_TEST_SEED0, seed, n_test))
    circuit = _circuit(dataset, wiring, seed)
    brain, interface, info = build_reservoir(level, circuit, train["layout"], train["control_dt"],
                                             spectral_radius, input_scale, input_weights, seed,
                                             level_kwargs, conductance_scale)
    a_tr = run_reservoir(brain, interface, train["obs"])
    a_te = run_reservoir(brain, interface, test["obs"])
    n_feat = a_tr.shape[2]
    rng = np.random.default_rng([int(seed), 0xC0])

    out: dict[str, Any] = {}
    if task == "digits":
        from wormsim.envs.nonmotor import N_CLASSES
        m_tr = train["respond"]
        y_tr = np.eye(N_CLASSES)[train["label"][m_tr]]
        if shuffle_targets:
            y_tr = rng.permutation(y_tr)
        w, b = ridge_fit(a_tr[m_tr], y_tr, ridge_alpha)

        def accuracy(a, d):
            pred = (a @ w + b).argmax(axis=-1)                                 # (T, B)
            hit = (pred == d["label"]) & d["decide"]
            return (hit.sum(axis=0) / d["decide"].sum(axis=0)).mean()

        out["score"] = float(accuracy(a_te, test))
        out["train_score"] = float(accuracy(a_tr, train))
        out["n_train_samples"] = int(m_tr.sum())
        n_out = N_CLASSES
    else:
        m_tr = train["scored"]
        y_tr = train["target"][m_tr]
        if shuffle_targets:
            y_tr = rng.permutation(y_tr)
        w, b = ridge_fit(a_tr[m_tr], y_tr, ridge_alpha)
        p_te, p_tr = a_te @ w + b, a_tr @ w + b
        out["score"] = float(_episode_r2(p_te, test["target"], test["scored"]).mean())
        out["train_score"] = float(_episode_r2(p_tr, train["target"], train["scored"]).mean())
        out["pooled_r2"] = _pooled_r2(p_te[test["scored"]], test["target"][test["scored"]])
        out["n_train_samples"] = int(m_tr.sum())
        n_out = 1
    out.update(n_readout_params=int(n_feat * n_out + n_out), n_features=int(n_feat), level=level,
               wiring=wiring, task=task, seed=int(seed), n_train=int(n_train), n_test=int(n_test),
               ridge_alpha=float(ridge_alpha), input_scale=float(input_scale),
               input_weights=input_weights, dataset=dataset, shuffle_targets=bool(shuffle_targets),
               spectral_radius_target=float(spectral_radius), **info)
    return out


def memory_capacity_curve(level: str, wiring: str, seed: int = 0, max_lag: int = 10, n_train: int = 32,
                          n_test: int = 16, ridge_alpha: float = 1.0, spectral_radius: float = 0.9,
                          dataset: str = "cook2019", input_scale: float = 1.0,
                          input_weights: str = "prior", env_kwargs: dict | None = None,
                          level_kwargs: dict | None = None,
                          conductance_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Memory capacity: for lag d = 1..max_lag, fit a readout activity_t -> u_{t-d} and score it on
    held-out streams. Returns (lags (D,), r2 (D,)); MC = r2.sum(). One reservoir run serves every
    lag (the input stream does not depend on the lag), and r2[d-1] equals
    fit_readout(..., task="memory-capacity", env_kwargs={"lag": d})["score"] with the same arguments."""
    _check_count("max_lag", max_lag)
    _check_common(level, spectral_radius, input_scale, input_weights, conductance_scale)
    _check_alpha(ridge_alpha)
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    _check_count("seed", seed, 0)
    from wormsim.wiring import available_wirings
    _check_choice("wiring", wiring, available_wirings())
    kw = dict(env_kwargs or {})
    kw.pop("lag", None)
    n_steps = int(kw.get("n_steps", 200))
    if n_steps < max_lag + 2:
        raise ValueError(f"n_steps ({n_steps}) must be >= max_lag + 2 = {max_lag + 2}")
    kw["lag"] = 1
    train = _collect_episodes("memory-capacity", kw, _seeds(_TRAIN_SEED0, seed, n_train))
    test = _collect_episodes("memory-capacity", kw, _seeds(_TEST_SEED0, seed, n_test))
    brain, interface, _ = build_reservoir(level, _circuit(dataset, wiring, seed), train["layout"],
                                          train["control_dt"], spectral_radius, input_scale,
                                          input_weights, seed, level_kwargs, conductance_scale)
    a_tr = run_reservoir(brain, interface, train["obs"])
    a_te = run_reservoir(brain, interface, test["obs"])
    T = a_tr.shape[0]
    lags = np.arange(1, max_lag + 1)
    r2 = np.zeros(len(lags))
    for i, d in enumerate(lags):
        def target(u):
            y = np.zeros_like(u)
            y[d:] = u[:-d]
            return y
        scored = (np.arange(T) >= d)[:, None]
        y_tr, y_te = target(train["u"]), target(test["u"])
        m_tr = np.broadcast_to(scored, y_tr.shape)
        w, b = ridge_fit(a_tr[m_tr], y_tr[m_tr], ridge_alpha)
        r2[i] = _episode_r2(a_te @ w + b, y_te, np.broadcast_to(scored, y_te.shape)).mean()
    return lags, r2


# ----------------------------------------------------------------------------------------------------
# swim: a trainable readout on a fixed reservoir, as a Brain
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadoutConfig:
    """reservoir: the level of the fixed circuit (rate, spiking, mlp). spectral_radius, input_scale,
    input_weights, reservoir_seed: see build_reservoir. share_weights: passed to the reservoir
    level's config (it only changes how many edge groups exist, all scaled alike). init: "motor" starts
    the readout at the interface's neuromuscular map, "zero" at all-zero (every muscle 0.5)."""
    reservoir: str = "rate"
    spectral_radius: float = 0.9
    input_scale: float = 1.0
    input_weights: str = "prior"
    reservoir_seed: int = 0
    share_weights: bool = False
    init: str = "motor"


class ReadoutBrain(Brain):
    """Fixed reservoir (population 1, shared by every member) + per-member linear readout onto the
    muscles: muscles = sigmoid(a @ w_out + b_out). Parameters: w_out (N, 2J), b_out (2J,)."""

    name: ClassVar[str] = "readout"
    differentiable: ClassVar[bool] = True
    outputs_muscles: ClassVar[bool] = True

    @classmethod
    def default_config(cls) -> ReadoutConfig:
        return ReadoutConfig()

    def _build(self) -> None:
        from wormsim.envs.layout import ObsLayout
        from wormsim.interface import Interface
        from wormsim.realism_levels import get_level
        cfg = self.config
        _check_choice("reservoir level", cfg.reservoir, SWIM_LEVELS)
        _check_common(cfg.reservoir, cfg.spectral_radius, cfg.input_scale, cfg.input_weights)
        _check_choice("init", cfg.init, ("motor", "zero"))
        inner_cls = get_level(cfg.reservoir)
        inner_cfg = inner_cls.default_config()
        if cfg.share_weights and "share_weights" in {f.name for f in dataclasses.fields(inner_cfg)}:
            inner_cfg = dataclasses.replace(inner_cfg, share_weights=True)
        inner = inner_cls(self.circuit, self.io, inner_cfg, population=1, device=self.device)
        inner.requires_grad_(False)
        self.reservoir_info = fix_reservoir(inner, cfg.spectral_radius, cfg.input_scale,
                                            cfg.input_weights, cfg.reservoir_seed)
        # not a submodule: its parameters must not appear in this brain's flat vector
        object.__setattr__(self, "inner", inner)
        n_feat = inner.hidden_size if inner.outputs_muscles else self.circuit.n
        m = self.io.n_muscles
        w0, b0 = np.zeros((n_feat, m)), np.zeros(m)
        if cfg.init == "motor" and not inner.outputs_muscles:
            names = [c[len("task:"):] for c in self.io.channel_names if c.startswith("task:")]
            itf = Interface(self.circuit, ObsLayout(m // 2 + 1, tuple(names)), self.io.control_dt)
            w0, b0 = itf.motor_gain * itf.motor_weights, np.full(m, -itf.motor_offset)
        self.add_param("w_out", w0)
        self.add_param("b_out", b0)

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        self.inner.reset(batch)

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        p = self.population
        batch = inputs.shape[0]
        with torch.no_grad():
            a = self.inner.step(inputs)
            if self.inner.outputs_muscles:
                a = self.inner.h
        feat = a.to(self.device, torch.float32).view(p, batch // p, -1)
        muscles = torch.sigmoid(torch.bmm(feat, self.w_out) + self.b_out.unsqueeze(1)).reshape(batch, -1)
        self._record(activity=a)
        return muscles


def readout_brain_class(level: str) -> type[ReadoutBrain]:
    """The ReadoutBrain subclass whose reservoir is ``level`` (rate, spiking, mlp), named
    ``readout-LEVEL``; these are also module attributes ReadoutRateBrain, ReadoutSpikingBrain,
    ReadoutMLPBrain, for the "module:Class" entries of realism_levels.LEVELS."""
    _check_choice("reservoir level", level, SWIM_LEVELS)
    return _READOUT_CLASSES[level]


def _make_readout_class(level: str) -> type[ReadoutBrain]:
    cfg = ReadoutConfig(reservoir=level)
    return type(f"Readout{level.upper() if level == 'mlp' else level.capitalize()}Brain", (ReadoutBrain,), {
        "name": f"readout-{level}", "default_config": classmethod(lambda cls: cfg),
        "__module__": __name__,
        "__doc__": f"ReadoutBrain on the fixed {level} reservoir (see wormsim.reservoir)."})


_READOUT_CLASSES = {lv: _make_readout_class(lv) for lv in SWIM_LEVELS}
ReadoutRateBrain = _READOUT_CLASSES["rate"]
ReadoutSpikingBrain = _READOUT_CLASSES["spiking"]
ReadoutMLPBrain = _READOUT_CLASSES["mlp"]


def n_readout_params(circuit, n_segments: int = 12) -> int:
    """N * 2J + 2J for the swim readout (J = n_segments - 1 joints)."""
    m = 2 * (n_segments - 1)
    return circuit.n * m + m


# ----------------------------------------------------------------------------------------------------
# `wormsim train --train readout` on a non-motor task
# ----------------------------------------------------------------------------------------------------
def train_readout(config, run, resume: bool = False, progress: bool = True) -> dict:
    """Reservoir mode of the trainer for memory, memory-capacity and digits: fit the ridge readout on
    the fixed circuit and score it on held-out episodes; the run gets one metrics row, the readout
    summary and (memory-capacity) the capacity curve over lags 1..10. Digits uses random input gains
    (with the interface's prior every pixel reaches every command interneuron with the same gain, so
    the circuit would see only the total ink; see the module docstring). The reservoir's scale:
    config.spectral_radius for rate and spiking, config.conductance_scale (1 when the config has no
    such field) for conductance, none for mlp. ``resume`` refits: the fit is closed-form and
    deterministic, there is nothing to continue."""
    import time
    t0 = time.perf_counter()
    input_weights = "random" if config.task == "digits" else "prior"
    scale = ({"conductance_scale": float(getattr(config, "conductance_scale", 1.0))}
             if config.level == "conductance" else {})
    common = dict(seed=config.seed, ridge_alpha=config.ridge_alpha, spectral_radius=config.spectral_radius,
                  dataset=config.dataset, **scale)
    out = fit_readout(config.level, config.wiring, config.task, input_weights=input_weights, **common)
    # final_r2: the held-out R^2 pooled over every scored test step, unclipped (regression tasks), the
    # quantity the experiment's statistics use; None for digits, whose score is an accuracy
    summary = {"final_score": out["score"], "final_r2": out.get("pooled_r2"),
               "train_score": out["train_score"], "final_speed": None,
               "final_return": None, "untrained_speed": None, "generations": 0,
               "n_params": out["n_readout_params"], "train": "readout", "input_weights": input_weights,
               "spectral_radius": out["spectral_radius_target"] if config.level in ("rate", "spiking") else None,
               "conductance_scale": out["conductance_scale"],
               "readout_features": f"ridge on all {out['n_features']} "
                                   + ("hidden units" if config.level == "mlp" else "neurons") + "' activity",
               "compared_with_weights": "weights mode reads the answer from the muscles through the fixed "
                                        "neuromuscular map and the task's fixed decoder, with trained input "
                                        "gains started at the interface's prior"
                                        + (" (readout here: random input gains)" if input_weights == "random"
                                           else "")}
    if config.task == "memory-capacity":
        lags, r2 = memory_capacity_curve(config.level, config.wiring, **common)
        summary.update(memory_capacity=float(r2.sum()), capacity_curve=[float(x) for x in r2])
    summary["wall_time"] = round(time.perf_counter() - t0, 2)
    run.truncate_metrics(0)
    run.append_metrics({"iteration": 0, "best": out["score"], "mean": out["score"], "std": 0.0,
                        "score_best": out["score"], "score_mean": out["score"], "speed_best": None,
                        "speed_mean": None, "wall_time": summary["wall_time"], "env_steps": 0,
                        "note": "reservoir: ridge readout on the fixed circuit"})
    run.write_summary(summary)
    return summary
