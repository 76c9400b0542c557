"""The realism x wiring experiment: cells, restartability, stale cells, statistics, verdicts, report."""
import csv
import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import wormsim.experiment as ex
import wormsim.train.es as es
from wormsim.cli import build_parser, main
from wormsim.realism_levels import register_level, unregister_level
from wormsim.realism_levels.rate import RateBrain
from wormsim.runs import Run


def tiny(out, tasks=("swim",), **kw):
    args = dict(levels=["rate", "mlp"], wirings=["connectome", "shuffled"], tasks=list(tasks), trains=["weights"], seeds=2,
                budget=1, popsize=4, duration=0.3, nonmotor_episodes=1, eval_episodes=1, workers=1,
                stop="budget", val_every=1, val_episodes=1, tune=False, nonmotor_gradient=False, atlas=False,
                probes=False, gait=False, out=str(out))
    args.update(kw)
    return ex.ExperimentConfig(**args)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_grid_writes_tables_tests_curves_and_report(tmp_path):
    cfg = tiny(tmp_path, probes=True)
    report = ex.run_experiment(cfg, progress=False)
    text = report.read_text()
    probes = text.split("## Trained swimmers under other conditions")[1]
    assert "| swim | rate | connectome | head oscillator off |" in probes
    assert "| swim | rate | shuffled | backward drive |" in probes
    for needed in ("| rate | connectome | 2 |", "| rate | shuffled | 2 |", "| mlp | (none) | 2 |",
                   "Hedges", "Schmidgall", "bio2art", "Elegans-AI", "wormsim experiment --levels rate mlp",
                   "--eval-episodes 1", "--head-cpg 2"):
        assert needed in text, needed
    table = read_csv(tmp_path / "table_swim.csv")
    assert list(table[0])[:6] == ["level", "wiring", "n", "mean", "ci_low", "ci_high"] and len(table) == 3
    assert (tmp_path / "curves_swim.png").read_bytes()[:4] == b"\x89PNG"
    # the mlp is trained once per seed, not once per wiring
    assert sorted(p.name for p in (tmp_path / "runs" / "swim").iterdir()) == [
        "mlp-connectome-s0", "mlp-connectome-s1", "rate-connectome-s0", "rate-connectome-s1",
        "rate-shuffled-s0", "rate-shuffled-s1"]
    # wiring test (rate: connectome vs shuffled) and level test (mlp vs rate on the connectome)
    tests = read_csv(tmp_path / "tests.csv")
    assert {(t["family"], t["a"], t["b"]) for t in tests} == {
        ("wiring", "rate / connectome", "rate / shuffled"), ("level", "mlp", "rate / connectome")}
    assert all(float(t["p_holm"]) >= float(t["p"]) for t in read_csv(tmp_path / "families.csv"))
    cells = read_csv(tmp_path / "cells.csv")
    assert len(cells) == 6 and len({c["config_hash"] for c in cells}) == 6
    # 2 seeds a side: the smallest p is 2/6; the report says no test can reach 0.05
    assert "smallest p it can return is 0.3333 -- never below 0.05" in text
    # every run records its held-out trials and the untrained circuit's on the same episodes
    assert "## Cells that did not learn" in text and all(c["trials"].startswith("[") for c in cells)
    # a report-only run over the finished grid writes the final report, with no interim banner
    import dataclasses
    final = ex.run_experiment(dataclasses.replace(cfg, report_only=True), progress=False).read_text()
    assert "Interim report" not in final and "| rate | shuffled | 2 |" in final
    # an interim report of a grid stopped part-way: what has finished, nothing trained, and says so
    (tmp_path / "runs" / "swim" / "rate-shuffled-s1" / "summary.json").unlink()
    interim = ex.run_experiment(dataclasses.replace(cfg, report_only=True), progress=False).read_text()
    assert "Interim report: 5 of 6 cells finished** (1-2 of 2 seeds" in interim
    assert "| rate | shuffled | 1 |" in interim and "| rate | connectome | 2 |" in interim
    assert "With 1 seed a side" in interim          # the smallest p of the cells it has, not of the full grid
    assert not (tmp_path / "runs" / "swim" / "rate-shuffled-s1" / "summary.json").exists()   # not trained


def test_finished_cells_are_skipped_and_interrupted_ones_resumed(tmp_path, monkeypatch):
    cfg = tiny(tmp_path)
    ex.run_experiment(cfg, progress=False)
    # an interrupted cell: summary gone, checkpoint there
    (ex.cell_dir(cfg, "swim", "rate", "shuffled", "weights", 1) / "summary.json").unlink()
    calls = []
    real = es.train_es

    def spy(config, run, resume=False, progress=True):
        calls.append((config.level, config.wiring, config.seed, resume))
        return real(config, run, resume=resume, progress=progress)

    monkeypatch.setattr(es, "train_es", spy)      # the trainer registry loads it by name, at the call
    ex.run_experiment(cfg, progress=False)
    assert calls == [("rate", "shuffled", 1, True)]


def test_stale_cells_are_refused_then_retrained_on_request(tmp_path, monkeypatch):
    ex.run_experiment(tiny(tmp_path, levels=["rate"], wirings=["connectome"]), progress=False)
    bigger = tiny(tmp_path, levels=["rate"], wirings=["connectome"], budget=2)
    with pytest.raises(ValueError, match=r"2 of 2 cells .* another configuration.*budget 1 -> 2.*--rerun-stale"):
        ex.run_experiment(bigger, progress=False)
    # the CLI says it on one line, exit status 2
    assert main(["experiment", "--levels", "rate", "--wirings", "connectome", "--tasks", "swim", "--seeds", "2",
                 "--budget", "2", "--popsize", "4", "--duration", "0.3", "--eval-episodes", "1",
                 "--nonmotor-episodes", "1", "--workers", "1", "--out", str(tmp_path)]) == 2
    # a change that does not touch the result (workers) is not stale
    assert ex.cell_state(tiny(tmp_path, levels=["rate"], wirings=["connectome"], workers=2),
                         ("swim", "rate", "connectome", "weights", 0)) == "done"
    bigger.rerun_stale = True
    text = ex.run_experiment(bigger, progress=False).read_text()
    assert "2 CMA-ES generations" in text
    for seed in (0, 1):
        s = json.loads((ex.cell_dir(bigger, "swim", "rate", "connectome", "weights", seed) / "summary.json").read_text())
        assert s["generations"] == 2
    # now the cells match: nothing is trained again
    monkeypatch.setattr(es, "train_es", lambda *a, **k: pytest.fail("a matching finished cell was retrained"))
    bigger.rerun_stale = False
    ex.run_experiment(bigger, progress=False)
    # a cell that died before its first checkpoint (its circuit never recorded) has nothing to lose: it is
    # not stale, and does not stop the grid
    path = ex.cell_dir(bigger, "swim", "rate", "connectome", "weights", 1)
    for name in ("summary.json", "checkpoint.pkl", "circuit.json"):
        (path / name).unlink()
    assert ex.cell_state(bigger, ("swim", "rate", "connectome", "weights", 1)) == "new"


def test_statistics():
    m, lo, hi = ex.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and np.isclose(hi - m, 4.3027 / np.sqrt(3), rtol=1e-3) and np.isclose(m - lo, hi - m)
    # a bounded quantity's interval is clamped to its range
    m, lo, hi = ex.mean_ci([0.0, 0.0, 0.1], 0.0, 1.0)
    assert lo == 0.0 and 0 < hi < 1
    a, b = [10.0, 11, 12, 13, 14], [0.0, 1, 2, 3, 4]
    assert ex.hedges_g(a, b) > 5
    assert ex.permutation_p(a, b) == pytest.approx(2 / 252)   # exact: 2 of the 252 splits as extreme
    assert ex.permutation_p(a, a) == 1.0
    assert np.isnan(ex.hedges_g([1.0], [2.0]))
    # ties: no spread at all
    assert ex.hedges_g([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]) == 0.0 and ex.format_g(0.0) == "0 (tie)"
    assert ex.hedges_g([1.0, 1.0], [0.0, 0.0]) == math.inf and "inf" in ex.format_g(math.inf)
    assert ex.format_g(ex.hedges_g([0.0, 0.0], [1.0, 1.0])).startswith("-inf")
    # the smallest reachable p: 3 seeds a side can never reach 0.05
    assert ex.smallest_p(3, 3) == pytest.approx(0.1) and ex.smallest_p(5, 5) == pytest.approx(2 / 252)
    assert ex.permutation_p([3.0, 4, 5], [0.0, 1, 2]) == pytest.approx(ex.smallest_p(3, 3))
    # Holm: sorted p times (m - rank), made monotone; NaN ignored
    np.testing.assert_allclose(ex.holm([0.01, 0.04, 0.03, math.nan])[:3], [0.03, 0.06, 0.06])
    assert math.isnan(ex.holm([0.01, math.nan])[1]) and ex.holm([0.01, math.nan])[0] == 0.01


def fake_results(values: dict, task="swim", learned=True):
    """{(level, wiring): [value per seed]} -> result rows as run_experiment makes them; each seed's four
    held-out trials spread around its value, the untrained circuit's on the same episodes 1 below them
    (``learned``) or equal to them (not learned)."""
    rows = []
    for (level, wiring), xs in values.items():
        for seed, x in enumerate(xs):
            trials = [x + d for d in (-0.01, 0.0, 0.005, 0.01)]
            untrained = [t - 1.0 for t in trials] if learned else list(trials)
            rows.append({"task": task, "level": level, "wiring": wiring, "seed": seed, "value": x,
                         "value_is_clipped_score": False, "score": max(0.0, min(1.0, x)), "n_params": 10,
                         "generations": 1, "wall_time": 1.0, "cell_seconds": None, "config_hash": "x",
                         "trials": trials, "untrained_trials": untrained})
    return rows


def test_verdicts_follow_the_numbers(tmp_path):
    levels, wirings = ["rate"], ["connectome", "erdos-renyi"]
    # 8 seeds, the connectome clearly ahead on swim: consistent with Schmidgall and Elegans-AI
    cfg = ex.ExperimentConfig(levels=levels, wirings=wirings, tasks=["swim"], seeds=8, out=str(tmp_path))
    good = fake_results({("rate", "connectome"): [1.0 + 0.01 * k for k in range(8)],
                         ("rate", "erdos-renyi"): [0.0 + 0.01 * k for k in range(8)]})
    ex.write_report(cfg, good)
    text = (tmp_path / "report.md").read_text()
    assert "*schmidgall-locomotion* -- The connectome helps locomotion: connectome above each null wiring, tasks " \
           "with a body: **supports**" in text
    assert "*elegans-ai* -- The connectome beats random rewiring (erdos-renyi, shuffled), every task and level: " \
           "**supports**" in text
    assert "*elegans-ai-ws* -- Watts-Strogatz comes close: no difference between the connectome and " \
           "Watts-Strogatz: **not tested**" in text
    assert "*bio2art* -- No gain of the connectome over random wiring on memory tasks: **not tested**" in text
    assert "swim: highest mean 1.0350 (rate on connectome)." in text
    # the reverse: contradicted
    bad = fake_results({("rate", "connectome"): [0.0 + 0.01 * k for k in range(8)],
                        ("rate", "erdos-renyi"): [1.0 + 0.01 * k for k in range(8)]})
    ex.write_report(cfg, bad)
    assert "tasks with a body: **opposite to the claim**" in (tmp_path / "report.md").read_text()
    # cells that did not learn enter no family: nothing is tested, and they are listed
    ex.write_report(cfg, fake_results({("rate", "connectome"): [1.0 + 0.01 * k for k in range(8)],
                                       ("rate", "erdos-renyi"): [0.0 + 0.01 * k for k in range(8)]}, learned=False))
    text = (tmp_path / "report.md").read_text()
    assert "tasks with a body: **not tested**. not tested here (every comparison involves a cell that did " \
           "not learn)" in text
    assert "2 cell(s); they enter no comparison and no verdict." in text
    # 3 seeds: the same gap can never be significant -- no difference detected, and the report says why
    cfg3 = ex.ExperimentConfig(levels=levels, wirings=wirings, tasks=["swim"], seeds=3, out=str(tmp_path))
    ex.write_report(cfg3, fake_results({("rate", "connectome"): [1.0, 1.1, 1.2],
                                        ("rate", "erdos-renyi"): [0.0, 0.1, 0.2]}))
    text = (tmp_path / "report.md").read_text()
    assert "**no difference detected**" in text and "smallest p it can return is 0.1000" in text


def test_ties_and_floor_cells_are_said_as_such(tmp_path):
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["memory"], seeds=3,
                              out=str(tmp_path))
    ex.write_report(cfg, fake_results({("rate", "connectome"): [0.0, 0.0, 0.0],
                                       ("rate", "shuffled"): [0.0, 0.0, 0.0]}, task="memory"))
    text = (tmp_path / "report.md").read_text()
    assert "memory: every cell ties at 0.0000." in text and "best cell" not in text
    assert "| 0 (tie) [+0.00, +0.00] |" in text and "+nan" not in text and "nan" not in text.split("## Cost")[0].lower()
    assert "2 of 2 cells at the floor" in text
    table = read_csv(tmp_path / "table_memory.csv")
    assert {t["flag"] for t in table} == {"floor"}


def test_runs_stopped_at_the_budget_are_said_to_be_a_lower_bound(tmp_path):
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["swim"], seeds=3,
                              out=str(tmp_path))
    rows = fake_results({("rate", "connectome"): [1.0, 1.1, 1.2], ("rate", "shuffled"): [0.5, 0.6, 0.7]})
    for r in rows:
        r["converged"] = not (r["wiring"] == "shuffled" and r["seed"] < 2)
    ex.write_report(cfg, rows)
    text = (tmp_path / "report.md").read_text()
    line = next(x for x in text.splitlines() if x.startswith("| rate | shuffled |"))
    assert line.endswith("| 2 of 3 runs at the budget, not converged: a lower bound |")
    assert next(x for x in text.splitlines() if x.startswith("| rate | connectome |")).endswith("| yes |  |")
    assert [t["capped"] for t in read_csv(tmp_path / "table_swim.csv")] == ["0", "2"]


def test_level_against_level_on_the_connectome(tmp_path):
    cfg = ex.ExperimentConfig(levels=["conductance", "spiking", "rate", "mlp"], wirings=["connectome"],
                              tasks=["swim"], seeds=5, out=str(tmp_path))
    vals = {("conductance", "connectome"): [1.0, 1.1, 1.2, 1.3, 1.4], ("spiking", "connectome"): [0.5] * 5,
            ("rate", "connectome"): [0.0, 0.1, 0.2, 0.3, 0.4], ("mlp", "connectome"): [0.2, 0.3, 0.1, 0.0, 0.4]}
    ex.write_report(cfg, fake_results(vals))
    tests = read_csv(tmp_path / "tests.csv")
    assert [(t["a"], t["b"]) for t in tests] == [("conductance / connectome", "rate / connectome"),
                                                ("spiking / connectome", "rate / connectome"),
                                                ("mlp", "rate / connectome")]
    assert float(tests[0]["p"]) == pytest.approx(2 / 252)
    # Holm within the realism family: the two levels more detailed than rate (mlp is not in it)
    realism = [t for t in read_csv(tmp_path / "families.csv") if t["family_key"] == "schmidgall-realism"]
    assert [t["a"] for t in realism] == ["conductance / connectome", "spiking / connectome"]
    assert float(realism[0]["p_holm"]) == pytest.approx(2 * 2 / 252)
    text = (tmp_path / "report.md").read_text()
    # a detailed level significantly above rate runs opposite to "realism is not needed"
    assert "*schmidgall-realism* -- Biophysical realism is not needed: no more detailed level above the " \
           "reference level, tasks with a body: **opposite to the claim**" in text


def test_level_tests_need_the_reference_level_in_the_grid(tmp_path):
    vals = {("spiking", "connectome"): [1.0, 1.1, 1.2], ("mlp", "connectome"): [0.0, 0.1, 0.2]}
    cfg = ex.ExperimentConfig(levels=["spiking", "mlp"], wirings=["connectome"], tasks=["swim"], seeds=3,
                              out=str(tmp_path))
    ex.write_report(cfg, fake_results(vals))
    assert read_csv(tmp_path / "tests.csv") == []
    text = (tmp_path / "report.md").read_text()
    assert "Level against level: not tested, the reference level rate is not among the grid's levels" in text
    cfg.reference_level = "spiking"
    ex.write_report(cfg, fake_results(vals))
    assert [(t["family"], t["a"], t["b"]) for t in read_csv(tmp_path / "tests.csv")] == [
        ("level", "mlp", "spiking / connectome")]
    assert "every level trained by ES against the spiking level" in (tmp_path / "report.md").read_text()


class UnwiredRate(RateBrain):
    """A toy level: the rate level declaring that it neither uses the wiring nor is differentiable."""
    name = "unwired"
    uses_wiring = False
    differentiable = False


@pytest.fixture
def unwired():
    register_level("unwired", UnwiredRate)
    yield "unwired"
    unregister_level("unwired")


def test_cells_ask_the_level_registry(unwired):
    """A registered level without a wiring is trained once per seed, and gets bptt cells only if it is
    differentiable: the grid asks the level's capabilities and the trainer registry, not its name."""
    cfg = ex.ExperimentConfig(levels=[unwired, "rate"], wirings=["connectome", "shuffled"], tasks=["memory"],
                              trains=["weights", "bptt"], seeds=1, nonmotor_gradient=False)
    assert {(lv, w, tr) for _, lv, w, tr, _ in ex.cells(cfg)} == {
        (unwired, "connectome", "weights"), ("rate", "connectome", "weights"), ("rate", "shuffled", "weights"),
        ("rate", "connectome", "bptt"), ("rate", "shuffled", "bptt")}


def test_a_level_registered_at_run_time_runs_in_worker_processes(tmp_path, unwired):
    cfg = tiny(tmp_path, tasks=("memory",), levels=[unwired, "rate"], wirings=["connectome"], workers=2)
    ex.run_experiment(cfg, progress=False)
    assert {r["level"] for r in read_csv(tmp_path / "cells.csv")} == {unwired, "rate"}
    assert ("level", unwired, "rate / connectome") in {(t["family"], t["a"], t["b"])
                                                       for t in read_csv(tmp_path / "tests.csv")}


def test_command_line_reproduces_the_config():
    cfg = ex.ExperimentConfig(levels=["rate", "conductance"], wirings=["connectome", "watts-strogatz"],
                              tasks=["memory", "digits"], trains=["weights", "readout", "bptt"], seeds=3,
                              budget=7, bptt_budget=11,
                              popsize=10, sigma=0.3, duration=2.5, episodes=2, nonmotor_episodes=3,
                              eval_episodes=6, head_cpg=0.0, spectral_radius=0.7, ridge_alpha=0.1,
                              readout_motor=True, reference_level="conductance", workers=1, out="results/x y")
    args = build_parser().parse_args(__import__("shlex").split(ex.command_line(cfg))[1:])
    for name in ("levels", "wirings", "tasks", "trains", "seeds", "budget", "bptt_budget", "popsize", "sigma",
                 "duration",
                 "episodes", "nonmotor_episodes", "eval_episodes", "head_cpg", "spectral_radius",
                 "ridge_alpha", "readout_motor", "reference_level", "workers", "backend", "out", "dataset"):
        assert getattr(args, name) == getattr(cfg, name), name


def test_cli_requires_the_connectome_as_reference(tmp_path, capsys):
    assert main(["experiment", "--wirings", "shuffled", "--out", str(tmp_path)]) == 2
    assert "must include connectome" in capsys.readouterr().err


def test_a_grid_that_would_fail_part_way_is_refused_before_it_starts(tmp_path, capsys):
    # witvliet has no motor neurons that reach a muscle: its swim cells could never run
    assert main(["experiment", "--levels", "rate", "--wirings", "connectome", "--tasks", "memory", "swim",
                 "--dataset", "witvliet", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "no motor neurons" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    assert main(["experiment", "--levels", "rate", "--wirings", "connectome", "--tasks", "memory",
                 "--ridge-alpha", "-1", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "--ridge-alpha" in capsys.readouterr().err
    assert main(["experiment", "--tasks", "swim", "--train", "bptt", "--seeds", "1", "--out", str(tmp_path)]) == 2
    # the scope comes from the trainer registry, levels in registry order
    assert ("bptt cells exist only for spiking, rate, mlp, mlp-direct, ncap and ncap-direct on memory"
            in capsys.readouterr().err)


def test_quick_grid_from_the_command_line(tmp_path, capsys):
    assert main(["experiment", "--quick", "--out", str(tmp_path)]) == 0
    assert "report:" in capsys.readouterr().out
    assert json.loads((tmp_path / "experiment.json").read_text())["seeds"] == 2
    report = (tmp_path / "report.md").read_text()
    assert "## swim (value: forward speed" in report and "## memory (value: recall R^2, unclipped" in report
    assert "## digits (value: accuracy" in report and "wormsim experiment --quick --out" in report
    for task in ("memory", "digits"):   # rate and mlp, trained and as reservoirs
        rows = read_csv(tmp_path / f"table_{task}.csv")
        assert len(rows) == 6 and all(float(r["mean"]) <= 1.0 for r in rows)
        assert {r["level"] for r in rows} == {"rate", "mlp", "rate (readout)", "mlp (readout)"}
    assert "| rate (readout) | connectome | 2 |" in report and "rate (readout) / connectome" not in report.split("## swim")[1].split("## memory")[0]
    assert all(0.0 <= float(r["mean"]) <= 1.0 for r in read_csv(tmp_path / "table_digits.csv"))


@pytest.mark.slow          # the quick grid (test_quick_grid_from_the_command_line) runs readout cells by default
def test_reservoir_mode_is_one_more_axis(tmp_path):
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome", "shuffled"], tasks=["memory-capacity"],
                              trains=["weights", "readout"], seeds=2, budget=1, popsize=4, eval_episodes=1,
                              nonmotor_episodes=1, workers=1, tune=False, nonmotor_gradient=False,
                              val_episodes=1, out=str(tmp_path))
    text = ex.run_experiment(cfg, progress=False).read_text()
    assert "| rate (readout) | connectome | 2 |" in text and "| rate | connectome | 2 |" in text
    rows = {r["level"] + "/" + r["wiring"]: float(r["score_mean"])
            for r in read_csv(tmp_path / "table_memory-capacity.csv")}
    # a fitted readout on the fixed circuit recalls the last input well (lag 1)
    assert rows["rate (readout)/connectome"] > 0.5
    assert ("training", "rate / connectome", "rate (readout) / connectome") in {
        (t["family"], t["a"], t["b"]) for t in read_csv(tmp_path / "tests.csv")}


@pytest.mark.slow          # the bptt axis beside ES weights (--no-nonmotor-gradient); cell_algo: test_tuning.py
def test_bptt_is_one_more_axis_for_the_differentiable_levels_on_the_non_motor_tasks(tmp_path):
    cfg = ex.ExperimentConfig(levels=["conductance", "rate", "mlp"], wirings=["connectome", "shuffled"],
                              tasks=["swim", "memory"], trains=["weights", "bptt"], seeds=2, budget=1,
                              bptt_budget=3, popsize=4, duration=0.3, eval_episodes=1, nonmotor_episodes=1,
                              nonmotor_gradient=False, tune=False, stop="budget", val_episodes=1, workers=1,
                              out=str(tmp_path))
    bptt = {(t, lv, w) for t, lv, w, train, _ in ex.cells(cfg) if train == "bptt"}
    assert bptt == {("memory", "rate", "connectome"), ("memory", "rate", "shuffled"),
                    ("memory", "mlp", "connectome")}       # no body, no conductance
    tc = ex.train_config(cfg, "memory", "rate", "shuffled", "bptt", 1)
    assert (tc.algo, tc.train, tc.budget) == ("bptt", "weights", 3)
    cfg.levels, cfg.tasks = ["rate", "mlp"], ["memory"]
    text = ex.run_experiment(cfg, progress=False).read_text()
    assert "| rate (bptt) | shuffled | 2 |" in text and "or 3 BPTT steps" in text
    pairs = {(t["family"], t["a"], t["b"]) for t in read_csv(tmp_path / "tests.csv")}
    assert ("wiring", "rate (bptt) / connectome", "rate (bptt) / shuffled") in pairs
    assert ("training", "rate / connectome", "rate (bptt) / connectome") in pairs
    assert ("training", "mlp", "mlp (bptt)") in pairs
    rows = Run(ex.cell_dir(cfg, "memory", "rate", "connectome", "bptt", 0)).metrics()
    assert [r["iteration"] for r in rows] == [0, 1, 2, 3]


def test_readout_only_grid_plots_its_fitted_scores_without_warnings(tmp_path):
    cfg = ex.ExperimentConfig(levels=["rate"], wirings=["connectome"], tasks=["memory-capacity"],
                              trains=["readout"], seeds=1, workers=1, out=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.run_experiment(cfg, progress=False)
    assert (tmp_path / "curves_memory-capacity.png").read_bytes()[:4] == b"\x89PNG"


def test_concurrent_cells_give_the_same_results_and_ray_stays_optional(tmp_path):
    base = dict(tasks=("memory",), levels=["rate"], wirings=["connectome", "shuffled"])
    ex.run_experiment(tiny(tmp_path / "one", **base), progress=False)
    ex.run_experiment(tiny(tmp_path / "pool", workers=2, **base), progress=False)
    vals = {k: [float(r["value"]) for r in read_csv(tmp_path / k / "cells.csv")] for k in ("one", "pool")}
    assert vals["one"] == vals["pool"] and len(vals["one"]) == 4
    # the default (local) path never imports ray
    code = ("import sys, wormsim.experiment as ex; "
            f"ex.run_experiment(ex.ExperimentConfig(levels=['rate'], wirings=['connectome'], tasks=['memory'], "
            f"seeds=1, budget=1, popsize=4, nonmotor_episodes=1, eval_episodes=1, workers=1, tune=False, "
            f"nonmotor_gradient=False, val_episodes=1, "
            f"out={str(tmp_path / 'noray')!r}), progress=False); assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow                               # a local Ray (the Ray backend's logic: test_train, test_ray_cluster)
def test_ray_cells_give_the_same_results_as_local_ones(tmp_path):
    pytest.importorskip("ray")
    base = dict(tasks=("memory",), levels=["rate"], wirings=["connectome", "shuffled"])
    ex.run_experiment(tiny(tmp_path / "one", **base), progress=False)
    ex.run_experiment(tiny(tmp_path / "ray", workers=2, backend="ray", **base), progress=False)
    vals = {k: [float(r["value"]) for r in read_csv(tmp_path / k / "cells.csv")] for k in ("one", "ray")}
    assert vals["one"] == vals["ray"] and len(vals["one"]) == 4


def test_a_cell_on_another_circuit_is_stale(tmp_path):
    """A null model whose generator changed makes other graphs under the same name and seed: the cell
    records its circuit's digest, and a cell made on another circuit (or an old one that recorded none,
    off the connectome) is stale."""
    cfg = tiny(tmp_path, levels=["rate"], wirings=["connectome", "shuffled"], tasks=("memory",))
    ex.run_experiment(cfg, progress=False)
    cell = ("memory", "rate", "shuffled", "weights", 0)
    assert ex.cell_state(cfg, cell) == "done"
    record = ex.cell_dir(cfg, *cell) / "circuit.json"
    record.write_text(json.dumps({"digest": "0123456789ab"}))
    assert ex.cell_state(cfg, cell) == "stale"
    from wormsim.experiment.grid import describe
    assert "circuit '0123456789ab'" in describe(ex.stale_fields(ex.cell_dir(cfg, *cell),
                                                           ex.train_config(cfg, *cell)))
    record.unlink()
    assert ex.cell_state(cfg, cell) == "stale"
    (ex.cell_dir(cfg, "memory", "rate", "connectome", "weights", 0) / "circuit.json").unlink()
    assert ex.cell_state(cfg, ("memory", "rate", "connectome", "weights", 0)) == "done"


def test_a_cell_made_on_another_body_is_stale(tmp_path, monkeypatch):
    """The body's physical constants are part of what a swim cell ran on: a body recalibrated in the code
    changes the digest of every cell with a body and of none without."""
    import dataclasses

    from wormsim.envs import body
    from wormsim.experiment import grid
    cfg = tiny(tmp_path)
    swim, memory = (ex.train_config(cfg, task, "rate", "connectome", "weights", 0) for task in ("swim", "memory"))
    before = grid.circuit_digest(swim), grid.circuit_digest(memory)

    @dataclasses.dataclass(frozen=True)
    class Softer(body.BodyParams):
        bending_stiffness: float = 0.1

    monkeypatch.setattr(body, "BodyParams", Softer)
    monkeypatch.setattr(grid, "_DIGESTS", {})
    after = grid.circuit_digest(swim), grid.circuit_digest(memory)
    assert after[0] != before[0] and after[1] == before[1]


def test_the_report_sets_the_trained_swimmers_neurons_beside_the_measured_atlas(tmp_path):
    """Issue 23's question in the grid: each trained swimmer on a level with the worm's neurons is stimulated
    the atlas's way and compared with the measured atlas (cached per cell); the mlp has no such neurons."""
    from wormsim.experiment.neural import _eligible
    cfg = tiny(tmp_path, levels=["rate"], seeds=1, atlas=True)
    text = ex.run_experiment(cfg, progress=False).read_text()
    section = text.split("## Against the living worm's neurons")[1]
    assert "| swim | rate | connectome |" in section and "| swim | rate | shuffled |" in section
    cache = json.loads((ex.cell_dir(cfg, "swim", "rate", "shuffled", "weights", 0) / "atlas.json").read_text())
    trained = cache["atlas"]["trained"]
    assert set(trained) == {"wt", "unc31"} and -1 <= trained["wt"]["r"] <= 1 and 0 <= trained["wt"]["auc"] <= 1
    assert not _eligible(("swim", "mlp", "connectome", "weights", 0))      # no neurons of the worm
    assert not _eligible(("memory", "rate", "connectome", "weights", 0))   # a swimmer's circuit and drive


def test_a_second_grid_training_into_the_same_out_is_refused(tmp_path):
    """Two drivers training into one --out would train the same cells twice; the lock goes with its holder
    (flock locks belong to an open file, so a second open in this process stands for another driver)."""
    import os
    from wormsim.experiment import _only_driver
    with _only_driver(tmp_path):
        assert (tmp_path / ".driver.lock").read_text() == str(os.getpid())
        with pytest.raises(ValueError, match=rf"another `wormsim experiment` \(pid {os.getpid()}\) is training into"):
            with _only_driver(tmp_path):
                pass
    with _only_driver(tmp_path):            # released: the next run may go
        pass


def test_the_report_replays_every_trained_swimmer_along_the_load_axis(tmp_path, monkeypatch):
    """Issue 18's question in the grid: every trained swimmer replayed from water to agar, head oscillator as
    trained and off, beside the open-loop wave and the animal; each replay cached in its run."""
    from wormsim.experiment import gait_load
    monkeypatch.setattr(gait_load, "DURATION", 0.5)      # short replays (the default is 10 s)
    monkeypatch.setattr(gait_load, "EPISODES", 1)
    cfg = tiny(tmp_path, levels=["rate"], seeds=1, gait=True)
    text = ex.run_experiment(cfg, progress=False).read_text()
    gait = text.split("## Gait against load (without retraining)")[1]
    for needed in ("| swim | rate | connectome | trained |", "| swim | rate | shuffled | off |",
                   "open-loop wave (no circuit)", "C. elegans (Fang-Yen et al. 2010)", "**gait-load**"):
        assert needed in gait, needed
    cache = ex.cell_dir(cfg, "swim", "rate", "shuffled", "weights", 0) / "gait_load.json"
    assert len(json.loads(cache.read_text())["gait_load"]) == 2 * len(gait_load.CONDITIONS) + 1   # + backward
    assert "backward drive: episodes with a tail-to-head wave" in gait
    # a second report reads the cache: nothing is replayed again
    monkeypatch.setattr(gait_load, "_measure", lambda *a, **k: pytest.fail("a cached replay was run again"))
    import dataclasses
    assert "## Gait against load" in ex.run_experiment(dataclasses.replace(cfg, report_only=True),
                                                       progress=False).read_text()
