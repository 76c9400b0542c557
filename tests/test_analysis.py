"""wormsim.analysis: the one gait measure (and R^2 and ridge), checked on kymographs whose wave is known."""
import numpy as np
import pytest

from wormsim.analysis import (GAIT_KEYS, MIN_AMPLITUDE, STANDING_LAG, dominant_frequency, gait, pooled_r2,
                              r2_per_unit, ridge_cv, ridge_fit)

DT = 0.02
X = np.arange(1, 12) / 12                   # the 11 joints of a 12-segment body, head to tail


def wave(f=2.0, wavelength=1.5, amp=3.0, T=300, x=X):
    """A sinusoidal curvature wave (T, J), rad/BL; wavelength < 0: travelling tail to head."""
    t = np.arange(T)[:, None] * DT
    return amp * np.sin(2 * np.pi * (f * t - x[None, :] / wavelength))


def test_a_travelling_wave_head_to_tail():
    g = gait(wave(f=2.0, wavelength=1.5), DT)
    assert g["frequency"] == pytest.approx(2.0, abs=0.05)
    assert g["wavelength"] == pytest.approx(1.5, rel=0.02)
    assert g["phase_lag"] == pytest.approx((X[-1] - X[0]) / 1.5, abs=0.01)   # cycles, first to last joint
    assert g["wave_speed"] == pytest.approx(3.0, rel=0.03)                   # frequency x wavelength
    assert g["amplitude"] == pytest.approx(3.0, rel=0.02) and g["amplitude_head"] == pytest.approx(3.0, rel=0.02)
    assert g["direction"] == "head-to-tail" and g["profile"].shape == (11,)


def test_backward_standing_and_still():
    back = gait(wave(f=0.8, wavelength=-0.9), DT)
    assert back["direction"] == "tail-to-head" and back["phase_lag"] < 0
    assert back["wave_speed"] == pytest.approx(-0.8 * 0.9, rel=0.05)
    assert back["wavelength"] == pytest.approx(0.9, rel=0.05)
    t = np.arange(300)[:, None] * DT
    st = gait(2.0 * np.sin(2 * np.pi * 1.5 * t) * np.ones((1, 11)), DT)
    assert st["direction"] == "standing" and abs(st["phase_lag"]) < STANDING_LAG and np.isnan(st["wave_speed"])
    assert st["frequency"] == pytest.approx(1.5, abs=0.05)
    still = gait(np.zeros((300, 11)), DT)
    assert still["direction"] == "none" and still["amplitude"] == 0.0
    assert all(np.isnan(still[k]) for k in ("frequency", "phase_lag", "wavelength", "wave_speed"))


def test_no_undulation_below_the_amplitude_or_period_rules():
    tremor = gait(wave(amp=0.5 * MIN_AMPLITUDE), DT)          # a body bending less than the threshold
    assert np.isnan(tremor["frequency"]) and tremor["direction"] == "none" and tremor["amplitude"] > 0
    drift = np.linspace(0, 1, 300)[:, None] * np.ones((1, 11))  # a bend building up and held: no rhythm
    assert np.isnan(gait(drift, DT)["frequency"])
    assert np.isnan(dominant_frequency(np.zeros(5), DT))        # too short


def test_a_still_joint_does_not_break_the_phase_fit():
    """The joint-amplitude rule: a joint that hardly moves has a meaningless phase; left in the unwrapping
    it could shift every joint behind it by a cycle. Only moving joints count."""
    k = wave(f=2.0, wavelength=1.5)
    # joint 4 nearly still and in anti-phase: unwrapped through it, the joints behind it shift by a whole
    # cycle and a weighted fit over every joint reads a tail-to-head wave of 1.09 BL (the video's old rule)
    k[:, 4] *= -0.01
    g = gait(k, DT)
    assert g["wavelength"] == pytest.approx(1.5, rel=0.03) and g["direction"] == "head-to-tail"


def test_a_batch_is_each_sequence_alone():
    batch = np.stack([wave(f=2.0), wave(f=1.0, wavelength=-0.8), np.zeros((300, 11))], 1)    # (T, B, J)
    g = gait(batch, DT)
    assert g["direction"].tolist() == ["head-to-tail", "tail-to-head", "none"]
    for i in range(3):
        one = gait(batch[:, i], DT)
        for k in GAIT_KEYS:
            assert np.array_equal(g[k][i], one[k], equal_nan=True), k
        np.testing.assert_array_equal(g["profile"][i], one["profile"])


def test_the_transient_is_skipped():
    k = wave(f=2.0)
    k[:60] = 20.0 * np.sin(2 * np.pi * 0.5 * np.arange(60) * DT)[:, None]   # a big slow start
    assert gait(k, DT)["amplitude"] == pytest.approx(3.0, rel=0.02)         # first quarter (75 rows) left out
    assert gait(k, DT, skip=0.0)["amplitude"] > 4.0


def test_bad_shapes():
    with pytest.raises(ValueError, match="curvature must be"):
        gait(np.zeros(10), DT)
    with pytest.raises(ValueError, match="joint_positions"):
        gait(np.zeros((100, 11)), DT, joint_positions=np.zeros(3))


def test_r2_and_ridge_orders():
    """(target, prediction) for scores, (x, y) for fits."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 5))
    y = x @ rng.normal(size=(5, 2)) + 0.01 * rng.normal(size=(400, 2))
    w, b = ridge_fit(x, y, 1e-3)
    assert r2_per_unit(y, x @ w + b).min() > 0.99 and pooled_r2(y, x @ w + b) > 0.99
    folds = np.arange(400) % 4
    w, b, alpha = ridge_cv(x, y, (0.01, 1e6), folds)
    assert alpha == 0.01 and pooled_r2(y, x @ w + b) > 0.99
    assert pooled_r2(np.ones((10, 2)), np.zeros((10, 2))) is None                   # a flat target
