"""Navigate: its scores (chemotaxis index, path efficiency, success, time, distance), a body that can
steer with the head oscillator on, the rollout and the CLI that report the scores, and the video's
target."""
import json

import gymnasium as gym
import numpy as np
import pytest

import wormsim  # noqa: F401  (registers the environments)
from wormsim.envs.navigate import chemotaxis_index, path_efficiency, reference_policy, summarize_scores


# ---- the scores on hand-made paths --------------------------------------------------------------------
def test_chemotaxis_index_is_the_plate_assays_count():
    # target 1 BL along +x from the start (control spot: 1 BL along -x). Four worms: three end on the
    # target's side (one of them beyond it, one only just), one on the control's -> (A - C) / (A + C) = 0.5
    start, target = np.zeros((4, 2)), np.tile([1.0, 0.0], (4, 1))
    end = np.array([[0.8, 0.1], [1.6, -0.5], [0.01, 2.0], [-0.3, 0.2]])
    votes = chemotaxis_index(start, end, target)
    assert votes.tolist() == [1.0, 1.0, 1.0, -1.0]
    assert votes.mean() == pytest.approx((3 - 1) / (3 + 1))
    # the assay is symmetric: straight runs in directions spread evenly round the start score 0
    angles = np.linspace(0, 2 * np.pi, 36, endpoint=False) + 0.01
    ends = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    assert chemotaxis_index(np.zeros((36, 2)), ends, np.tile([1.0, 0.0], (36, 1))).mean() == 0.0
    assert chemotaxis_index([0.0, 0.0], [0.0, 1.0], [1.0, 0.0]) == 0.0        # on the dividing line
    # the target anywhere: what counts is the side of the start it ended on
    assert chemotaxis_index([2.0, 2.0], [2.0, 2.5], [2.0, 5.0]) == 1.0


def test_path_efficiency_of_hand_made_paths():
    # a straight run of 0.8 BL at the target: 1
    assert path_efficiency(1.0, 0.2, 0.8) == pytest.approx(1.0)
    # a detour: 0.5 BL nearer after 2 BL of path: 0.25
    assert path_efficiency(1.0, 0.5, 2.0) == pytest.approx(0.25)
    # straight away from the target: -1; no path yet: 0
    assert path_efficiency(1.0, 1.5, 0.5) == pytest.approx(-1.0)
    assert path_efficiency(1.0, 1.0, 0.0) == 0.0
    # a square path of side 0.25 around the start: path 1 BL, back where it began -> 0
    assert path_efficiency(1.0, 1.0, 1.0) == 0.0


def test_summary_of_held_out_scores_skips_episodes_without_a_value():
    record = {"score": [1.0, 0.0, 1.0, 0.0], "score_distance": [0.2, 1.1, 0.25, 0.9],
              "score_time": [3.0, None, 5.0, None], "score_efficiency": [0.5, -0.1, 0.3, 0.0],
              "score_chemotaxis": [1.0, -1.0, 1.0, 1.0]}
    s = summarize_scores(record)
    assert s["success_rate"] == 0.5 and s["episodes"] == 4
    assert s["time_to_target"] == pytest.approx(4.0)           # the two that arrived
    assert s["chemotaxis_index"] == pytest.approx(0.5)
    assert s["distance"] == pytest.approx(0.6125)


# ---- the body steers; a hand-made rule beats random ---------------------------------------------------
def _navigate(policy, n=16, seed=0, duration=10.0):
    """Run ``policy(t, obs) -> actions`` on n navigate worms with the head oscillator on
    (2 Hz, random phase, the wide held-out posture); returns the info of each worm's last step."""
    env = gym.make_vec("wormsim/Navigate-v0", num_envs=n, vectorization_mode="vector_entry_point",
                       duration=duration, head_cpg=2.0, head_cpg_phase="random", reset_noise_scale=0.3)
    obs, _ = env.reset(seed=[seed + i for i in range(n)])
    done = np.zeros(n, bool)
    last = {}
    for t in range(env.task.max_steps):
        action = policy(t * env.task.control_dt, obs)
        obs, _, term, trunc, info = env.step(np.clip(action, 0, 1).astype(np.float32))
        ended = ~done & (term | trunc)
        for k in ("score", "score_distance", "score_time", "score_efficiency", "score_chemotaxis",
                  "distance", "success"):
            last.setdefault(k, np.zeros(n, np.asarray(info[k]).dtype))[ended] = info[k][ended]
        done |= term | trunc
        if done.all():
            break
    env.close()
    return last


def test_a_hand_made_steering_rule_reaches_the_target_and_random_commands_do_not():
    # the wave on the body joints, the head left to its oscillator (as the interface leaves it), plus a
    # ventral bias while the low-passed concentration rate is negative (envs/navigate.py)
    rule = _navigate(reference_policy("hand-made klinokinesis"))
    rand = _navigate(reference_policy("random muscle commands"))
    blind = _navigate(reference_policy("blind swimmer"))
    assert rule["score"].mean() >= 0.6, rule["score"]
    assert rand["score"].mean() <= 0.1, rand["score"]
    assert rule["score_chemotaxis"].mean() > rand["score_chemotaxis"].mean() + 0.3
    # swimming straight, blind to the attractant, reaches only targets it happens to face
    assert rule["score"].mean() > blind["score"].mean() + 0.3
    assert rule["score_distance"].mean() < rand["score_distance"].mean()
    # the scores of each episode agree with each other
    for s in (rule, rand):
        assert np.array_equal(s["score"] > 0.5, s["success"])
        assert np.allclose(s["score_distance"], s["distance"])
        assert np.all(np.isfinite(s["score_time"]) == s["success"])
        assert np.all((s["score_time"][s["success"]] > 0) & (s["score_time"][s["success"]] <= 10.0))
        assert np.all(np.abs(s["score_efficiency"]) <= 1.0)


# ---- the rollout and the CLI carry the scores -----------------------------------------------------------
def test_the_evaluator_keeps_each_episodes_navigation_scores():
    from wormsim.rollout import EvalSpec, Evaluator
    ev = Evaluator(EvalSpec(level="rate", task="navigate", episodes=3,
                            env_kwargs=(("duration", 0.4), ("head_cpg", 2.0))))
    r = ev.evaluate(ev.initial_params()[None], seed=5)
    ev.close()
    for key in ("score", "score_distance", "score_time", "score_efficiency", "score_chemotaxis"):
        assert r.episodes[key].shape == (1, 3), key
    assert np.all(np.isfinite(r.episodes["score_distance"]))
    assert set(np.unique(r.episodes["score_chemotaxis"])) <= {-1.0, 0.0, 1.0}
    assert r.score[0] == pytest.approx(r.episodes["score"].mean())


def test_wormsim_train_on_navigate_ends_with_its_scores(tmp_path, capsys):
    from wormsim.cli import main
    out = tmp_path / "nav"
    assert main(["train", "--task", "navigate", "--budget", "1", "--popsize", "2", "--duration", "0.4",
                 "--eval-episodes", "2", "--workers", "1", "--no-video", "--no-tensorboard",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "final score:" in printed and "chemotaxis index" in printed and "success rate" in printed
    summary = json.loads((out / "summary.json").read_text())
    scores = summary["episode_scores"]
    assert scores["episodes"] == 2
    assert scores["trained"]["final distance (BL)"] is not None
    assert summary["final_score"] is not None and 0.0 <= summary["final_score"] <= 1.0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(row["score_mean"] is not None for row in rows)     # the learning curve has a score


# ---- the video frames the target ----------------------------------------------------------------------
def test_the_navigate_video_holds_the_target_and_reports_the_distance(tmp_path):
    from wormsim.rollout import EvalSpec
    from wormsim.viz.video import record_video
    spec = EvalSpec(task="navigate", env_kwargs=(("duration", 0.3),))
    info = record_video(spec, None, tmp_path / "nav.gif", mode="open-loop", size=(64, 48), fps=10)
    assert len(info["distances"]) == 1 and info["arrivals"] == [None]
    assert 0.5 < info["distances"][0] < 1.5
