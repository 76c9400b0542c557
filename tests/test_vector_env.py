"""The native vector environments (envs/vector.py) against the single environment and SyncVectorEnv."""
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import wormsim  # noqa: F401
from wormsim.envs.vector import NavigateVectorEnv, SwimVectorEnv

N = 4


def actions(steps, n=N, dim=22, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (steps, n, dim)).astype(np.float32)


def test_make_vec_returns_native_env_with_batched_spaces():
    envs = gym.make_vec("wormsim/Swim-v0", num_envs=N, vectorization_mode="vector_entry_point")
    assert isinstance(envs, SwimVectorEnv) and envs.num_envs == N
    assert envs.single_observation_space.shape == (26,) and envs.observation_space.shape == (N, 26)
    assert envs.action_space.shape == (N, 22)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    nav = gym.make_vec("wormsim/Navigate-v0", num_envs=2, vectorization_mode="vector_entry_point")
    assert isinstance(nav, NavigateVectorEnv) and nav.single_observation_space.shape == (28,)


@pytest.mark.parametrize("env_id", ["wormsim/Swim-v0", "wormsim/Navigate-v0"])
def test_each_worm_matches_the_single_env(env_id):
    acts = actions(300)
    envs = gym.make_vec(env_id, num_envs=N, vectorization_mode="vector_entry_point")
    vobs, _ = envs.reset(seed=10)
    singles = [gym.make(env_id) for _ in range(N)]
    sobs = np.array([e.reset(seed=10 + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_allclose(vobs, sobs, atol=1e-6)
    for t in range(300):
        vobs, vr, *_ = envs.step(acts[t])
        out = [e.step(acts[t, i]) for i, e in enumerate(singles)]
        np.testing.assert_allclose(vobs, np.array([o[0] for o in out]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(vr, [o[1] for o in out], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("head_cpg", [0.0, 2.0])
def test_matches_sync_vector_env_including_autoreset(head_cpg):
    # 30-step episodes: several autoresets, after which the head oscillator's phase restarts per worm
    kw = dict(duration=0.6, n_segments=6, head_cpg=head_cpg)
    acts = actions(100, dim=10)
    native = SwimVectorEnv(num_envs=N, **kw)
    sync = SyncVectorEnv([lambda: gym.make("wormsim/Swim-v0", **kw) for _ in range(N)])
    o1, _ = native.reset(seed=[3, 1, 4, 1])
    o2, _ = sync.reset(seed=[3, 1, 4, 1])
    np.testing.assert_allclose(o1, o2, atol=1e-6)
    ends = 0
    for t in range(100):
        a, b = native.step(acts[t]), sync.step(acts[t])
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[3], b[3])
        ends += a[3].sum()
    assert ends == 3 * N


def _reference(acts, seed=0):
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=seed)
    return [envs.step(a) for a in acts]


def test_nan_action_ends_only_that_worms_episode():
    acts = actions(20)
    ref = _reference(acts)
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=0)
    for t in range(20):
        a = acts[t].copy()
        if t == 5:
            a[2, 3] = np.nan
        obs, r, term, trunc, info = envs.step(a)
        others = [0, 1, 3]
        np.testing.assert_allclose(obs[others], ref[t][0][others], atol=1e-6)
        np.testing.assert_allclose(r[others], ref[t][1][others], atol=1e-9)
        if t == 5:
            assert term.tolist() == [False, False, True, False] and info["bad_action"][2]
        if t == 6:                                          # autoreset: worm 2 starts anew
            assert not term[2] and r[2] == 0 and np.isfinite(obs).all()


def test_diverged_worm_is_reset_alone():
    acts = actions(10)
    ref = _reference(acts)
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=0)
    for t in range(10):
        if t == 3:
            envs.body.qvel[1, 4] = np.nan                   # worm 1's physics blows up
        obs, r, term, trunc, info = envs.step(acts[t])
        assert np.isfinite(obs).all() and np.isfinite(r).all()
        others = [0, 2, 3]
        np.testing.assert_allclose(obs[others], ref[t][0][others], atol=1e-6)
        if t == 3:
            assert term.tolist() == [False, True, False, False] and info["diverged"][1]


def test_bad_action_shape_raises_naming_expected_shape():
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(4, 22\)"):
        envs.step(np.zeros((3, 22)))


def test_reset_seed_list_and_infos_are_arrays():
    envs = SwimVectorEnv(num_envs=3)
    o1, _ = envs.reset(seed=[7, 8, 9])
    o2, _ = envs.reset(seed=7)
    np.testing.assert_array_equal(o1, o2)
    with pytest.raises(ValueError):
        envs.reset(seed=[1, 2])
    _, _, _, _, info = envs.step(np.full((3, 22), 0.5))
    assert info["speed"].shape == (3,) and info["com_velocity"].shape == (3, 2) and info["_speed"].all()


def test_render_chosen_worm_and_tiled():
    import os
    os.environ["MUJOCO_GL"] = "egl"
    envs = SwimVectorEnv(num_envs=2, render_mode="rgb_array", width=32, height=32, render_worm=1)
    envs.reset(seed=0)
    assert envs.render().shape == (32, 32, 3)
    envs.render_worm = None
    assert envs.render().shape == (32, 32, 3)
    envs.close()


def test_rollout_threads_do_not_change_the_trajectory():
    acts = actions(20)
    runs = []
    for nthread in (0, 2):
        envs = SwimVectorEnv(num_envs=N, nthread=nthread)
        envs.reset(seed=5)
        runs.append([envs.step(a)[:2] for a in acts])
        envs.close()
    for (o0, r0), (o2, r2) in zip(*runs):
        np.testing.assert_array_equal(o0, o2)
        np.testing.assert_array_equal(r0, r2)


def test_navigate_render_places_each_worms_target():
    envs = NavigateVectorEnv(num_envs=3)
    envs.reset(seed=0)
    body, task = envs.body, envs.task
    for p in range(3):
        d = body.render_data(p)
        # Worm p is drawn at the origin: its marker sits at its target relative to its own home.
        np.testing.assert_allclose(d.mocap_pos[0, :2], task.target[p], atol=1e-12)
        np.testing.assert_allclose(d.qpos, body.qpos[p])
