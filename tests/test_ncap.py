"""The NCAP level (Bhattasali, Zador & Engel 2022) and its published-output variant: the architecture
(B units fed by the segment ahead on their own side, cross-inhibition through the D cells, the head
oscillator), its parameter count, and that it swims through `wormsim train`. The contract tests every
level passes (batching, determinism, gradients, golden trace) run in test_levels.py."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from test_interface import LAYOUT, real_circuit_or_skip, synthetic_circuit
from wormsim.interface import Interface
from wormsim.realism_levels import get_level


def build(level="ncap", circuit=None, population=1, **config):
    circuit = circuit if circuit is not None else synthetic_circuit()
    itf = Interface(circuit, LAYOUT)
    cls = get_level(level)
    return cls(circuit, itf.io_spec(), dataclasses.replace(cls.default_config(), **config),
               population=population), itf


def one_step(brain, u):
    brain.reset(u.shape[0])
    with torch.no_grad():
        return brain.step(u)


def classes(circuit, *names):
    return np.isin(np.array(circuit.cell_class), names)


def test_parameters_are_the_few_shared_weights():
    brain, _ = build(circuit=real_circuit_or_skip())
    assert brain.param_sizes() == {"prop": 1, "ipsi": 1, "contra": 1}
    assert build(oscillator_hz=1.0)[0].n_params == 4          # the paper's four
    assert build("ncap-direct")[0].param_sizes() == {"prop": 1, "ipsi": 1}
    assert not brain.uses_wiring and not brain.outputs_muscles and get_level("ncap-direct").outputs_muscles
    with pytest.raises(ValueError, match="oscillator_hz"):
        build(oscillator_hz=-1.0)


def test_a_dorsal_bend_ahead_excites_the_dorsal_b_cells_and_through_vd_inhibits_the_ventral_side():
    brain, itf = build()
    c = brain.circuit
    u = torch.zeros(1, brain.io.n_inputs)
    u[0, :LAYOUT.n_joints] = 0.5                               # every joint bent dorsally
    a = one_step(brain, u)[0].numpy()
    assert (a[classes(c, "DB")] > 0).all() and (a[classes(c, "VB")] == 0).all()
    assert (a[classes(c, "VD")] > 0).all() and (a[classes(c, "DD")] == 0).all()
    # NCAP has no backward or command units: every other neuron is silent
    assert (a[~classes(c, "DB", "VB", "DD", "VD")] == 0).all()
    muscles = itf.motor(torch.as_tensor(a)[None])[0].numpy()
    j = LAYOUT.n_joints
    reached = (np.abs(itf.motor_weights[:, :j]).sum(0) > 0) & (np.abs(itf.motor_weights[:, j:]).sum(0) > 0)
    assert (muscles[:j][reached] > muscles[j:][reached]).all(), "the body should bend further dorsally"
    # the mirror image
    a2 = one_step(brain, -u)[0].numpy()
    assert (a2[classes(c, "VB")] > 0).all() and (a2[classes(c, "DD")] > 0).all() and \
        (a2[classes(c, "DB")] == 0).all()


def test_each_b_cell_reads_only_the_segment_ahead_it_is_wired_to():
    brain, itf = build()
    c = brain.circuit
    b = np.flatnonzero(classes(c, "DB", "VB"))
    joint = itf.proprio_joint[b]
    k = int(joint[len(joint) // 2])
    assert (itf.layout.joint_positions[joint] < c.position[b] + 1e-9).all(), "B cells read joints ahead"
    u = torch.zeros(1, brain.io.n_inputs)
    u[0, k] = 0.8
    a = one_step(brain, u)[0].numpy()
    db = b[classes(c, "DB")[b]]
    np.testing.assert_allclose(a[db], np.where(itf.proprio_joint[db] == k, 0.8, 0.0), atol=1e-6)


def test_weights_scale_the_units_and_their_sign_is_fixed():
    brain, _ = build(population=2)
    brain.set_params(torch.tensor([[2.0, 0.5, 1.0], [-2.0, -0.5, -1.0]]))   # ES may hand over any sign
    u = torch.zeros(2, brain.io.n_inputs)
    u[:, :LAYOUT.n_joints] = 0.3
    a = one_step(brain, u).numpy()
    np.testing.assert_array_equal(a[0], a[1])
    db = classes(brain.circuit, "DB")
    np.testing.assert_allclose(a[0, db], 0.5 * 0.6, atol=1e-6)          # ipsi * clip(prop * k)


def test_the_head_oscillator_alternates_the_first_b_cells_every_half_period():
    hz = 1.0 / (10 * 0.02)                                                 # a 10-step period at 20 ms
    brain, itf = build(oscillator_hz=hz)
    c = brain.circuit
    b = np.flatnonzero(classes(c, "DB", "VB"))
    first = b[itf.proprio_joint[b] == itf.proprio_joint[b].min()]
    others = np.setdiff1d(b, first)
    brain.reset(1)
    with torch.no_grad():
        acts = torch.stack([brain.step(torch.zeros(1, brain.io.n_inputs))[0] for _ in range(10)]).numpy()
    dorsal = first[classes(c, "DB")[first]]
    ventral = first[classes(c, "VB")[first]]
    assert dorsal.size and ventral.size
    assert (acts[:5, dorsal] == 1).all() and (acts[5:, dorsal] == 0).all()
    assert (acts[:5, ventral] == 0).all() and (acts[5:, ventral] == 1).all()
    assert (acts[:, others] == 0).all()


def test_ncap_direct_is_the_published_muscle_rule():
    brain, _ = build("ncap-direct")
    j = LAYOUT.n_joints
    k = np.linspace(-0.9, 0.9, j)
    u = torch.zeros(1, brain.io.n_inputs)
    u[0, :j] = torch.as_tensor(k)
    m = one_step(brain, u)[0].numpy()
    ahead = np.concatenate([[0.0], k[:-1]])                               # joint 0 reads no joint
    np.testing.assert_allclose(m[:j], np.clip(ahead, 0, 1), atol=1e-6)
    np.testing.assert_allclose(m[j:], np.clip(-ahead, 0, 1), atol=1e-6)


def test_untrained_ncap_swims_where_the_silenced_one_does_not():
    """NCAP's prior alone passes the head's bend down the body: faster than the same level with every
    weight 0 (the passive body moved by the head oscillator only)."""
    real_circuit_or_skip()
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    ev = Evaluator(TrainConfig(level="ncap", duration=3.0).eval_spec(episodes=2))
    theta = ev.initial_params()
    r = ev.evaluate(np.stack([theta, np.zeros_like(theta)]), seed=0)
    assert r.speed[0] > r.speed[1] + 0.05, r.speed


def test_wormsim_train_level_ncap(tmp_path, capsys):
    real_circuit_or_skip()
    from wormsim.cli import main
    out = tmp_path / "run"
    main(["train", "--level", "ncap", "--budget", "1", "--popsize", "2", "--duration", "0.2",
          "--eval-episodes", "1", "--workers", "1", "--no-video", "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_params"] == 3 and np.isfinite(summary["final_speed"])


@pytest.mark.slow
def test_a_short_es_run_makes_ncap_swim_faster(tmp_path):
    """15 generations of 16 (about 30 s on 2 cores): the held-out speed rises above the untrained one."""
    real_circuit_or_skip()
    from wormsim.cli import main
    out = tmp_path / "run"
    main(["train", "--level", "ncap", "--budget", "15", "--popsize", "16", "--no-video", "--out", str(out)])
    s = json.loads((out / "summary.json").read_text())
    assert s["final_speed"] > s["untrained_speed"] + 0.02, s
