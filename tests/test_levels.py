"""Every registered level that steps in torch (rate, spiking, mlp, and any level registered later): masks
and signs, gradients, population batching, determinism, flat parameters, the contract's state and
capabilities, the registry, golden traces, and whole episodes in wormsim/Swim-v0. The lists come from the
registry, so a new level is tested here without an entry in this file.

Golden traces: ``realism_levels/golden/<level>.npz`` hold a short fixed-input run of each level on the
synthetic circuit. After an intended change of a model, regenerate them with

    WORMSIM_REGEN_GOLDEN=1 python -m pytest tests/test_levels.py -k golden

(which calls ``write_golden``) and commit the new files with the change that explains them.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from test_interface import LAYOUT, real_circuit_or_skip, synthetic_circuit
from wormsim.circuit import Circuit
from wormsim.interface import Agent, Interface
from wormsim.realism_levels import CapabilityError, get_level, level_names, levels_with
from wormsim.realism_levels.rate import EdgeWeights

MINE = tuple(levels_with("steps_in_torch"))
DIFFERENTIABLE = tuple(lv for lv in MINE if get_level(lv).differentiable)
# levels whose parameters are the shared edge-weight scheme (masks, signs, degree scaling)
CONNECTOME_LEVELS = tuple(lv for lv in MINE if issubclass(get_level(lv), EdgeWeights))
GOLDEN_DIR = Path(__file__).resolve().parent.parent / "realism_levels" / "golden"
GOLDEN_STEPS = 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: intra-op threads only contend (10x slower on a busy 2-core box)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def build(level: str, circuit: Circuit | None = None, population: int = 1, **config):
    circuit = circuit if circuit is not None else synthetic_circuit()
    itf = Interface(circuit, LAYOUT)
    cls = get_level(level)
    cfg = dataclasses.replace(cls.default_config(), **config)
    return cls(circuit, itf.io_spec(), cfg, population=population), itf


def fixed_inputs(n_inputs: int, steps: int, batch: int, seed: int = 0) -> torch.Tensor:
    """(steps, batch, C): a travelling curvature wave, forward drive on, random task inputs."""
    t = torch.arange(steps, dtype=torch.float32)[:, None, None]
    j = LAYOUT.n_joints
    u = torch.zeros(steps, batch, n_inputs)
    u[:, :, :j] = torch.sin(0.6 * torch.arange(j) - 0.8 * t + 0.3 * torch.arange(batch)[None, :, None])
    u[:, :, j] = 1.0
    g = torch.Generator().manual_seed(seed)
    u[:, :, j + 2:] = torch.randn(steps, batch, n_inputs - j - 2, generator=g)
    return u


def rollout(brain, inputs: torch.Tensor) -> torch.Tensor:
    brain.reset(inputs.shape[1])
    return torch.stack([brain.step(u) for u in inputs])


def perturbed(brain, seed: int, spread: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = brain.get_params()
    noise = torch.randn((2, *base.shape), generator=g)
    return base * (1 + spread * noise[0]) + 0.05 * noise[1]


# ---- masks and signs ---------------------------------------------------------------------------------
def assert_on_wiring(brain) -> None:
    c = brain.circuit
    w = brain.chem_matrix().detach().numpy()
    g = brain.gap_matrix().detach().numpy()
    u = brain.input_matrix().detach().numpy()
    off = c.chem == 0
    assert (w[:, off] == 0).all(), "chemical weight off the wiring's edges"
    on = ~off
    signs = np.broadcast_to(c.sign[:, None], off.shape)[on]
    vals = w[:, on]
    assert ((vals == 0) | (np.sign(vals) == signs)).all(), "chemical weight against the presynaptic sign"
    assert (g[:, c.gap == 0] == 0).all() and (g >= 0).all()
    np.testing.assert_array_equal(g, g.transpose(0, 2, 1))
    assert (u[:, ~brain.io.input_mask] == 0).all()


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("level", CONNECTOME_LEVELS)
def test_masks_and_signs_hold_through_training(level, share):
    brain, _ = build(level, population=2, share_weights=share)
    assert_on_wiring(brain)
    w0 = brain.chem_matrix().detach().clone()
    assert (w0 != 0).sum() == 2 * len(brain.circuit.chem_edges)
    opt = torch.optim.Adam(brain.parameters(), lr=0.3)
    inputs = fixed_inputs(brain.io.n_inputs, 4, 4)
    for _ in range(3):
        opt.zero_grad()
        # push every weight toward the opposite sign: the parametrisation must refuse
        loss = rollout(brain, inputs).sum() + (brain.chem_matrix() * torch.sign(w0)).sum()
        loss.backward()
        opt.step()
    assert not torch.equal(brain.chem_matrix().detach(), w0), "the optimizer did not move the weights"
    assert_on_wiring(brain)
    brain.set_params(-brain.get_params())        # ES may hand over any sign: still on the wiring
    assert_on_wiring(brain)


def test_sharing_ties_class_pairs():
    brain, _ = build("rate", share_weights=True)
    plain, _ = build("rate")
    assert brain.param_sizes()["chem"] < plain.param_sizes()["chem"] == len(brain.circuit.chem_edges)
    c = brain.circuit
    w = brain.chem_matrix()[0].detach().numpy()
    cls = np.array(c.cell_class)
    # within a class pair, |W| * in-degree (the fixed normalisation) is one shared value
    indeg = (c.chem > 0).sum(axis=0)
    for i, j in c.chem_edges[:40]:
        same = [(a, b) for a, b in c.chem_edges if cls[a] == cls[i] and cls[b] == cls[j]]
        vals = np.array([abs(w[a, b]) * indeg[b] for a, b in same])
        assert np.ptp(vals) < 1e-5 * vals.max()


# ---- gradients -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", DIFFERENTIABLE)
def test_gradients_flow_over_a_rollout(level):
    brain, itf = build(level)
    inputs = fixed_inputs(brain.io.n_inputs, 6, 2)
    out = rollout(brain, inputs)
    muscles = out if brain.outputs_muscles else itf.motor(out.reshape(-1, out.shape[-1]))
    target = torch.linspace(0, 1, muscles.shape[-1])
    ((muscles - target) ** 2).mean().backward()
    for name in brain._param_names:
        grad = getattr(brain, name).grad
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, f"no gradient reaches {name}"
    if level in CONNECTOME_LEVELS:
        assert (brain.chem.grad != 0).float().mean() > 0.3, "most edges should receive gradient"


@pytest.mark.parametrize("level", CONNECTOME_LEVELS)
def test_gradient_reaches_early_steps(level):
    """BPTT across control steps: the last activity depends on the first input."""
    brain, _ = build(level)
    inputs = fixed_inputs(brain.io.n_inputs, 5, 1).requires_grad_(True)
    rollout(brain, inputs)[-1].sum().backward()
    assert inputs.grad[0].abs().sum() > 0


def test_spiking_surrogate_is_swappable():
    import snntorch as snn

    before = len(snn.SpikingNeuron.instances)
    brain, _ = build("spiking", surrogate="atan", surrogate_kwargs=(("alpha", 2.0),))
    assert len(snn.SpikingNeuron.instances) == before, "brains must not pile up in snnTorch's list"
    rollout(brain, fixed_inputs(brain.io.n_inputs, 3, 1)).sum().backward()
    assert brain.chem.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="surrogate"):
        build("spiking", surrogate="nope")
    with pytest.raises(ValueError, match="divide"):
        build("spiking", dt=0.003)


def test_agent_act_torch_keeps_the_graph():
    brain, itf = build("rate")
    agent = Agent(brain, itf)
    agent.reset(2)
    obs = np.random.default_rng(0).normal(0, 0.2, (2, LAYOUT.obs_dim)).astype(np.float32)
    agent.act_torch(obs)
    agent.act_torch(obs).sum().backward()
    assert brain.gain.grad.abs().sum() > 0 and brain.chem.grad.abs().sum() > 0
    act = agent.act(obs)
    assert act.dtype == np.float32 and ((act >= 0) & (act <= 1)).all()


# ---- population batching and determinism ---------------------------------------------------------
@pytest.mark.parametrize("level", MINE)
def test_population_batch_equals_separate_runs(level):
    p, e, steps = 4, 2, 8
    big, _ = build(level, population=p)
    theta = perturbed(big, seed=1)
    big.set_params(theta)
    inputs = fixed_inputs(big.io.n_inputs, steps, p * e)
    together = rollout(big, inputs)
    for k in range(p):
        one, _ = build(level)
        one.set_params(theta[k])
        alone = rollout(one, inputs[:, k * e:(k + 1) * e])
        torch.testing.assert_close(together[:, k * e:(k + 1) * e], alone, atol=1e-5, rtol=1e-5)
    # members really differ, or the comparison above proves nothing
    assert not torch.allclose(together[:, :e], together[:, e:2 * e])


@pytest.mark.parametrize("level", MINE)
def test_same_config_same_output(level):
    a, _ = build(level)
    b, _ = build(level)
    torch.testing.assert_close(a.get_params(), b.get_params(), atol=0, rtol=0)
    inputs = fixed_inputs(a.io.n_inputs, 6, 3)
    torch.testing.assert_close(rollout(a, inputs), rollout(b, inputs), atol=0, rtol=0)
    assert rollout(a, inputs).std() > 0, "output should not be constant"


def test_mlp_reaches_the_muscles_through_the_motor_neurons():
    """The connectome-free baseline has the circuits' output stage: it writes the motor neurons'
    activity, which the interface maps onto the muscles; mlp-direct writes the muscles."""
    from wormsim.realism_levels.mlp import motor_neurons
    brain, itf = build("mlp")
    out = rollout(brain, fixed_inputs(brain.io.n_inputs, 3, 2))
    motor = motor_neurons(brain.circuit)
    others = np.setdiff1d(np.arange(brain.circuit.n), motor)
    assert not brain.outputs_muscles and out.shape[-1] == brain.circuit.n and len(motor) > 0
    assert torch.all(out[..., others] == 0) and torch.all((out[..., motor] > 0) & (out[..., motor] < 1))
    direct, _ = build("mlp-direct")
    assert direct.outputs_muscles and rollout(direct, fixed_inputs(brain.io.n_inputs, 3, 2)).shape[-1] == \
        itf.n_muscles


def test_mlp_seed_changes_init_and_size_matches_rate():
    a, _ = build("mlp")
    b, _ = build("mlp", init_seed=1)
    assert not torch.equal(a.get_params(), b.get_params())
    rate, _ = build("rate")
    assert abs(a.n_params - rate.n_params) / rate.n_params < 0.25
    ff, _ = build("mlp", kind="mlp")
    assert abs(ff.n_params - rate.n_params) / rate.n_params < 0.1
    with pytest.raises(ValueError, match="gru"):
        build("mlp", kind="lstm")


# ---- flat parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("level", MINE)
def test_params_round_trip_and_shape_errors(level):
    brain, _ = build(level, population=3)
    theta = perturbed(brain, seed=2)
    assert theta.shape == (3, brain.n_params)
    brain.set_params(theta)
    torch.testing.assert_close(brain.get_params(), theta, atol=0, rtol=0)
    brain.set_params(theta[1].numpy())                   # one vector for every member
    torch.testing.assert_close(brain.get_params(), theta[1].expand(3, -1), atol=0, rtol=0)
    for bad in (torch.zeros(2, brain.n_params), torch.zeros(brain.n_params + 1)):
        with pytest.raises(ValueError, match="expects parameters"):
            brain.set_params(bad)
    with pytest.raises(ValueError, match="NaN"):
        brain.set_params(torch.full((brain.n_params,), float("nan")))
    with pytest.raises(ValueError, match="multiple"):
        brain.reset(4)
    brain.reset(3)
    with pytest.raises(ValueError):
        brain.step(torch.zeros(3, brain.io.n_inputs + 1))


@pytest.mark.parametrize("level", MINE)
def test_recording(level):
    brain, _ = build(level)
    brain.start_recording()
    rollout(brain, fixed_inputs(brain.io.n_inputs, 5, 2))
    tr = brain.stop_recording()
    assert tr["activity"].shape[:2] == (5, 2)
    extra = {"rate": {"state"}, "spiking": {"spikes", "membrane"}}.get(level, set())
    assert extra <= set(tr)
    if brain.uses_wiring:
        assert tr["activity"].shape[2] == brain.circuit.n
        assert ((tr["activity"] >= 0) & (tr["activity"] <= 1)).all()
    if level == "spiking":
        assert tr["spikes"].sum() > 0, "the driven spiking circuit should fire"


def test_registry_rejects_unknown_level():
    with pytest.raises(ValueError) as err:
        get_level("nope")
    assert str(err.value).endswith("choose from " + ", ".join(sorted(level_names())))
    assert "choose from conductance, conductance-ca-inactivation" in str(err.value)
    for name in MINE:
        assert get_level(name).name == name


def test_rate_curvature_gain_scales_only_the_proprioceptive_inputs():
    one, itf = build("rate", curvature_gain=1.0)
    ten, _ = build("rate", curvature_gain=10.0)
    u1, u10 = one.input_matrix()[0].detach().numpy(), ten.input_matrix()[0].detach().numpy()
    curv = np.array([n.startswith("curvature") for n in itf.channel_names])
    assert curv.sum() == LAYOUT.n_joints and (u1[curv] != 0).any()
    np.testing.assert_allclose(u10[curv], 10 * u1[curv])
    np.testing.assert_array_equal(u10[~curv], u1[~curv])          # drives and task inputs: as trained
    np.testing.assert_array_equal(one.get_params(), ten.get_params())   # the factor is not a parameter


# ---- golden traces -----------------------------------------------------------------------------------
def golden_run(level: str) -> dict[str, np.ndarray]:
    """The fixed run a golden trace stores: default config, synthetic circuit, 2 episodes."""
    torch.manual_seed(0)
    brain, itf = build(level)
    brain.start_recording()
    out = rollout(brain, fixed_inputs(brain.io.n_inputs, GOLDEN_STEPS, 2))
    muscles = out if brain.outputs_muscles else itf.motor(out.reshape(-1, out.shape[-1])).reshape(
        GOLDEN_STEPS, 2, -1)
    traces = brain.stop_recording()
    return {"muscles": muscles.detach().numpy(), **traces}


def write_golden(levels=MINE) -> None:
    """Regenerate realism_levels/golden/<level>.npz from golden_run (after an intended change)."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for level in levels:
        np.savez_compressed(GOLDEN_DIR / f"{level}.npz", **golden_run(level))


@pytest.mark.parametrize("level", MINE)
def test_golden_trace(level):
    if os.environ.get("WORMSIM_REGEN_GOLDEN") == "1":
        write_golden([level])
    path = GOLDEN_DIR / f"{level}.npz"
    assert path.exists(), f"missing {path}; run with WORMSIM_REGEN_GOLDEN=1 once"
    stored = np.load(path)
    now = golden_run(level)
    assert set(stored.files) == set(now)
    for key in stored.files:
        np.testing.assert_allclose(now[key], stored[key], atol=1e-4, rtol=1e-4,
                                   err_msg=f"{level} {key} differs from the golden trace")


# ---- the real circuit and the body ---------------------------------------------------------------
@pytest.mark.parametrize("level", MINE)
def test_real_circuit_runs(level):
    circuit = real_circuit_or_skip()
    brain, itf = build(level, circuit, population=2)
    agent = Agent(brain, itf)
    agent.reset(4)
    obs = np.zeros((4, LAYOUT.obs_dim), np.float32)
    for _ in range(5):
        act = agent.act(obs)
    assert act.shape == (4, LAYOUT.n_muscles) and ((act >= 0) & (act <= 1)).all()


def _swim_env(duration: float):
    gym = pytest.importorskip("gymnasium")
    import wormsim  # noqa: F401  (registers the environments)
    if "wormsim/Swim-v0" not in gym.registry:
        pytest.skip("wormsim/Swim-v0 is not registered yet")
    return gym.make("wormsim/Swim-v0", duration=duration)


from wormsim.wiring import available_wirings  # noqa: E402

WIRINGS = tuple(available_wirings())


@pytest.mark.parametrize("wiring", WIRINGS)
@pytest.mark.parametrize("level", MINE)
def test_level_swims_a_whole_episode(level, wiring):
    from wormsim.wiring import rewire

    circuit = rewire(real_circuit_or_skip(), wiring, seed=0)
    env = _swim_env(duration=0.4)
    body = env.unwrapped
    layout = body.layout
    control_dt = getattr(body, "control_dt", None) or body.task.control_dt
    itf = Interface(circuit, layout, control_dt=float(control_dt))
    cls = get_level(level)
    agent = Agent(cls(circuit, itf.io_spec()), itf)
    obs, _ = env.reset(seed=0)
    agent.reset(1)
    steps, done = 0, False
    while not done:
        action = agent.act(obs[None])[0]
        assert env.action_space.contains(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        assert np.isfinite(reward) and np.isfinite(obs).all()
        done = terminated or truncated
        steps += 1
    assert steps == round(0.4 / itf.control_dt)
    env.close()


def test_shared_gap_groups_are_unordered_class_pairs():
    from wormsim.connectome import load_circuit
    from wormsim.realism_levels import edge_groups
    c = load_circuit("cook2019")
    edges = c.gap_edges
    groups, n = edge_groups(c, edges, share_weights=True, directed=False)
    cls = np.array(c.cell_class)
    pairs = {}
    for (i, j), g in zip(edges, groups):
        pairs.setdefault(tuple(sorted((cls[i], cls[j]))), set()).add(int(g))
    assert all(len(gs) == 1 for gs in pairs.values()) and n == len(pairs)
    chem_groups, _ = edge_groups(c, c.chem_edges, share_weights=True)
    ab = [(cls[i], cls[j]) for i, j in c.chem_edges]
    a, b = next(p for p in ab if p[0] != p[1] and p[::-1] in ab)  # a class pair wired both ways
    assert chem_groups[ab.index((a, b))] != chem_groups[ab.index((b, a))]


# ---- the contract --------------------------------------------------------------------------------------
def test_registry_lists_the_shipped_levels_in_order_of_detail():
    assert level_names()[:4] == ["conductance", "spiking", "rate", "mlp"]
    assert set(MINE) >= {"rate", "spiking", "mlp"} and "conductance" not in MINE
    assert get_level("readout-rate").outputs_muscles and not get_level("mlp").uses_wiring


@pytest.mark.parametrize("level", MINE)
def test_state_round_trip(level):
    """get_state/set_state restore a brain exactly: the replayed steps equal the original ones."""
    brain, _ = build(level)
    if not brain.capabilities()["has_state"]:
        with pytest.raises(CapabilityError, match=level):
            brain.get_state()
        return
    inputs = fixed_inputs(brain.io.n_inputs, 6, 2)
    brain.reset(2)
    with torch.no_grad():
        for u in inputs[:3]:
            brain.step(u)
        saved = {k: v.clone() for k, v in brain.get_state().items()}
        first = torch.stack([brain.step(u) for u in inputs[3:]])
        brain.set_state(saved)
        again = torch.stack([brain.step(u) for u in inputs[3:]])
    torch.testing.assert_close(first, again)
    with pytest.raises(ValueError, match="state has"):
        brain.set_state({"nope": saved[next(iter(saved))]})


@pytest.mark.parametrize("level", MINE)
def test_edge_weights_follow_the_wiring_or_say_why_not(level):
    brain, _ = build(level)
    c = brain.circuit
    if not brain.uses_wiring:
        with pytest.raises(CapabilityError, match="on the wiring"):
            brain.edge_weights()
        return
    w = brain.edge_weights()
    assert w["chem"].shape == (len(c.chem_edges),) and w["gap"].shape == (len(c.gap_edges),)
    assert (w["chem"] >= 0).all() and (w["gap"] >= 0).all() and w["chem_unit"] and w["gap_unit"]
    assert set(brain.synaptic_params) <= set(brain.param_sizes())


@pytest.mark.parametrize("level", MINE)
def test_run_open_loop_equals_stepping(level):
    brain, _ = build(level, population=1)
    inputs = fixed_inputs(brain.io.n_inputs, 5, 3)
    with torch.no_grad():
        stepped = rollout(brain, inputs)
        brain.reset(3)
        out = brain.run_open_loop(inputs)
    torch.testing.assert_close(out["output"], stepped)
    assert out["activity"].shape[:2] == (5, 3)


def test_missing_capability_names_the_level_and_the_way_out():
    cond = get_level("conductance")
    with pytest.raises(CapabilityError) as err:
        cond.require("differentiable", "PPO")
    msg = str(err.value)
    assert "conductance" in msg and "PPO" in msg and "rate" in msg
