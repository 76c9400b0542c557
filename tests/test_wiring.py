"""Null wirings keep what their names promise, and nothing else changes."""
import numpy as np
import pytest

from wormsim.wiring import available_wirings, rewire

NULLS = [k for k in available_wirings() if k != "connectome"]


def degrees(mat):
    b = mat > 0
    return b.sum(0), b.sum(1)


@pytest.mark.parametrize("kind", NULLS)
def test_neurons_signs_positions_and_muscles_are_untouched(circuit, kind):
    r = rewire(circuit, kind, seed=1)
    assert r.names == circuit.names and r.cell_class == circuit.cell_class
    assert np.array_equal(r.sign, circuit.sign)
    assert np.array_equal(r.position, circuit.position)
    assert np.array_equal(r.nmj, circuit.nmj)
    assert r.wiring == kind and r.wiring_seed == 1
    assert np.allclose(r.gap, r.gap.T)


@pytest.mark.parametrize("kind", NULLS)
def test_same_seed_same_matrix_different_seed_different_graph(circuit, kind):
    a, b = rewire(circuit, kind, seed=5), rewire(circuit, kind, seed=5)
    assert np.array_equal(a.chem, b.chem) and np.array_equal(a.gap, b.gap)
    if kind != "dense":
        c = rewire(circuit, kind, seed=6)
        assert not np.array_equal(a.chem > 0, c.chem > 0)
        assert not np.array_equal(a.gap > 0, c.gap > 0)


@pytest.mark.parametrize("kind", NULLS)
def test_no_self_loops_unless_the_source_had_them(circuit, kind):
    r = rewire(circuit, kind, seed=2)
    assert np.array_equal(np.diag(r.chem), np.diag(circuit.chem))
    assert not np.diag(r.gap).any()
    plain = circuit.replace(chem=circuit.chem * (1 - np.eye(circuit.n)))
    assert not np.diag(rewire(plain, kind, seed=2).chem).any()


def test_shuffled_keeps_every_degree_and_the_synapse_counts(circuit):
    r = rewire(circuit, "shuffled", seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(degrees(r.chem), degrees(circuit.chem)))
    assert np.array_equal((r.gap > 0).sum(0), (circuit.gap > 0).sum(0))
    assert sorted(r.chem[r.chem > 0]) == sorted(circuit.chem[circuit.chem > 0])
    assert not np.array_equal(r.chem > 0, circuit.chem > 0)


def test_erdos_renyi_keeps_edge_counts(circuit):
    r = rewire(circuit, "erdos-renyi", seed=0)
    assert len(r.chem_edges) == len(circuit.chem_edges)
    assert len(r.gap_edges) == len(circuit.gap_edges)


@pytest.mark.parametrize("kind", ["watts-strogatz", "barabasi-albert"])
@pytest.mark.parametrize("seed", [0, 1])
def test_small_world_and_scale_free_match_density_exactly(circuit, kind, seed):
    r = rewire(circuit, kind, seed=seed)
    for field in ("chem_edges", "gap_edges"):
        assert len(getattr(r, field)) == len(getattr(circuit, field)), field


@pytest.mark.parametrize("kind", ["watts-strogatz", "barabasi-albert", "erdos-renyi"])
def test_density_matched_on_a_small_circuit(kind):
    import warnings
    from wormsim.connectome import load_circuit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # witvliet lacks the motor neurons: it says so
        small = load_circuit("witvliet")
    r = rewire(small, kind, seed=0)
    assert len(r.chem_edges) == len(small.chem_edges) and len(r.gap_edges) == len(small.gap_edges)


def test_a_graph_too_small_to_shuffle_is_kept_with_a_warning(circuit):
    keep = [circuit.index(n) for n in ("AVAL", "AVAR", "AVBL")]
    tiny = circuit.replace(names=tuple(circuit.names[i] for i in keep),
                           cell_class=tuple(circuit.cell_class[i] for i in keep),
                           role=tuple(circuit.role[i] for i in keep), position=circuit.position[keep],
                           chem=np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float),
                           gap=np.zeros((3, 3)), sign=circuit.sign[keep], nmj=circuit.nmj[keep],
                           position_source=())
    with pytest.warns(UserWarning, match="could not be fully rewired"):
        r = rewire(tiny, "shuffled", seed=0)
    assert len(r.chem_edges) == 6


def test_dense_connects_every_pair(circuit):
    r = rewire(circuit, "dense", seed=0)
    off = ~np.eye(circuit.n, dtype=bool)
    assert (r.chem[off] > 0).all() and (r.gap[off] > 0).all()


def test_bad_input(circuit):
    with pytest.raises(ValueError, match="choose from connectome, shuffled"):
        rewire(circuit, "small-world", seed=0)
    with pytest.raises(ValueError, match="already rewired"):
        rewire(rewire(circuit, "shuffled", 0), "dense", 0)
    assert rewire(circuit, "connectome", seed=9) is circuit


def test_stats_report_what_the_null_models_change(circuit):
    s = circuit.stats()
    assert s["neurons"] == 81 and s["chemical_edges"] == len(circuit.chem_edges)
    assert s["excitatory_edges"] + s["inhibitory_edges"] == s["chemical_edges"]
    assert 0 < s["density"] < 1 and 0 < s["clustering"] < 1 and s["mean_shortest_path"] > 1
    assert s["small_world_sigma"] > 1  # the connectome is small-world
    er = rewire(circuit, "erdos-renyi", 0).stats()
    assert er["clustering"] < s["clustering"]
