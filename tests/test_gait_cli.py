"""`wormsim gait RUN`: a run replayed along the load axis, its table beside the animal, its files (issue 18).
Cheap: one tiny trained run, 1 episode of 1 s per row."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

TRAIN = ["--duration", "0.5", "--eval-episodes", "1", "--workers", "1", "--no-video", "--no-tensorboard",
         "--budget", "1", "--popsize", "2", "--head-cpg", "0"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from wormsim.cli import main
    run = tmp_path_factory.mktemp("runs") / "rate"
    assert main(["train", *TRAIN, "--out", str(run)]) == 0
    return run


def test_gait_writes_its_table_json_csv_and_figure(tiny_run, capsys):
    from wormsim.cli import main
    capsys.readouterr()
    assert main(["gait", str(tiny_run), "--loads", "1", "100", "--agar-loads", "1", "--episodes", "1",
                 "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "| water | 1 | 0 |" in out and "| water | 100 | 0 |" in out and "| agar | 1 | 0 |" in out
    assert "| the animal, water | | | 0.35 | 1.76 | 1.54 |" in out
    assert "| the animal, agar | | | - | 0.30 | 0.65 |" in out
    assert "| 1.40 / 1.33 |" in out and "| 1.76 / 1.52 |" in out   # the animal at 100x and 1x water (Fig. 2)
    assert "(the animal here: Fang-Yen et al. 2010 PNAS Fig. 2" in out
    assert "water 1x -> agar 1x" in out                      # the fold fall line, one per agar row
    assert "| muscle power, x water 1x |" in out and "muscle power nearly constant" in out
    data = json.loads((tiny_run / "gait.json").read_text())
    assert [(r["medium"], r["load"]) for r in data["rows"]] == [("water", 1.0), ("water", 100.0), ("agar", 1.0)]
    assert data["animal"]["water"]["frequency"] == 1.76 and data["animal"]["agar"]["wavelength"] == 0.65
    assert data["set_up"]["level"] == "rate" and data["set_up"]["episodes"] == 1
    for r in data["rows"]:
        assert np.isfinite(r["speed"]) and abs(r["speed"]) < 2 and r["episodes"] == 1
        assert r["power"] >= r["power_net"] and r["power"] > 0    # the circuit's muscles work
    with open(tiny_run / "gait.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and rows[1]["load"] == "100.0"
    png = (tiny_run / "gait.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_gait_head_cpg_both_and_out_dir(tiny_run, tmp_path, capsys):
    """A run trained with the oscillator off: "both" is that one setting (0 Hz), rows not doubled; --out
    takes the files elsewhere."""
    from wormsim.cli import main
    capsys.readouterr()
    assert main(["gait", str(tiny_run), "--loads", "1", "--agar-loads", "--episodes", "1", "--duration", "0.5",
                 "--head-cpg", "both", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gait.json").read_text())
    assert len(data["rows"]) == 1 and data["ends"] == []
    assert (tmp_path / "gait.png").is_file() and (tmp_path / "gait.csv").is_file()


@pytest.mark.parametrize("argv, words", [
    (["gait", "/nonexistent/run"], "no run directory"),
    (["gait", "RUN", "--loads", "1e9"], "load must be"),
    (["gait", "RUN", "--loads", "--agar-loads"], "no condition to measure"),
    (["gait", "RUN", "--out", "/nonexistent/dir"], "does not exist"),
])
def test_gait_bad_input_is_one_line(tiny_run, capsys, argv, words):
    from wormsim.cli import main
    capsys.readouterr()
    argv = [str(tiny_run) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_gait_rejects_a_negative_load_at_the_parser(capsys):
    from wormsim.cli import main
    with pytest.raises(SystemExit) as e:
        main(["gait", "x", "--loads", "-3"])
    assert e.value.code == 2
    assert "must be > 0" in capsys.readouterr().err


def test_the_animal_along_the_load_axis_interpolates_in_log_viscosity():
    from wormsim.gait import ANIMAL_ALONG, animal_at
    for load, f, wl in ANIMAL_ALONG:                       # its own points back
        assert animal_at(load) == pytest.approx((f, wl))
    f, wl = animal_at(1000.0)                              # between 798 and 1387 mPa s
    assert 0.650 < f < 0.790 and 0.943 < wl < 1.032
    assert animal_at(0.5) is None and animal_at(1e5) is None


def test_ends_fold_fall_and_goal():
    from wormsim.gait import ends, format_table
    row = lambda medium, load, f, wl: {"medium": medium, "load": load, "head_cpg": 0.0, "frequency": f,  # noqa: E731
                                       "wavelength": wl, "speed": 0.1, "speed_sd": 0.0, "amplitude": 5.0,
                                       "direction": "head-to-tail", "undulating": 1, "episodes": 1}
    rows = [row("water", 1.0, 1.70, 1.50), row("water", 100.0, 1.0, 1.0), row("agar", 3000.0, 0.32, 0.62),
            row("agar", 10.0, 1.60, 1.4)]
    e = ends(rows)
    assert [x["agar_load"] for x in e] == [3000.0, 10.0]
    assert e[0]["frequency_fall"] == pytest.approx(1.70 / 0.32) and e[0]["goal_met"]
    assert not e[1]["goal_met"] and e[1]["frequency_fall"] < 3
    assert e[0]["relative_to_animal"]["water_frequency"] == pytest.approx(1.70 / 1.76 - 1)
    text = format_table({"run": "r", "set_up": {"level": "rate", "wiring": "connectome", "trained_medium": "water",
                                               "trained_load": 1.0, "trained_head_cpg": 0.0, "episodes": 1,
                                               "duration": 1.0}, "rows": rows, "ends": e})
    assert "frequency falls 5.3-fold (animal: 5.9-fold)" in text
    assert "issue goal (>= 3-fold, all four within 15%): met" in text
    # no rhythm in water: no fold, goal not met, no crash
    rows[0]["frequency"] = float("nan")
    e = ends(rows)
    assert not np.isfinite(e[0]["frequency_fall"]) and not e[0]["goal_met"]


def test_power_is_relative_to_the_water_row_of_the_same_head_setting():
    from wormsim.gait import power_vs_water
    rows = [{"medium": "water", "load": 1.0, "head_cpg": 0.0, "power": 4.0},
            {"medium": "water", "load": 100.0, "head_cpg": 0.0, "power": 10.0},
            {"medium": "agar", "load": 3000.0, "head_cpg": 2.0, "power": 1.0},
            {"medium": "agar", "load": 3000.0, "head_cpg": 0.0}]            # a row written before power
    assert power_vs_water(rows, rows[1]) == pytest.approx(2.5) and power_vs_water(rows, rows[0]) == 1.0
    assert np.isnan(power_vs_water(rows, rows[2])) and np.isnan(power_vs_water(rows, rows[3]))
