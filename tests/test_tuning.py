"""The experiment's search is fair: every level gets the same tuning trials, chosen on validation episodes,
its cells trained to the plateau by the trainer the issue names (BPTT for the differentiable levels on
the tasks without a body)."""
import json

import pytest

from wormsim.experiment import ExperimentConfig
from wormsim.experiment.grid import cell_algo, cells, train_config, tune, tuning_grids


def test_nonmotor_weights_are_trained_by_gradient_where_the_level_allows():
    cfg = ExperimentConfig(levels=["conductance", "rate", "mlp"], tasks=["swim", "memory"])
    assert cell_algo(cfg, "memory", "rate", "weights") == "bptt"
    assert cell_algo(cfg, "memory", "mlp", "weights") == "bptt"
    assert cell_algo(cfg, "memory", "conductance", "weights") == "es"     # not differentiable
    assert cell_algo(cfg, "swim", "rate", "weights") == "es"              # the body is not differentiable
    tc = train_config(cfg, "memory", "rate", "connectome", "weights", 0)
    assert (tc.algo, tc.budget, tc.patience, tc.stop) == ("bptt", cfg.bptt_budget, cfg.bptt_patience, "plateau")
    assert train_config(cfg, "memory", "conductance", "connectome", "weights", 0).episodes == cfg.nonmotor_episodes
    # the bptt axis would duplicate the weights axis: it has no cells then
    both = ExperimentConfig(levels=["rate"], tasks=["memory"], trains=["weights", "bptt"], seeds=1,
                            wirings=["connectome"])
    assert [c[3] for c in cells(both)] == ["weights"]
    off = ExperimentConfig(levels=["rate"], nonmotor_gradient=False)
    assert cell_algo(off, "memory", "rate", "weights") == "es"
    # the conductance level enters the tasks without a body as a reservoir only, unless asked to train by ES
    grid = ExperimentConfig(levels=["conductance", "rate"], tasks=["swim", "memory"], seeds=1)
    assert {(c[0], c[1], c[3]) for c in cells(grid)} == {("swim", "conductance", "weights"), ("swim", "rate", "weights"),
                                                         ("memory", "conductance", "readout"),
                                                         ("memory", "rate", "weights"), ("memory", "rate", "readout")}
    es = ExperimentConfig(levels=["conductance"], tasks=["memory"], seeds=1, nonmotor_es=True)
    assert {c[3] for c in cells(es)} == {"weights", "readout"}


def test_every_level_gets_the_same_trials_on_a_seed_no_cell_uses():
    cfg = ExperimentConfig(levels=["conductance", "rate", "mlp"], tasks=["swim", "digits"], seeds=8,
                           tune_sigmas=[0.1, 0.3], tune_lrs=[0.01, 0.1], out="/tmp/x")
    grids = tuning_grids(cfg)
    assert len(grids) == 2
    grid_seeds = {c[4] for c in cells(cfg)}
    for i, sub in enumerate(grids):
        sub_cells = list(cells(sub))
        assert {c[2] for c in sub_cells} == {"connectome"} and not grid_seeds & {c[4] for c in sub_cells}
        keys = {(c[0], c[1], c[3]) for c in sub_cells}
        # every (task, level) trained in the grid is tried once per trial; fitted readouts are not tuned
        assert keys == {(t, lv, "weights") for t in cfg.tasks for lv in cfg.levels} - {("digits", "conductance", "weights")}
        for task, level, wiring, train, seed in sub_cells:
            tc = train_config(sub, task, level, wiring, train, seed)
            assert (tc.sigma if tc.algo == "es" else tc.lr) == ([0.1, 0.3] if tc.algo == "es" else [0.01, 0.1])[i]
    with pytest.raises(ValueError, match="--tune-sigmas and --tune-lrs pair up"):
        tuning_grids(ExperimentConfig(tune_sigmas=[0.1], tune_lrs=[0.01, 0.1]))


def test_tuning_chooses_on_validation_and_the_cells_use_the_choice(tmp_path, monkeypatch):
    from wormsim.experiment import grid
    calls, real = [], grid.execute
    monkeypatch.setattr(grid, "execute", lambda jobs, *a, **k: (calls.append(list(jobs)), real(jobs, *a, **k)))
    cfg = ExperimentConfig(levels=["rate"], wirings=["connectome"], tasks=["memory"], trains=["weights"],
                           seeds=1, stop="budget", bptt_budget=4, val_every=2, val_episodes=2,
                           tune_sigmas=[0.2, 0.2], tune_lrs=[1e-6, 0.1], eval_episodes=1, workers=1,
                           probes=False, out=str(tmp_path / "exp"))
    lines = []
    tuned = tune(cfg, log=lines.append)
    # both trials' cells run in one pool (a one-cell trial must not leave the other workers idle), each
    # trial's progress said as such, each trial's cells.csv written
    assert [[(c.out, cell[1]) for c, cell in jobs] for jobs in calls] == [
        [(str(tmp_path / "exp" / "tuning" / f"trial{i}"), "rate") for i in (0, 1)]]
    assert any(x.startswith("tuning trial 2 (ES sigma 0.2, BPTT lr 0.1): [1/1] memory") for x in lines), lines
    assert all((tmp_path / "exp" / "tuning" / f"trial{i}" / "cells.csv").is_file() for i in (0, 1))
    record = json.loads((tmp_path / "exp" / "tuning.json").read_text())
    assert len(record["trials"]) == 2 and {t["lr"] for t in record["trials"]} == {1e-6, 0.1}
    best = max(record["trials"], key=lambda t: t["val_best"])
    assert record["choice"]["memory/rate/weights"]["lr"] == best["lr"]
    # a learning rate of 1e-6 changes nothing in 4 steps: the other trial wins unless it made things worse
    assert best["lr"] == 0.1 or record["trials"][0]["val_best"] >= record["trials"][1]["val_best"]
    tc = train_config(tuned, "memory", "rate", "connectome", "weights", 0)
    assert tc.lr == best["lr"]
    assert tune(tuned.__class__(**{**tuned.__dict__, "tune": False}), progress=False).searches == tuned.searches


def test_the_grid_runs_seed_by_seed_so_a_stopped_grid_is_balanced():
    from wormsim.experiment.grid import _run_order
    cfg = ExperimentConfig(levels=["conductance", "rate"], tasks=["swim", "memory"], seeds=3)
    order = sorted(cells(cfg), key=_run_order)
    seeds = [c[4] for c in order]
    assert seeds == sorted(seeds)                                   # every cell of seed 0 before any of seed 1
    first = [c for c in order if c[4] == 0]
    assert first[0][:2] == ("swim", "conductance") and first[-1][0] == "memory"   # longest first within a seed


def test_a_failed_trial_stops_the_grid_before_any_cell(tmp_path, monkeypatch):
    """A choice among the trials that happened to finish would give that level an unequal search: the grid
    refuses, names the trial, and trains no cell; a report-only run chooses among what finished."""
    import dataclasses

    from wormsim.experiment import grid
    real = grid.execute

    def one_fails(jobs, on_done, on_failed):
        jobs = list(jobs)
        on_failed(1, "its process died on each of 3 tries (test)", 3)
        real(jobs[:1], on_done, on_failed)
    monkeypatch.setattr(grid, "execute", one_fails)
    cfg = ExperimentConfig(levels=["rate"], wirings=["connectome"], tasks=["memory"], trains=["weights"],
                           seeds=1, stop="budget", bptt_budget=2, val_every=1, val_episodes=1,
                           tune_sigmas=[0.2, 0.2], tune_lrs=[0.01, 0.1], eval_episodes=1, workers=1,
                           probes=False, out=str(tmp_path / "exp"))
    with pytest.raises(grid.TuningFailed, match=r"1 trial\(s\) failed \(memory/rate/weights trial 2.*run the same"):
        tune(cfg, progress=False, log=lambda *a: None)
    assert not (tmp_path / "exp" / "runs").exists()
    monkeypatch.setattr(grid, "execute", real)
    chosen = tune(dataclasses.replace(cfg, report_only=True), progress=False)
    assert chosen.searches["memory/rate/weights"]["lr"] == 0.01
