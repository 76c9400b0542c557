"""The `wormsim` command as a user types it."""
import json
import subprocess
import sys

import pytest

from wormsim.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "wormsim.cli", *args], capture_output=True, text=True)


def test_circuit_table_side_by_side_with_the_connectome(capsys, tmp_path):
    assert main(["circuit", "--wiring", "shuffled", "--seed", "3", "--save", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    for word in ("connectome", "shuffled", "reciprocity", "clustering", "small-world sigma",
                 "mean shortest path", "excitatory edges", "gap-junction pairs"):
        assert word in out
    png = tmp_path / "c.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 20_000


def test_circuit_json_is_always_a_list_and_says_what_is_missing(capsys):
    assert main(["circuit", "--dataset", "varshney", "--json"]) == 0
    (stats,) = json.loads(capsys.readouterr().out)
    assert stats["dataset"] == "varshney" and stats["neurons"] == 81 and stats["missing"] == []
    with pytest.warns(UserWarning, match="could not be fully rewired"):   # 17 edges: too few to swap
        assert main(["circuit", "--dataset", "witvliet", "--wiring", "shuffled", "--json"]) == 0
    base, null = json.loads(capsys.readouterr().out)
    assert (base["wiring"], null["wiring"]) == ("connectome", "shuffled")
    assert "VB1" in base["missing"] and base["notes"]


def test_a_bad_save_path_fails_before_any_work(tmp_path):
    r = run("circuit", "--save", str(tmp_path / "c.jpg"))
    assert r.returncode == 2 and ".png" in r.stderr and not r.stdout
    r = run("circuit", "--save", str(tmp_path / "nowhere" / "c.png"))
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "nowhere").exists()


def test_wrong_values_are_rejected_with_the_valid_ones():
    r = run("circuit", "--wiring", "random")
    assert r.returncode == 2 and "erdos-renyi" in r.stderr and "Traceback" not in r.stderr
    r = run("circuit", "--dataset", "cook")
    assert r.returncode == 2 and "cook2019" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 2 and "--help" in r.stderr   # the error and a pointer


def test_rendering_needs_no_setup_on_a_headless_machine(tmp_path):
    """A fresh user types `wormsim rollout` with no MUJOCO_GL and no display: wormsim picks EGL."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "WAYLAND_DISPLAY")}
    code = ("import os, wormsim, gymnasium as gym; e = gym.make('wormsim/Swim-v0', render_mode='rgb_array', "
            "width=64, height=48); e.reset(seed=0); print(os.environ['MUJOCO_GL'], e.render().shape)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.split()[0] == "egl" and "(48, 64, 3)" in r.stdout


def test_experiment_with_failed_cells_exits_3(tmp_path, monkeypatch, capsys):
    """A grid that finished with cells that kept failing says so and exits 3 (a script can tell)."""
    import wormsim.experiment as ex

    def fake_run(cfg, command=None):
        out = tmp_path / "grid"
        out.mkdir(exist_ok=True)
        (out / "cells.csv").write_text("task,level,status\nswim,rate,done\nswim,doomed,failed\n")
        return out / "report.md"
    monkeypatch.setattr(ex, "run_experiment", fake_run)
    assert main(["experiment", "--quick", "--out", str(tmp_path / "grid")]) == 3
    assert "1 cell(s) failed" in capsys.readouterr().err
