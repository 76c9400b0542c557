"""Reservoir mode: the circuit as a fixed echo-state network, only a linear readout is fitted
(the use of the connectome in Elegans-AI and bio2art).

    from wormsim.reservoir import fit_readout, memory_capacity_curve
    out = fit_readout("rate", "connectome", "memory", seed=0, n_train=64, n_test=32)
    out["score"]                       # held-out recall max(0, R^2), as the env scores it
    lags, r2 = memory_capacity_curve("rate", "connectome", seed=0, max_lag=10)   # MC = r2.sum()

The fixed circuit (``build_reservoir``)
---------------------------------------
Neurons, signs, time constants and biases are the level's defaults; nothing is trained. How the circuit
is fixed is the level's own rule (``Brain.make_reservoir``, one knob named by the level's
``reservoir_knob``; ``scale`` here is its value, None for the level's default):

- rate, spiking (knob ``spectral_radius``, default 0.9): the chemical edge magnitudes start where the
  level puts them (log1p of the synapse count, degree-normalised, i.e. derived from the connectome or
  the null wiring's counts) and are multiplied by one factor so that the spectral radius of the
  effective signed chemical matrix equals the knob. Gap junctions stay at the level's default. A wiring
  whose chemical matrix is nilpotent (spectral radius 0) keeps the level's default magnitudes.
- conductance (knob ``conductance_scale``, default 1): every chemical and gap conductance is the
  level's default times the knob (derived from the connectome's counts); the network is nonlinear in
  physical units and has no single weight matrix to take a spectral radius of.
- mlp (no knob): its untrained random GRU is the reservoir; the readout reads its hidden state.
- input gains: the interface's prior (``io.input_init``) times ``input_scale``, or
  (``input_weights="random"``) echo-state-style random gains uniform in [-1, 1] on the same mask
  entries, drawn from the seed. With the prior every task input channel reaches every command
  interneuron with the same gain +1, so a multi-channel input (the 64 digit pixels) reaches the circuit
  only as its sum; random gains keep the pattern.

Non-motor tasks (memory, memory-capacity, digits)
-------------------------------------------------
Which tasks: those whose TaskSpec declares a ``readout`` (envs/tasks.py): "regression" or
"classification". The reservoir runs open loop on ``n_train`` episodes of the task's vector env. The action sent to
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

Swim (motor): ``readout-LEVEL``
------------------------------
On a task with a body the readout is a Brain (realism_levels/readout.py, ``get_level("readout-rate")``):
the fixed reservoir and a per-member linear readout onto the muscles, started at the interface's own
neuromuscular map and trained by ES like any level. The reservoir level must step in torch.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from wormsim.analysis import pooled_r2, r2_about, ridge_fit
from wormsim.realism_levels.base import Brain
from wormsim.realism_levels.readout import (INPUT_WEIGHTS, ReadoutBrain, fix_reservoir,  # noqa: F401
                                            random_input_gains, readout_class)

# Env seeds of the training and test episodes: disjoint ranges, a block of 10_000 per seed.
_TRAIN_SEED0, _TEST_SEED0, _SEED_BLOCK = 1_000_000, 2_000_000, 10_000


# ----------------------------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------------------------
def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(choices)}")


def _check_number(name: str, value, low: float, strict: bool) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")


def _check_common(level: str, scale, input_scale, input_weights) -> None:
    from wormsim.realism_levels import get_level, level_names
    _check_choice("level", level, level_names())
    cls = get_level(level)
    cls.require("reservoir", "a fixed reservoir")
    if scale is not None:
        if cls.reservoir_knob is None:
            raise ValueError(f"the {level} reservoir has no scale to set (its knob is none); leave scale None")
        _check_number(cls.reservoir_knob, scale, 0.0, strict=True)
    _check_choice("input_weights", input_weights, INPUT_WEIGHTS)
    _check_number("input_scale", input_scale, 0.0, strict=False)


def _check_count(name, value, lo=1) -> None:
    if not (isinstance(value, (int, np.integer)) and value >= lo):
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


def _readout_task(task: str) -> str:
    """The task's readout kind, or a ValueError naming the tasks that have one."""
    from wormsim.envs.tasks import get_task, task_names
    kind = get_task(task).readout
    if kind is None:
        able = [t for t in task_names() if get_task(t).readout]
        raise ValueError(f"task {task!r} declares no closed-form readout; choose from {', '.join(able)} "
                         "(on a task with a body, --train readout trains the readout by ES)")
    return kind


# ----------------------------------------------------------------------------------------------------
# the fixed circuit
# ----------------------------------------------------------------------------------------------------
def _circuit(dataset: str, wiring: str, seed: int):
    from wormsim.connectome import load_circuit
    from wormsim.wiring import rewire
    return rewire(load_circuit(dataset), wiring, seed)


def build_reservoir(level: str, circuit, layout, control_dt: float, scale: float | None = None,
                    input_scale: float = 1.0, input_weights: str = "prior", seed: int = 0,
                    level_kwargs: dict | None = None):
    """(brain (population 1), interface, info) of the fixed reservoir on ``circuit`` for ``layout``;
    scale: the value of the level's reservoir knob (None: its default)."""
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import make_level_config
    _check_common(level, scale, input_scale, input_weights)
    interface = Interface(circuit, layout, control_dt=control_dt)
    cfg = make_level_config(level, dict(level_kwargs or {}))
    brain = get_level(level)(circuit, interface.io_spec(), cfg, population=1)
    brain.requires_grad_(False)
    info = fix_reservoir(brain, scale, input_scale, input_weights, seed)
    return brain, interface, info


# ----------------------------------------------------------------------------------------------------
# running the reservoir on a task without a body
# ----------------------------------------------------------------------------------------------------
def _make_env(task: str, num_envs: int, env_kwargs: dict):
    import gymnasium as gym
    import wormsim  # noqa: F401  (registers the environments)
    from wormsim.rollout import task_env_id
    return gym.make_vec(task_env_id(task), num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **env_kwargs)


def _collect_episodes(task: str, env_kwargs: dict, seeds: list[int], stream: bool = False) -> dict:
    """Step the task's vector env through one episode per seed with constant 0.5 actions (the task's
    observations do not depend on the actions). Returns obs (T, B, obs_dim) (the observation the brain
    sees at step t), the per-step infos the readouts use, "decide" (T, B) for a classification task
    (the steps its accuracy is judged on) and with ``stream`` "u" (T, B), the task's input stream."""
    env = _make_env(task, len(seeds), env_kwargs)
    try:
        obs, _ = env.reset(seed=[int(s) for s in seeds])
        T = int(env.max_steps)
        action = np.full((len(seeds), env.layout.n_muscles), 0.5, np.float32)
        out: dict[str, list] = {"obs": []}
        for _ in range(T):
            out["obs"].append(obs)
            obs, _, _, _, info = env.step(action)
            for k in ("target", "scored", "label", "respond"):
                if k in info:
                    out.setdefault(k, []).append(np.asarray(info[k]).copy())
        res: dict[str, Any] = {k: np.stack(v) for k, v in out.items()}
        res["layout"], res["control_dt"] = env.layout, float(env.control_dt)
        if _readout_task(task) == "regression":
            res["expected_ss"] = env.task.expected_ss
        if _readout_task(task) == "classification":
            res["decide"] = np.repeat(env.task.decide[:T, None], len(seeds), axis=1)
        if stream:
            res["u"] = env.task.u[:, :T].T.copy()
        return res
    finally:
        env.close()


@torch.no_grad()
def run_reservoir(brain: Brain, interface, obs: np.ndarray) -> np.ndarray:
    """Open-loop run: obs (T, B, obs_dim) -> the readout's features (T, B, F): every neuron's activity,
    or the hidden state of a connectome-free level (its recorded "activity")."""
    T, B = obs.shape[:2]
    inputs = np.stack([interface.sense(obs[t]).numpy() for t in range(T)])      # (T, B, C)
    brain.reset(B)
    return np.asarray(brain.run_open_loop(inputs, record=True)["activity"], np.float64)


# ----------------------------------------------------------------------------------------------------
# ridge readouts
# ----------------------------------------------------------------------------------------------------
def _episode_r2(pred: np.ndarray, target: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Per-episode R^2 about the targets' known mean 0 (not the episode's own mean), clipped to [0, 1], as
    RegressionTask scores it (the analysed, unclipped value is _episode_return). (T, B) arrays -> (B,)."""
    r2 = np.array([r2_about(target[scored[:, b], b], pred[scored[:, b], b]) for b in range(pred.shape[1])])
    return np.clip(r2, 0.0, 1.0)


def _episode_return(pred: np.ndarray, target: np.ndarray, scored: np.ndarray, expected_ss: float) -> np.ndarray:
    """Per episode, the return the task's env gives these predictions (RegressionTask): the squared error
    saved against answering 0, sum over scored steps of target^2 - (y - target)^2, over its expected total
    ``expected_ss``. Its mean over episodes estimates 1 - MSE / Var(target) without bias, the analysed
    value of every trained cell; a per-episode ratio 1 - SS_res / SS_ref instead has a heavy negative tail
    on episodes whose few cues are small. (T, B) arrays -> (B,)."""
    gain = np.where(scored, np.square(target) - np.square(pred - target), 0.0)
    return gain.sum(axis=0) / float(expected_ss)


def _seeds(base: int, seed: int, n: int) -> list[int]:
    if n > _SEED_BLOCK:
        raise ValueError(f"at most {_SEED_BLOCK} episodes per split, got {n}")
    return [base + _SEED_BLOCK * int(seed) + i for i in range(n)]


def _task_env_kwargs(task: str, env_kwargs: dict | None, split: str) -> dict:
    """The env options of one split: the held-out split takes the task's held_out options (digits:
    the test images), which the caller may not set itself."""
    from wormsim.envs.tasks import get_task
    kw = dict(env_kwargs or {})
    held = dict(get_task(task).held_out)
    clash = sorted(set(kw) & set(held))
    if clash:
        raise ValueError(f"{task}: the reservoir chooses {', '.join(clash)} itself (training data for the "
                         f"fit, held-out data for the score); do not pass it in env_kwargs")
    return {**kw, **held} if split == "test" else kw


def _fit_classification(a_tr, a_te, train, test, ridge_alpha, shuffle, rng) -> dict:
    n_classes = int(max(train["label"].max(), test["label"].max())) + 1
    m_tr = train["respond"]
    y_tr = np.eye(n_classes)[train["label"][m_tr]]
    if shuffle:
        y_tr = rng.permutation(y_tr)
    w, b = ridge_fit(a_tr[m_tr], y_tr, ridge_alpha)

    def accuracy(a, d):                                                         # per episode (B,)
        hit = ((a @ w + b).argmax(axis=-1) == d["label"]) & d["decide"]         # (T, B)
        return hit.sum(axis=0) / d["decide"].sum(axis=0)

    per_episode = accuracy(a_te, test)
    return {"score": float(per_episode.mean()), "train_score": float(accuracy(a_tr, train).mean()),
            "episode_scores": per_episode.tolist(), "n_train_samples": int(m_tr.sum()), "n_out": n_classes}


def _fit_regression(a_tr, a_te, train, test, ridge_alpha, shuffle, rng) -> dict:
    m_tr = train["scored"]
    y_tr = train["target"][m_tr]
    if shuffle:
        y_tr = rng.permutation(y_tr)
    w, b = ridge_fit(a_tr[m_tr], y_tr, ridge_alpha)
    p_te, p_tr = a_te @ w + b, a_tr @ w + b
    per_episode = _episode_r2(p_te, test["target"], test["scored"])
    returns = _episode_return(p_te, test["target"], test["scored"], test["expected_ss"])
    return {"score": float(per_episode.mean()),
            "train_score": float(_episode_r2(p_tr, train["target"], train["scored"]).mean()),
            "pooled_r2": pooled_r2(test["target"][test["scored"]], p_te[test["scored"]]),
            "return": float(returns.mean()),
            "episode_scores": per_episode.tolist(), "episode_returns": returns.tolist(),
            "n_train_samples": int(m_tr.sum()), "n_out": 1}


def _check_fit_args(level, wiring, scale, input_scale, input_weights, ridge_alpha, n_train, n_test, seed):
    from wormsim.wiring import available_wirings
    _check_common(level, scale, input_scale, input_weights)
    _check_number("ridge_alpha", ridge_alpha, 0.0, strict=False)
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    _check_count("seed", seed, 0)
    _check_choice("wiring", wiring, available_wirings())


def fit_readout(level: str, wiring: str, task: str, seed: int = 0, n_train: int = 64, n_test: int = 32,
                ridge_alpha: float = 1.0, scale: float | None = None, dataset: str = "cook2019",
                input_scale: float = 1.0, input_weights: str = "prior", env_kwargs: dict | None = None,
                level_kwargs: dict | None = None, shuffle_targets: bool = False) -> dict:
    """Fit a ridge readout on the fixed reservoir for a task that declares one and score it on held-out
    episodes. Deterministic for a seed (the null wiring, the episodes, random input gains).

    level: any level with a reservoir rule; scale: the value of its reservoir knob (None: default).
    wiring: a wiring of wormsim.wiring (seed = wiring seed). env_kwargs: the task env's keyword
    arguments (e.g. {"lag": 3} for memory-capacity). shuffle_targets: a control, the training targets
    are permuted across samples before the fit (the held-out score should then be ~chance).

    Returns dict: score (held-out, in [0, 1]: mean per-episode max(0, R^2), or accuracy), train_score,
    pooled_r2 (held-out R^2 over all scored steps pooled; regression tasks), n_readout_params,
    n_features, n_train_samples, knob and what the level's reservoir rule reports (spectral radius
    before/after, factors), and the arguments.
    """
    kind = _readout_task(task)
    _check_fit_args(level, wiring, scale, input_scale, input_weights, ridge_alpha, n_train, n_test, seed)
    train = _collect_episodes(task, _task_env_kwargs(task, env_kwargs, "train"),
                              _seeds(_TRAIN_SEED0, seed, n_train))
    test = _collect_episodes(task, _task_env_kwargs(task, env_kwargs, "test"),
                             _seeds(_TEST_SEED0, seed, n_test))
    brain, interface, info = build_reservoir(level, _circuit(dataset, wiring, seed), train["layout"],
                                             train["control_dt"], scale, input_scale, input_weights, seed,
                                             level_kwargs)
    a_tr = run_reservoir(brain, interface, train["obs"])
    a_te = run_reservoir(brain, interface, test["obs"])
    fit = _fit_classification if kind == "classification" else _fit_regression
    out = fit(a_tr, a_te, train, test, ridge_alpha, shuffle_targets, np.random.default_rng([int(seed), 0xC0]))
    n_feat, n_out = a_tr.shape[2], out.pop("n_out")
    out.update(n_readout_params=int(n_feat * n_out + n_out), n_features=int(n_feat), level=level,
               wiring=wiring, task=task, seed=int(seed), n_train=int(n_train), n_test=int(n_test),
               ridge_alpha=float(ridge_alpha), input_scale=float(input_scale),
               input_weights=input_weights, dataset=dataset, shuffle_targets=bool(shuffle_targets),
               scale=scale, **info)
    return out


def memory_capacity_curve(level: str, wiring: str, seed: int = 0, max_lag: int = 10, n_train: int = 32,
                          n_test: int = 16, ridge_alpha: float = 1.0, scale: float | None = None,
                          dataset: str = "cook2019", input_scale: float = 1.0,
                          input_weights: str = "prior", env_kwargs: dict | None = None,
                          level_kwargs: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Memory capacity: for lag d = 1..max_lag, fit a readout activity_t -> u_{t-d} and score it on
    held-out streams. Returns (lags (D,), r2 (D,)); MC = r2.sum(). One reservoir run serves every
    lag (the input stream does not depend on the lag), and r2[d-1] equals
    fit_readout(..., task="memory-capacity", env_kwargs={"lag": d})["score"] with the same arguments."""
    _check_count("max_lag", max_lag)
    _check_fit_args(level, wiring, scale, input_scale, input_weights, ridge_alpha, n_train, n_test, seed)
    kw = dict(env_kwargs or {})
    kw.pop("lag", None)
    n_steps = int(kw.get("n_steps", 200))
    if n_steps < max_lag + 2:
        raise ValueError(f"n_steps ({n_steps}) must be >= max_lag + 2 = {max_lag + 2}")
    kw["lag"] = 1
    train = _collect_episodes("memory-capacity", kw, _seeds(_TRAIN_SEED0, seed, n_train), stream=True)
    test = _collect_episodes("memory-capacity", kw, _seeds(_TEST_SEED0, seed, n_test), stream=True)
    brain, interface, _ = build_reservoir(level, _circuit(dataset, wiring, seed), train["layout"],
                                          train["control_dt"], scale, input_scale, input_weights, seed,
                                          level_kwargs)
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


def readout_brain_class(level: str) -> type[ReadoutBrain]:
    """The Brain of an ES-trained readout on the fixed ``level`` reservoir (get_level("readout-LEVEL"))."""
    from wormsim.realism_levels import get_level
    return get_level(f"readout-{level}")


def n_readout_params(circuit, n_segments: int = 12) -> int:
    """N * 2J + 2J for the swim readout (J = n_segments - 1 joints)."""
    m = 2 * (n_segments - 1)
    return circuit.n * m + m


# ----------------------------------------------------------------------------------------------------
# `wormsim train --train readout` on a task without a body
# ----------------------------------------------------------------------------------------------------
def train_readout(config, run, resume: bool = False, progress: bool = True) -> dict:
    """Reservoir mode of the trainer for the tasks that declare a readout: fit the ridge readout on
    the fixed circuit and score it on held-out episodes; the run gets one metrics row, the readout
    summary and (memory-capacity) the capacity curve over lags 1..10. A classification task (digits)
    uses random input gains (with the interface's prior every pixel reaches every command interneuron
    with the same gain, so the circuit would see only the total ink; see the module docstring). The
    reservoir's scale is the config field named by the level's reservoir knob. ``resume`` refits: the
    fit is closed-form and deterministic, there is nothing to continue."""
    import time

    from wormsim.realism_levels import get_level
    t0 = time.perf_counter()
    cls = get_level(config.level)
    input_weights = "random" if _readout_task(config.task) == "classification" else "prior"
    scale = getattr(config, cls.reservoir_knob, None) if cls.reservoir_knob else None
    common = dict(seed=config.seed, ridge_alpha=config.ridge_alpha, scale=scale, dataset=config.dataset)
    out = fit_readout(config.level, config.wiring, config.task, input_weights=input_weights, **common)
    summary = _readout_summary(config, out, cls, input_weights)
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


def _readout_summary(config, out: dict, cls, input_weights: str) -> dict:
    # final_r2: the held-out R^2 pooled over every scored test step, unclipped (regression tasks; None
    # for a classification task, scored by accuracy), reported beside the analysed final_return
    features = "neurons" if cls.uses_wiring else "hidden units"
    # the held-out trials a test of "did it learn" pools: per test episode, the env's return (regression:
    # the unclipped R^2 estimate every trained cell is analysed on) or the accuracy; final_return, their
    # mean, is then the cell's analysed value, the same estimator as a trained cell's. A fitted readout has
    # no untrained counterpart, so it is judged against chance alone
    trained = {"return": out.get("episode_returns"), "speed": None, "score": out["episode_scores"]}
    return {"final_score": out["score"], "final_r2": out.get("pooled_r2"),
            "heldout": {"trained": trained, "untrained": None},
            "train_score": out["train_score"], "final_speed": None,
            "final_return": out.get("return"), "untrained_speed": None, "generations": 0,
            "n_params": out["n_readout_params"], "train": "readout", "input_weights": input_weights,
            "reservoir_knob": cls.reservoir_knob, "reservoir_scale": out["scale"],
            "readout_features": f"ridge on all {out['n_features']} {features}' activity",
            "compared_with_weights": "weights mode reads the answer from the muscles through the fixed "
                                     "neuromuscular map and the task's fixed decoder, with trained input "
                                     "gains started at the interface's prior"
                                     + (" (readout here: random input gains)" if input_weights == "random"
                                        else "")}
