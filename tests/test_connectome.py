"""Loading the motor circuit from cect datasets: neurons, signs, muscle map, cache, bad input."""
import warnings

import numpy as np
import pytest

from wormsim.connectome import (COMMAND_INTERNEURONS, available_datasets, cache_dir, load_circuit,
                                motor_circuit_neurons)


def test_cook2019_is_the_full_motor_circuit(circuit):
    assert circuit.dataset == "cook2019"
    assert circuit.n == 81 and not circuit.missing
    assert set(circuit.names) == set(motor_circuit_neurons())
    assert sum(r == "motor" for r in circuit.role) == 71
    assert {circuit.names[i] for i in circuit.indices(role="command")} == set(COMMAND_INTERNEURONS)
    # known anatomy: VB3 makes many synapses onto DD2; DD2 none back; gap junctions are symmetric
    assert circuit.chem[circuit.index("VB3"), circuit.index("DD2")] > 10
    assert circuit.chem[circuit.index("DD2"), circuit.index("VB3")] == 0
    assert np.array_equal(circuit.gap, circuit.gap.T) and not circuit.gap.diagonal().any()
    assert len(circuit.chem_edges) > 400 and len(circuit.gap_edges) > 100


def test_class_sign_rule(circuit):
    assert circuit.sign_rule.startswith("class")
    for name, cls, s in zip(circuit.names, circuit.cell_class, circuit.sign):
        assert s == (-1 if cls in ("DD", "VD") else 1), name


def test_transmitter_sign_rule_agrees_with_gaba_neurons():
    c = load_circuit("openworm")
    assert c.sign_rule.startswith("transmitter")
    inhibitory = {c.cell_class[i] for i in np.flatnonzero(c.sign < 0)}
    assert inhibitory == {"DD", "VD"}
    with pytest.raises(ValueError, match="no transmitters"):
        load_circuit("varshney", sign_rule="transmitter")


def test_positions_run_head_to_tail(circuit):
    assert np.all((circuit.position >= 0) & (circuit.position <= 1))
    for cls, count in (("VB", 11), ("VA", 12), ("DD", 6), ("AS", 11)):
        pos = [circuit.position[circuit.index(f"{cls}{k}")] for k in range(1, count + 1)]
        # numbered head to tail; in the retrovesicular ganglion a few somata sit out of order
        # (VB2 anterior to VB1 in c302's layout), so ask for a rank order, not a strict one
        from scipy.stats import spearmanr
        assert spearmanr(np.arange(count), pos).statistic > 0.9, cls
    assert circuit.position[circuit.index("AVAL")] < 0.2 < 0.8 < circuit.position[circuit.index("PVCL")]
    assert len(circuit.position_source) == circuit.n


def test_muscle_map_from_dataset_is_dorsal_for_d_and_ventral_for_v(circuit):
    assert circuit.nmj_source.startswith("dataset")
    dorsal, ventral = circuit.nmj[:, 0].sum(1), circuit.nmj[:, 1].sum(1)
    for name, cls in zip(circuit.names, circuit.cell_class):
        i = circuit.index(name)
        if cls in ("DB", "DD") and circuit.nmj[i].sum() > 0:
            assert dorsal[i] > ventral[i], name
        if cls in ("VB", "VD") and circuit.nmj[i].sum() > 0:
            assert ventral[i] > dorsal[i], name
    # command interneurons make at most a trace of muscle synapses (Cook 2019 lists two)
    assert circuit.nmj[circuit.indices(role="command")].sum() < 0.01 * circuit.nmj.sum()


def test_class_rule_muscle_map_where_the_dataset_has_none():
    c = load_circuit("varshney")
    assert c.nmj_source.startswith("class rule")
    for name, cls in zip(c.names, c.cell_class):
        side = c.nmj[c.index(name)].sum(1)
        if cls in ("DA", "DB", "DD", "AS"):
            assert side[0] == 1 and side[1] == 0, name
        elif cls in ("VA", "VB", "VD"):
            assert side[1] == 1 and side[0] == 0, name


@pytest.mark.parametrize("n_segments", [4, 12, 48])
def test_segment_map_conserves_synapses(circuit, n_segments):
    m = circuit.segment_map(n_segments)
    assert m.shape == (circuit.n, 2, n_segments - 1)
    np.testing.assert_allclose(m.sum(2), circuit.nmj.sum(2))
    with pytest.raises(ValueError, match="n_segments"):
        circuit.segment_map(1)


def test_second_load_comes_from_the_cache(monkeypatch):
    load_circuit("white")
    assert any(p.name.startswith("circuit-white-") for p in cache_dir().iterdir())
    import wormsim.connectome as mod
    monkeypatch.setattr(mod, "_extract", lambda *a: pytest.fail("cect was read again"))
    again = load_circuit("white")
    assert again.n == 81 and again.dataset == "white"


def test_corrupt_cache_is_rebuilt_with_a_warning():
    load_circuit("varshney")
    path = next(p for p in cache_dir().iterdir() if p.name.startswith("circuit-varshney-"))
    path.write_bytes(b"not an npz")
    with pytest.warns(UserWarning, match="unreadable circuit cache"):
        c = load_circuit("varshney")
    assert c.n == 81


def test_unknown_dataset_lists_the_available_ones():
    with pytest.raises(ValueError) as err:
        load_circuit("cook2099")
    for name in available_datasets():
        assert name in str(err.value)
    assert {"cook2019", "varshney", "white", "witvliet"} <= set(available_datasets())


def test_dataset_missing_neurons_loads_what_is_there_and_says_what_is_missing():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = load_circuit("witvliet")
    assert "VB1" in c.missing and c.n + len(c.missing) == 81
    assert set(c.names) <= set(COMMAND_INTERNEURONS)
    assert any("lacks" in str(w.message) and "VB1" in str(w.message) for w in caught)


def test_circuit_is_immutable(circuit):
    with pytest.raises(ValueError):
        circuit.chem[0, 0] = 5.0


def test_white_is_varshneys_reanalysis_and_says_so():
    white, varshney = load_circuit("white"), load_circuit("varshney")
    np.testing.assert_array_equal(white.chem, varshney.chem)
    np.testing.assert_array_equal(white.gap, varshney.gap)
    assert any("Varshney" in note for note in white.notes)


def test_wang2024_has_transmitter_signs_binary_connections_and_no_gap_junctions():
    c = load_circuit("wang2024")
    assert c.n == 81 and c.sign_rule.startswith("transmitter")
    assert {c.cell_class[i] for i in np.flatnonzero(c.sign < 0)} == {"DD", "VD"}
    assert set(np.unique(c.chem)) == {0.0, 1.0} and not c.gap.any()
    assert any("binary" in note for note in c.notes)


def test_a_dataset_without_motor_neurons_has_no_muscle_map_and_cannot_swim():
    from wormsim.rollout import EvalSpec, build_circuit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = load_circuit("witvliet")
        assert not c.nmj.any() and c.nmj_source.startswith("none")
        assert any("nerve ring" in note for note in c.notes)
        with pytest.raises(ValueError, match="cannot drive the body"):
            build_circuit(EvalSpec(dataset="witvliet", task="swim"))
        assert build_circuit(EvalSpec(dataset="witvliet", task="memory")).n == 10   # non-motor: fine


def test_the_cache_key_holds_the_cect_version():
    from importlib.metadata import version

    import wormsim.connectome as mod
    assert f"cect{version('cect')}" in mod._cache_path("cook2019", "auto").name
