"""PPO for the differentiable realism levels that step in torch, with the recurrent brain itself as the actor.

One algorithm top to bottom (CleanRL style, after cleanrl/ppo_continuous_action.py and ppo_atari_lstm.py);
every PPO hyper-parameter is a field of `PPOConfig`, the set-up (level, wiring, task, seed, budget, ...) comes
from the same `TrainConfig` as CMA-ES.

Actor. ``Agent(brain, interface)`` with a P = 1 brain whose batch is the number of parallel worms: the brain
integrates its own dynamics over a control step (rate: exponential Euler substeps; spiking: 1 ms LIF steps
through snnTorch; mlp: a GRU cell) and the interface maps its activity onto muscles. The policy is a Gaussian
around those muscle activations with a learnable, state-independent log-std per muscle; the environment gets
the sample clipped to [0, 1], the log-probability is that of the unclipped sample (as CleanRL's clip wrapper
does). The brain reads observations only, never its own sampled actions, so its trajectory during a rollout
is a deterministic function of the observations: replaying the stored observations from a stored state
reproduces the rollout's action means exactly (tests/test_ppo.py checks this).

Critic. A separate small MLP on the (running-normalised) observation. Not on the brain's activity: (1) the
critic is then the same function for every level, so levels are compared with the same baseline (activity
is neurons for rate/spiking, a GRU state for mlp, of different sizes and statistics); (2) no value-loss
gradient reaches the brain, so what the circuit learns comes from the policy gradient alone (no shared trunk
whose representation is pulled toward value prediction); (3) the body observation (joint angles and
angular velocities, head velocity) is close to a Markov state of the body. The value is treated as that of
a continuing task: a time-limit truncation bootstraps from V(final observation) (Pardo et al. 2018,
"Time limits in reinforcement learning"); only a termination (a diverged body) ends the return.

Rollouts and truncated BPTT. Every iteration starts fresh episodes on all ``num_envs`` worms (seeds derived
from the run seed and the iteration) and runs them to their end (or ``num_steps``). Episodes never span two
iterations, so an iteration depends only on the parameters and the RNG state, and a resumed run repeats the
uninterrupted one exactly (the MuJoCo state need not be checkpointed). The rollout is cut into chunks of
``bptt_steps`` control steps; the brain's recurrent state is stored (detached) at the start of every chunk.
A (chunk, worm) pair is one training sequence: a minibatch is a random set of sequences, run side by side
as one brain batch from their stored start states, with gradients through the ``bptt_steps`` steps (and
every internal substep) of the chunk and cut at its start.

Brain state. The level contract's ``get_state()``/``set_state()`` (realism_levels/base.py; each level
names its state tensors in ``state_names``) store a chunk's start state and restore it for the replay, so
any level with a recurrent state works here without an entry in this module. Replaying every chunk from
the episode start would avoid the need, at a cost quadratic in episode length.

Why not a library. Stable-Baselines3 has no recurrent PPO; sb3-contrib's RecurrentPPO supports only its own
LSTM policies (MlpLstmPolicy, CnnLstmPolicy, MultiInputLstmPolicy; its docs: "Other than adding support for
recurrent policies (LSTM here)"), and its rollout buffer and collect_rollouts are written around an LSTM's
(hidden, cell) tuple (DLR-RM/stable-baselines3#2215, "RecurrentPPO is tightly coupled with the LSTM";
Stable-Baselines-Team/stable-baselines3-contrib#220, an open request for GRU/ctRNN). Our actors are
arbitrary recurrent modules with several state tensors (the spiking level keeps four), per-step internal
integration and a population batch layout; fitting them in would mean rewriting the policy, the buffer and
the rollout loop, more code than this file.

Metrics per iteration (metrics.jsonl): iteration; best, mean and std of the episodic return over the
iteration's worms; speed_best (of the best worm) and speed_mean (info["speed"], body lengths / s);
score_best and score_mean (the non-motor tasks' info["score"]); policy_loss, value_loss, entropy,
approx_kl, clipfrac; action_std (mean std of the Gaussian policy); wall_time, env_steps. Row 0 is the
untrained brain judged like the final policy. The names are those of the CMA-ES rows (best, mean and std over the worms of an iteration instead of
the candidates of a generation), so plots read both trainers.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import torch
from torch import nn

from wormsim.runs import Run, atomic_write_text
from wormsim.train import torch_threads
from wormsim.config import TrainConfig
from wormsim.train.es import _finite, _nanmean
from wormsim.train.loop import episode_seed as _episode_seed
from wormsim.train.loop import run_iterations

@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (CleanRL's ppo_continuous_action defaults where they fit; reasons below).

    num_envs: worms simulated side by side (one native vector environment, one brain batch).
    num_steps: cap on control steps per iteration; None = run every episode to its end (duration).
    bptt_steps: control steps per truncated-BPTT chunk (25 steps = 0.5 s at 50 Hz, about half a swimming
        stroke in water: credit reaches across a stroke's half-cycle, the graph stays small).
    update_epochs, num_minibatches: passes over the rollout and minibatches per pass (fewer epochs than
        CleanRL's 10: every epoch replays the brain's dynamics, the dominant cost).
    learning_rate: Adam, for brain, log-std and critic (1e-3: brain parameters are O(1) magnitudes).
    gamma, gae_lambda: discount per control step (horizon ~100 steps = 2 s at 50 Hz) and GAE.
    clip_coef, clip_vloss: PPO ratio clip, and clipping of the value update like CleanRL.
    ent_coef, vf_coef, max_grad_norm: entropy bonus, value-loss weight, global gradient-norm clip.
    init_std: starting action std of every muscle (activations live in [0, 1]).
    critic_hidden: width of the critic's two hidden layers.
    target_kl: stop an iteration's epochs early when the approximate KL exceeds it (None: never).
    torch_threads: torch CPU threads while training (None: leave torch's setting). 1 by default: the
        brain's per-step tensors are small (batch x ~100 neurons) and thread synchronisation costs more
        than it gains (docs/measurements.md).
    """
    num_envs: int = 16
    num_steps: int | None = None
    bptt_steps: int = 25
    update_epochs: int = 4
    num_minibatches: int = 4
    learning_rate: float = 1e-3
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = True
    norm_adv: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    init_std: float = 0.15
    critic_hidden: int = 64
    target_kl: float | None = None
    torch_threads: int | None = 1

    @classmethod
    def from_dict(cls, d: dict) -> "PPOConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})




# ---- brain state ----------------------------------------------------------------------------------
def get_brain_state(brain) -> dict[str, torch.Tensor]:
    """The brain's recurrent state (the level contract's get_state) as detached copies, each (batch, ...)."""
    return {k: v.detach().clone() for k, v in brain.get_state().items()}


def set_brain_state(brain, state: dict[str, torch.Tensor]) -> None:
    """Overwrite the brain's recurrent state (after reset(batch) with the matching batch)."""
    brain.set_state({k: v.to(brain.device) for k, v in state.items()})


# ---- critic and observation normaliser --------------------------------------------------------------
class RunningNorm:
    """Running mean and variance of observations (parallel algorithm of Chan et al.), for the critic."""

    def __init__(self, dim: int):
        self.mean, self.var, self.count = np.zeros(dim), np.ones(dim), 1e-4

    def update(self, x: np.ndarray) -> None:
        m, v, n = x.mean(0), x.var(0), len(x)
        delta, total = m - self.mean, self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + v * n + delta**2 * self.count * n / total) / total
        self.count = total

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.mean, dtype=torch.float32)
        std = torch.as_tensor(np.sqrt(self.var + 1e-8), dtype=torch.float32)
        return ((x - mean) / std).clamp(-10, 10)

    def state(self) -> dict:
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": self.count}

    def load(self, s: dict) -> None:
        self.mean, self.var, self.count = s["mean"].copy(), s["var"].copy(), s["count"]


def make_critic(obs_dim: int, hidden: int) -> nn.Module:
    """obs (batch, obs_dim), normalised -> value (batch, 1). CleanRL's layout: orthogonal init, tanh."""
    def layer(i, o, std):
        lin = nn.Linear(i, o)
        nn.init.orthogonal_(lin.weight, std)
        nn.init.zeros_(lin.bias)
        return lin
    return nn.Sequential(layer(obs_dim, hidden, math.sqrt(2)), nn.Tanh(),
                         layer(hidden, hidden, math.sqrt(2)), nn.Tanh(), layer(hidden, 1, 1.0))


# ---- the PPO loss -----------------------------------------------------------------------------------
def clipped_surrogate(new_logp, old_logp, adv, mask, clip_coef: float):
    """PPO's clipped policy loss, averaged over the valid (mask > 0) entries. Also returns the
    approximate KL ((r - 1) - log r, Schulman's k3) and the clipped fraction."""
    log_ratio = new_logp - old_logp
    ratio = log_ratio.exp()
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef))
    n = mask.sum().clamp_min(1)
    with torch.no_grad():
        kl = (((ratio - 1) - log_ratio) * mask).sum() / n
        clipfrac = (((ratio - 1).abs() > clip_coef).float() * mask).sum() / n
    return (pg * mask).sum() / n, kl, clipfrac


# ---- the trainer ------------------------------------------------------------------------------------
class _Setup:
    """Environment, brain, agent, critic and optimiser of one PPO run."""

    def __init__(self, config: TrainConfig, ppo: PPOConfig):
        from wormsim.interface import Agent, Interface
        from wormsim.realism_levels import get_level
        from wormsim.rollout import Evaluator, layout_control_dt, make_level_config

        self.spec = config.eval_spec()
        evaluator = Evaluator(self.spec)
        self.env = evaluator.make_env(ppo.num_envs)
        self.circuit = circuit = evaluator.circuit
        self.layout = self.env.layout
        self.interface = Interface(circuit, self.layout, control_dt=layout_control_dt(self.env),
                                   **dict(self.spec.interface_kwargs))
        cfg = make_level_config(config.level, dict(self.spec.level_kwargs))
        torch.manual_seed(config.seed)
        self.brain = get_level(config.level)(circuit, self.interface.io_spec(), cfg, population=1)
        self.agent = Agent(self.brain, self.interface)
        self.log_std = nn.Parameter(torch.full((self.layout.n_muscles,), math.log(ppo.init_std)))
        self.critic = make_critic(self.layout.obs_dim, ppo.critic_hidden)
        self.obs_norm = RunningNorm(self.layout.obs_dim)
        params = list(self.brain.parameters()) + [self.log_std] + list(self.critic.parameters())
        self.params = params
        self.optimizer = torch.optim.Adam(params, lr=ppo.learning_rate, eps=1e-5)
        self.gen = torch.Generator().manual_seed(config.seed + 7919)

    def state_dict(self) -> dict:
        return {"brain": {k: v.detach().clone() for k, v in self.brain.state_dict().items()},
                "log_std": self.log_std.detach().clone(),
                "critic": {k: v.detach().clone() for k, v in self.critic.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "obs_norm": self.obs_norm.state(),
                "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "np_random": np.random.get_state()}

    def load_state_dict(self, s: dict) -> None:
        self.brain.load_state_dict(s["brain"])
        with torch.no_grad():
            self.log_std.copy_(s["log_std"])
        self.critic.load_state_dict(s["critic"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.obs_norm.load(s["obs_norm"])
        self.gen.set_state(s["generator"])
        torch.set_rng_state(s["torch_rng"])
        np.random.set_state(s["np_random"])


@dataclass
class Rollout:
    """One iteration's data, padded to K chunks of L = bptt_steps steps; n worms; S = K * n sequences.

    obs, actions: (L, S, ·); logp, values, adv, returns, mask: (L, S); start: the brain state at the start
    of every sequence, each (S, ·). Sequence s = k * n + e is chunk k of worm e.
    """
    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    adv: torch.Tensor
    returns: torch.Tensor
    mask: torch.Tensor
    start: dict
    episode_returns: np.ndarray    # (n,) each worm's return
    speeds: np.ndarray             # (n,) each worm's mean info["speed"] (NaN for tasks without one)
    scores: np.ndarray             # (n,) each worm's info["score"] at its episode's end (NaN if none)
    steps: int

    @property
    def episode_return(self) -> float:
        return float(self.episode_returns.mean())

    @property
    def speed(self) -> float:
        return float(np.nanmean(self.speeds)) if np.isfinite(self.speeds).any() else float("nan")


def _policy(setup: _Setup, obs: torch.Tensor) -> torch.distributions.Normal:
    """One brain step on obs (batch, obs_dim) -> the action distribution (batch, n_muscles)."""
    mean = setup.agent.act_torch(obs)
    return torch.distributions.Normal(mean, setup.log_std.exp().expand_as(mean))


def gae(values: torch.Tensor, rewards: torch.Tensor, mask: torch.Tensor, boot: torch.Tensor, gamma: float,
        lam: float) -> torch.Tensor:
    """Generalised advantage estimates (T, n) over each worm's valid prefix (mask (T, n)); at its last
    valid step the value bootstraps from ``boot`` (n,) (zero where the episode terminated)."""
    T, n = values.shape
    length = mask.sum(0).long()                           # (n,) valid steps per worm
    adv = torch.zeros_like(values)
    last_gae = torch.zeros(n)
    for k in reversed(range(T)):
        is_last = (length - 1) == k
        next_value = torch.where(is_last, boot, values[k + 1] if k + 1 < T else boot)
        cont = (~is_last).float() * mask[k]
        delta = rewards[k] + gamma * next_value - values[k]
        last_gae = (delta + gamma * lam * cont * last_gae) * mask[k]
        adv[k] = last_gae
    return adv


@torch.no_grad()
def collect_rollout(setup: _Setup, ppo: PPOConfig, seed: int) -> Rollout:
    """Run fresh episodes on every worm, sampling actions; returns the data with GAE advantages."""
    env, n, L = setup.env, ppo.num_envs, ppo.bptt_steps
    obs_np, _ = env.reset(seed=[seed + e for e in range(n)])
    setup.agent.reset(n)
    cap = ppo.num_steps or 10**9
    obs_l, act_l, logp_l, val_l, rew_l, alive_l, starts = [], [], [], [], [], [], []
    alive = np.ones(n, bool)
    terminated_at_end = np.zeros(n, bool)
    final_obs = np.zeros((n, setup.layout.obs_dim))
    ep_return = np.zeros(n)
    speed_sum, speed_count = np.zeros(n), np.zeros(n)
    scores = np.full(n, np.nan)
    t = 0
    while alive.any() and t < cap:
        if t % L == 0:
            starts.append(get_brain_state(setup.brain))
        obs = torch.as_tensor(obs_np, dtype=torch.float32)
        dist = _policy(setup, obs)
        action = dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=setup.gen)
        obs_l.append(obs)
        act_l.append(action)
        logp_l.append(dist.log_prob(action).sum(-1))
        val_l.append(setup.critic(setup.obs_norm(obs)).squeeze(-1))
        alive_l.append(torch.as_tensor(alive, dtype=torch.float32))
        next_obs, reward, terminated, truncated, info = env.step(action.clamp(0, 1).numpy())
        reward = np.asarray(reward, np.float64)
        rew_l.append(torch.as_tensor(np.where(alive, reward, 0.0), dtype=torch.float32))
        ep_return += np.where(alive, reward, 0.0)
        if "speed" in info:
            speed_sum += np.where(alive, np.asarray(info["speed"], np.float64), 0.0)
            speed_count += alive
        done = alive & (np.asarray(terminated) | np.asarray(truncated))
        if "score" in info:
            scores[done] = np.asarray(info["score"], np.float64)[done]
        if done.any():
            # a vector env that resets on the same step reports the episode's last observation here
            last = info["final_obs"] if "final_obs" in info else next_obs
            for e in np.flatnonzero(done):
                final_obs[e] = np.asarray(last[e], np.float64)
            terminated_at_end |= done & np.asarray(terminated)
        alive &= ~done
        obs_np = next_obs
        t += 1
    final_obs[alive] = np.asarray(obs_np)[alive]          # episodes cut by num_steps: bootstrap there

    T = t
    obs = torch.stack(obs_l)                              # (T, n, obs_dim)
    values, rewards, mask = torch.stack(val_l), torch.stack(rew_l), torch.stack(alive_l)
    setup.obs_norm.update(obs.reshape(-1, obs.shape[-1])[mask.reshape(-1) > 0].numpy())

    # GAE over each worm's valid prefix; at its last valid step bootstrap from V(final obs) unless the
    # episode terminated (a time-limit truncation is not an end of the task, Pardo et al. 2018)
    boot = setup.critic(setup.obs_norm(torch.as_tensor(final_obs, dtype=torch.float32))).squeeze(-1)
    boot = torch.where(torch.as_tensor(terminated_at_end), torch.zeros_like(boot), boot)
    adv = gae(values, rewards, mask, boot, ppo.gamma, ppo.gae_lambda)
    returns = adv + values

    # pad to K whole chunks, then (T, n, ·) -> (L, K * n, ·): sequence s = k * n + e
    K = math.ceil(T / L)
    pad = K * L - T

    def chunks(x: torch.Tensor, zero_pad: bool = False) -> torch.Tensor:
        if pad:   # padded steps repeat the last one (a valid brain input) and are masked out
            x = torch.cat([x, (torch.zeros_like if zero_pad else torch.clone)(x[-1:].expand(pad, *x.shape[1:]))])
        x = x.reshape(K, L, n, *x.shape[2:]).transpose(0, 1)
        return x.reshape(L, K * n, *x.shape[3:])

    start = {k: torch.cat([s[k] for s in starts]) for k in starts[0]}
    return Rollout(obs=chunks(obs), actions=chunks(torch.stack(act_l)), logp=chunks(torch.stack(logp_l)),
                   values=chunks(values), adv=chunks(adv), returns=chunks(returns),
                   mask=chunks(mask, zero_pad=True), start=start, episode_returns=ep_return,
                   speeds=np.where(speed_count > 0, speed_sum / np.maximum(speed_count, 1), np.nan),
                   scores=scores, steps=int(mask.sum().item()))


def replay(setup: _Setup, ro: Rollout, idx: torch.Tensor):
    """Run sequences ``idx`` from their stored start states through the brain, with the graph.
    Returns the new log-probabilities and entropies of the stored actions, each (L, len(idx))."""
    setup.agent.reset(len(idx))
    set_brain_state(setup.brain, {k: v[idx] for k, v in ro.start.items()})
    logps, ents = [], []
    for t in range(ro.obs.shape[0]):
        dist = _policy(setup, ro.obs[t, idx])
        logps.append(dist.log_prob(ro.actions[t, idx]).sum(-1))
        ents.append(dist.entropy().sum(-1))
    return torch.stack(logps), torch.stack(ents)


def update(setup: _Setup, ppo: PPOConfig, ro: Rollout) -> dict:
    """PPO epochs over random minibatches of sequences; returns the last epoch's mean losses."""
    S = ro.obs.shape[1]
    mb = max(1, S // ppo.num_minibatches)
    stats: dict[str, list[float]] = {}
    for _epoch in range(ppo.update_epochs):
        perm = torch.randperm(S, generator=setup.gen)
        stats = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")}
        for start in range(0, S, mb):
            idx = perm[start:start + mb]
            mask = ro.mask[:, idx]
            if mask.sum() == 0:
                continue
            new_logp, entropy = replay(setup, ro, idx)
            adv = ro.adv[:, idx]
            if ppo.norm_adv:
                valid = adv[mask > 0]
                adv = (adv - valid.mean()) / (valid.std() + 1e-8) if valid.numel() > 1 else adv
            pg_loss, kl, clipfrac = clipped_surrogate(new_logp, ro.logp[:, idx], adv, mask, ppo.clip_coef)
            n = mask.sum()
            value = setup.critic(setup.obs_norm(ro.obs[:, idx])).squeeze(-1)
            v_err = (value - ro.returns[:, idx]) ** 2
            if ppo.clip_vloss:
                v_clip = ro.values[:, idx] + (value - ro.values[:, idx]).clamp(-ppo.clip_coef, ppo.clip_coef)
                v_err = torch.max(v_err, (v_clip - ro.returns[:, idx]) ** 2)
            v_loss = 0.5 * (v_err * mask).sum() / n
            ent = (entropy * mask).sum() / n
            loss = pg_loss - ppo.ent_coef * ent + ppo.vf_coef * v_loss
            setup.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(setup.params, ppo.max_grad_norm)
            setup.optimizer.step()
            for k, v in (("policy_loss", pg_loss), ("value_loss", v_loss), ("entropy", ent),
                         ("approx_kl", kl), ("clipfrac", clipfrac)):
                stats[k].append(float(v.detach()))
        if ppo.target_kl is not None and stats["approx_kl"] and np.mean(stats["approx_kl"]) > ppo.target_kl:
            break
    return {k: float(np.mean(v)) if v else float("nan") for k, v in stats.items()}


def _check_level(level: str, task: str = "swim") -> None:
    """CapabilityError naming the way out unless PPO can train ``level`` (differentiable, steps in torch,
    with a recurrent state it can store and restore)."""
    from wormsim.realism_levels import get_level
    from wormsim.trainers import get_trainer
    get_trainer("ppo").check(level, task)
    get_level(level).require("has_state", "PPO's truncated BPTT (it stores and restores the brain state)")


def train_ppo(config: TrainConfig, run: Run, resume: bool = False, progress: bool = True,
              ppo: PPOConfig | None = None) -> dict:
    """Run (or continue) PPO in ``run``; returns the summary written to summary.json.

    config.budget is the number of PPO iterations (one rollout of ``ppo.num_envs`` episodes and
    ``ppo.update_epochs`` passes over it). ppo: the PPO hyper-parameters, default PPOConfig(); on resume
    the checkpoint's are used unless given. They are written to RUN/ppo.json as used.
    """
    _check_level(config.level, config.task)
    state = run.load_checkpoint(algo="ppo", fingerprint=config.fingerprint()) if resume else None
    if state is not None and ppo is None:
        ppo = PPOConfig.from_dict(state["ppo"])
    ppo = ppo or PPOConfig()
    if config.lr is not None:
        ppo = replace(ppo, learning_rate=float(config.lr))
    if ppo.num_envs < 1 or ppo.bptt_steps < 1 or ppo.num_minibatches < 1 or ppo.update_epochs < 1:
        raise ValueError(f"num_envs, bptt_steps, num_minibatches, update_epochs must be >= 1: {ppo}")
    atomic_write_text(run.path / "ppo.json", json.dumps(asdict(ppo), indent=2))

    with torch_threads(ppo.torch_threads):
        return _train(config, run, state, ppo, progress)


def _train(config: TrainConfig, run: Run, state: dict | None, ppo: PPOConfig, progress: bool) -> dict:
    setup = _Setup(config, ppo)

    def step(it: int) -> tuple[dict, int]:
        ro = collect_rollout(setup, ppo, seed=_episode_seed(config.seed, 0, it))
        losses = update(setup, ppo, ro)
        k = int(np.argmax(ro.episode_returns))      # the best worm of the iteration
        return ({"best": float(ro.episode_returns[k]), "mean": ro.episode_return,
                 "std": float(ro.episode_returns.std()), "speed_best": _finite(ro.speeds[k]),
                 "speed_mean": _finite(ro.speed), "score_best": _finite(ro.scores[k]),
                 "score_mean": _nanmean(ro.scores), **losses,
                 "action_std": float(setup.log_std.detach().exp().mean())}, ro.steps)

    return run_iterations(config, run, state, algo="ppo", title="PPO", hyper=ppo, setup=setup, step=step,
                          evaluations_per_iteration=ppo.num_envs, progress=progress,
                          untrained_note="untrained (connectome-derived initial parameters), deterministic",
                          source="best validated PPO iterate (mean action)",
                          summary_extra={"learning_rate": ppo.learning_rate, "speed_unit": "body lengths / s"})
