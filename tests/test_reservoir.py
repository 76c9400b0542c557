"""Reservoir mode: fixed connectome circuit, fitted linear readout (wormsim.reservoir)."""
import numpy as np
import pytest
import torch

from wormsim import reservoir as rs
from wormsim.realism_levels import get_level

torch.set_num_threads(1)

MC_SMALL = {"n_steps": 120}


@pytest.fixture(scope="module")
def rate_brain(circuit):
    import gymnasium as gym
    import wormsim  # noqa: F401
    env = gym.make_vec("wormsim/MemoryCapacity-v0", num_envs=1, vectorization_mode="vector_entry_point")
    brain, interface, info = rs.build_reservoir("rate", circuit, env.layout, env.control_dt, scale=0.9)
    env.close()
    return brain, interface, info


def test_ridge_ignores_a_feature_that_did_not_move_in_training():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (400, 5))
    y = x @ np.array([1.0, -0.5, 0.3, 0.0, 0.2]) + rng.normal(0, 0.1, 400)
    silent = np.zeros((400, 1))
    silent[7] = 1e-6                                # a neuron silent in training but for a transient
    w, b = rs.ridge_fit(np.hstack([x, silent]), y, alpha=1.0)
    assert w[5] == 0.0 and np.allclose(w[:5], [1.0, -0.5, 0.3, 0.0, 0.2], atol=0.05)
    # ... so its activity on held-out data cannot move the prediction
    x_te = np.hstack([rng.normal(0, 1, (50, 5)), np.full((50, 1), 0.3)])
    assert np.allclose(x_te @ w, x_te[:, :5] @ w[:5], atol=1e-12)


def test_spectral_radius_of_fixed_rate_circuit(rate_brain):
    brain, _, info = rate_brain
    assert info["spectral_radius_before"] > 0
    assert brain.chem_spectral_radius() == pytest.approx(0.9, rel=1e-6)
    assert info["spectral_radius"] == pytest.approx(0.9, rel=1e-6)
    # input gains at the interface prior (input_scale 1), nothing else touched
    assert np.allclose(brain.gain[0].numpy(), brain.io.initial_gains(1.0))
    assert torch.all(brain.bias == 0)


@pytest.mark.parametrize("wiring", ["erdos-renyi", "shuffled"])
def test_spectral_radius_any_wiring_and_spiking(wiring):
    from wormsim.connectome import load_circuit
    from wormsim.envs.layout import ObsLayout
    from wormsim.wiring import rewire
    c = rewire(load_circuit("cook2019"), wiring, 1)
    for level in ("rate", "spiking"):
        brain, _, _ = rs.build_reservoir(level, c, ObsLayout(12, ("u",)), 0.02, scale=0.7)
        assert brain.chem_spectral_radius() == pytest.approx(0.7, rel=1e-6)


def test_memory_capacity_lag1_beats_shuffled_control():
    kw = dict(seed=0, n_train=16, n_test=8, env_kwargs=MC_SMALL)
    real = rs.fit_readout("rate", "connectome", "memory-capacity", **kw)
    control = rs.fit_readout("rate", "connectome", "memory-capacity", shuffle_targets=True, **kw)
    assert real["score"] > 0.6, real
    # no skill: clipped score ~0, pooled R^2 at or below 0 (a fit to noise)
    assert control["score"] < 0.05 and -0.3 < control["pooled_r2"] < 0.05, control
    assert real["n_readout_params"] == 81 + 1


def test_memory_capacity_curve_decreases_and_matches_fit_readout():
    lags, r2 = rs.memory_capacity_curve("rate", "connectome", seed=0, max_lag=4, n_train=8, n_test=4,
                                        env_kwargs=MC_SMALL)
    assert list(lags) == [1, 2, 3, 4]
    assert np.all((r2 >= 0) & (r2 <= 1)) and r2[0] > r2[-1]
    one = rs.fit_readout("rate", "connectome", "memory-capacity", seed=0, n_train=8, n_test=4,
                         env_kwargs={**MC_SMALL, "lag": 3})
    assert one["score"] == pytest.approx(r2[2], abs=1e-9)


def test_digits_above_chance_on_held_out_images():
    out = rs.fit_readout("rate", "connectome", "digits", seed=0, n_train=24, n_test=8,
                         input_weights="random")
    assert out["score"] > 0.3, out            # chance 0.1
    assert out["n_readout_params"] == 81 * 10 + 10


def test_spiking_and_null_wiring_run():
    kw = dict(seed=0, n_train=8, n_test=4, env_kwargs={"n_steps": 60})
    spk = rs.fit_readout("spiking", "connectome", "memory-capacity", **kw)
    assert spk["spectral_radius"] == pytest.approx(0.9, rel=1e-6)
    assert 0.0 <= spk["score"] <= 1.0 and spk["score"] > 0.05, spk   # 0.11-0.24 over seeds 0-2
    er = rs.fit_readout("rate", "erdos-renyi", "memory-capacity", **kw)
    assert 0.0 <= er["score"] <= 1.0 and er["score"] > 0.3, er


def test_mlp_reservoir_is_its_random_gru():
    out = rs.fit_readout("mlp", "connectome", "memory-capacity", seed=0, n_train=8, n_test=4,
                         env_kwargs={"n_steps": 60})
    assert out["knob"] is None and "spectral_radius" not in out and 0.0 <= out["score"] <= 1.0


def test_same_seed_same_score():
    kw = dict(seed=2, n_train=6, n_test=3, env_kwargs={"n_steps": 60})
    a = rs.fit_readout("rate", "shuffled", "memory-capacity", **kw)
    b = rs.fit_readout("rate", "shuffled", "memory-capacity", **kw)
    assert a["score"] == b["score"] and a["train_score"] == b["train_score"]
    m = rs.fit_readout("rate", "connectome", "memory", seed=1, n_train=6, n_test=3)
    assert m["score"] == rs.fit_readout("rate", "connectome", "memory", seed=1, n_train=6, n_test=3)["score"]


@pytest.mark.parametrize("kwargs, words", [
    (dict(level="rate", wiring="connectome", task="swim"), ["memory-capacity", "digits", "by ES"]),
    (dict(level="hh", wiring="connectome", task="memory"), ["rate", "spiking", "conductance", "mlp"]),
    (dict(level="mlp", wiring="connectome", task="memory", scale=0.5), ["no scale"]),
    (dict(level="rate", wiring="lattice", task="memory"), ["erdos-renyi"]),
    (dict(level="rate", wiring="connectome", task="memory", ridge_alpha=-1.0), ["ridge_alpha"]),
    (dict(level="rate", wiring="connectome", task="memory", ridge_alpha=float("nan")), ["ridge_alpha"]),
    (dict(level="rate", wiring="connectome", task="memory", scale=0.0), ["spectral_radius"]),
    (dict(level="rate", wiring="connectome", task="memory", input_weights="gauss"), ["prior", "random"]),
    (dict(level="rate", wiring="connectome", task="memory", n_train=0), ["n_train"]),
])
def test_bad_inputs_raise_with_choices(kwargs, words):
    with pytest.raises(ValueError) as e:
        rs.fit_readout(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_readout_brain_starts_as_the_interface(circuit):
    from wormsim.envs.layout import ObsLayout
    from wormsim.interface import Interface
    layout = ObsLayout(12, ())
    itf = Interface(circuit, layout, 0.02)
    cls = rs.readout_brain_class("rate")
    assert cls is get_level("readout-rate") and cls.outputs_muscles and cls.name == "readout-rate"
    rb = cls(circuit, itf.io_spec(), population=3)
    assert rb.n_params == circuit.n * 22 + 22 == rs.n_readout_params(circuit, 12)
    ref, _, _ = rs.build_reservoir("rate", circuit, layout, 0.02)
    u = torch.randn(20, 6, itf.n_inputs, generator=torch.Generator().manual_seed(0))
    rb.reset(6)
    ref.reset(6)
    with torch.no_grad():
        for t in range(20):
            m = rb.step(u[t])
            m_ref = itf.motor(ref.step(u[t]))
    assert torch.allclose(m, m_ref, atol=1e-5)
    # a member's readout changes only its own rows; the reservoir is shared and fixed
    theta = rb.get_params().numpy()
    theta[1] += 0.5
    rb.set_params(theta)
    rb.reset(6)
    ref.reset(6)
    with torch.no_grad():
        out, m_ref = rb.step(u[0]), itf.motor(ref.step(u[0]))
    assert torch.allclose(out[[0, 1, 4, 5]], m_ref[[0, 1, 4, 5]], atol=1e-5)
    assert not torch.allclose(out[2:4], m_ref[2:4], atol=1e-3)
    assert sum(p.numel() for p in rb.parameters()) == 3 * rb.n_params   # the reservoir is not trained


def test_readout_brain_with_evaluator_on_swim():
    from wormsim.rollout import EvalSpec, Evaluator
    ev = Evaluator(EvalSpec(level="readout-rate", task="swim", env_kwargs=(("duration", 0.2),)))
    x0 = ev.initial_params()
    assert len(x0) == 81 * 22 + 22
    params = np.stack([x0, x0 + 0.1 * np.random.default_rng(0).standard_normal(len(x0))])
    res = ev.evaluate(params, seed=0)
    assert res.returns.shape == (2,) and np.all(np.isfinite(res.returns)) and not res.failed.any()


# ---- every level, every task ------------------------------------------------------------------------
SMALL_TASK_KWARGS = {"memory": {}, "digits": {}, "memory-capacity": {"n_steps": 40}}


@pytest.mark.parametrize("task", ["memory", "digits", "memory-capacity"])
@pytest.mark.parametrize("level", ["rate", "spiking", "mlp", "conductance"])
def test_readout_fits_every_level_on_every_nonmotor_task(level, task):
    out = rs.fit_readout(level, "connectome", task, seed=0, n_train=4, n_test=2,
                         env_kwargs=SMALL_TASK_KWARGS[task],
                         input_weights="random" if task == "digits" else "prior")
    assert 0.0 <= out["score"] <= 1.0 and np.isfinite(out["train_score"])
    n_out = 10 if task == "digits" else 1
    assert out["n_readout_params"] == out["n_features"] * n_out + n_out
    assert level == "mlp" or out["n_features"] == 81
    # the reservoir's scale is the level's own knob: the spectral radius for rate and spiking, the
    # conductance scale for conductance, none for the mlp
    knob = get_level(level).reservoir_knob
    assert out["knob"] == knob and (knob is None or out[knob] is not None)


def test_conductance_scale_is_the_conductance_knob(circuit):
    from wormsim.envs.layout import ObsLayout
    brain, _, info = rs.build_reservoir("conductance", circuit, ObsLayout(12, ("u",)), 0.02, scale=0.5)
    assert info["conductance_scale"] == 0.5 and info["knob"] == "conductance_scale"
    assert torch.allclose(brain.g_chem, torch.full_like(brain.g_chem, 0.5 * brain.config.init_g_chem))
    assert torch.allclose(brain.g_gap, torch.full_like(brain.g_gap, 0.5 * brain.config.init_g_gap))
    kw = dict(seed=0, n_train=4, n_test=2, env_kwargs={"n_steps": 40})
    weak = rs.fit_readout("conductance", "connectome", "memory-capacity", scale=0.5, **kw)
    default = rs.fit_readout("conductance", "connectome", "memory-capacity", **kw)
    assert weak["conductance_scale"] == 0.5 and default["conductance_scale"] == 1.0
    assert weak["train_score"] != default["train_score"]           # the knob changes the reservoir
    for bad, words in ((dict(level="conductance", scale=0.0), "conductance_scale"),):
        with pytest.raises(ValueError, match=words):
            rs.fit_readout(wiring="connectome", task="memory", **bad)


@pytest.mark.parametrize("level, task", [("rate", "memory"), ("spiking", "memory"), ("mlp", "memory"),
                                         ("conductance", "memory"),
                                         # the classification readout on Brian2 (~9 s; memory covers the path)
                                         pytest.param("conductance", "digits", marks=pytest.mark.slow),
                                         # 200-step episodes of a Brian2 reservoir: ~40 s, run on demand
                                         pytest.param("conductance", "memory-capacity", marks=pytest.mark.slow)])
def test_train_readout_from_the_command_line(tmp_path, capsys, level, task):
    import json
    from wormsim.cli import main
    out = tmp_path / "run"
    assert main(["train", "--train", "readout", "--level", level, "--task", task, "--no-video",
                 "--out", str(out)]) == 0
    assert "final score" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["train"] == "readout" and 0.0 <= s["final_score"] <= 1.0
    assert s["reservoir_knob"] == get_level(level).reservoir_knob
    assert (s["reservoir_scale"] is None) == (s["reservoir_knob"] is None)
    assert "ridge on all" in s["readout_features"] and "weights mode" in s["compared_with_weights"]
    assert ("hidden units" in s["readout_features"]) == (not get_level(level).uses_wiring)
    assert (task != "memory-capacity") or len(s["capacity_curve"]) == 10


@pytest.mark.parametrize("level", ["rate", "spiking", "mlp"])
def test_swim_readout_by_es_from_the_command_line(tmp_path, capsys, level):
    import json
    from wormsim.cli import main
    out = tmp_path / "run"
    assert main(["train", "--train", "readout", "--level", level, "--task", "swim", "--budget", "1",
                 "--popsize", "2", "--duration", "0.2", "--eval-episodes", "1", "--workers", "1",
                 "--no-video", "--out", str(out)]) == 0
    assert "final speed" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert np.isfinite(s["final_speed"]) and s["n_params"] % 22 == 0         # (features + 1) * 2J
    assert level == "mlp" or s["n_params"] == 81 * 22 + 22


def test_conductance_swim_readout_is_refused_clearly(tmp_path, capsys):
    from wormsim.cli import main
    assert main(["train", "--train", "readout", "--level", "conductance", "--task", "swim", "--no-video",
                 "--out", str(tmp_path / "run")]) == 2
    assert "steps in torch (spiking, rate, mlp" in capsys.readouterr().err


def test_readout_episode_return_is_the_envs_return():
    """A fitted readout is analysed on the return the env itself would give its answers (the estimator of
    every trained cell), not on a per-episode ratio with its heavy negative tail."""
    import gymnasium as gym
    import wormsim  # noqa: F401
    env = gym.make_vec("wormsim/Memory-v0", num_envs=3, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(1)
    env.reset(seed=[5, 6, 7])
    J = env.layout.n_muscles // 2
    total, preds, targets, scored = np.zeros(3), [], [], []
    for _ in range(int(env.max_steps)):
        y = rng.uniform(-0.8, 0.8, 3)                   # readout = mean(dorsal) - mean(ventral) = y
        action = np.concatenate([np.repeat(0.5 + y[:, None] / 2, J, 1), np.repeat(0.5 - y[:, None] / 2, J, 1)], 1)
        _, reward, _, _, info = env.step(action.astype(np.float32))
        total += reward
        preds.append(y), targets.append(info["target"]), scored.append(np.broadcast_to(info["scored"], 3))
    got = rs._episode_return(np.array(preds), np.array(targets), np.array(scored), env.task.expected_ss)
    env.close()
    assert np.allclose(got, total, atol=1e-9), (got, total)
    # answering 0 scores exactly 0; the readout's summary carries these returns as its trials and their mean
    assert np.allclose(rs._episode_return(np.zeros((4, 2)), np.ones((4, 2)), np.ones((4, 2), bool), 4.0), 0.0)
    fit = rs.fit_readout("rate", "connectome", "memory", seed=0, n_train=8, n_test=4)
    assert len(fit["episode_returns"]) == 4 and fit["return"] == pytest.approx(np.mean(fit["episode_returns"]))
