"""wormsim's conductance level, set up as c302 level C1, against c302's own NEURON run of the same circuit.

The references (realism_levels/golden/c302/*.npz) are c302 0.12.1 level C1 of the 81-cell motor circuit,
run by NEURON at dt = 0.005 ms (examples/c302_reference.py); each is replayed here in Brian2 at the
level's default dt = 0.1 ms with the parameter set "c302-C1" (wormsim.reference.c302.replay).

Tolerances, and why (measured values in docs/c302/README.md):
- quiet (no cell reaches the release midpoint): point by point, |dV| < 0.1 mV everywhere. Measured
  0.026 mV at dt = 0.1 ms (0.004 mV at 0.025 ms): what is left is the integration error of exponential
  Euler at 0.1 ms during the first 100 ms, when every cell falls from -45 mV to rest; 0.1 mV is 4x that
  and 1/100 of the smallest difference a missing mechanism makes (the "wormsim" set is off by >4 mV).
- active scenarios (cells driven past c302's release midpoint oscillate through ~80 mV): point by point
  the traces part where an upstroke comes a fraction of a ms earlier or later (the two integrators differ
  in timing), so they are compared by statistics after the first 100 ms (wormsim.reference.c302.compare),
  with tolerances per scenario in ACTIVE_TOL at 2-4x the measured error (see there). avb_drive (AVB driven:
  24 cells oscillate) is reproducible: its statistics agree within a fraction of a mV. motor_drive (B- and
  A-type motor neurons driven: 77 cells oscillate, coupled) is sensitive to integration detail itself:
  wormsim's own replay at dt = 0.025 ms differs from its replay at 0.1 ms by up to 7.7 mV in a cell's
  mean (median over cells 0.49 mV) and 3 cycles, so only its population statistics are held tightly.
  Leaving out either mechanism of the set (Ca-dependent inactivation, synaptic gating), or running
  wormsim's own parameter set, moves the median cell mean by 8-22 mV (test_the_comparison_tells_models_
  apart; test_each_mechanism_is_needed, -m slow).
"""
from __future__ import annotations

import numpy as np
import pytest

from wormsim.connectome import load_circuit
from wormsim.reference import c302 as ref_c302

QUIET = "quiet"
ACTIVE = ("avb_drive", "motor_drive")
QUIET_TOL_MV = 0.1
# per active scenario: limit (measured at dt = 0.1 ms against c302)
ACTIVE_TOL = {
    "avb_drive": dict(mean_err_max=1.0,       # 0.23 mV
                      mean_err_median=0.1,    # 0.014
                      std_err_max=1.0,        # 0.16
                      median_abs=0.1,         # 0.009
                      osc_peaks_err_max=1,    # 0
                      osc_range_err_max=10.0),  # 4.9 (of ~80-mV swings)
    "motor_drive": dict(mean_err_max=3.0,     # 1.53 (VB10; wormsim's own dt 0.1 vs 0.025: 7.7)
                        mean_err_median=0.5,  # 0.14 (own dt: 0.49)
                        std_err_max=3.0,      # 1.76 (own dt: 1.87)
                        median_abs=2.0,       # 0.55 (own dt: 0.97)
                        osc_peaks_err_max=4,  # 3 (own dt: 3)
                        osc_range_err_max=10.0),  # 3.7 (own dt: 5.8)
}
ACTIVE = tuple(ACTIVE_TOL)


@pytest.fixture(scope="module")
def circuit():
    return load_circuit("cook2019")


def _broken(c: ref_c302.Comparison, tol: dict) -> list[str]:
    """The tolerances this comparison breaks, as "name value > limit" (empty: none)."""
    return [f"{k} {getattr(c, k):.3g} > {lim}" for k, lim in tol.items() if getattr(c, k) > lim]


def test_the_references_are_stored():
    assert set(ref_c302.scenarios()) >= {QUIET, *ACTIVE}
    with pytest.raises(ValueError, match="unknown c302 scenario 'nope'; choose from"):
        ref_c302.load_scenario("nope")


@pytest.mark.parametrize("scenario", [QUIET, *ACTIVE])
def test_c302_wired_the_same_circuit(scenario, circuit):
    """c302's network file holds wormsim's synapse counts, its inhibitory synapses are those of DD/VD (the
    shim's relabelling), and its gap junctions are wormsim's, listed once per direction (off the
    diagonal: c302 keeps a VD2-VD2 self-junction, which carries no current)."""
    ref = ref_c302.load_scenario(scenario)
    assert tuple(str(n) for n in ref["names"]) == circuit.names
    np.testing.assert_array_equal(ref["c302_chem"], circuit.chem)
    inhibitory = circuit.sign < 0
    np.testing.assert_array_equal(ref["c302_chem_inh"] > 0, (circuit.chem > 0) & inhibitory[:, None])
    gap = ref["c302_gap"].astype(float)
    np.fill_diagonal(gap, 0.0)
    np.testing.assert_array_equal(gap, gap.T)
    np.testing.assert_array_equal(gap, circuit.gap)


def test_quiet_regime_point_by_point(circuit):
    ref = ref_c302.load_scenario(QUIET)
    v = ref_c302.replay(ref, "c302-C1", circuit=circuit)
    c = ref_c302.compare(ref, v)
    assert c.max_abs < QUIET_TOL_MV, c
    assert not c.oscillating


@pytest.mark.parametrize("scenario", ACTIVE)
def test_active_regime_statistics(scenario, circuit):
    ref = ref_c302.load_scenario(scenario)
    c = ref_c302.compare(ref, ref_c302.replay(ref, "c302-C1", circuit=circuit))
    assert len(c.oscillating) >= 20, "the scenario should make cells oscillate"
    assert not _broken(c, ACTIVE_TOL[scenario]), _broken(c, ACTIVE_TOL[scenario])


def test_the_comparison_tells_models_apart(circuit):
    """wormsim's own parameter set (release midpoint -35 mV, no Ca pool, instantaneous release, its
    conductance scales) run on c302's stimulus breaks the tolerances: the test can fail."""
    ref = ref_c302.load_scenario("avb_drive")
    c = ref_c302.compare(ref, ref_c302.replay(ref, "wormsim", circuit=circuit))
    assert c.mean_err_median > 10 * ACTIVE_TOL["avb_drive"]["mean_err_median"]
    assert len(_broken(c, ACTIVE_TOL["avb_drive"])) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["ca_inactivation", "synaptic_gating"])
@pytest.mark.parametrize("scenario", ACTIVE)
def test_each_mechanism_is_needed(mechanism, scenario, circuit):
    """c302 C1 without one of the two mechanisms wormsim lacked by default misses c302's traces."""
    ref = ref_c302.load_scenario(scenario)
    c = ref_c302.compare(ref, ref_c302.replay(ref, "c302-C1", circuit=circuit, **{mechanism: False}))
    assert c.mean_err_median > 5 * ACTIVE_TOL[scenario]["mean_err_median"], c


def test_replay_rejects_another_circuit(circuit):
    from dataclasses import replace
    other = replace(circuit, names=circuit.names[::-1])
    with pytest.raises(ValueError, match="not this circuit's"):
        ref_c302.replay(ref_c302.load_scenario(QUIET), circuit=other)


def test_packing_is_lossless_to_a_microvolt():
    v = np.random.default_rng(0).normal(-40, 20, (50, 3))
    np.testing.assert_allclose(ref_c302.unpack_voltage(ref_c302.pack_voltage(v)), v, atol=5e-4 + 1e-9)
    with pytest.raises(ValueError, match="finite"):
        ref_c302.pack_voltage(np.array([[np.nan]]))
