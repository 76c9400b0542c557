"""The realism x wiring experiment: cells, restartability, statistics, report."""
import json

import numpy as np
import pytest

import wormsim.experiment as ex
from wormsim.cli import main


def tiny(out, tasks=("swim",)):
    return ex.ExperimentConfig(levels=["rate", "mlp"], wirings=["connectome", "shuffled"], tasks=list(tasks),
                               seeds=2, budget=1, popsize=4, duration=0.3, eval_episodes=1, workers=1,
                               out=str(out))


def test_grid_writes_tables_tests_curves_and_report(tmp_path):
    cfg = tiny(tmp_path)
    report = ex.run_experiment(cfg, progress=False)
    text = report.read_text()
    for needed in ("| rate | connectome | 2 |", "| rate | shuffled | 2 |", "| mlp | (none) | 2 |",
                   "Hedges", "Schmidgall", "bio2art", "Elegans-AI", "wormsim experiment --levels rate mlp"):
        assert needed in text
    table = (tmp_path / "table_swim.csv").read_text().splitlines()
    assert table[0].startswith("level,wiring,n,mean,ci_low,ci_high,n_params") and len(table) == 4
    assert (tmp_path / "curves_swim.png").read_bytes()[:4] == b"\x89PNG"
    # the mlp is trained once per seed, not once per wiring
    assert sorted(p.name for p in (tmp_path / "runs" / "swim").iterdir()) == [
        "mlp-connectome-s0", "mlp-connectome-s1", "rate-connectome-s0", "rate-connectome-s1",
        "rate-shuffled-s0", "rate-shuffled-s1"]


def test_finished_cells_are_skipped_and_interrupted_ones_resumed(tmp_path, monkeypatch):
    cfg = tiny(tmp_path)
    ex.run_experiment(cfg, progress=False)
    # an interrupted cell: summary gone, checkpoint there
    (ex.cell_dir(cfg, "swim", "rate", "shuffled", "weights", 1) / "summary.json").unlink()
    calls = []
    real = ex.train_es

    def spy(config, run, resume=False, progress=True):
        calls.append((config.level, config.wiring, config.seed, resume))
        return real(config, run, resume=resume, progress=progress)

    monkeypatch.setattr(ex, "train_es", spy)
    ex.run_experiment(cfg, progress=False)
    assert calls == [("rate", "shuffled", 1, True)]


def test_statistics():
    m, lo, hi = ex.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and np.isclose(hi - m, 4.3027 / np.sqrt(3), rtol=1e-3) and np.isclose(m - lo, hi - m)
    a, b = [10.0, 11, 12, 13, 14], [0.0, 1, 2, 3, 4]
    assert ex.hedges_g(a, b) > 5
    assert ex.permutation_p(a, b) == pytest.approx(2 / 252)   # exact: 2 of the 252 splits as extreme
    assert ex.permutation_p(a, a) == 1.0
    assert np.isnan(ex.hedges_g([1.0], [2.0]))


def test_cli_requires_the_connectome_as_reference(tmp_path, capsys):
    assert main(["experiment", "--wirings", "shuffled", "--out", str(tmp_path)]) == 2
    assert "must include connectome" in capsys.readouterr().err


def test_quick_grid_from_the_command_line(tmp_path, capsys):
    assert main(["experiment", "--quick", "--out", str(tmp_path)]) == 0
    assert "report:" in capsys.readouterr().out
    assert json.loads((tmp_path / "experiment.json").read_text())["seeds"] == 2
    report = (tmp_path / "report.md").read_text()
    assert "## swim (score: forward speed" in report and "## memory (score: recall R^2)" in report
    memory = (tmp_path / "table_memory.csv").read_text().splitlines()[1:]
    assert len(memory) == 3 and all(0.0 <= float(row.split(",")[3]) <= 1.0 for row in memory)


def test_reservoir_mode_is_one_more_axis(tmp_path):
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["memory-capacity"],
                              trains=["weights", "readout"], seeds=2, budget=1, popsize=4, eval_episodes=1,
                              workers=1, out=str(tmp_path))
    text = ex.run_experiment(cfg, progress=False).read_text()
    assert "| rate (readout) | connectome | 2 |" in text and "| rate | connectome | 2 |" in text
    rows = {r.split(",")[0] + "/" + r.split(",")[1]: float(r.split(",")[3])
            for r in (tmp_path / "table_memory-capacity.csv").read_text().splitlines()[1:]}
    # a fitted readout on the fixed circuit recalls the last input well (lag 1)
    assert rows["rate (readout)/connectome"] > 0.5
