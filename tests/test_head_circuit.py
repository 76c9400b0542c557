"""The opt-in steering circuit (circuit="motor+head", `--circuit motor+head`): the head motor neurons and
their interneurons, their signs and muscles, the null wirings on it, and the default left as it was."""
import subprocess
import sys

import numpy as np
import pytest

from wormsim.connectome import (CIRCUITS, HEAD_INTERNEURONS, HEAD_MOTOR_NEURONS, head_side, load_circuit,
                                motor_circuit_neurons)


@pytest.fixture(scope="module")
def head():
    return load_circuit("cook2019", circuit="motor+head")


def test_builds_with_the_head_motor_neurons_and_interneurons(head, circuit):
    assert head.n == 81 + len(HEAD_MOTOR_NEURONS) + len(HEAD_INTERNEURONS) == 109 and not head.missing
    assert list(head.names[:81]) == list(circuit.names)          # the motor circuit first, in its order
    assert set(head.names) == set(motor_circuit_neurons("motor+head"))
    for cls in ("SMD", "RMD", "SMB", "RIV", "RME"):
        assert all(head.role[i] == "motor" for i in head.indices(classes=(cls,))), cls
    assert {head.cell_class[i] for i in head.indices(role="interneuron")} == {"AIY", "AIB", "AIZ", "RIA"}
    assert head.summary_by_class()["RMD"] == 6 and head.summary_by_class()["SMD"] == 4
    # known anatomy (Cook et al. 2019): RIA drives SMD and RMD heavily; AIY -> RIA; AIZ -> AVE
    ria, smd = head.indices(classes=("RIA",)), head.indices(classes=("SMD", "RMD"))
    assert head.chem[np.ix_(ria, smd)].sum() > 300
    assert head.chem[head.index("AIYL"), head.index("RIAL")] > 10
    assert head.chem[np.ix_(head.indices(classes=("AIZ",)), head.indices(classes=("AVE",)))].sum() > 10
    # the motor circuit's own wiring is the default circuit's
    assert np.array_equal(head.chem[:81, :81], circuit.chem) and np.array_equal(head.gap[:81, :81], circuit.gap)


def test_signs_rme_inhibitory_others_excitatory(head):
    assert "RME" in head.sign_rule
    for name, cls, s in zip(head.names, head.cell_class, head.sign):
        assert s == (-1 if cls in ("DD", "VD", "RME") else 1), name


def test_sides_from_names_agree_with_the_dataset(head):
    """SMD, SMB, RMD: D cells innervate dorsal muscles, V cells ventral ones (Cook 2019's NMJs), as their
    names say; RIV ventral (Gray, Hill & Bargmann 2005)."""
    assert head.nmj_source.startswith("dataset")
    for name in HEAD_MOTOR_NEURONS:
        side = head_side(name)
        if side is None or name.startswith("RME"):   # RMED/RMEV: Cook 2019 puts their NMJs on the other side
            continue
        i = head.index(name)
        assert head.nmj[i, side].sum() > head.nmj[i, 1 - side].sum(), name
    assert head_side("RMDL") is None and head_side("SMDVL") == 1 and head_side("SMBDR") == 0


def test_reaches_the_head_joints_the_default_cannot(head, circuit):
    m_head, m_default = head.segment_map(12), circuit.segment_map(12)
    assert not m_default[:, :, :2].any()                           # no ventral cord neuron reaches them
    reach = m_head[:, :, :2].sum(axis=(1, 2)) > 0
    assert {head.cell_class[i] for i in np.flatnonzero(reach)} >= {"SMD", "RMD", "SMB", "RME", "RIV"}
    assert m_head[:, 0, :2].sum() > 0 and m_head[:, 1, :2].sum() > 0   # both sides of the head


def test_interface_drives_the_head_muscles_and_feeds_the_attractant_to_aiy_aib(head):
    import gymnasium as gym
    import torch

    import wormsim  # noqa: F401
    from wormsim.interface import Interface
    env = gym.make_vec("wormsim/Navigate-v0", num_envs=1, vectorization_mode="vector_entry_point")
    iface = Interface(head, env.unwrapped.layout if hasattr(env, "unwrapped") else env.layout)
    env.close()
    J = iface.n_joints
    w = iface.motor_weights
    for j in (0, 1):                                            # head joints: dorsal j, ventral J + j
        assert np.abs(w[:, j]).sum() > 0 and np.abs(w[:, J + j]).sum() > 0
    a = torch.zeros(1, head.n)                                  # only the ventral SMD and RMD active
    a[0, [head.index(n) for n in ("SMDVL", "SMDVR", "RMDVL", "RMDVR")]] = 1.0
    m = iface.motor(a)[0].numpy()
    assert m[J] > 0.9 and m[J + 1] > 0.9 and abs(m[0] - 0.5) < 0.2   # ventral head muscles contract
    reach = iface.describe()["task:concentration_change"]
    assert {"AIYL", "AIYR", "AIBL", "AIBR", "AVAL", "AVBR"} <= set(reach)
    assert not {"RIAL", "SMDVL"} & set(reach)


def test_null_wirings_work_on_it(head):
    from wormsim.wiring import rewire
    for kind in ("shuffled", "erdos-renyi"):
        r = rewire(head, kind, seed=1)
        assert r.n == head.n and not np.array_equal(r.chem, head.chem)
        assert np.array_equal(r.sign, head.sign) and np.array_equal(r.nmj, head.nmj)
        exc = lambda c: int((c.sign[c.chem_edges[:, 0]] > 0).sum())   # noqa: E731
        assert exc(r) == exc(head) and len(r.chem_edges) == len(head.chem_edges)
    s = rewire(head, "shuffled", seed=1)
    np.testing.assert_array_equal((s.chem > 0).sum(1), (head.chem > 0).sum(1))   # out-degrees kept


def test_default_unchanged_and_config_fingerprint(circuit):
    from wormsim.config import TrainConfig
    assert load_circuit("cook2019").n == 81 and "RME" not in circuit.sign_rule
    from wormsim.experiment.grid import _semantic
    for field in ("circuit", "implicit_gaps"):       # old runs keep their fingerprints, grid cells their hashes
        assert field not in TrainConfig().fingerprint() and field not in _semantic(TrainConfig())
    assert TrainConfig().level_kwargs() == ()
    assert TrainConfig(circuit="motor+head").fingerprint()["circuit"] == "motor+head"
    assert "circuit" not in TrainConfig().eval_spec().as_dict()
    assert TrainConfig(circuit="motor+head").eval_spec().circuit == "motor+head"
    from wormsim.rollout import build_circuit
    assert build_circuit(TrainConfig(circuit="motor+head", task="navigate").eval_spec()).n == 109


def test_bad_circuit_is_a_one_line_error():
    assert set(CIRCUITS) == {"motor", "motor+head"}
    with pytest.raises(ValueError, match=r"unknown circuit 'head'; choose from motor, motor\+head"):
        load_circuit("cook2019", circuit="head")
    out = subprocess.run([sys.executable, "-m", "wormsim.cli", "circuit", "--circuit", "head"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice: 'head'" in out.stderr
    out = subprocess.run([sys.executable, "-m", "wormsim.cli", "circuit", "--circuit", "motor+head"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "109 neurons" in out.stdout and "SMD 4" in out.stdout, out.stderr


@pytest.mark.parametrize("implicit", [False, True])
def test_rate_implicit_gaps_keeps_a_strongly_coupled_pair_stable(implicit):
    """Two neurons coupled only by a gap junction of magnitude 4.5 (AIYL-AIYR of the head circuit after
    training, tau at its 20 ms floor): the default's explicit gap term makes their difference oscillate
    with a growing amplitude; implicit_gaps (opt-in) lets it decay, to the same fixed point."""
    import dataclasses

    import torch
    from test_conductance import make_circuit, make_io, set_block

    from wormsim.realism_levels.rate import RateBrain, RateConfig
    c = make_circuit(2, gap=[(0, 1, 1)])
    cfg = dataclasses.replace(RateConfig(), implicit_gaps=implicit, tau_init=0.02)
    brain = RateBrain(c, make_io(c, control_dt=0.02), config=cfg, population=1)
    set_block(brain, "gap", np.array([[4.5]]))
    assert float(brain.gap_matrix()[0, 0, 1]) == pytest.approx(4.5)     # one pair: degree 1, no scaling
    set_block(brain, "gain", np.zeros((1, 2)))
    brain.reset(1)
    brain.v = torch.tensor([[1.0, -1.0]])
    with torch.no_grad():
        for _ in range(50):
            brain.step(torch.zeros(1, 1))
    diff = float((brain.v[0, 0] - brain.v[0, 1]).abs())
    assert (diff < 1e-3) if implicit else (diff > 10.0), diff


def test_head_stretch_gives_the_smd_cells_their_own_sides_head_stretch(head, circuit, capsys):
    """--head-stretch (needs --circuit motor+head; off, nothing changes): each SMD cell gets one entry per
    head joint (the joints no ventral cord motor neuron bends), a stretch receptor of its own side (Yeon et
    al. 2018): a ventral bend stretches the dorsal side and excites SMDD, so the gain starts at -1/2 into
    SMDD and +1/2 into SMDV on each of the two head joints; no other entry changes."""
    from wormsim.cli import main
    from wormsim.config import TrainConfig
    from wormsim.envs.layout import ObsLayout
    from wormsim.interface import Interface
    layout = ObsLayout(n_segments=12)
    off, on = Interface(head, layout, own_stretch=True), Interface(head, layout, own_stretch=True, head_stretch=True)
    assert list(on.head_joints) == [0, 1] and len(off.head_joints) == 0
    added = on.input_mask & ~off.input_mask
    assert not (off.input_mask & ~on.input_mask).any()
    rows, cols = np.nonzero(added)
    assert set(rows) == {0, 1} and {head.names[i] for i in cols} == {"SMDDL", "SMDDR", "SMDVL", "SMDVR"}
    init_on, init_off = on.io_spec().input_init, off.io_spec().input_init
    for i in set(cols):
        side = head_side(head.names[i])
        assert np.allclose(init_on[[0, 1], i], -0.5 if side == 0 else 0.5), head.names[i]
    assert np.array_equal(init_on[off.input_mask], init_off[off.input_mask])
    # the starting rate circuit: a ventral head bend (curvature < 0 at joints 0-1 only) drives SMDD up and
    # SMDV down, through these entries alone
    obs_gain = on.io_spec().input_init[:2]                     # (2, N): the two head joints' gains
    drive = np.array([-1.0, -1.0]) @ obs_gain
    assert all(drive[head.index(n)] > 0 for n in ("SMDDL", "SMDDR"))
    assert all(drive[head.index(n)] < 0 for n in ("SMDVL", "SMDVR"))
    # the motor circuit has no SMD cells: a one-line error that names the way out
    with pytest.raises(ValueError, match=r"--circuit motor\+head"):
        Interface(circuit, layout, head_stretch=True)
    with pytest.raises(ValueError, match=r"add --circuit motor\+head"):
        TrainConfig(head_stretch=True).eval_spec()
    assert main(["train", "--head-stretch", "--budget", "1", "--no-video"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "add --circuit motor+head" in err[0]
    spec = TrainConfig(circuit="motor+head", head_stretch=True).eval_spec()
    assert dict(spec.interface_kwargs) == {"head_stretch": True}
    assert "head_stretch" not in TrainConfig().fingerprint()      # old runs keep their fingerprints
