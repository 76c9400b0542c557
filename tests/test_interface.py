"""The sensor/motor interface: which neurons each channel reaches, muscle order, inhibition, shapes."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from wormsim.circuit import Circuit
from wormsim.envs.layout import ObsLayout
from wormsim.interface import Agent, Interface

# class -> (count, role, NMJ side or None, sign)
_SYNTH_CLASSES = {
    "AVA": (2, "command", None, 1), "AVB": (2, "command", None, 1), "AVD": (2, "command", None, 1),
    "AVE": (2, "command", None, 1), "PVC": (2, "command", None, 1),
    "DA": (3, "motor", 0, 1), "DB": (3, "motor", 0, 1), "AS": (2, "motor", 0, 1), "DD": (2, "motor", 0, -1),
    "VA": (3, "motor", 1, 1), "VB": (3, "motor", 1, 1), "VD": (3, "motor", 1, -1),
}


def synthetic_circuit(seed: int = 0, n_rows: int = 24) -> Circuit:
    """A small deterministic stand-in for the motor circuit (31 neurons, every class the interface
    and levels care about): command cells at head/tail, motor cells spread along the body, random
    chemical and gap counts, each motor neuron reaching the muscle rows near its soma on its side."""
    rng = np.random.default_rng(seed)
    names, classes, roles, pos, side, sign = [], [], [], [], [], []
    for cls, (k, role, s, sg) in _SYNTH_CLASSES.items():
        for i in range(k):
            names.append(f"{cls}{i + 1}" if role == "motor" else f"{cls}{'LR'[i]}")
            classes.append(cls)
            roles.append(role)
            pos.append(0.95 if cls == "PVC" else 0.07 if role == "command"
                       else 0.15 + 0.75 * i / max(k - 1, 1))
            side.append(s)
            sign.append(sg)
    n = len(names)
    chem = rng.integers(1, 8, (n, n)) * (rng.random((n, n)) < 0.2)
    np.fill_diagonal(chem, 0)
    gap = np.triu(rng.integers(1, 4, (n, n)) * (rng.random((n, n)) < 0.1), 1)
    gap = gap + gap.T
    muscle_pos = (np.arange(n_rows) + 0.5) / n_rows
    nmj = np.zeros((n, 2, n_rows))
    for i in range(n):
        if side[i] is not None:
            near = np.abs(muscle_pos - pos[i]) < 0.12
            nmj[i, side[i], near] = rng.integers(1, 6, near.sum())
    return Circuit(names=tuple(names), cell_class=tuple(classes), role=tuple(roles),
                   position=np.array(pos, float), chem=chem.astype(float), gap=gap.astype(float),
                   sign=np.array(sign), nmj=nmj, muscle_position=muscle_pos, dataset="synthetic",
                   sign_rule="class", nmj_source="synthetic")


@functools.lru_cache(maxsize=1)
def _real_circuit() -> Circuit:
    from wormsim.connectome import load_circuit
    return load_circuit("cook2019")


def real_circuit_or_skip() -> Circuit:
    """The Cook 2019 circuit, extracted once per test process."""
    pytest.importorskip("wormsim.connectome")
    try:
        return _real_circuit()
    except Exception as err:  # the dataset reader may be unavailable offline
        pytest.skip(f"cook2019 circuit unavailable: {err}")


@pytest.fixture(params=["synthetic", "cook2019"])
def circuit(request) -> Circuit:
    return synthetic_circuit() if request.param == "synthetic" else real_circuit_or_skip()


LAYOUT = ObsLayout(n_segments=12, task_names=("conc", "dconc"))


def names_of(c: Circuit, row: np.ndarray) -> set[str]:
    return {c.names[i] for i in np.flatnonzero(row)}


def test_channels_reach_the_right_neurons(circuit):
    itf = Interface(circuit, LAYOUT)
    j = LAYOUT.n_joints
    assert itf.channel_names[:j] == tuple(f"curvature[{k}]" for k in range(j))
    assert itf.channel_names[j:] == ("drive_forward", "drive_backward", "task:conc", "task:dconc")
    cls = np.array(circuit.cell_class)
    mask = itf.input_mask
    assert mask.shape == (j + 4, circuit.n)
    fwd = {circuit.names[i] for i in circuit.indices(classes=["AVB", "PVC"])}
    bwd = {circuit.names[i] for i in circuit.indices(classes=["AVA", "AVD", "AVE"])}
    assert names_of(circuit, mask[j]) == fwd
    assert names_of(circuit, mask[j + 1]) == bwd
    command = {circuit.names[i] for i in circuit.indices(role="command")}
    assert names_of(circuit, mask[j + 2]) == command == names_of(circuit, mask[j + 3])
    # proprioception: exactly the A and B cells, each from one joint: B cells the joint one segment
    # anterior to the soma (Wen et al. 2012), A cells one segment posterior
    proprio = mask[:j]
    reached = proprio.any(axis=0)
    assert set(cls[reached]) == {"DA", "DB", "VA", "VB"}
    assert (proprio.sum(axis=0)[reached] == 1).all()
    for i in np.flatnonzero(reached):
        k = int(np.flatnonzero(proprio[:, i])[0])
        shift = -1 if cls[i] in ("DB", "VB") else 1
        target = np.clip(circuit.position[i] + shift / LAYOUT.n_segments, 0, 1)
        d = np.abs(LAYOUT.joint_positions - target)
        assert d[k] == d.min()
    assert not proprio[:, np.isin(cls, ["AS", "DD", "VD", "AVA", "AVB"])].any()
    # starting gains: a dorsal bend excites DB and inhibits VB; the A-type cells start at 0 (their
    # coupling is shown for backward locomotion, Xu et al. 2018) but stay trainable (on the mask)
    init = itf.io_spec().input_init
    for i in np.flatnonzero(reached):
        k = int(np.flatnonzero(proprio[:, i])[0])
        assert init[k, i] == {"DB": 1.0, "VB": -1.0, "DA": 0.0, "VA": 0.0}[cls[i]]
    assert (init[~mask] == 0).all() and (init[j:][mask[j:]] == 1).all()


def test_io_spec_matches_layout(circuit):
    itf = Interface(circuit, LAYOUT, control_dt=0.01)
    io = itf.io_spec()
    assert io.n_muscles == LAYOUT.n_muscles == 22
    assert io.control_dt == 0.01
    assert io.input_mask.dtype == bool and io.input_mask.shape == (itf.n_inputs, circuit.n)
    assert io.channel_names == itf.channel_names


def test_sense_reads_curvature_drive_and_task():
    itf = Interface(synthetic_circuit(), LAYOUT, drive=(0.7, 0.2))
    obs = np.zeros((3, LAYOUT.obs_dim), np.float32)
    obs[:, LAYOUT.angles] = np.linspace(-0.5, 0.5, LAYOUT.n_joints)
    obs[:, LAYOUT.velocities] = 9.0           # not a channel: must not leak in
    obs[:, LAYOUT.task] = [1.5, -2.0]
    u = itf.sense(obs)
    assert u.dtype == torch.float32 and u.shape == (3, itf.n_inputs)
    j = LAYOUT.n_joints
    expected = np.linspace(-0.5, 0.5, j) * 12 * itf.proprio_scale
    np.testing.assert_allclose(u[0, :j].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(u[:, j:].numpy(), [[0.7, 0.2, 1.5, -2.0]] * 3, rtol=1e-6)
    torch.testing.assert_close(itf.sense(torch.as_tensor(obs)), u)
    with pytest.raises(ValueError):
        itf.sense(obs[:, :-1])


def test_motor_order_dorsal_then_ventral(circuit):
    itf = Interface(circuit, LAYOUT)
    j = LAYOUT.n_joints
    sm = circuit.segment_map(LAYOUT.n_segments)
    for cls, side in (("DB", 0), ("VB", 1)):
        a = torch.zeros(1, circuit.n)
        idx = circuit.indices(classes=[cls])
        a[0, idx] = 1.0
        m = itf.motor(a)[0].numpy()
        reached = sm[idx, side].sum(axis=0) > 0
        other = slice(j, 2 * j) if side == 0 else slice(0, j)
        own = slice(0, j) if side == 0 else slice(j, 2 * j)
        assert (m[own][reached] > 0.5).all(), cls
        np.testing.assert_allclose(m[other], 0.5, atol=1e-6)     # the other side stays balanced
        np.testing.assert_allclose(m[own][~reached], 0.5, atol=1e-6)


def test_inhibition_lowers_the_muscle_it_reaches(circuit):
    itf = Interface(circuit, LAYOUT)
    j = LAYOUT.n_joints
    sm = circuit.segment_map(LAYOUT.n_segments)
    dd = circuit.indices(classes=["DD"])
    base = torch.full((1, circuit.n), 0.5)
    more = base.clone()
    more[0, dd] = 1.0
    delta = (itf.motor(more) - itf.motor(base))[0].numpy()
    reached = sm[dd].sum(axis=0).reshape(-1) > 0       # dorsal then ventral, like the action
    assert reached[:j].sum() > reached[j:].sum()       # DD reach mainly dorsal muscles
    assert (delta[reached] < 0).all()
    np.testing.assert_allclose(delta[~reached], 0, atol=1e-7)


def test_motor_range_differentiable_and_moderate(circuit):
    itf = Interface(circuit, LAYOUT)
    for fill in (0.0, 0.5):   # an untrained circuit: quiet or half active
        m = itf.motor(torch.full((2, circuit.n), fill))
        assert m.shape == (2, LAYOUT.n_muscles)
        assert ((m > 0.1) & (m < 0.9)).all(), f"uniform activity {fill} should give moderate output"
    m = itf.motor(torch.rand(5, circuit.n))
    assert ((m > 0) & (m < 1)).all()
    a = torch.rand(4, circuit.n, requires_grad=True)
    itf.motor(a).sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        itf.motor(torch.zeros(1, circuit.n + 1))


class _EchoBrain:
    """Stands in for a Brain: outputs a fixed activity, or the muscles directly."""
    device = torch.device("cpu")

    def __init__(self, io, n, outputs_muscles):
        self.io, self.n, self.outputs_muscles = io, n, outputs_muscles

    def reset(self, batch):
        self.batch = batch

    def step(self, u):
        width = self.io.n_muscles if self.outputs_muscles else self.n
        return torch.full((u.shape[0], width), 0.25)


def test_agent_uses_motor_map_or_direct_muscles():
    c = synthetic_circuit()
    itf = Interface(c, LAYOUT)
    obs = np.zeros((2, LAYOUT.obs_dim), np.float32)
    for direct in (False, True):
        agent = Agent(_EchoBrain(itf.io_spec(), c.n, direct), itf)
        agent.reset(2)
        act = agent.act(obs)
        assert act.dtype == np.float32 and act.shape == (2, LAYOUT.n_muscles)
        expected = 0.25 if direct else itf.motor(torch.full((2, c.n), 0.25)).numpy()
        np.testing.assert_allclose(act, expected, rtol=1e-6)
