"""The experiment's gait question (issue 18): the trained swimmers replayed along the load axis, the outcomes
fixed in code, the connectome against the null wirings. The report's section and its cache are checked in
tests/test_experiment.py::test_grid_writes_tables_tests_curves_and_report."""
import math

import numpy as np
import pytest

import wormsim.experiment as ex
from wormsim.experiment import gait_load as gl

NONE = (None, None, "none")


def _record(freq, wl, direction="head-to-tail", amp=6.0, n=2):
    return {"frequency": [freq] * n, "wavelength": [wl] * n, "amplitude": [amp] * n,
            "direction": [direction] * n, "speed": [0.1] * n}


def _replay(trained, off):
    """trained, off: {load: (frequency, wavelength, direction)} on the water axis; absent loads have no wave."""
    out = {}
    for head, waves in (("trained", trained), ("off", off)):
        for medium, load in gl.CONDITIONS:
            f, w, d = waves.get(load, NONE) if medium == "water" else NONE
            out[gl._cond_key(head, medium, load)] = _record(f, w, d)
    return out


def test_outcomes_follow_the_rhythm_along_the_load_axis():
    r = gl.seed_outcomes(_replay({1.0: (2.0, 1.6, "head-to-tail"), 100.0: (2.0, 0.8, "head-to-tail")},
                                 {1.0: (1.6, 1.4, "head-to-tail"), 10.0: (0.8, 1.2, "head-to-tail"),
                                  100.0: (0.5, 1.0, "head-to-tail")}))
    assert r["rhythm_range"] == 2.0                      # its own rhythm up to 100x water's viscosity
    assert r["frequency_fall"] == pytest.approx(1.0) and r["wavelength_fall"] == pytest.approx(1.0)
    # a rhythm that stops after water: range 0, no frequency fall; none at all: -1
    r = gl.seed_outcomes(_replay({}, {1.0: (1.6, 1.4, "head-to-tail")}))
    assert r["rhythm_range"] == 0.0 and math.isnan(r["frequency_fall"]) and math.isnan(r["wavelength_fall"])
    assert gl.seed_outcomes(_replay({}, {}))["rhythm_range"] == -1.0
    # a wave run backwards is no swimming rhythm
    assert gl.seed_outcomes(_replay({}, {1.0: (1.6, 1.4, "tail-to-head")}))["rhythm_range"] == -1.0
    # the animal's two ends (Fang-Yen et al. 2010)
    assert gl.animal_fall("frequency") == pytest.approx(math.log2(1.76 / 0.30))
    assert gl.animal_fall("wavelength") == pytest.approx(math.log2(1.54 / 0.65))


def test_a_seed_swims_in_a_condition_when_half_its_episodes_carry_a_wave():
    rec = {"frequency": [0.4, None], "wavelength": [0.7, None], "amplitude": [6.0, 0.1],
           "direction": ["head-to-tail", "none"], "speed": [0.0, 0.0]}
    assert gl._end(rec, "frequency") == pytest.approx(0.4)
    assert math.isnan(gl._end({k: v + [v[-1]] for k, v in rec.items()}, "frequency"))   # 1 of 3
    wobble = _record(1.0, 1.0, amp=0.5)            # below gait.MIN_AMPLITUDE: a small wobble
    assert math.isnan(gl._end(wobble, "frequency"))


def test_the_connectome_is_tested_against_each_null_among_seeds_with_an_outcome():
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["swim"])
    rng = np.random.default_rng(0)
    rows = []
    for wiring, fall in (("connectome", 2.0), ("shuffled", 0.2)):
        for seed in range(8):
            rows.append({"task": "swim", "level": "rate", "wiring": wiring, "seed": seed,
                         "frequency_fall": fall + 0.05 * rng.standard_normal(),
                         # the shuffle's wavelength outcome exists for one seed only: not testable
                         "wavelength_fall": 1.0 if wiring == "connectome" or seed == 0 else math.nan,
                         "rhythm_range": 1.0})
    learned = {("swim", "rate", w): {"learned": True} for w in ("connectome", "shuffled")}
    tests = gl.gait_tests(cfg, rows, learned)
    assert [(t["measure"], t["a"], t["b"]) for t in tests] == [
        ("rhythm_range", "rate / connectome", "rate / shuffled"),
        ("frequency_fall", "rate / connectome", "rate / shuffled")]
    fall = tests[1]
    assert fall["diff"] == pytest.approx(1.8, abs=0.1) and fall["p_holm"] < 0.01
    word, text = gl.gait_verdict(tests)
    assert word == "supports" and "rate / connectome vs rate / shuffled" in text
    # the shuffle adapting more: opposite to the claim
    flipped = [{**r, "frequency_fall": 2.2 - r["frequency_fall"]} for r in rows]
    assert gl.gait_verdict(gl.gait_tests(cfg, flipped, learned))[0] == "opposite to the claim"
    # a cell that did not learn to swim is left out of the family
    unlearned = {**learned, ("swim", "rate", "shuffled"): {"learned": False}}
    assert gl.gait_verdict(gl.gait_tests(cfg, rows, unlearned))[0] == "not tested"
