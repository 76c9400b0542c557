"""The non-motor tasks wormsim/Memory-v0, MemoryCapacity-v0 and Digits-v0 (envs/nonmotor.py)."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import wormsim  # noqa: F401
from wormsim.envs.layout import ObsLayout
from wormsim.envs.tasks import get_task, task_names
from wormsim.envs.nonmotor import (digits_data, digits_decoder, readout_y,
                                   score_of)

IDS = [get_task(t).env_id for t in task_names(has_body=False)]
TASK_NAMES = {"wormsim/Memory-v0": ("cue", "go"), "wormsim/MemoryCapacity-v0": ("u",),
              "wormsim/Digits-v0": tuple(f"px{i:02d}" for i in range(64))}


def make_vec(env_id, n, **kw):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw)


def muscles_for_y(y, J):
    """(P,) target readouts -> (P, 2J) muscles with mean(dorsal) - mean(ventral) = y."""
    y = np.asarray(y, dtype=np.float64)[:, None]
    return np.concatenate([np.repeat(0.5 + y / 2, J, 1), np.repeat(0.5 - y / 2, J, 1)], 1).astype(np.float32)


def run_episode(env, policy, seed):
    """Single env: returns (rewards, final info)."""
    obs, _ = env.reset(seed=seed)
    rewards = []
    while True:
        obs, r, term, trunc, info = env.step(policy(env.unwrapped, obs))
        rewards.append(r)
        if term or trunc:
            return np.array(rewards), info


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_and_layout(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, n_segments=6)
        check_env(env.unwrapped)
        u = env.unwrapped
        assert u.layout == ObsLayout(6, TASK_NAMES[env_id])
        assert u.control_dt == 0.02 and u.max_steps > 0
        assert env.action_space.shape == (10,) and env.observation_space.dtype == np.float32
        assert np.isfinite(env.observation_space.low).all() and np.isfinite(env.observation_space.high).all()
        obs, _ = env.reset(seed=1)
        lay = u.layout
        # Silent proprioception: no body.
        assert not obs[lay.angles].any() and not obs[lay.velocities].any() and not obs[lay.head_velocity].any()
        np.testing.assert_array_equal(obs[lay.head_direction], [1.0, 0.0])
        v = make_vec(env_id, 3, n_segments=6)
        assert v.layout == lay and v.control_dt == 0.02 and v.max_steps == u.max_steps
        assert v.observation_space.shape == (3, lay.obs_dim)
        assert v.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_matches_single_envs(env_id):
    """Same seeds and actions: identical observations, rewards, flags and infos, through autoreset."""
    kw = {"n_steps": 20} if "Capacity" in env_id else {}
    seeds = [3, 11, 4]
    v = make_vec(env_id, len(seeds), **kw)
    singles = [gym.make(env_id, **kw) for _ in seeds]
    T = v.max_steps
    vobs, _ = v.reset(seed=seeds)
    sobs = [e.reset(seed=s)[0] for e, s in zip(singles, seeds)]
    np.testing.assert_array_equal(vobs, np.stack(sobs))
    rng = np.random.default_rng(0)
    ended = np.zeros(len(seeds), bool)
    for step in range(2 * T + 3):
        a = rng.uniform(0, 1, v.action_space.shape).astype(np.float32)
        vobs, vr, vterm, vtrunc, vinfo = v.step(a)
        for i, e in enumerate(singles):
            if ended[i]:            # NEXT_STEP autoreset: the vector env resets, the action is ignored
                o, _ = e.reset()
                r, term, trunc, info = 0.0, False, False, None
            else:
                o, r, term, trunc, info = e.step(a[i])
            np.testing.assert_array_equal(vobs[i], o)
            assert vr[i] == pytest.approx(r, abs=1e-12) and vterm[i] == term and vtrunc[i] == trunc
            if info is not None:
                for k, val in info.items():
                    assert vinfo[k][i] == pytest.approx(val, abs=1e-12), k
                    assert vinfo["_" + k][i]
            ended[i] = term or trunc
    assert vtrunc.any() or ended.any() or step >= T


def test_memory_schedule_and_perfect_policy():
    env = gym.make("wormsim/Memory-v0")
    task = env.unwrapped.task
    J = env.unwrapped.layout.n_joints
    K, C, D, R = 2, 5, 5, 5                                    # the defaults: 2 cues, a 5-step delay
    T = K * C + D + K * R
    assert (task.n_cues, task.cue_steps, task.delay_steps, task.recall_steps) == (K, C, D, R)
    assert env.unwrapped.max_steps == T
    obs, _ = env.reset(seed=5)
    lay = env.unwrapped.layout
    cues = task.cues[0, :K].copy()
    assert np.all(np.abs(cues) <= 1)
    seen, go, rewards = [], [], []
    for t in range(T):
        seen.append(obs[lay.task][0])
        go.append(obs[lay.task][1])
        y = task.targets[0, t] if task.scored[t] else 0.0
        obs, r, term, trunc, info = env.step(muscles_for_y([y], J)[0])
        rewards.append(r)
        assert trunc == (t == T - 1) and not term
    seen, go, rewards = np.array(seen), np.array(go), np.array(rewards)
    np.testing.assert_allclose(seen[:K * C], np.repeat(cues, C), rtol=1e-6)   # cue k for C steps
    assert not seen[K * C:].any()                                             # delay and recall: no cue
    np.testing.assert_array_equal(go, np.r_[np.zeros(K * C + D), np.ones(K * R)])
    np.testing.assert_allclose(task.targets[0, K * C + D:T], np.repeat(cues, R))
    assert score_of(info) == pytest.approx(1.0, abs=1e-9)
    # perfect recall earns the squared targets over their expected total: the return is R^2 unclipped
    expected = K * R * 0.75 ** 2 / 3
    np.testing.assert_allclose(rewards[K * C + D:], np.repeat(cues, R) ** 2 / expected, rtol=1e-6)
    assert not rewards[:K * C + D].any()
    assert rewards.sum() == pytest.approx(R * np.sum(cues ** 2) / expected, rel=1e-6)


@pytest.mark.parametrize("env_id,kw", [("wormsim/Memory-v0", {}), ("wormsim/MemoryCapacity-v0", {}),
                                       ("wormsim/MemoryCapacity-v0", {"lag": 3})])
def test_return_is_unclipped_r2_and_estimates_one_minus_mse_over_variance(env_id, kw):
    """Answering 0 returns exactly 0; a shrunk answer y = b * target returns 1 - (1 - b)^2 on average;
    a wrong-signed one returns below 0 (its score is clipped to 0, its return is not)."""
    n = 256
    v = make_vec(env_id, n, **kw)
    J = v.layout.n_joints
    for b, expected in ((0.0, 0.0), (0.5, 0.75), (-0.5, -1.25)):
        v.reset(seed=7)
        total = np.zeros(n)
        for t in range(v.max_steps):
            y = np.where(v.task.scored[t], b * v.task.targets[:, t], 0.0)
            obs, r, term, trunc, info = v.step(muscles_for_y(y, J))
            total += r
        score = score_of(info)
        if b == 0.0:
            np.testing.assert_allclose(total, 0.0, atol=1e-12)
        # exact per episode: return = (1 - (1 - b)^2) * SS_ref / E[SS_ref]; the mean is near its expectation
        assert total.mean() == pytest.approx(expected, abs=0.08)
        np.testing.assert_allclose(score, max(0.0, 1 - (1 - b) ** 2), atol=1e-5)


def test_memory_capacity_target_is_lagged_input():
    env = gym.make("wormsim/MemoryCapacity-v0", lag=4, n_steps=30)
    obs, _ = env.reset(seed=2)
    lay = env.unwrapped.layout
    us, targets, scored = [], [], []
    for _ in range(30):
        us.append(obs[lay.task][0])
        obs, r, term, trunc, info = env.step(muscles_for_y([0.2], lay.n_joints)[0])   # y = 0.2: reward != 0
        targets.append(info["target"])
        scored.append(info["scored"])
        assert (r == 0.0) == (not info["scored"])
    us = np.array(us)
    assert trunc and not np.any(scored[:4]) and np.all(scored[4:])
    np.testing.assert_allclose(np.array(targets)[4:], us[:-4], rtol=1e-6)
    assert np.all(np.abs(us) <= 1) and np.std(us) > 0.3


def test_memory_capacity_curve_kwarg_validation():
    with pytest.raises(ValueError, match="lag"):
        gym.make("wormsim/MemoryCapacity-v0", lag=0)
    with pytest.raises(ValueError, match="n_steps"):
        gym.make("wormsim/MemoryCapacity-v0", lag=5, n_steps=6)
    with pytest.raises(ValueError, match="split"):
        gym.make("wormsim/Digits-v0", split="val")


def digits_oracle(task, t):
    """Muscles along the decoder's pseudo-inverse toward the shown image's class, as large as [0, 1] allows."""
    W = task.decoder
    label = task.labels[np.arange(task.n_envs), task.image_of_t[t]]
    d = (np.linalg.pinv(W) @ np.eye(10)[label].T).T                  # (P, 2J), W d = e_label
    d = d * (0.5 / np.abs(d).max(axis=1, keepdims=True))
    return (0.5 + d).astype(np.float32)


def test_digits_oracle_and_random_policies():
    n = 64
    v = make_vec("wormsim/Digits-v0", n)
    assert v.max_steps == 10 * 6
    for kind in ("oracle", "random", "constant"):
        v.reset(seed=7)
        rng = np.random.default_rng(1)
        total = np.zeros(n)
        for t in range(v.max_steps):
            if kind == "oracle":
                a = digits_oracle(v.task, t)
            elif kind == "random":
                a = rng.uniform(0, 1, v.action_space.shape).astype(np.float32)
            else:
                a = np.full(v.action_space.shape, 0.5, np.float32)
            obs, r, term, trunc, info = v.step(a)
            total += r
            np.testing.assert_array_equal(r[~info["respond"]], 0.0)
            assert np.all(r <= 0)
        assert trunc.all()
        acc = score_of(info)
        if kind == "oracle":
            np.testing.assert_array_equal(acc, 1.0)
        elif kind == "random":
            assert 0.05 < acc.mean() < 0.16
        else:   # all logits 0: argmax is class 0, reward -log 10 per respond step
            np.testing.assert_allclose(total, -np.log(10) * 20)


def test_digits_inputs_and_splits():
    data = digits_data()
    train, test = data["train"], data["test"]
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == 1797
    assert abs(len(test) / 1797 - 0.2) < 0.01
    assert data["pixels"].min() == 0 and data["pixels"].max() == 1
    # The decoder is fixed: the same matrix in every process and env.
    np.testing.assert_array_equal(digits_decoder(22), digits_decoder(22))
    assert np.linalg.matrix_rank(digits_decoder(22)) == 10
    for split, pool in (("train", train), ("test", test)):
        v = make_vec("wormsim/Digits-v0", 32, split=split)
        v.reset(seed=0)
        used = v.task.images[:, :10]
        assert np.isin(used, pool).all()
        # Pixels on for show + respond steps of each image.
        env = gym.make("wormsim/Digits-v0", split=split)
        obs, _ = env.reset(seed=3)
        task = env.unwrapped.task
        lay = env.unwrapped.layout
        for t in range(12):
            k = t // 6
            np.testing.assert_array_equal(obs[lay.task], data["pixels"][task.images[0, k]])
            obs, r, term, trunc, info = env.step(np.full(lay.n_muscles, 0.5, np.float32))
            assert info["label"] == data["labels"][task.images[0, k]]


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_sequence(env_id):
    def episode(seed):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(env.unwrapped.max_steps):
            out.append(env.step(np.full(env.action_space.shape, 0.3, np.float32))[0])
        return np.stack(out)
    a, b, c = episode(42), episode(42), episode(43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # reset(seed=int) on a vector env seeds env i with seed + i
    v = make_vec(env_id, 2)
    o, _ = v.reset(seed=42)
    np.testing.assert_array_equal(o[0], a[0])


@pytest.mark.parametrize("env_id", IDS)
def test_bad_actions(env_id):
    env = gym.make(env_id, n_segments=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(8,\)"):
        env.step(np.zeros(7, np.float32))
    bad = np.full(8, 0.5, np.float32)
    bad[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        env.unwrapped.step(bad)
    v = make_vec(env_id, 3, n_segments=5)
    v.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(3, 8\)"):
        v.step(np.zeros((3, 7), np.float32))
    a = np.full((3, 8), 0.5, np.float32)
    a[1, 0] = np.nan
    a[2, 0] = 3.0                                   # finite, out of range: clipped, not an error
    obs, r, term, trunc, info = v.step(a)
    np.testing.assert_array_equal(term, [False, True, False])
    np.testing.assert_array_equal(info["bad_action"], [False, True, False])
    assert r[1] == 0.0 and info["score"][1] == 0.0 and np.isfinite(r).all()
    obs, r, term, trunc, info = v.step(np.full((3, 8), 0.5, np.float32))   # env 1 autoresets
    assert not term.any() and r[1] == 0.0 and not info["bad_action"].any()
    assert v.task.steps[1] == 0 and v.task.steps[0] == 2


def test_readout():
    a = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_allclose(readout_y(a), [1, -1, 0])


@pytest.mark.parametrize("task,env_id", [("memory", IDS[0]), ("memory-capacity", IDS[1]), ("digits", IDS[2])])
def test_rate_brain_runs_each_task(task, env_id):
    """The trainer's Evaluator runs a rate brain through the shared Interface on each task unchanged."""
    from wormsim import rollout
    assert rollout.task_env_id(task) == env_id and not get_task(task).has_body
    ev = rollout.Evaluator(rollout.EvalSpec(level="rate", task=task))
    p = ev.initial_params()
    res = ev.evaluate(np.stack([p, p]), seed=0)
    T = ev.env.max_steps
    assert res.steps == 2 * T and np.isfinite(res.returns).all() and not res.failed.any()
    assert np.all(res.returns <= 0) if task == "digits" else np.all(res.returns < 1)   # log-lik. / R^2
    assert np.all((res.score >= 0) & (res.score <= 1)) and np.isnan(res.speed).all()
    assert ev.interface.channel_names[-len(TASK_NAMES[env_id]):] == tuple(f"task:{n}" for n in TASK_NAMES[env_id])
