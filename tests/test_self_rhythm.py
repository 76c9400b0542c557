"""The opt-in mechanisms of a rhythm the circuit makes itself (issue 18, docs/body/self-rhythm.md): bistable
B-type motor neurons in the rate level (``bistable_gain``) and the B cells' own-segment stretch receptors
in the interface (``own_stretch``). Off, nothing changes; on, a unit shows hysteresis and the B cells
gain one negative-feedback entry each. A few seconds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from test_interface import LAYOUT, synthetic_circuit
from wormsim.config import TrainConfig
from wormsim.interface import Interface
from wormsim.realism_levels import get_level
from wormsim.realism_levels.rate import fold_inputs


def rate(circuit=None, interface_kwargs=None, **config):
    circuit = circuit if circuit is not None else synthetic_circuit()
    itf = Interface(circuit, LAYOUT, **(interface_kwargs or {}))
    cls = get_level("rate")
    return cls(circuit, itf.io_spec(), dataclasses.replace(cls.default_config(), **config)), itf


def test_fold_inputs_bound_the_bistable_window():
    lo, hi = fold_inputs(8.0)
    assert lo == pytest.approx(-1.0657, abs=1e-3) and hi == pytest.approx(1.0657, abs=1e-3)
    assert fold_inputs(12.0)[1] > hi > fold_inputs(6.0)[1] > 0          # wider with more feedback
    with pytest.raises(ValueError, match="bistable only for w > 4"):
        fold_inputs(4.0)


def test_off_by_default_and_no_new_parameter():
    off, _ = rate()
    on, _ = rate(bistable_gain=8.0)
    assert off.config.bistable_gain == 0.0 and off._self_w is None
    assert on.n_params == off.n_params                                   # a membrane property, not a weight
    b = np.isin(np.array(on.circuit.cell_class), ["DB", "VB"])
    w = on._self_w.numpy()
    assert (w[b] == 8.0).all() and (w[~b] == 0).all()
    with pytest.raises(ValueError, match="bistable_gain must be >= 0"):
        rate(bistable_gain=-1.0)


def _sweep(brain, neuron: int, levels: np.ndarray) -> np.ndarray:
    """Activity of ``neuron`` after settling at each bias level in turn (no synapses, no inputs)."""
    theta = brain.get_params()[0].clone()
    sizes, start = brain.param_sizes(), 0
    slices = {}
    for k, n in sizes.items():
        slices[k] = slice(start, start + n)
        start += n
    theta[slices["chem"]] = 0.0
    theta[slices["gap"]] = 0.0
    theta[slices["gain"]] = 0.0
    brain.reset(1)
    out = []
    for level in levels:
        theta[slices["bias"]] = float(level)
        brain.set_params(theta)
        for _ in range(25):                                              # 0.5 s = 10 tau: settled
            a = brain.step(torch.zeros(1, brain.io.n_inputs))
        out.append(float(a[0, neuron].detach()))
    return np.array(out)


def test_bistable_unit_shows_hysteresis_and_the_default_does_not():
    up = np.linspace(-3, 3, 13)
    sweep = np.concatenate([up, up[::-1]])
    zero_up, zero_down = 6, 13 + 6                                        # bias 0 on the way up, on the way down
    for gain, hysteretic in ((8.0, True), (0.0, False)):
        brain, _ = rate(bistable_gain=gain)
        db = brain.circuit.indices(classes=["DB"])[0]
        a = _sweep(brain, db, sweep)
        gap = a[zero_down] - a[zero_up]
        if hysteretic:
            # the same input (bias 0, inside the window +-1.07) leaves the unit off coming from below
            # and on coming from above
            assert a[zero_up] < 0.1 and a[zero_down] > 0.9, a
        else:
            assert abs(gap) < 1e-3, a
        # outside the window the unit follows its input either way
        assert a[0] < 0.1 and a[12] > 0.9


def test_bistable_classes_must_exist():
    with pytest.raises(ValueError, match="name no neuron"):
        rate(bistable_gain=8.0, bistable_classes=("XX",))


def test_own_stretch_adds_one_negative_feedback_entry_per_b_cell():
    c = synthetic_circuit()
    plain = Interface(c, LAYOUT)
    own = Interface(c, LAYOUT, own_stretch=True)
    assert (plain.own_joint == -1).all()
    extra = own.input_mask & ~plain.input_mask
    assert (own.input_mask >= plain.input_mask).all()                   # nothing removed
    cls = np.array(c.cell_class)
    init = own._input_init()
    for i in np.flatnonzero(extra.any(axis=0)):
        assert cls[i] in ("DB", "VB") and extra[:, i].sum() == 1
        j = int(np.flatnonzero(extra[:, i])[0])
        assert j == own.own_joint[i] != own.proprio_joint[i]
        # a dorsal bend of its own segment inhibits DB and excites VB: the opposite of the anterior entry
        assert init[j, i] == (-1.0 if cls[i] == "DB" else 1.0)
        assert init[own.proprio_joint[i], i] == -init[j, i]
    assert extra.any()


def test_train_config_passes_the_switches_only_when_set():
    plain = TrainConfig(level="rate")
    spec = plain.eval_spec()
    assert spec.level_kwargs == () and spec.interface_kwargs == ()
    assert "interface_kwargs" not in spec.as_dict()                    # stored specs keep their old form
    on = TrainConfig(level="rate", bistable_gain=8.0, own_stretch=True).eval_spec()
    assert dict(on.level_kwargs)["bistable_gain"] == 8.0
    assert dict(on.interface_kwargs) == {"own_stretch": True}
    with pytest.raises(ValueError, match="no bistable neurons"):
        TrainConfig(level="mlp", bistable_gain=8.0).level_kwargs()


def test_video_and_trainers_build_the_interface_of_the_spec():
    """A run trained with --own-stretch is filmed with the same input mask it was trained with."""
    from wormsim.viz.video import _build_brain, make_env
    spec = TrainConfig(level="rate", own_stretch=True).eval_spec()
    env = make_env(spec, duration=0.1)
    try:
        brain, itf = _build_brain(spec, env)
    finally:
        env.close()
    assert itf.own_stretch and (itf.own_joint >= 0).sum() > 0
    assert brain.io.input_mask.sum() == itf.input_mask.sum()


def test_runs_made_before_the_switches_still_resume():
    # a checkpoint written before bistable_gain and own_stretch existed lacks them: unset, they stay out of
    # the fingerprint (a run interrupted across the upgrade resumes); set, they are part of the set-up
    from wormsim.config import TrainConfig
    assert not {"bistable_gain", "own_stretch", "anterior_reach"} & set(TrainConfig().fingerprint())
    assert TrainConfig(bistable_gain=8.0, own_stretch=True).fingerprint()["own_stretch"] is True


def test_a_checkpoint_that_recorded_the_unset_switches_resumes(tmp_path):
    from wormsim.runs import _set_up
    assert _set_up({"level": "rate", "bistable_gain": 0.0, "own_stretch": False, "init": None}) == {"level": "rate"}
    assert _set_up({"level": "rate", "own_stretch": True}) == {"level": "rate", "own_stretch": True}


def test_conductance_cells_are_regenerative_by_default_and_passive_ones_are_not():
    """The conductance level's bistability is its own Ca current (issue 18: "neurons whose own dynamics
    can be bistable where the level's model allows it"): the isolated cell's steady-state current has a
    rising (negative-slope) stretch between the rest and a depolarised plateau, so that at a bias in the
    window it has two stable zeros; the passive rung of the ladder has none."""
    from realism_levels.conductance import (ConductanceConfig, ladder_config, resting_potential, stable_voltages,
                                            steady_state_current)
    v = np.linspace(-100.0, 40.0, 14001)
    i = steady_state_current(ConductanceConfig(), v)
    rising = v[1:][np.diff(i) > 0]
    assert rising.min() == pytest.approx(-13.5, abs=0.5) and rising.max() == pytest.approx(3.0, abs=0.5)
    # the zero of the curve at its stable rest is resting_potential's
    assert np.interp(resting_potential(ConductanceConfig()), v, i) == pytest.approx(0.0, abs=1e-3)

    two = stable_voltages(ConductanceConfig(), 4.0)
    assert len(two) == 2                               # rest and plateau (hysteresis measured at 4 pA)
    assert two[1] > 0 > two[0] > -60
    assert len(stable_voltages(ConductanceConfig(), 12.0)) == 1                  # above the window: plateau only
    assert (np.diff(steady_state_current(ladder_config("passive"), v)) < 0).all()


def test_bistable_gain_on_conductance_says_its_cells_are_bistable_already():
    with pytest.raises(ValueError, match="bistable already through their Ca current"):
        TrainConfig(level="conductance", bistable_gain=8.0).level_kwargs()


def test_anterior_reach_moves_only_the_b_cells_anterior_entry():
    """--anterior-reach (default 1, as always): the B cells' anterior entry reads that many segments ahead of
    the soma; every other entry, and the A cells' posterior one, stays."""
    c = synthetic_circuit()
    one, two = Interface(c, LAYOUT), Interface(c, LAYOUT, anterior_reach=2)
    assert np.array_equal(Interface(c, LAYOUT, anterior_reach=1).input_mask, one.input_mask)
    cls = np.array(c.cell_class)
    b = np.isin(cls, ["DB", "VB"]) & (one.proprio_joint >= 0)
    assert (two.proprio_joint[b] <= one.proprio_joint[b]).all() and (two.proprio_joint[b] < one.proprio_joint[b]).any()
    assert np.array_equal(two.proprio_joint[~b], one.proprio_joint[~b])
    assert two.input_mask.sum() == one.input_mask.sum()                  # moved, not added
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="anterior_reach"):
            Interface(c, LAYOUT, anterior_reach=bad)
    assert TrainConfig().eval_spec().interface_kwargs == ()
    assert dict(TrainConfig(anterior_reach=2, own_stretch=True).eval_spec().interface_kwargs) == {
        "own_stretch": True, "anterior_reach": 2}
    assert TrainConfig(anterior_reach=2).fingerprint()["anterior_reach"] == 2


def test_anterior_field_adds_silent_entries_ahead_of_the_b_cells_first_one():
    """--anterior-field N (default 1, as always): each B cell gains entries on the joints up to N segments
    ahead of its soma, each starting at gain 0, so the starting circuit commands the muscles as the default
    one does; no other cell gains or loses an entry."""
    c = synthetic_circuit()
    one, three = Interface(c, LAYOUT), Interface(c, LAYOUT, anterior_field=3)
    assert np.array_equal(Interface(c, LAYOUT, anterior_field=1).input_mask, one.input_mask)
    added = three.input_mask & ~one.input_mask
    assert not (one.input_mask & ~three.input_mask).any()                # added, not moved
    cls = np.array(c.cell_class)
    rows, cols = np.nonzero(added)
    assert len(rows) > 0 and set(cls[cols]) <= {"DB", "VB"}
    assert (rows < LAYOUT.n_joints).all() and (rows < one.proprio_joint[cols]).all()   # ahead: nearer the head
    init1, init3 = one.io_spec().input_init, three.io_spec().input_init
    assert (init3[added] == 0).all() and np.array_equal(init3[one.input_mask], init1[one.input_mask])
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="anterior_field"):
            Interface(c, LAYOUT, anterior_field=bad)
    assert dict(TrainConfig(anterior_field=3).eval_spec().interface_kwargs) == {"anterior_field": 3}
    assert "anterior_field" not in TrainConfig().fingerprint()             # old runs keep their fingerprints
    assert TrainConfig(anterior_field=3).fingerprint()["anterior_field"] == 3


def test_stretch_field_spreads_the_own_stretch_gain_tailward_of_the_nmjs():
    """--stretch-field N (needs --own-stretch; default 1, as always): each B cell's own-side stretch entry
    becomes up to N entries, from its NMJs' centre tailward (Boyle, Berri & Cohen 2012's posterior field),
    whose starting gains share the one entry's sign and sum to it; no other entry changes."""
    c = synthetic_circuit()
    one = Interface(c, LAYOUT, own_stretch=True)
    four = Interface(c, LAYOUT, own_stretch=True, stretch_field=4)
    assert np.array_equal(Interface(c, LAYOUT, own_stretch=True, stretch_field=1).input_mask, one.input_mask)
    added = four.input_mask & ~one.input_mask
    assert not (one.input_mask & ~four.input_mask).any()
    cls = np.array(c.cell_class)
    rows, cols = np.nonzero(added)
    assert len(rows) > 0 and set(cls[cols]) <= {"DB", "VB"} and (rows < LAYOUT.n_joints).all()
    assert (rows > one.own_joint[cols]).all()                              # tailward of the NMJs' centre
    init1, init4 = one.io_spec().input_init, four.io_spec().input_init
    for i in np.unique(cols):
        field = [one.own_joint[i], *rows[cols == i]]
        assert np.allclose(init4[field, i], init1[one.own_joint[i], i] / len(field))   # spread evenly
        assert np.isclose(init4[field, i].sum(), init1[one.own_joint[i], i])            # same sum, same sign
    untouched = one.input_mask.copy()
    untouched[one.own_joint[np.unique(cols)], np.unique(cols)] = False
    assert np.array_equal(init4[untouched], init1[untouched])
    with pytest.raises(ValueError, match="own_stretch"):
        Interface(c, LAYOUT, stretch_field=3)
    with pytest.raises(ValueError, match="add --own-stretch"):
        TrainConfig(stretch_field=3).eval_spec()
    assert dict(TrainConfig(own_stretch=True, stretch_field=3).eval_spec().interface_kwargs) == {
        "own_stretch": True, "stretch_field": 3}
    assert "stretch_field" not in TrainConfig().fingerprint()


def test_a_wider_field_starts_from_a_trained_run_which_a_narrower_one_refuses(tmp_path):
    """--init from a run with the default field into --anterior-field 3 keeps every trained gain and
    starts the new entries at 0; the other way round would drop trained gains, and is refused."""
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run
    from wormsim.train.warmstart import initial_params_from_run
    base = dict(head_cpg=0.0, own_stretch=True, duration=0.2)
    src_cfg = TrainConfig(**base)
    src = Evaluator(src_cfg.eval_spec())
    x = src.initial_params() + np.random.default_rng(0).normal(0, 0.1, src.n_params).astype(np.float32)
    run = Run.create(tmp_path / "narrow", dataclasses.asdict(src_cfg))
    run.save_policy(x, level="rate", generation=1, source="test", spec=src_cfg.eval_spec().as_dict())
    wide_cfg = TrainConfig(**base, anterior_field=3, init=str(tmp_path / "narrow"))
    wide = Evaluator(wide_cfg.eval_spec())
    y = initial_params_from_run(wide_cfg, wide)
    assert len(y) == wide.n_params > src.n_params
    assert np.isclose(np.sort(y[y != 0]), np.sort(x[x != 0])).all()
    r_src, r_wide = src.evaluate(x[None], seed=3), wide.evaluate(np.asarray(y)[None], seed=3)
    assert np.allclose(r_src.returns, r_wide.returns, atol=1e-5)
    run3 = Run.create(tmp_path / "wide", dataclasses.asdict(TrainConfig(**base, anterior_field=3)))
    run3.save_policy(y, level="rate", generation=1, source="test", spec=wide_cfg.eval_spec().as_dict())
    with pytest.raises(ValueError, match="reaches neuron .* in the run, not here"):
        initial_params_from_run(TrainConfig(**base, init=str(tmp_path / "wide")), src)
    src.close(), wide.close()


def test_level_option_sets_a_level_config_field_from_the_command_line():
    """`--level-option curvature_scale_nS=0.1` reaches the conductance brain's proprioceptive scale, is part of
    the run's set-up (fingerprint) only when given, and a bad item is one clear error."""
    from wormsim.cli import build_parser
    from wormsim.config import from_args
    from wormsim.rollout import make_level_config
    args = build_parser().parse_args(["train", "--level", "conductance", "--level-option",
                                      "curvature_scale_nS=0.1", "ca_inactivation=true"])
    cfg = from_args(TrainConfig, args)
    spec = cfg.eval_spec()
    assert dict(spec.level_kwargs) == {"curvature_scale_nS": 0.1, "ca_inactivation": True}
    level_cfg = make_level_config(spec.level, dict(spec.level_kwargs))
    assert level_cfg.curvature_scale_nS == 0.1 and level_cfg.ca_inactivation is True
    assert cfg.fingerprint()["level_option"] == ["curvature_scale_nS=0.1", "ca_inactivation=true"]
    assert "level_option" not in TrainConfig(level="conductance").fingerprint()
    # an optional field is typed by its annotation, not by its default None
    assert TrainConfig(level="conductance", level_option=["v_init_mV=-60"]).level_kwargs() == (("v_init_mV", -60.0),)
    assert TrainConfig(level="mlp", level_option=["hidden_size=none"]).level_kwargs() == (("hidden_size", None),)
    for item, message in [("curvature_scale_nS", "write NAME=VALUE"), ("no_such=1", "has no field 'no_such'"),
                          ("curvature_scale_nS=big", "takes a float"), ("ca_inactivation=maybe", "takes a bool"),
                          ("synaptic_gating=x", "takes a bool"), ("v_init_mV=cold", "takes a float")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(level="conductance", level_option=[item]).level_kwargs()
    with pytest.raises(ValueError, match="build the level's config in Python"):
        TrainConfig(level="rate", level_option=["bistable_classes=DB"]).level_kwargs()


def test_the_default_release_reads_both_branches_of_the_plateau_as_on_and_c302s_midpoint_parts_them():
    """docs/body/self-rhythm.md section 15: at the level's release midpoint (-35 mV) both stable states of a
    cell biased into its Ca plateau's window release more than half their maximum, so the bistability is
    invisible to the cell's synapses and NMJs; at c302 C1's midpoint (0 mV) the low state releases almost
    nothing and the plateau most."""
    from realism_levels.conductance import ConductanceConfig, release, stable_voltages
    low, plateau = stable_voltages(ConductanceConfig(), 4.0)
    default, c302 = ConductanceConfig(), ConductanceConfig(v_release_mV=0.0)
    assert release(default, low) > 0.5 and release(default, plateau) > 0.99
    assert release(c302, low) < 0.05 and release(c302, plateau) > 0.8


def test_init_bias_starts_named_classes_at_their_bias_and_refuses_what_it_cannot_read():
    from wormsim.realism_levels.conductance import ConductanceConfig
    circuit = synthetic_circuit()
    io = Interface(circuit, LAYOUT).io_spec()
    cfg = ConductanceConfig(codegen_target="numpy", init_bias_pA="DB=5.5, VB=4")
    brain = get_level("conductance")(circuit, io, cfg, population=2)
    cls = np.asarray(circuit.cell_class)
    bias = brain.bias.detach().numpy()
    assert np.allclose(bias[:, cls == "DB"], 5.5) and np.allclose(bias[:, cls == "VB"], 4.0)
    assert np.allclose(bias[:, ~np.isin(cls, ["DB", "VB"])], 0.0)
    assert np.allclose(get_level("conductance")(circuit, io, ConductanceConfig(codegen_target="numpy"),
                                                population=1).bias.detach().numpy(), 0.0)
    for text in ["DB", "DB=warm", "=3"]:
        with pytest.raises(ValueError, match="write CLASS=pA"):
            ConductanceConfig(init_bias_pA=text)
    with pytest.raises(ValueError, match="no cell class 'XX'"):
        get_level("conductance")(circuit, io, ConductanceConfig(codegen_target="numpy", init_bias_pA="XX=1"))
    assert TrainConfig(level="conductance", level_option=["init_bias_pA=DB=5.5,VB=5.5"]).level_kwargs() == \
        (("init_bias_pA", "DB=5.5,VB=5.5"),)


@pytest.mark.parametrize("value, message", [("DB", "write CLASS=pA"), ("XX=1", "no cell class 'XX'")])
def test_a_bad_init_bias_is_refused_before_any_file(tmp_path, capsys, value, message):
    from wormsim.cli import main
    out = tmp_path / "run"
    assert main(["train", "--level", "conductance", "--level-option", f"init_bias_pA={value}",
                 "--out", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_the_learning_family_compares_how_often_each_wiring_learns_by_fishers_exact_test(docs_body):
    """docs/body/self_rhythm_nulls.py's learning family (docs/body/self-rhythm.md section 18): counts per
    wiring, Fisher's exact p, the difference of proportions and the odds ratio, Holm over the two outcomes;
    and the goal's count of ends within 15%, only for a run with a gait at both ends."""
    import math
    nulls = docs_body("self_rhythm_nulls")
    per = ([{"wiring": "connectome", "learned": True, "gait_both_ends": k < 5} for k in range(8)]
           + [{"wiring": "shuffled", "learned": k < 3, "gait_both_ends": False} for k in range(8)])
    learned, both = nulls.learning_tests(per)
    assert (learned["k_a"], learned["n_a"], learned["k_b"], learned["n_b"]) == (8, 8, 3, 8)
    assert learned["p"] == pytest.approx(0.02564, abs=1e-4) and learned["diff"] == pytest.approx(5 / 8)
    assert both["p"] == pytest.approx(0.02564, abs=1e-4)
    assert learned["p_holm"] == pytest.approx(2 * min(learned["p"], both["p"]))
    assert math.isinf(learned["odds_ratio"]) and learned["odds_ci"][0] > 1
    rows = [{"medium": m, "load": x, "undulating": 2, "direction": "head-to-tail", "frequency": f,
             "wavelength": lam, "amplitude": 6.0, "speed": 0.3}
            for m, x, f, lam in (("water", 1.0, 1.9, 1.28), ("agar", 10000.0, 0.23, 0.73))]
    out = nulls.outcomes({"rows": rows}, agar_end=10000.0)
    assert out["gait_both_ends"] and out["within_15"] == 2        # 1.9 Hz and 0.73 BL in; 1.28 BL and 0.23 Hz out
    rows[1]["direction"] = "tail-to-head"
    assert nulls.outcomes({"rows": rows}, agar_end=10000.0)["within_15"] is None


def test_the_head_stretch_family_pairs_the_water_wave_by_seed(docs_body):
    """docs/body/head_stretch.py (section 21): the water 1x wavelength of an arm minus the motor circuit's
    run of the same seed, over seeds where both learned; mean, t interval and two-sided p, as scipy's
    one-sample t-test gives them; too few pairs say so instead of a number."""
    from scipy import stats
    hs = docs_body("head_stretch")

    def row(arm, seed, wavelength, learned=True):
        return {"arm": arm, "seed": seed, "learned": learned, "water": [2.0, wavelength]}
    rows = [row("motor", 5, 1.12), row("motor", 6, 1.14), row("motor", 7, 1.09), row("motor", 8, 1.19),
            row("head", 5, 1.30), row("head", 6, 1.22), row("head", 7, 1.25, learned=False), row("head", 8, 1.35),
            row("passive", 5, 1.10, learned=False), row("passive", 6, 1.18)]
    t = hs.paired_test(rows, "head")
    assert t["n"] == 3 and t["diffs"] == pytest.approx([0.18, 0.08, 0.16])
    assert t["mean"] == pytest.approx(0.14) and t["ci"][0] < 0.14 < t["ci"][1]
    assert t["p"] == pytest.approx(stats.ttest_1samp([0.18, 0.08, 0.16], 0).pvalue)
    half = stats.t.ppf(0.975, 2) * np.std([0.18, 0.08, 0.16], ddof=1) / np.sqrt(3)
    assert t["ci"] == pytest.approx([0.14 - half, 0.14 + half])
    few = hs.paired_test(rows, "passive")
    assert few["n"] == 1 and "mean" not in few
    assert "too few pairs" in hs.table([], [t, few]) and "+0.140" in hs.table([], [t, few])


def test_head_entries_are_the_smd_cells_head_stretch_gains(docs_body):
    """head_stretch.head_entries: the flat-vector indices of the SMD cells' head-stretch gains, which the
    section 21 ablation sets to 0; none on a set-up without --head-stretch."""
    from wormsim.rollout import Evaluator
    hs = docs_body("head_stretch")
    cfg = dict(head_cpg=0.0, own_stretch=True, circuit="motor+head", duration=0.2)
    on, off = Evaluator(TrainConfig(head_stretch=True, **cfg).eval_spec()), Evaluator(TrainConfig(**cfg).eval_spec())
    try:
        x_on, x_off = on.initial_params(), off.initial_params()
        idx = hs.head_entries(on)
        assert len(idx) == 8 and len(hs.head_entries(off)) == 0          # 4 SMD cells x 2 head joints
        assert len(x_on) == len(x_off) + 8
        assert sorted(np.round(x_on[idx], 6)) == [-0.5] * 4 + [0.5] * 4   # their starting gains, and only they
        rest = np.delete(x_on, idx)
        assert np.array_equal(rest, x_off)
    finally:
        on.close()
        off.close()
