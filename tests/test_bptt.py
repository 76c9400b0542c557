"""BPTT on the non-motor tasks: the differentiable reward is the environment's reward, a few gradient
steps raise the return, a resumed run repeats the uninterrupted one, and set-ups BPTT cannot train are
refused from the command line before any file is written."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import wormsim  # noqa: F401  (registers the environments)
from wormsim.cli import main
from wormsim.runs import Run
from wormsim.train.bptt import BPTTConfig, train_bptt
from wormsim.config import TrainConfig


@pytest.mark.parametrize("env_id", ["wormsim/Memory-v0", "wormsim/MemoryCapacity-v0", "wormsim/Digits-v0"])
def test_the_differentiable_reward_is_the_environments(env_id):
    env = gym.make_vec(env_id, num_envs=5, vectorization_mode="vector_entry_point")
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    nonzero = 0
    for _ in range(env.max_steps):
        action = rng.uniform(0, 1, env.action_space.shape).astype(np.float32)
        a = torch.tensor(action, dtype=torch.float64, requires_grad=True)
        _, reward, _, _, info = env.step(action)
        r = env.task.torch_reward(a, info)
        np.testing.assert_allclose(r.detach().numpy(), reward, rtol=1e-5, atol=1e-6)
        r.sum().backward()
        nonzero += int((a.grad.abs().sum(1) > 0).sum())
    assert nonzero > 0                    # the reward reaches the muscles on the scored steps
    env.close()


def _config(tmp_path, level="mlp", task="memory", budget=2, name="run"):
    cfg = TrainConfig(level=level, task=task, algo="bptt", budget=budget, eval_episodes=2, video=False,
                      out=str(tmp_path / name))
    return cfg, Run.create(cfg.run_dir(), cfg)


def test_gradient_steps_raise_the_return_and_the_run_is_complete(tmp_path):
    cfg, run = _config(tmp_path, budget=40)
    summary = train_bptt(cfg, run, progress=False, bptt=BPTTConfig(num_envs=16))
    rows = run.metrics()
    assert [r["iteration"] for r in rows] == list(range(41))
    first = np.mean([r["mean"] for r in rows[1:6]])
    last = np.mean([r["mean"] for r in rows[-5:]])
    assert last > first + 0.2, (first, last)          # mlp on memory: about 0 -> 0.6 in 40 steps
    assert 0 <= summary["final_score"] <= 1 and summary["algo"] == "bptt"
    params, meta = run.load_policy()
    assert params.shape == (summary["n_params"],) and meta["algo"] == "bptt"
    assert run.load_checkpoint()["iteration"] == 40


@pytest.mark.parametrize("level", ["rate", "spiking"])
def test_resume_continues_exactly(tmp_path, level):
    tiny = BPTTConfig(num_envs=2)
    cfg, run = _config(tmp_path, level=level, task="digits", budget=2, name="whole")
    train_bptt(cfg, run, progress=False, bptt=tiny)
    cfg1, run1 = _config(tmp_path, level=level, task="digits", budget=1, name="split")
    train_bptt(cfg1, run1, progress=False, bptt=tiny)
    cfg2 = TrainConfig(**{**cfg1.__dict__, "budget": 2})
    train_bptt(cfg2, Run.open(run1.path), resume=True, progress=False)   # BPTTConfig from the checkpoint

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]
    assert strip(run1.metrics()) == strip(run.metrics())
    assert np.array_equal(run1.load_policy()[0], run.load_policy()[0])
    assert run.metrics()[1]["mean"] != run.metrics()[2]["mean"]      # the parameters moved


@pytest.mark.parametrize("args, message", [
    (["--task", "swim"], "body of swim is not differentiable"),
    (["--task", "memory", "--level", "conductance"], "BPTT needs a level that is differentiable"),
    (["--task", "memory", "--train", "readout"], "closed form"),
])
def test_what_bptt_cannot_train_is_refused_before_any_file(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", "--algo", "bptt", "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err and not out.exists()
