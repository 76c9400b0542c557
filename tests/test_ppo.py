"""PPO with the brain as the actor: runs for every differentiable level, its gradient reaches the wiring's
edges without breaking masks or Dale's law, a resumed run repeats the uninterrupted one, conductance is
refused, and the clipped surrogate moves probability toward positive-advantage actions. Tiny budgets and
0.1-0.2 s episodes keep the file fast."""
import json

import numpy as np
import pytest
import torch

from wormsim.runs import Run
from wormsim.config import TrainConfig
from wormsim.train.ppo import (PPOConfig, _Setup, clipped_surrogate, collect_rollout, get_brain_state,
                               replay, set_brain_state, train_ppo, update)

TINY = PPOConfig(num_envs=2, bptt_steps=3, update_epochs=1, num_minibatches=2)


def _config(tmp_path, level="rate", budget=1, duration=0.1, name="run"):
    cfg = TrainConfig(level=level, budget=budget, duration=duration, eval_episodes=1, video=False,
                      out=str(tmp_path / name))
    return cfg, Run.create(cfg.run_dir(), cfg)


@pytest.mark.parametrize("level", ["rate", "spiking", "mlp"])
def test_one_iteration_writes_metrics_checkpoint_and_policy(tmp_path, level):
    cfg, run = _config(tmp_path, level)
    summary = train_ppo(cfg, run, progress=False, ppo=TINY)
    assert {"final_speed", "final_return", "untrained_speed", "generations", "wall_time", "env_steps",
            "n_params", "policy", "speed_unit"} <= set(summary)
    rows = run.metrics()
    assert [r["iteration"] for r in rows] == [0, 1]
    for key in ("best", "mean", "std", "speed_best", "speed_mean", "policy_loss", "value_loss", "approx_kl",
                "action_std", "wall_time", "env_steps"):
        assert np.isfinite(rows[1][key]), key
    assert rows[1]["best"] >= rows[1]["mean"] and rows[1]["std"] >= 0      # across the iteration's worms
    assert {"best", "mean", "std", "speed_best", "speed_mean"} <= set(rows[0])   # the plots read these
    state = run.load_checkpoint()
    assert state["iteration"] == 1 and {"brain", "critic", "optimizer", "generator"} <= set(state["model"])
    params, meta = run.load_policy()
    assert params.shape == (summary["n_params"],) and meta["level"] == level and meta["algo"] == "ppo"
    assert json.loads((run.path / "ppo.json").read_text())["num_envs"] == TINY.num_envs


def test_replay_reproduces_the_rollout_and_the_gradient_reaches_the_edges():
    setup = _Setup(TrainConfig(level="rate", duration=0.2), TINY)
    ro = collect_rollout(setup, TINY, seed=3)
    idx = torch.arange(ro.obs.shape[1])
    new_logp, _ = replay(setup, ro, idx)
    valid = ro.mask > 0
    # the brain reads observations only, so stored start states + stored observations give back the
    # rollout's action distribution exactly: the first PPO ratio is 1
    torch.testing.assert_close(new_logp[valid], ro.logp[valid], atol=1e-4, rtol=1e-5)
    loss, _, _ = clipped_surrogate(new_logp, ro.logp, ro.adv, ro.mask, TINY.clip_coef)
    loss.backward()
    for name in ("chem", "gap", "gain", "bias"):
        grad = getattr(setup.brain, name).grad
        assert grad is not None and grad.abs().sum() > 0, name


@pytest.mark.parametrize("level", ["rate", "spiking"])
def test_masks_and_dale_signs_hold_after_updates(level):
    ppo = PPOConfig(num_envs=2, bptt_steps=3, update_epochs=2, num_minibatches=1, learning_rate=0.5,
                    max_grad_norm=100.0)
    setup = _Setup(TrainConfig(level=level, duration=0.1), ppo)
    brain, c = setup.brain, setup.brain.circuit
    before = brain.get_params().clone()
    update(setup, ppo, collect_rollout(setup, ppo, seed=1))
    assert not torch.equal(before, brain.get_params())
    with torch.no_grad():
        w, g = brain.chem_matrix()[0].numpy(), brain.gap_matrix()[0].numpy()
    on = c.chem > 0
    assert np.all(w[~on] == 0)
    assert np.all(w[on] * c.sign[:, None].repeat(c.n, 1)[on] >= 0)    # sign of the presynaptic cell
    assert np.all(g[~(c.gap > 0)] == 0) and np.all(g >= 0) and np.allclose(g, g.T)


def test_brain_state_round_trip():
    setup = _Setup(TrainConfig(level="spiking", duration=0.1), TINY)
    setup.agent.reset(2)
    u = torch.ones(2, setup.interface.n_inputs)
    for _ in range(3):
        setup.brain.step(u)
    saved = get_brain_state(setup.brain)
    a1 = setup.brain.step(u)
    setup.agent.reset(2)
    set_brain_state(setup.brain, saved)
    torch.testing.assert_close(setup.brain.step(u), a1)


def test_resume_continues_exactly(tmp_path):
    cfg, run = _config(tmp_path, budget=2, name="whole")
    train_ppo(cfg, run, progress=False, ppo=TINY)
    cfg1, run1 = _config(tmp_path, budget=1, name="split")
    train_ppo(cfg1, run1, progress=False, ppo=TINY)
    cfg2 = TrainConfig(**{**cfg1.__dict__, "budget": 2})
    train_ppo(cfg2, Run.open(run1.path), resume=True, progress=False)    # PPOConfig from the checkpoint

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]
    assert strip(run1.metrics()) == strip(run.metrics())
    assert np.array_equal(run1.load_policy()[0], run.load_policy()[0])


def test_conductance_is_refused(tmp_path):
    cfg, run = _config(tmp_path, level="conductance")
    with pytest.raises(ValueError, match=r"PPO needs a level that is differentiable \(spiking, rate, mlp, [^)]*\); "
                                         r"the conductance level is not: use --algo es for conductance"):
        train_ppo(cfg, run, progress=False)


def test_clipped_surrogate_moves_probability_toward_positive_advantage():
    torch.manual_seed(0)
    mean = torch.zeros(1, requires_grad=True)
    actions = torch.randn(256)
    adv = torch.where(actions > 0, 1.0, -1.0)          # actions above 0 were good
    dist0 = torch.distributions.Normal(torch.zeros(1), 1.0)
    old_logp = dist0.log_prob(actions)
    opt = torch.optim.SGD([mean], lr=0.5)
    for _ in range(30):
        logp = torch.distributions.Normal(mean, 1.0).log_prob(actions)
        loss, kl, _ = clipped_surrogate(logp, old_logp, adv, torch.ones_like(adv), 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    new_logp = torch.distributions.Normal(mean.detach(), 1.0).log_prob(actions)
    ratio = (new_logp - old_logp).exp()
    assert mean.item() > 0
    assert ratio[adv > 0].mean() > 1 > ratio[adv < 0].mean()
    # the clip stops the push: once every good action's ratio passed 1 + clip there is no gradient left,
    # so the policy stays within about the trust region instead of running away
    assert mean.item() < 1.0
