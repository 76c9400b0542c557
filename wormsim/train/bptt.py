"""Backpropagation through time for the differentiable levels on the tasks without a body.

The non-motor tasks (working memory, memory capacity, digits) have no body: their observations are the
task's inputs, which do not depend on what the circuit answers, and their reward is a smooth function of
the muscles (memory: the squared error saved against answering 0; digits: the log-probability of the
label under the fixed decoder). So the return of an episode is differentiable in the brain's parameters
through the brain alone, and gradient descent can train what evolution strategies find hard at the same
budget (ES on the working-memory task stays near R^2 0 at the experiment's default budget; see
docs/experiment/). This trainer is the supervised-learning counterpart of CMA-ES and PPO, with the same
TrainConfig, run directory, metrics names, checkpoints and final judgement, so runs of all three
compare on one plot and in one table.

One iteration: ``num_envs`` fresh episodes (seeds from the run seed and the iteration) run side by side
as one brain batch. At every control step the brain (through the sensor/motor interface, as in every
other trainer) answers with muscles; the environment is stepped with them (detached) and gives the
step's reward and info; the task's ``torch_reward(muscles, info)`` recomputes that reward with the
graph (tests/test_bptt.py checks the two agree). The loss is minus the mean episode return; full BPTT
through the whole episode (25 control steps for memory, 60 for digits, each with the level's internal
substeps), Adam, gradient norm clipped. Episodes never span two iterations, so a resumed run repeats the
uninterrupted one exactly.

Metrics per iteration (metrics.jsonl): iteration; best, mean and std of the episodic return over the
iteration's episodes; score_best and score_mean (info["score"]); speed_best and speed_mean null (no body:
the names are the other trainers', so plots read every run); loss, grad_norm; wall_time, env_steps.
Row 0 is the untrained brain judged like the final policy (held-out episodes; digits: the test split).

Why by hand: the loop is a dozen lines of PyTorch around the brain's own step(); no library trains an
arbitrary recurrent module against a Gymnasium environment's reward this way.
"""
from __future__ import annotations

import json
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
class BPTTConfig:
    """BPTT hyper-parameters.

    num_envs: episodes per iteration, one brain batch (the minibatch of the gradient step).
    learning_rate: Adam's, 3e-2 unless --lr sets it (the experiment's tuning sweep chooses it per level
        on validation episodes).
    max_grad_norm: global gradient-norm clip.
    torch_threads: torch CPU threads while training (None: leave torch's setting); 1, as for PPO: the
        per-step tensors are small (batch x ~100 neurons).
    """
    num_envs: int = 32
    learning_rate: float = 3e-2
    max_grad_norm: float = 1.0
    torch_threads: int | None = 1

    @classmethod
    def from_dict(cls, d: dict) -> "BPTTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def check_bptt(config: TrainConfig) -> None:
    """CapabilityError / ValueError naming the way out unless BPTT can train this set-up (the trainer
    registry knows which levels and tasks it takes)."""
    from wormsim.trainers import get_trainer
    if config.train != "weights":
        raise ValueError("--train readout fits its readout in closed form; use --algo es with it")
    get_trainer("bptt").check(config.level, config.task)


class _Setup:
    """Environment, brain, agent and optimiser of one BPTT run."""

    def __init__(self, config: TrainConfig, bptt: BPTTConfig):
        from wormsim.interface import Agent, Interface
        from wormsim.realism_levels import get_level
        from wormsim.rollout import Evaluator, layout_control_dt, make_level_config

        spec = config.eval_spec()
        evaluator = Evaluator(spec)
        self.env = evaluator.make_env(bptt.num_envs)
        self.task = self.env.task
        if not hasattr(self.task, "torch_reward"):
            raise ValueError(f"task {config.task!r} has no differentiable reward (torch_reward); "
                             f"use --algo es")
        self.circuit = evaluator.circuit
        self.interface = Interface(self.circuit, self.env.layout, control_dt=layout_control_dt(self.env),
                                   **dict(spec.interface_kwargs))
        torch.manual_seed(config.seed)
        cfg = make_level_config(config.level, dict(spec.level_kwargs))
        self.brain = get_level(config.level)(self.circuit, self.interface.io_spec(), cfg, population=1)
        self.agent = Agent(self.brain, self.interface)
        self.params = list(self.brain.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=bptt.learning_rate)

    def state_dict(self) -> dict:
        return {"brain": {k: v.detach().clone() for k, v in self.brain.state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state()}

    def load_state_dict(self, s: dict) -> None:
        self.brain.load_state_dict(s["brain"])
        self.optimizer.load_state_dict(s["optimizer"])
        torch.set_rng_state(s["torch_rng"])


def episode_returns(setup: _Setup, seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray, int]:
    """Run ``num_envs`` fresh episodes with the graph. Returns the differentiable returns (n,), the
    environment's own returns (n,) and scores (n,), and the number of steps."""
    env = setup.env
    n = env.num_envs
    obs, _ = env.reset(seed=[seed + e for e in range(n)])
    setup.agent.reset(n)
    total = torch.zeros(n)
    env_total = np.zeros(n)
    scores = np.full(n, np.nan)
    for _ in range(env.max_steps):
        muscles = setup.agent.act_torch(torch.as_tensor(obs, dtype=torch.float32))
        obs, reward, terminated, truncated, info = env.step(muscles.detach().cpu().numpy())
        total = total + setup.task.torch_reward(muscles.clamp(0, 1).cpu(), info)
        env_total += reward
        done = np.asarray(terminated) | np.asarray(truncated)
        scores[done] = np.asarray(info["score"], float)[done]
    return total, env_total, scores, n * env.max_steps


def train_bptt(config: TrainConfig, run: Run, resume: bool = False, progress: bool = True,
               bptt: BPTTConfig | None = None) -> dict:
    """Run (or continue) BPTT in ``run``; returns the summary written to summary.json.

    config.budget is the number of gradient steps (iterations), each on ``bptt.num_envs`` fresh
    episodes. bptt: the hyper-parameters, default BPTTConfig(); on resume the checkpoint's are used
    unless given. They are written to RUN/bptt.json as used.
    """
    check_bptt(config)
    state = run.load_checkpoint(algo="bptt", fingerprint=config.fingerprint()) if resume else None
    if state is not None and bptt is None:
        bptt = BPTTConfig.from_dict(state["bptt"])
    bptt = bptt or BPTTConfig()
    if config.lr is not None:
        bptt = replace(bptt, learning_rate=float(config.lr))
    if bptt.num_envs < 1 or not bptt.learning_rate > 0:
        raise ValueError(f"num_envs must be >= 1 and learning_rate > 0: {bptt}")
    atomic_write_text(run.path / "bptt.json", json.dumps(asdict(bptt), indent=2))
    with torch_threads(bptt.torch_threads):
        return _train(config, run, state, bptt, progress)


def _train(config: TrainConfig, run: Run, state: dict | None, bptt: BPTTConfig, progress: bool) -> dict:
    setup = _Setup(config, bptt)

    def step(it: int) -> tuple[dict, int]:
        returns, env_returns, scores, steps = episode_returns(setup, _episode_seed(config.seed, 0, it))
        loss = -returns.mean()
        setup.optimizer.zero_grad()
        loss.backward()
        grad_norm = nn.utils.clip_grad_norm_(setup.params, bptt.max_grad_norm)
        setup.optimizer.step()
        k = int(np.argmax(env_returns))
        return ({"best": float(env_returns[k]), "mean": float(env_returns.mean()),
                 "std": float(env_returns.std()), "speed_best": None, "speed_mean": None,
                 "score_best": _finite(scores[k]), "score_mean": _nanmean(scores), "loss": float(loss.detach()),
                 "grad_norm": float(grad_norm)}, steps)

    return run_iterations(config, run, state, algo="bptt", title="BPTT", hyper=bptt, setup=setup, step=step,
                          evaluations_per_iteration=bptt.num_envs, progress=progress,
                          untrained_note="untrained (connectome-derived initial parameters), held-out episodes",
                          source="best validated BPTT iterate",
                          summary_extra={"learning_rate": bptt.learning_rate})
