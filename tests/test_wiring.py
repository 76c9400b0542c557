"""Null wirings keep what their names promise, and nothing else changes."""
import warnings

import numpy as np
import pytest

from wormsim.circuit import Circuit
from wormsim.wiring import available_wirings, register_wiring, rewire, unregister_wiring

NULLS = [k for k in available_wirings() if k != "connectome"]
UNSIGNED = [k for k in NULLS if k.endswith("-unsigned")]
# every null but dense (all-to-all: the sign rule, not the counts) and the ones named unsigned
SIGN_KEEPING = [k for k in NULLS if k != "dense" and k not in UNSIGNED]


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


# ---- the sign structure (issue 16): a chemical edge's sign is its sender's ---------------------------
def load(dataset):
    from wormsim.connectome import load_circuit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_circuit(dataset)


def sign_counts(c):
    senders = c.sign[c.chem_edges[:, 0]]
    return int((senders > 0).sum()), int((senders < 0).sum())


def synapses_by_sign(c):
    """Each sign group's synapse counts per edge, as a sorted multiset."""
    return [sorted(c.chem[c.sign == s][c.chem[c.sign == s] > 0]) for s in (1, -1)]


def test_the_shipped_names_are_sorted_into_kinds():
    assert SIGN_KEEPING == ["shuffled", "erdos-renyi", "watts-strogatz", "barabasi-albert"]
    assert UNSIGNED == ["erdos-renyi-unsigned", "watts-strogatz-unsigned", "barabasi-albert-unsigned"]


@pytest.mark.parametrize("dataset", ["cook2019", "varshney"])
@pytest.mark.parametrize("kind", SIGN_KEEPING)
def test_sign_keeping_nulls_keep_each_signs_edges_and_synapses(kind, dataset):
    source = load(dataset)
    assert sign_counts(source)[1] > 0                          # the datasets have inhibitory senders
    for seed in range(4):
        r = rewire(source, kind, seed=seed)
        assert np.array_equal(r.sign, source.sign)
        assert sign_counts(r) == sign_counts(source), (kind, seed)
        assert len(r.chem_edges) == len(source.chem_edges) and len(r.gap_edges) == len(source.gap_edges)
        assert synapses_by_sign(r) == synapses_by_sign(source)      # the inhibitory synapse total too
        assert sorted(r.gap[r.gap > 0]) == sorted(source.gap[source.gap > 0])
        assert not np.array_equal(r.chem > 0, source.chem > 0)


@pytest.mark.parametrize("kind", SIGN_KEEPING)
def test_sign_keeping_holds_for_any_sign_vector(circuit, kind):
    """Not a property of the DD/VD rule: half the neurons inhibitory, drawn at random."""
    sign = np.where(np.random.default_rng(0).random(circuit.n) < 0.5, -1, 1)
    source = circuit.replace(sign=sign)
    for seed in range(3):
        r = rewire(source, kind, seed=seed)
        assert sign_counts(r) == sign_counts(source) and synapses_by_sign(r) == synapses_by_sign(source)


def test_shuffled_keeps_signs_because_it_keeps_every_out_degree(circuit):
    for seed in range(3):
        r = rewire(circuit, "shuffled", seed=seed)
        assert np.array_equal((r.chem > 0).sum(1), (circuit.chem > 0).sum(1))
        assert sign_counts(r) == sign_counts(circuit)


def test_dense_keeps_the_sign_rule_but_not_the_counts(circuit):
    r = rewire(circuit, "dense", seed=0)
    assert np.array_equal(r.sign, circuit.sign)
    share = r.stats(small_world=False)["inhibitory_share"]
    # every neuron sends to all others (its autapse as in the source): the share of inhibitory senders
    assert share == pytest.approx((circuit.sign < 0).mean(), abs=0.005)
    assert sign_counts(r) != sign_counts(circuit)


@pytest.mark.parametrize("kind", UNSIGNED)
def test_unsigned_versions_really_change_the_inhibitory_share(circuit, kind):
    base = circuit.stats(small_world=False)["inhibitory_share"]
    plain = kind.removesuffix("-unsigned")
    unsigned = [rewire(circuit, kind, seed).stats(small_world=False) for seed in range(5)]
    signed = [rewire(circuit, plain, seed).stats(small_world=False) for seed in range(5)]
    assert base == pytest.approx(58 / 611)                                     # Cook 2019: 9.5%
    assert np.mean([s["inhibitory_share"] for s in unsigned]) > 0.18          # ~ 19/81 of senders
    assert all(s["inhibitory_share"] == base for s in signed)
    assert all(s["chemical_edges"] == len(circuit.chem_edges) for s in unsigned + signed)


def test_each_name_has_its_own_stream_that_later_names_do_not_move(circuit):
    a = rewire(circuit, "erdos-renyi", seed=0)
    assert not np.array_equal(a.chem > 0, rewire(circuit, "erdos-renyi-unsigned", seed=0).chem > 0)
    register_wiring("zz-later", lambda counts, directed, rng: [])
    try:
        assert np.array_equal(rewire(circuit, "erdos-renyi", seed=0).chem, a.chem)
    finally:
        unregister_wiring("zz-later")


# ---- the statistics that show it ----------------------------------------------------------------------
def hand_made() -> Circuit:
    """AVA (command) -> VA1, DA1 (motor); DD1 (motor, inhibitory) -> VA1 and AVA; gap VA1-DA1, VA1-AVA."""
    names = ("AVA", "VA1", "DA1", "DD1")
    chem = np.zeros((4, 4))
    chem[0, 1], chem[0, 2], chem[3, 1], chem[3, 0], chem[1, 2] = 2, 1, 3, 1, 1
    gap = np.zeros((4, 4))
    for i, j in ((1, 2), (1, 0)):
        gap[i, j] = gap[j, i] = 1
    return Circuit(names=names, cell_class=("AVA", "VA", "DA", "DD"),
                   role=("command", "motor", "motor", "motor"), position=np.array([0.1, 0.2, 0.3, 0.4]),
                   chem=chem, gap=gap, sign=np.array([1, 1, 1, -1]), nmj=np.zeros((4, 2, 1)),
                   muscle_position=np.array([0.5]), dataset="hand-made", sign_rule="class",
                   nmj_source="none")


def test_the_new_statistics_on_a_hand_made_circuit():
    s = hand_made().stats(small_world=False)
    assert (s["chemical_edges"], s["inhibitory_edges"]) == (5, 2)
    assert s["inhibitory_share"] == pytest.approx(2 / 5)
    assert s["inhibitory_synapse_share"] == pytest.approx(4 / 8)
    assert s["command_motor_edges"] == 2                     # AVA -> VA1, DA1; not DD1 -> AVA, VA1 -> DA1
    assert s["gap_degree_mean"] == pytest.approx((2 + 1 + 1 + 0) / 4)
    assert s["gap_degree_motor"] == pytest.approx((2 + 1 + 0) / 3)
    no_motor = hand_made().replace(role=("command",) * 4)
    s = no_motor.stats(small_world=False)
    assert s["command_motor_edges"] == 0 and s["gap_degree_motor"] is None


def test_wormsim_circuit_prints_the_sign_structure_beside_the_connectome(capsys):
    from wormsim.cli import main
    assert main(["circuit", "--wiring", "erdos-renyi-unsigned", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("inhibitory share", "inhibitory share (synapses)", "command -> motor edges",
                "gap degree (mean)", "gap degree (motor neurons)"):
        line = next(x for x in out.splitlines() if x.startswith(row + "  "))
        assert len(line.split()) - len(row.split()) == 2, line           # connectome and the null
    assert "0.095" in next(x for x in out.splitlines() if x.startswith("inhibitory share  "))
    assert "163" in next(x for x in out.splitlines() if x.startswith("command -> motor"))
    assert "erdos-renyi-unsigned does not keep the excitatory and inhibitory edge counts" in out
    assert main(["circuit", "--wiring", "erdos-renyi", "--seed", "1"]) == 0
    assert "does not keep" not in capsys.readouterr().out
