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


def assert_same_infos(native: dict, sync: dict) -> None:
    """Every key SyncVectorEnv reports, with the same "_key" mask and the same values where set."""
    for k in (k for k in sync if not k.startswith("_")):
        mask = sync["_" + k]
        np.testing.assert_array_equal(native["_" + k], mask, err_msg=k)
        np.testing.assert_allclose(np.asarray(native[k], float)[mask], np.asarray(sync[k], float)[mask],
                                   rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("env_id,head_cpg", [("wormsim/Swim-v0", 0.0), ("wormsim/Swim-v0", 2.0),
                                             ("wormsim/Navigate-v0", 0.0)])
def test_matches_sync_vector_env_including_autoreset(env_id, head_cpg):
    # 30-step episodes: several autoresets, after which the head oscillator's phase restarts per worm
    kw = dict(duration=0.6, n_segments=6, head_cpg=head_cpg)
    acts = actions(100, dim=10)
    native = gym.make_vec(env_id, num_envs=N, vectorization_mode="vector_entry_point", **kw)
    sync = SyncVectorEnv([lambda: gym.make(env_id, **kw) for _ in range(N)])
    o1, i1 = native.reset(seed=[3, 1, 4, 1])
    o2, i2 = sync.reset(seed=[3, 1, 4, 1])
    np.testing.assert_allclose(o1, o2, atol=1e-6)
    assert_same_infos(i1, i2)
    ends = 0
    for t in range(100):
        a, b = native.step(acts[t]), sync.step(acts[t])
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[3], b[3])
        assert_same_infos(a[4], b[4])
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


def test_a_worm_diverging_during_the_step_is_flagged_and_reset_alone(monkeypatch):
    acts = actions(6)
    ref = _reference(acts)
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=0)
    step = envs.body.step

    def blow_up(controls, n_substeps=1):               # worm 2's physics diverges inside step 2
        step(controls, n_substeps)
        if envs.task.steps[2] == 2:
            envs.body.qvel[2, 5] = np.inf
    monkeypatch.setattr(envs.body, "step", blow_up)
    for t in range(6):
        obs, r, term, trunc, info = envs.step(acts[t])
        assert np.isfinite(obs).all() and np.isfinite(r).all()
        np.testing.assert_allclose(obs[[0, 1, 3]], ref[t][0][[0, 1, 3]], atol=1e-6)
        if t == 2:
            assert term.tolist() == [False, False, True, False] and info["diverged"].tolist() == term.tolist()
            assert r[2] == 0.0


def test_an_infinite_action_ends_only_that_worms_episode():
    acts = actions(3)
    ref = _reference(acts)
    envs = SwimVectorEnv(num_envs=N)
    envs.reset(seed=0)
    a = acts[0].copy()
    a[1, 0] = np.inf
    obs, r, term, _, info = envs.step(a)
    assert term.tolist() == [False, True, False, False] and info["bad_action"][1] and r[1] == 0.0
    np.testing.assert_allclose(obs[[0, 2, 3]], ref[0][0][[0, 2, 3]], atol=1e-6)


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
    envs = SwimVectorEnv(num_envs=3, render_mode="rgb_array", width=64, height=64, render_worm=1)
    envs.reset(seed=0)
    bend = np.full((3, 22), 0.5)
    bend[0, :11], bend[0, 11:] = 1.0, 0.0               # worm 0 curls dorsally, the others stay straight
    for _ in range(20):
        envs.step(bend)
    worm1 = envs.render()
    assert worm1.shape == (64, 64, 3)
    envs.render_worm = 0
    worm0 = envs.render()
    assert np.abs(worm0.astype(int) - worm1).sum() > 0   # the chosen worm is drawn, not always worm 0
    envs.render_worm = None
    tiled = envs.render()
    assert tiled.shape == (64, 64, 3)
    np.testing.assert_array_equal(tiled[:32, :32], envs.task.render(0, 32, 32))   # top left: worm 0
    np.testing.assert_array_equal(tiled[32:, 32:], 0)                             # no fourth worm
    with pytest.raises(IndexError):
        envs.task.render(3, 32, 32)
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
