"""`wormsim train` and `wormsim resume` as a user runs them: runs, kill -9, resume, determinism."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wormsim.cli import main

TINY = ["--popsize", "4", "--duration", "0.4", "--eval-episodes", "1", "--no-video", "--workers", "1"]


def rows(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def strip(row):
    return {k: v for k, v in row.items() if k != "wall_time"}


def test_train_writes_a_complete_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--budget", "2", "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr().out
    assert "final speed" in printed and "body lengths/s" in printed and str(out) in printed
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert cfg["level"] == "rate" and cfg["budget"] == 2 and cfg["wiring"] == "connectome"
    metrics = rows(out)
    assert [r["iteration"] for r in metrics] == [0, 1, 2]
    for key in ("best", "mean", "std", "speed_best", "speed_mean", "wall_time", "env_steps"):
        assert key in metrics[-1]
    assert metrics[-1]["env_steps"] > metrics[0]["env_steps"]
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary["final_speed"]) and summary["speed_unit"] == "body lengths / s"
    assert (out / "policy.npz").exists() and (out / "checkpoint.pkl").exists()


def test_kill_9_then_resume_loses_nothing_and_matches_an_uninterrupted_run(tmp_path):
    budget = ["--budget", "5", "--seed", "7"]
    ref = tmp_path / "ref"
    assert main(["train", *budget, "--out", str(ref), *TINY]) == 0

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "wormsim.cli", "train", *budget, "--out", str(out), *TINY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "metrics.jsonl").exists() and len(rows(out)) >= 3 and (out / "checkpoint.pkl").exists():
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(rows(out)) < 6, "the run finished before it could be killed"
    assert main(["resume", str(out), "--no-video"]) == 0
    assert [strip(r) for r in rows(out)] == [strip(r) for r in rows(ref)]


def test_resume_extends_the_budget(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--budget", "1", "--out", str(out), *TINY]) == 0
    assert main(["resume", str(out), "--budget", "2", "--no-video"]) == 0
    assert [r["iteration"] for r in rows(out)] == [0, 1, 2]


def _in_process(capsys, *args) -> tuple[int, str]:
    """The CLI's exit status and stderr, run in this process (argparse's own errors exit by SystemExit);
    tests/test_cli.py checks the same messages from a real process."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_bad_runs_and_flags_get_one_line_errors(tmp_path, capsys):
    r = subprocess.run([sys.executable, "-m", "wormsim.cli", "resume", str(tmp_path / "nowhere")],
                       capture_output=True, text=True)          # one real process: exit status and stderr
    assert r.returncode == 2 and "no run directory" in r.stderr and "Traceback" not in r.stderr
    out = tmp_path / "run"
    assert main(["train", "--budget", "1", "--out", str(out), *TINY]) == 0
    (out / "checkpoint.pkl").write_bytes(b"junk")
    code, err = _in_process(capsys, "resume", str(out))
    assert code == 2 and "corrupt" in err and "Traceback" not in err
    code, err = _in_process(capsys, "train", "--out", str(out), *TINY)
    assert code == 2 and "wormsim resume" in err
    code, err = _in_process(capsys, "train", "--wiring", "ring")
    assert code == 2 and "watts-strogatz" in err
    code, err = _in_process(capsys, "train", "--duration", "-1", "--out", str(tmp_path / "x"))
    assert code == 2 and "--duration" in err


def test_local_workers_give_the_same_scores_as_one_process(tmp_path):
    from wormsim.parallel import LocalBackend
    from wormsim.rollout import Evaluator
    from wormsim.config import TrainConfig
    spec = TrainConfig(duration=0.4).eval_spec()
    x0 = Evaluator(spec).initial_params()
    params = x0 + 0.1 * np.random.default_rng(0).standard_normal((4, len(x0)))
    one = LocalBackend(1).evaluate(spec, params, seed=3)
    pool = LocalBackend(2)
    try:
        two = pool.evaluate(spec, params, seed=3)
    finally:
        pool.close()
    np.testing.assert_allclose(one.returns, two.returns, rtol=1e-4, atol=1e-6)


def test_ray_backend_on_a_local_cluster():
    pytest.importorskip("ray", reason="the ray extra is not installed")
    from wormsim.parallel import LocalBackend, RayBackend
    from wormsim.rollout import Evaluator
    from wormsim.config import TrainConfig
    spec = TrainConfig(duration=0.4).eval_spec()
    x0 = Evaluator(spec).initial_params()
    params = x0 + 0.1 * np.random.default_rng(1).standard_normal((4, len(x0)))
    backend = RayBackend(workers=2)
    try:
        remote = backend.evaluate(spec, params, seed=5)
    finally:
        backend.close()
        import ray
        ray.shutdown()
    local = LocalBackend(1).evaluate(spec, params, seed=5)
    np.testing.assert_allclose(remote.returns, local.returns, rtol=1e-4, atol=1e-6)


def test_train_ends_with_a_number_and_a_video(tmp_path, capsys):
    import imageio.v3 as iio
    out = tmp_path / "run"
    args = [a for a in TINY if a != "--no-video"]
    assert main(["train", "--budget", "1", "--out", str(out), *args]) == 0
    printed = capsys.readouterr().out
    assert "final speed" in printed and f"video: {out / 'swim.mp4'}" in printed
    frames = iio.imread(out / "swim.mp4")
    assert frames.shape[0] >= 8 and frames.shape[1:3] == (240, 320)
    assert json.loads((out / "summary.json").read_text())["video"].endswith("swim.mp4")


def test_a_foreign_checkpoint_of_the_same_size_is_refused(tmp_path):
    """Another seed's checkpoint has as many parameters; resuming from it would be silently wrong."""
    import shutil
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--budget", "1", "--seed", "1", "--out", str(a), *TINY]) == 0
    assert main(["train", "--budget", "1", "--seed", "2", "--out", str(b), *TINY]) == 0
    shutil.copy(b / "checkpoint.pkl", a / "checkpoint.pkl")
    r = subprocess.run([sys.executable, "-m", "wormsim.cli", "resume", str(a), "--budget", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "another set-up" in r.stderr and "seed 2 -> 1" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_values_are_refused_before_a_run_directory_exists(tmp_path, capsys):
    for flags, words in ((["--medium", "mud"], "water"), (["--n-segments", "1"], "--n-segments"),
                         (["--workers", "0"], "--workers"), (["--seed", "-1"], "--seed"),
                         (["--head-cpg", "-2"], "--head-cpg")):
        out = tmp_path / flags[0].strip("-")
        code, err = _in_process(capsys, "train", *flags, "--out", str(out))
        assert code == 2 and words in err and "Traceback" not in err, (flags, err)
        assert not out.exists(), flags


def test_resume_refuses_a_budget_below_what_is_done(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--budget", "2", "--out", str(out), *TINY]) == 0
    code, err = _in_process(capsys, "resume", str(out), "--budget", "1")
    assert code == 2 and "at least 2" in err
    assert json.loads((out / "config.json").read_text())["config"]["budget"] == 2


def test_the_default_path_never_imports_ray(tmp_path):
    code = ("import sys; from wormsim.cli import main; "
            f"main(['train', '--budget', '1', '--out', {str(tmp_path / 'r')!r}, *{TINY!r}]); "
            "print('ray' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_workers_end_when_the_trainer_is_killed(tmp_path):
    """kill -9 of the trainer alone (not its process group) must not leave its workers running."""
    code = ("import os, time, numpy as np\n"
            "from wormsim.parallel import LocalBackend\n"
            "from wormsim.rollout import Evaluator\n"
            "from wormsim.config import TrainConfig\n"
            "spec = TrainConfig(duration=0.2).eval_spec()\n"
            "x0 = Evaluator(spec).initial_params()\n"
            "pool = LocalBackend(2); pool.evaluate(spec, np.stack([x0, x0]), seed=0)\n"
            "print(*pool._pool._processes, flush=True)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in proc.stdout.readline().split()]
    assert len(workers) == 2
    proc.kill()
    proc.wait()

    def alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:                                   # a zombie waiting for its (new) parent counts as gone
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except FileNotFoundError:
            return False
    deadline = time.time() + 10
    while time.time() < deadline and any(map(alive, workers)):
        time.sleep(0.1)
    assert not any(map(alive, workers))


def test_a_process_keeps_only_its_latest_evaluators():
    """An experiment worker runs cell after cell: it must not keep every earlier cell's env and brain."""
    from wormsim import parallel
    from wormsim.config import TrainConfig
    parallel.clear_evaluators()
    specs = [TrainConfig(duration=0.2, seed=s).eval_spec() for s in range(3)]
    first = parallel._evaluator(specs[0])
    first.initial_params()                                   # builds its env and brain
    assert first.env is not None
    for spec in specs[1:]:
        parallel._evaluator(spec)
    assert list(parallel._EVALUATORS) == specs[1:] and first.env is None     # evicted and closed
    parallel.LocalBackend(1).close()
    assert not parallel._EVALUATORS
