"""The single Gymnasium environments wormsim/Swim-v0 and wormsim/Navigate-v0."""
import os

os.environ["MUJOCO_GL"] = "egl"  # headless rendering; must precede any MuJoCo GL context

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import wormsim  # noqa: F401  (registers the environments)
from wormsim.envs import ObsLayout
from wormsim.envs.waves import TravellingWave

IDS = ["wormsim/Swim-v0", "wormsim/Navigate-v0"]


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make(env_id, n_segments=6, width=32, height=32)
        check_env(env.unwrapped)
        env.close()


@pytest.mark.parametrize("env_id,task", [(IDS[0], ()), (IDS[1], ("concentration", "concentration_change"))])
def test_layout_and_spaces(env_id, task):
    env = gym.make(env_id, n_segments=10)
    lay = env.unwrapped.layout
    assert isinstance(lay, ObsLayout) and lay == ObsLayout(10, task)
    assert env.observation_space.shape == (lay.obs_dim,) and env.observation_space.dtype == np.float32
    assert env.action_space.shape == (18,) and env.action_space.low.min() == 0 and env.action_space.high.max() == 1
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(np.full(18, 0.5, np.float32))
    np.testing.assert_allclose(obs[lay.angles], env.unwrapped.body.joint_angles()[0], rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(obs[lay.head_direction]), 1.0, rtol=1e-6)


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory_and_observations_vary(env_id):
    def run(seed):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(5)
        out = [obs]
        for _ in range(40):
            out.append(env.step(env.action_space.sample())[0])
        return np.array(out)
    a, b, c = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.ptp(a[:, :11], axis=0).min() > 0           # every joint angle moves


def test_swim_reward_terms_sum_to_reward_and_wave_is_rewarded():
    env = gym.make("wormsim/Swim-v0", ctrl_cost_weight=0.1)
    env.reset(seed=0)
    wave, total = TravellingWave(), 0.0
    for i in range(150):
        _, r, term, trunc, info = env.step(wave(i * 0.02))
        assert r == pytest.approx(info["reward_forward"] + info["reward_ctrl"], abs=1e-12)
        assert info["speed"] == info["reward_forward"] and info["curvature"].shape == (11,)
        assert info["com_velocity"].shape == (2,) and not term and not trunc
        total += info["reward_forward"]
    assert total / 150 > 0.05                              # the open-loop wave swims forward (BL/s)
    assert info["x_position"] > 0


def test_truncation_after_duration():
    env = gym.make("wormsim/Swim-v0", duration=0.2, control_dt=0.02)
    env.reset(seed=0)
    truncs = [env.step(env.action_space.sample())[3] for _ in range(10)]
    assert truncs == [False] * 9 + [True]


def test_navigate_reward_terms_success_and_sensing():
    env = gym.make("wormsim/Navigate-v0", target_distance=2.0, success_radius=0.3, gradient_length=1.0)
    obs, info = env.reset(seed=3)
    lay, task = env.unwrapped.layout, env.unwrapped.task
    assert info["distance"] == pytest.approx(2.0)
    assert obs[lay.task][0] == pytest.approx(np.exp(-2.0), rel=1e-5) and obs[lay.task][1] == 0
    _, r, term, _, info = env.step(np.full(22, 0.5))
    assert r == pytest.approx(info["reward_approach"] + info["reward_success"]) and not term
    # Carry the worm next to the target: the next step succeeds, pays the bonus and terminates.
    task.body.qpos[0, :2] = task.target[0] + 0.1
    obs, r, term, _, info = env.step(np.full(22, 0.5))
    assert term and info["success"] and info["distance"] < 0.3
    assert r == pytest.approx(info["reward_approach"] + 5.0)
    assert obs[lay.task][0] > np.exp(-0.3) and obs[lay.task][1] > 0   # concentration rose sharply


def test_navigate_targets_differ_by_seed():
    env = gym.make("wormsim/Navigate-v0")
    targets = []
    for seed in range(4):
        env.reset(seed=seed)
        targets.append(env.unwrapped.task.target[0].copy())
    assert len({tuple(np.round(t, 6)) for t in targets}) == 4


def test_bad_actions_raise():
    env = gym.make("wormsim/Swim-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"\(22,\)"):
        env.step(np.zeros(21))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.full(22, np.nan))
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step(np.r_[np.zeros(21), np.inf])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_segments"):
        gym.make("wormsim/Swim-v0", n_segments=2)
    with pytest.raises(ValueError, match="medium"):
        gym.make("wormsim/Swim-v0", medium="honey")


def test_render_rgb_array_follows_the_worm():
    env = gym.make("wormsim/Swim-v0", render_mode="rgb_array", width=48, height=40)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (40, 48, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec_sync_and_async(mode):
    envs = gym.make_vec("wormsim/Swim-v0", num_envs=2, vectorization_mode=mode, n_segments=5)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 12)
    obs, r, term, trunc, _ = envs.step(envs.action_space.sample())
    assert r.shape == (2,) and obs.shape == (2, 12)
    envs.close()


def test_single_env_says_its_control_step_and_episode_length():
    import gymnasium as gym
    env = gym.make("wormsim/Swim-v0", control_dt=0.025, duration=2.0)
    assert env.unwrapped.control_dt == 0.025 and env.unwrapped.max_steps == 80
    vec = gym.make_vec("wormsim/Swim-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       control_dt=0.025, duration=2.0)
    assert vec.control_dt == 0.025 and vec.max_steps == 80


def test_head_oscillator_drives_only_the_head_and_restarts_with_the_episode():
    env = gym.make("wormsim/Swim-v0", head_cpg=2.0, duration=1.0)
    task = env.unwrapped.task
    J = env.unwrapped.layout.n_joints
    assert list(task.head_joints) == [0, 1]          # joints at 1/12 and 2/12 BL: the head (< 0.2 BL)
    env.reset(seed=0)
    quiet = np.full(2 * J, 0.5, np.float32)           # what the interface sends where no neuron reaches
    ctrl, head_angle = [], []
    for _ in range(50):                                # one second: two head cycles at 2 Hz
        _, _, _, trunc, info = env.step(quiet)
        ctrl.append(task.body.ctrl[0].copy())
        head_angle.append(task.body.joint_angles()[0, 0])
    ctrl = np.array(ctrl)
    body = np.setdiff1d(np.arange(2 * J), np.r_[0, 1, J, J + 1])
    np.testing.assert_array_equal(ctrl[:, body], 0.5)          # the rest of the body: its commands
    assert ctrl[:, [0, 1, J, J + 1]].min() < 0.05 and ctrl[:, [0, 1, J, J + 1]].max() > 0.95
    np.testing.assert_allclose(ctrl[:, 0] + ctrl[:, J], 1.0, atol=1e-12)   # dorsal and ventral in antiphase
    spectrum = np.abs(np.fft.rfft(np.array(head_angle) - np.mean(head_angle)))
    assert np.fft.rfftfreq(50, 0.02)[spectrum.argmax()] == pytest.approx(2.0)
    assert trunc
    env.reset(seed=0)
    env.step(quiet)
    np.testing.assert_allclose(task.body.ctrl[0], ctrl[0])     # phase 0 again after the reset


def test_head_oscillator_off_leaves_the_commands_and_bad_values_are_rejected():
    env = gym.make("wormsim/Swim-v0")                  # the bare body: off by default
    env.reset(seed=0)
    env.step(np.full(22, 0.5, np.float32))
    np.testing.assert_array_equal(env.unwrapped.task.body.ctrl[0], 0.5)
    for bad in (dict(head_cpg=-1.0), dict(head_cpg=float("nan")), dict(head_cpg_amplitude=2.0)):
        with pytest.raises(ValueError, match="head_cpg"):
            gym.make("wormsim/Swim-v0", **bad)
    assert list(gym.make("wormsim/Swim-v0", n_segments=4, head_cpg=2.0).unwrapped.task.head_joints) == [0]


def test_head_oscillator_phase_random_for_held_out_episodes():
    """Held-out episodes start the head oscillator at a phase drawn from each worm's seed; training
    episodes at phase 0 (every worm the same)."""
    from wormsim.envs.vector import SwimVectorEnv
    zero = SwimVectorEnv(num_envs=2, head_cpg=2.0, duration=0.2)
    zero.reset(seed=[1, 2])
    drive = zero.task.head_drive()
    assert np.allclose(drive[0], drive[1])
    rand = SwimVectorEnv(num_envs=2, head_cpg=2.0, duration=0.2, head_cpg_phase="random")
    rand.reset(seed=[1, 2])
    first = rand.task.head_drive()
    assert not np.allclose(first[0], first[1])
    rand.reset(seed=[1, 2])
    np.testing.assert_allclose(rand.task.head_drive(), first)       # the phase is the seed's
    with pytest.raises(ValueError, match="head_cpg_phase"):
        SwimVectorEnv(num_envs=1, head_cpg=2.0, head_cpg_phase="late")
    for env in (zero, rand):
        env.close()
