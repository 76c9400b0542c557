"""wormsim atlas: the reader of the measured signal-propagation atlas (Randi et al. 2023), the in-silico
stimulation, the comparison and its anatomical baseline."""
from __future__ import annotations

import numpy as np
import pytest

from wormsim.atlas import (AtlasData, StimProtocol, _extend_params, _stim_io, anatomical_predictors, atlas_path,
                           compare, load_atlas, stimulate)
from wormsim.circuit import Circuit
from wormsim.envs.layout import ObsLayout


@pytest.fixture(scope="module")
def cook():
    from wormsim.connectome import load_circuit
    return load_circuit("cook2019")


# ---- the reader ---------------------------------------------------------------------------------------------
def test_reader_returns_the_circuit_cells_and_pairs_in_the_atlas_orientation(cook):
    import h5py
    wt = load_atlas(cook.names, "wt")
    assert wt.names == cook.names and wt.dff.shape == (cook.n, cook.n)
    # counts over the motor circuit (off-diagonal, with dFF and q), as the module docstring states
    assert wt.summary() == {"strain": "wt", "pairs": 193, "significant": 22, "stimulated": 16, "responders": 17}
    assert load_atlas(cook.names, "unc31").summary()["pairs"] == 81
    # [responder, stimulated], straight from the file: AVAL's response to stimulating AVER
    with h5py.File(atlas_path(), "r") as f:
        ids = [x.decode() for x in f["neuron_ids"][:]]
        raw = f["wt"]["dFF"][ids.index("AVAL"), ids.index("AVER")]
        occ = f["wt"]["occ1"][ids.index("AVAL"), ids.index("AVER")]
    i, j = cook.index("AVAL"), cook.index("AVER")
    assert wt.occ[i, j] == occ > 0
    assert wt.dff[i, j] == pytest.approx(raw)
    assert "AVAL" in [cook.names[k] for k in wt.stimulated]
    assert not np.diag(wt.measured).any()
    assert (wt.significant <= wt.measured).all() and (wt.q[wt.significant] < 0.05).all()


def test_reader_refuses_bad_input_by_name(cook):
    with pytest.raises(ValueError, match="unknown strain 'mutant'; choose from wt, unc31"):
        load_atlas(cook.names, "mutant")
    with pytest.raises(ValueError, match="not in the atlas's neuron_ids: NOPE"):
        load_atlas(("AVAL", "NOPE"), "wt")


# ---- the comparison -------------------------------------------------------------------------------------------
def _atlas(dff, q, names=None) -> AtlasData:
    n = dff.shape[0]
    return AtlasData(tuple(names or (f"N{i}" for i in range(n))), "wt", np.asarray(dff, float),
                     np.asarray(q, float), np.where(np.isfinite(dff), 1, 0))


def test_compare_recovers_a_planted_correlation_and_agrees_with_sklearn():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(0)
    n = 30                                        # 870 off-diagonal pairs
    y = rng.normal(size=(n, n))
    x = 0.6 * y + 0.8 * rng.normal(size=(n, n))   # corr(x, y) = 0.6
    q = np.where(np.abs(y) > 1.0, 0.01, 0.5)
    atlas = _atlas(y, q)
    c = compare(x, atlas, n_boot=200)
    m = atlas.measured
    assert c["pairs"] == n * (n - 1)
    assert c["r"] == pytest.approx(np.corrcoef(x[m], y[m])[0, 1])
    assert abs(c["r"] - 0.6) < 0.05 and c["r_ci"][0] < 0.6 < c["r_ci"][1]
    assert c["auc"] == pytest.approx(roc_auc_score(atlas.significant[m], np.abs(x[m])))
    s = atlas.significant
    assert c["sign"] == pytest.approx(np.mean(np.sign(x[s]) == np.sign(y[s])))
    assert compare(-y, atlas, n_boot=0)["r"] == pytest.approx(-1.0)
    assert compare(y, atlas, n_boot=0)["sign"] == 1.0
    # chance: an unrelated prediction sits near r = 0 and AUC = 0.5
    z = compare(rng.normal(size=(n, n)), atlas, n_boot=0)
    assert abs(z["r"]) < 0.1 and abs(z["auc"] - 0.5) < 0.06


def test_anatomical_baseline_is_its_definition(cook):
    pred = anatomical_predictors(cook)
    chem, gap = cook.chem, cook.gap
    i, j = cook.index("VB1"), cook.index("AVBL")      # response of VB1 to stimulating AVBL: AVBL -> VB1
    assert pred["anatomy: chemical count"][i, j] == chem[j, i]
    assert pred["anatomy: gap count"][i, j] == gap[i, j]
    np.testing.assert_array_equal(pred["anatomy: chemical + gap count"], chem.T + gap)
    dd = cook.index("DD1")
    signed = pred["anatomy: signed (Dale) chemical + gap"]
    assert cook.sign[dd] == -1 and (signed[:, dd] == -chem[dd, :] + gap[:, dd]).all()
    wt = load_atlas(cook.names, "wt")
    m = wt.measured
    c = compare(pred["anatomy: chemical + gap count"], wt, n_boot=0)
    assert c["r"] == pytest.approx(np.corrcoef((chem.T + gap)[m], wt.dff[m])[0, 1])


# ---- the stimulation ------------------------------------------------------------------------------------------
def toy() -> Circuit:
    """AVBL -> VB1 -> DD1 -| DB1 (DD1 GABAergic); VA1 connected to nothing."""
    names = ("AVBL", "VB1", "DD1", "DB1", "VA1")
    chem = np.zeros((5, 5))
    chem[0, 1], chem[1, 2], chem[2, 3] = 3, 3, 3
    return Circuit(names=names, cell_class=("AVB", "VB", "DD", "DB", "VA"),
                   role=("command", "motor", "motor", "motor", "motor"),
                   position=np.array([0.05, 0.1, 0.15, 0.2, 0.25]), chem=chem, gap=np.zeros((5, 5)),
                   sign=np.array([1, 1, -1, 1, 1]), nmj=np.zeros((5, 2, 1)), muscle_position=np.array([0.5]),
                   dataset="toy", sign_rule="class", nmj_source="none")


def test_a_toy_circuit_responds_as_its_wiring_says_and_scores_perfectly():
    c = toy()
    r = stimulate("rate", c, ObsLayout(12), 0.02, protocol=StimProtocol(settle_s=0.5, pulse_s=0.2, window_s=0.6))
    a = r.amplitude
    assert a[1, 0] > 0 and a[2, 0] > 0 and a[3, 0] < 0          # excited, excited in two steps, inhibited
    assert a[4, 0] == 0 and (a[[0, 1, 2, 3], 4] == 0).all()      # no path: exactly no response
    assert a[0, 1] == 0                                          # nothing flows back to AVBL
    assert np.isnan(np.diag(a)).all()
    # a measured atlas with this sign pattern: every sign agrees and |response| ranks significance perfectly
    dff = np.full((5, 5), np.nan)
    q = np.full((5, 5), np.nan)
    for (i, j), v in {(1, 0): 0.5, (2, 0): 0.3, (3, 0): -0.2, (4, 0): 0.01, (0, 4): -0.02, (2, 4): 0.0}.items():
        dff[i, j], q[i, j] = v, (0.01 if abs(v) > 0.1 else 0.6)
    comp = compare(a, _atlas(dff, q, c.names), n_boot=0)
    assert comp["pairs"] == 6 and comp["sign"] == 1.0 and comp["auc"] == 1.0
    # zero stimulus: every row is the control
    z = stimulate("rate", c, ObsLayout(12), 0.02, protocol=StimProtocol(amplitude=0.0, settle_s=0.2, pulse_s=0.1,
                                                                         window_s=0.2))
    assert np.nanmax(np.abs(z.amplitude)) == 0


def test_a_trained_vector_keeps_its_place_beside_the_stimulation_channels():
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    c, cls = toy(), get_level("rate")
    io = Interface(c, ObsLayout(12), control_dt=0.02).io_spec()
    base = cls(c, io)
    ext = cls(c, _stim_io(io, c.n, c.names))
    theta = np.random.default_rng(1).normal(size=base.n_params).astype(np.float32)
    out = _extend_params(base, ext, theta)
    assert out.shape == (ext.n_params,)
    ext.set_params(out)
    for name in ("chem", "gap", "bias", "log_tau"):
        start = sum(list(base.param_sizes().values())[:list(base.param_sizes()).index(name)])
        np.testing.assert_array_equal(getattr(ext, name).detach().numpy().ravel(),
                                      theta[start:start + base.param_sizes()[name]])
    k = base.param_sizes()["gain"]
    gain = ext.gain.detach().numpy().ravel()
    start = list(base.param_sizes()).index("gain")
    g0 = sum(list(base.param_sizes().values())[:start])
    np.testing.assert_array_equal(gain[:k], theta[g0:g0 + k])
    assert (gain[k:] == 1.0).all() and len(gain) - k == c.n       # one stimulation gain per cell, at its default
    with pytest.raises(ValueError, match="was it trained on another wiring"):
        _extend_params(base, ext, theta[:-1])


def test_a_level_without_neurons_is_refused_in_one_line():
    from wormsim.realism_levels import CapabilityError
    with pytest.raises(CapabilityError, match="mlp level is not: it has no neurons of the worm"):
        stimulate("mlp", toy(), ObsLayout(12), 0.02)


def test_cli_prints_the_table_and_writes_its_files(tmp_path, capsys):
    from wormsim.cli import main
    assert main(["atlas", "--levels", "rate", "--boot", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| rate | connectome | untrained | 1 |" in out and "### unc31" in out
    assert "chemical + gap count" in out
    for name in ("table.md", "atlas.json", "responses.npz", "rate-connectome-untrained.png"):
        assert (tmp_path / name).is_file()
    assert main(["atlas", "--levels", "mlp", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("level", ["spiking", "conductance"])
def test_the_other_levels_respond_as_the_toy_wiring_says(level):
    r = stimulate(level, toy(), ObsLayout(12), 0.02, protocol=StimProtocol(settle_s=0.5, pulse_s=0.3, window_s=0.6))
    a = r.amplitude
    assert a[2, 1] > 0                                       # VB1 excites DD1
    assert a[3, 1] < 0 or (level == "spiking" and a[3, 1] == 0)  # DD1 inhibits DB1 (a silent LIF cell cannot fall)
    assert (a[4, :4] == 0).all() and (a[:4, 4] == 0).all()    # VA1: no path either way
