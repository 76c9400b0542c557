"""dm_control's swimmer as a wormsim body (wormsim/DMCSwim-v0, task dmc-swim): it is dm_control's own model,
the muscles reach its motors as dorsal - ventral torque, it is deterministic, its reward terms add up,
a travelling wave swims it forward and a resting body does not, bad options are refused, and any level
drives it through the one interface."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("dm_control")
gym = pytest.importorskip("gymnasium")

import wormsim  # noqa: E402,F401  (registers the environments)
from wormsim.envs.dmc_swimmer import DMCSwimmerBody  # noqa: E402
from wormsim.envs.tasks import get_task  # noqa: E402
from wormsim.envs.waves import TravellingWave  # noqa: E402


def make(**kw):
    return gym.make("wormsim/DMCSwim-v0", **kw)


def test_the_body_is_dm_controls_swimmer():
    from dm_control.suite import swimmer
    body = DMCSwimmerBody(n_segments=6)
    m = body.model
    xml, _ = swimmer.get_model_and_assets(6)
    assert b'name="joint_4"' in xml and m.nu == 5 and m.njnt == 3 + 5
    np.testing.assert_allclose(m.jnt_range[3:], np.radians(60.0) * np.array([[-1, 1]] * 5))   # 360 / n
    assert body.timestep == pytest.approx(0.002) and body.body_length == pytest.approx(0.6)
    assert get_task("dmc-swim").has_body and get_task("dmc-swim").metric == "final_speed"


def test_dorsal_muscle_minus_ventral_muscle_is_the_joint_torque():
    env = make()
    env.reset(seed=0)
    j = env.unwrapped.layout.n_joints
    a = np.full(2 * j, 0.5, np.float32)
    a[2], a[j + 2] = 1.0, 0.0                   # joint 2: dorsal on, ventral off
    a[3], a[j + 3] = 0.0, 0.8                   # joint 3: ventral on
    before = env.unwrapped.body.qpos[0, 3:].copy()
    for _ in range(5):
        env.step(a)
    d = env.unwrapped.body.data
    np.testing.assert_allclose(d.ctrl, [0, 0, 1.0, -0.8, 0], atol=1e-6)
    moved = env.unwrapped.body.qpos[0, 3:] - before
    assert moved[2] > 0.05 and moved[3] < -0.05, moved          # dorsal = toward positive angles


def test_same_seed_same_trajectory_and_vector_rows_match():
    wave = TravellingWave(n_segments=6, frequency=0.56)
    envs = gym.make_vec("wormsim/DMCSwim-v0", num_envs=2, vectorization_mode="vector_entry_point",
                        head_cpg=0.56)
    single = [make(head_cpg=0.56) for _ in range(2)]
    obs_v, _ = envs.reset(seed=[3, 4])
    obs_s = [e.reset(seed=s)[0] for e, s in zip(single, (3, 4))]
    np.testing.assert_allclose(obs_v, np.stack(obs_s), atol=1e-6)
    for k in range(20):
        a = wave(np.array([k * 0.03]))[0].astype(np.float32)
        obs_v, r_v, *_ = envs.step(np.stack([a, a]))
        out = [e.step(a) for e in single]
    np.testing.assert_allclose(obs_v, np.stack([o[0] for o in out]), atol=1e-6)
    np.testing.assert_allclose(r_v, [o[1] for o in out], atol=1e-9)
    assert np.ptp(obs_v[:, :5]) > 0, "observations should not be constant"


def test_reward_terms_sum_to_the_reward():
    env = make()
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, reward, terminated, truncated, info = env.step(rng.uniform(0, 1, 10).astype(np.float32))
        assert reward == pytest.approx(info["reward_forward"] + info["reward_ctrl"])
        assert info["speed"] == info["reward_forward"] and not terminated and not info["diverged"]


def test_a_travelling_wave_swims_it_forward_and_a_resting_body_does_not():
    """An open-loop wave at NCAP's oscillator frequency (0.56 Hz) drives the swimmer forward; every muscle
    at rest (0.5, no torque) leaves it where it is."""
    def mean_speed(policy):
        env = make(duration=4.0)
        env.reset(seed=0)
        speeds = [env.step(policy(k * 0.03))[4]["speed"] for k in range(env.unwrapped.max_steps)]
        return float(np.mean(speeds[30:]))

    wave = TravellingWave(n_segments=6, frequency=0.56)
    assert mean_speed(lambda t: wave(np.array([t]))[0].astype(np.float32)) > 0.05
    assert abs(mean_speed(lambda t: np.full(10, 0.5, np.float32))) < 0.005


def test_bad_options_are_refused_with_the_way_out():
    with pytest.raises(ValueError, match="medium"):
        make(medium="agar")
    with pytest.raises(ValueError, match="links of dm_control's swimmer"):
        make(n_segments=2)


def test_any_level_drives_it_through_the_interface():
    from test_interface import real_circuit_or_skip
    from wormsim.interface import Agent, Interface
    from wormsim.realism_levels import get_level
    circuit = real_circuit_or_skip()
    env = make(duration=0.3, head_cpg=0.56)
    itf = Interface(circuit, env.unwrapped.layout, control_dt=env.unwrapped.control_dt)
    for level in ("ncap", "rate"):
        agent = Agent(get_level(level)(circuit, itf.io_spec()), itf)
        obs, _ = env.reset(seed=0)
        agent.reset(1)
        done = False
        while not done:
            obs, reward, term, trunc, _ = env.step(agent.act(obs[None])[0])
            assert np.isfinite(obs).all() and np.isfinite(reward)
            done = term or trunc
