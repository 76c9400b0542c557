"""Physics sanity of the worm body (envs/body.py) and the open-loop wave (envs/waves.py)."""
import mujoco
import numpy as np
import pytest

from wormsim.envs.body import BodyParams, WormBody, build_mjcf, drag_ratio
from wormsim.envs.waves import TravellingWave


def swim(body: WormBody, wave: TravellingWave, seconds: float, control_dt: float = 0.02) -> np.ndarray:
    """Drive every worm with the wave for ``seconds``; return the centre-of-mass displacement (P, 2), BL."""
    k = round(control_dt / body.timestep)
    start = body.com_position()
    for i in range(round(seconds / control_dt)):
        body.step(np.repeat(wave(i * control_dt)[None], body.n_worms, 0), k)
    return body.com_position() - start


def test_native_drag_equals_resistive_force_theory():
    # Two worms in one model (build_mjcf can still make one): each worm's drag acts on it alone.
    m = mujoco.MjModel.from_xml_string(build_mjcf(BodyParams(n_segments=8, medium=3.0), n_worms=2))
    d = mujoco.MjData(m)
    rng = np.random.default_rng(0)
    d.qpos[:] = rng.normal(size=m.nq) * 0.5
    d.qvel[:] = rng.normal(size=m.nv)
    mujoco.mj_forward(m, d)  # muscles are at rest (act = 0), so qfrc_actuator is the drag alone
    l, c_t, c_n = 1 / 8, 1.0, 3.0
    expected = np.zeros(m.nv)
    jacp, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    for p in range(2):
        for s in range(8):
            site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, f"w{p}_c{s}")
            assert site >= 0
            mujoco.mj_jacSite(m, d, jacp, jacr, site)
            v, w = jacp @ d.qvel, jacr @ d.qvel
            t, n = d.site_xmat[site].reshape(3, 3)[:, 0], d.site_xmat[site].reshape(3, 3)[:, 1]
            force = -c_t * l * (v @ t) * t - c_n * l * (v @ n) * n
            torque = np.array([0.0, 0.0, -c_n * l ** 3 / 12 * w[2]])
            expected += jacp.T @ force + jacr.T @ torque
    np.testing.assert_allclose(d.qfrc_actuator, expected, atol=1e-12)


def test_forward_wave_swims_forward_and_backward_wave_backward():
    fwd = swim(WormBody(), TravellingWave(direction=1), 2.0)[0]
    bwd = swim(WormBody(), TravellingWave(direction=-1), 2.0)[0]
    assert fwd[0] > 0.15 and abs(fwd[1]) < fwd[0]      # initial heading is +x
    assert bwd[0] < -0.15


def test_zero_muscle_activity_means_no_motion():
    body = WormBody()
    d = swim(body, TravellingWave(amplitude=0.0), 1.0)   # 0.5 / 0.5 co-contraction: no net torque
    assert np.abs(d).max() < 1e-9
    assert np.abs(body.joint_angles()).max() < 1e-9


def test_overdamped_worm_stops_when_muscles_stop():
    body = WormBody()
    swim(body, TravellingWave(), 2.0)
    body.act[:] = 0.0                                     # muscles stop
    start = body.com_position()
    for _ in range(100):
        body.step(np.zeros((1, 22)), 2)
    coast = np.linalg.norm(body.com_position() - start)
    assert coast < 0.05
    assert np.abs(body.qvel).max() < 1e-3


def test_timestep_is_accurate_against_a_4x_smaller_one():
    a = swim(WormBody(timestep=0.01), TravellingWave(), 2.0)[0, 0]
    b = swim(WormBody(timestep=0.0025), TravellingWave(), 2.0)[0, 0]
    assert abs(a - b) < 0.03 * abs(b)


def _servo_speed(medium: str) -> float:
    """Forward speed at prescribed kinematics (stiff joint servos track a travelling wave of angles)."""
    body = WormBody(n_segments=12, medium=medium, actuator="servo", timestep=0.005)
    s = np.arange(1, 12) / 12
    start, dt = body.com_position(), 0.01
    angles = []
    for i in range(200):
        target = 0.4 * np.sin(2 * np.pi * (2.0 * i * dt - s / 1.5))
        body.step(target[None], 2)
        angles.append(body.joint_angles()[0])
    return (body.com_position() - start)[0, 0] / 2.0, np.array(angles)


def test_higher_drag_ratio_swims_faster_at_fixed_kinematics():
    v_water, k_water = _servo_speed("water")
    v_agar, k_agar = _servo_speed("agar")
    # The kinematics really are the same (servos dominate drag), so only the drag ratio differs.
    assert np.abs(k_water[50:] - k_agar[50:]).max() < 0.05
    assert v_water > 0 and v_agar > 2 * v_water


@pytest.mark.parametrize("n", [3, 49, 0, 12.5, True])
def test_bad_n_segments_raises(n):
    with pytest.raises(ValueError, match="n_segments"):
        WormBody(n_segments=n)


def test_bad_medium_raises_and_lists_choices():
    with pytest.raises(ValueError, match="agar.*water"):
        WormBody(medium="honey")
    with pytest.raises(ValueError):
        WormBody(medium=-1.0)
    assert drag_ratio("water") == 2.0 and drag_ratio("water-bulk") == 1.5 and drag_ratio("agar") == 10.0
    assert drag_ratio(4) == 4.0


@pytest.mark.parametrize("n", [4, 12, 48])
def test_any_size_builds_and_curvature_has_units_of_rad_per_body_length(n):
    body = WormBody(n_worms=3, n_segments=n)
    # The model is one worm (2J muscles, 3 drag actuators per segment); the population is 3 states of it.
    assert body.model.nu == 2 * (n - 1) + 3 * n
    assert body.qpos.shape == body.qvel.shape == (3, n + 2) and body.act.shape == (3, 2 * (n - 1))
    body.qpos[:, 3:] = 0.1
    np.testing.assert_allclose(body.curvature(), np.full((3, n - 1), 0.1 * n))
    assert body.joint_angles().shape == (3, n - 1)


def test_worms_of_a_population_are_spaced_and_independent():
    body = WormBody(n_worms=4)
    heads = body.homes
    dists = np.linalg.norm(heads[:, None] - heads[None], axis=-1) + 10 * np.eye(4)
    assert dists.min() >= 1.5                               # a worm is 1 BL long
    wave = TravellingWave()
    start = body.com_position()
    for i in range(50):
        a = np.zeros((4, 22))
        a[2] = wave(i * 0.02)                               # only worm 2 swims
        body.step(a, 2)
    moved = np.linalg.norm(body.com_position() - start, axis=1)
    assert moved[2] > 0.05 and np.all(np.delete(moved, 2) < 1e-12)


def test_dorsal_muscle_bends_toward_positive_angles():
    body = WormBody()
    body.step(np.concatenate([np.ones(11), np.zeros(11)])[None], 20)
    assert np.all(body.joint_angles() > 0)
    body.reset()
    body.step(np.concatenate([np.zeros(11), np.ones(11)])[None], 20)
    assert np.all(body.joint_angles() < 0)


def test_travelling_wave_shapes_and_range():
    w = TravellingWave(n_segments=12, amplitude=0.8)
    a = w(0.3)
    assert a.shape == (22,) and a.min() >= 0.1 - 1e-6 and a.max() <= 0.9 + 1e-6
    np.testing.assert_allclose(a[:11] + a[11:], 1.0, atol=1e-6)
    batch = w(np.array([0.0, 0.3]))
    assert batch.shape == (2, 22)
    np.testing.assert_allclose(batch[1], a)
    with pytest.raises(ValueError):
        TravellingWave(amplitude=1.5)


@pytest.mark.parametrize("nthread", [0, 2])
def test_population_steps_exactly_like_lone_worms(nthread):
    """P states stepped together by mujoco.rollout move exactly like P lone worms stepped by mj_step."""
    P, wave = 5, TravellingWave()
    rng = np.random.default_rng(1)
    angles, amps = rng.uniform(-0.1, 0.1, (P, 11)), rng.uniform(0.2, 1.0, P)
    pop = WormBody(n_worms=P, nthread=nthread)
    pop.reset(joint_angles=angles)
    lone = [WormBody() for _ in range(P)]
    for p, b in enumerate(lone):
        b.reset(joint_angles=angles[p:p + 1])
    for i in range(30):
        a = 0.5 + amps[:, None] * (wave(i * 0.02) - 0.5)
        pop.step(a, 2)
        for p, b in enumerate(lone):
            b.step(a[p:p + 1], 2)
    for p, b in enumerate(lone):
        np.testing.assert_array_equal(pop.qpos[p], b.qpos[0])
        np.testing.assert_array_equal(pop.qvel[p], b.qvel[0])
        np.testing.assert_array_equal(pop.act[p], b.act[0])
    np.testing.assert_allclose(pop.time, 30 * 2 * pop.timestep)
    pop.close()


def test_numpy_kinematics_match_mujoco():
    """Centre of mass, its velocity and segment centres (numpy forward kinematics) equal MuJoCo's."""
    body = WormBody(n_worms=3, n_segments=9)
    rng = np.random.default_rng(2)
    body.qpos[:] = rng.normal(size=body.qpos.shape)
    body.qvel[:] = rng.normal(size=body.qvel.shape)
    m = body.model
    for p in range(3):
        d = body.render_data(p)
        mujoco.mj_comVel(m, d)
        mujoco.mj_subtreeVel(m, d)
        np.testing.assert_allclose(body.segment_positions()[p], d.xipos[1:, :2], atol=1e-12)
        np.testing.assert_allclose(body.com_position()[p], d.subtree_com[1, :2], atol=1e-12)
        np.testing.assert_allclose(body.com_velocity()[p], d.subtree_linvel[1, :2], atol=1e-12)


def test_a_diverged_worm_is_found_and_reset_alone():
    # (The tasks never step a non-finite state, so neither does this test: MuJoCo would log a warning.)
    ref, body = WormBody(n_worms=3), WormBody(n_worms=3)
    a = np.full((3, 22), 0.7)
    for b in (ref, body):
        b.step(a, 4)
    body.qvel[1, 5] = np.nan
    body.qpos[2, 0] = 1e7                                  # finite but out of bounds
    assert body.healthy().tolist() == [True, False, False] and not body.all_healthy()
    body.reset([1, 2])
    assert body.all_healthy() and body.healthy().all()
    np.testing.assert_array_equal(body.qpos[0], ref.qpos[0])
    np.testing.assert_array_equal(body.qpos[1:], 0.0)
    for b in (ref, body):
        b.step(a, 2)
    np.testing.assert_array_equal(body.qpos[0], ref.qpos[0])
    lone = WormBody()
    lone.qvel[0, 3] = np.inf
    assert not lone.all_healthy() and lone.healthy().tolist() == [False]
