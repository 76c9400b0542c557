"""Training across loads as `wormsim train --also-at` runs it: one circuit, one fitness over every condition of
the body (docs/body/self-rhythm.md section 3's recipe), with the trainer's resume, workers and plateau rule."""
import json
from pathlib import Path

import numpy as np
import pytest

from wormsim.cli import main
from wormsim.config import TrainConfig
from wormsim.rollout import FAILURE_RETURN, Evaluator, load_mix_fitness

SELF_RHYTHM = ["--head-cpg", "0", "--own-stretch", "--bistable-gain", "8"]
TINY = ["--popsize", "4", "--duration", "0.4", "--eval-episodes", "1", "--val-episodes", "2", "--no-video",
        "--no-tensorboard", "--workers", "1"]


def rows(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def test_load_mix_fitness_is_the_mean_log_speed_over_conditions():
    speeds = np.array([[0.1, -0.2, 0.3, np.nan],      # condition 1, four episodes
                       [0.01, 0.01, 0.03, 0.01]])      # condition 2, the same episodes
    failed = np.array([False, False, True, False])
    f = load_mix_fitness(speeds, failed)
    assert f[0] == pytest.approx((np.log10(0.101) + np.log10(0.011)) / 2)
    assert f[1] == pytest.approx((np.log10(0.001) + np.log10(0.011)) / 2)   # backward counts as standing still
    assert f[2] == FAILURE_RETURN and f[3] == FAILURE_RETURN                   # failed, or a speed not finite
    # a 10% gain counts the same at either load, within the offset's reach
    up_fast = load_mix_fitness(np.array([[0.11], [0.01]])) - load_mix_fitness(np.array([[0.10], [0.01]]))
    up_slow = load_mix_fitness(np.array([[0.10], [0.011]])) - load_mix_fitness(np.array([[0.10], [0.01]]))
    assert up_fast[0] == pytest.approx(up_slow[0], rel=0.1)


def test_a_mixed_evaluation_is_each_condition_alone_on_the_same_episodes():
    cfg = TrainConfig(head_cpg=0.0, own_stretch=True, bistable_gain=8.0, duration=0.4,
                      also_at=["water:1000", "agar:3000"])
    spec = cfg.eval_spec(episodes=2)
    assert spec.conditions() == [("water", 1.0), ("water", 1000.0), ("agar", 3000.0)]
    mixed = Evaluator(spec)
    params = mixed.initial_params()[None].repeat(2, 0)
    params[1] += 0.05
    got = mixed.evaluate(params, seed=11)
    alone = []
    for medium, load in spec.conditions():
        ev = Evaluator(spec.at(medium, load))
        alone.append(ev.evaluate(params, seed=11))
        ev.close()
    speeds = np.stack([r.episodes["speed"] for r in alone])
    np.testing.assert_allclose(got.episodes["return"], load_mix_fitness(speeds), rtol=1e-6)
    np.testing.assert_allclose(got.returns, load_mix_fitness(speeds).mean(1), rtol=1e-6)
    np.testing.assert_allclose(got.speed, alone[0].speed, rtol=1e-6)            # the first condition's speed
    np.testing.assert_allclose(got.episodes["speed@agar:3000"], alone[2].episodes["speed"], rtol=1e-6)
    assert got.steps == sum(r.steps for r in alone)
    assert mixed.n_params == len(params[0])
    mixed.close()


EXAMPLE = "e.g. --also-at water:1000 agar:10000"


@pytest.mark.parametrize("item, says, way_out", [
    ("mud:10", "unknown medium 'mud'", EXAMPLE), ("1000", "write MEDIUM:LOAD", EXAMPLE),
    ("water:0", "load must be", EXAMPLE), ("agar:lots", "load must be a number", EXAMPLE),
    ("water:1", "trained already", "give each one once")])
def test_a_bad_condition_is_one_line_naming_it_and_the_way_out(item, says, way_out):
    with pytest.raises(ValueError) as exc:
        TrainConfig(also_at=[item]).eval_spec()
    msg = str(exc.value)
    assert says in msg and repr(item) in msg and way_out in msg and "\n" not in msg


def test_only_es_on_a_task_with_a_speed_trains_across_loads():
    from wormsim.trainers import trainer_for
    with pytest.raises(ValueError, match="memory task has no speed"):
        TrainConfig(task="memory", also_at=["water:10"]).eval_spec()
    with pytest.raises(ValueError, match="PPO trains in one medium"):
        trainer_for(TrainConfig(algo="ppo", also_at=["water:10"]))
    assert "also_at" not in TrainConfig().fingerprint()          # runs made before the flag still resume
    assert "also_at" not in TrainConfig().eval_spec().as_dict()


def test_train_across_loads_validates_on_the_mix_and_resumes_exactly(tmp_path, capsys):
    args = ["train", *SELF_RHYTHM, "--also-at", "water:1000", "--seed", "3", "--val-every", "1", *TINY]
    ref = tmp_path / "ref"
    assert main([*args, "--budget", "3", "--stop", "budget", "--out", str(ref)]) == 0
    printed = capsys.readouterr().out
    assert "final speed by condition (medium:load): water:1 " in printed and "water:1000 " in printed
    summary = json.loads((ref / "summary.json").read_text())
    assert set(summary["final_speed_by_condition"]) == {"water:1", "water:1000"}
    assert summary["final_speed_by_condition"]["water:1"] == pytest.approx(summary["final_speed"])
    # validation scores the mix (log10 speeds, about -3 for a circuit that barely moves), not water's speed
    val = [r["val_score"] for r in rows(ref)]
    assert all(-3.1 < v < -1.0 for v in val), val
    # killed after two generations and resumed: the same run
    out = tmp_path / "resumed"
    assert main([*args, "--budget", "2", "--stop", "budget", "--out", str(out)]) == 0
    assert main(["resume", str(out), "--budget", "3", "--no-video"]) == 0
    strip = lambda r: {k: v for k, v in r.items() if k != "wall_time"}   # noqa: E731
    assert [strip(r) for r in rows(out)] == [strip(r) for r in rows(ref)]
