"""Run directories: exact config, metrics, atomic checkpoints, clear errors for bad ones."""
import pickle

import numpy as np
import pytest

from wormsim.runs import Run, RunError
from wormsim.config import TrainConfig


def test_config_metrics_and_policy_round_trip(tmp_path):
    cfg = TrainConfig(level="spiking", budget=3, out=str(tmp_path / "r"))
    run = Run.create(tmp_path / "r", cfg)
    assert Run.open(tmp_path / "r").config["level"] == "spiking"
    for k in range(3):
        run.append_metrics({"iteration": k, "best": float(k)})
    assert [r["iteration"] for r in run.metrics()] == [0, 1, 2]
    run.truncate_metrics(2)
    assert len(run.metrics()) == 2
    run.save_policy(np.arange(5.0), level="spiking")
    params, meta = run.load_policy()
    assert np.array_equal(params, np.arange(5.0)) and meta["level"] == "spiking"
    assert not list(tmp_path.glob("r/*.tmp"))  # atomic writes leave no temporary files


def test_an_existing_run_is_not_overwritten_by_accident(tmp_path):
    Run.create(tmp_path, TrainConfig())
    with pytest.raises(RunError, match="wormsim resume"):
        Run.create(tmp_path, TrainConfig())
    Run.create(tmp_path, TrainConfig(), overwrite=True)


def test_checkpoint_round_trip_and_bad_checkpoints(tmp_path):
    run = Run.create(tmp_path, TrainConfig())
    assert run.load_checkpoint() is None
    run.save_checkpoint({"generation": 4, "x": np.ones(3)})
    assert run.load_checkpoint()["generation"] == 4
    (tmp_path / "checkpoint.pkl").write_bytes(b"\x80\x04garbage")
    with pytest.raises(RunError, match="corrupt"):
        run.load_checkpoint()
    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"some": "other tool"}))
    with pytest.raises(RunError, match="not a wormsim checkpoint"):
        run.load_checkpoint()


def test_a_checkpoint_of_another_trainer_or_set_up_is_refused(tmp_path):
    run = Run.create(tmp_path, TrainConfig())
    mine = TrainConfig(seed=3).fingerprint()
    run.save_checkpoint({"algo": "ppo", "fingerprint": mine, "ppo": {}})
    with pytest.raises(RunError, match="checkpoint of ppo, not of es"):
        run.load_checkpoint(algo="es", fingerprint=mine)
    run.save_checkpoint({"algo": "es", "fingerprint": TrainConfig(seed=3, wiring="shuffled").fingerprint()})
    with pytest.raises(RunError, match="wiring 'shuffled' -> 'connectome'"):
        run.load_checkpoint(algo="es", fingerprint=mine)
    # what a resume may change does not count
    assert TrainConfig(seed=3, budget=9, workers=1, video=False).fingerprint() == mine


def test_opening_something_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="no run directory"):
        Run.open(tmp_path / "nothing")
    with pytest.raises(RunError, match="not a wormsim run"):
        Run.open(tmp_path)
    run = Run.create(tmp_path / "r", TrainConfig())
    (tmp_path / "r" / "metrics.jsonl").write_text('{"iteration": 0}\n{"iterat')
    with pytest.raises(RunError, match="line 2"):
        run.metrics()
    with pytest.raises(RunError, match="no policy"):
        run.load_policy()
