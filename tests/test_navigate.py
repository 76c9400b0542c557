"""Navigate: its scores (chemotaxis index, path efficiency, success, time, distance), a body that can
steer with the head oscillator on, the rollout and the CLI that report the scores, and the video's
target."""
import json

import gymnasium as gym
import numpy as np
import pytest

import wormsim  # noqa: F401  (registers the environments)
from wormsim.envs.navigate import chemotaxis_index, path_efficiency, summarize_scores
from wormsim.envs.waves import TravellingWave

J, HEAD = 11, 2          # joints of the 12-segment body; joints within the head (0.2 BL)


# ---- the scores on hand-made paths --------------------------------------------------------------------
def test_chemotaxis_index_is_the_plate_assays_count():
    # four worms start 1 BL from the target: three end nearer, one farther -> (A - C) / (A + C) = 0.5
    start = np.ones(4)
    final = np.array([0.2, 0.9, 1.5, 0.6])
    votes = chemotaxis_index(start, final)
    assert votes.tolist() == [1.0, 1.0, -1.0, 1.0]
    assert votes.mean() == pytest.approx((3 - 1) / (3 + 1))
    assert chemotaxis_index(1.0, 1.0) == 0.0                    # level: neither side
    assert chemotaxis_index(np.ones(6), np.full(6, 2.0)).mean() == -1.0   # all repelled


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
    """Run ``policy(t, obs, state) -> (actions, state)`` on n navigate worms with the head oscillator on
    (2 Hz, random phase, the wide held-out posture); returns the info of each worm's last step."""
    env = gym.make_vec("wormsim/Navigate-v0", num_envs=n, vectorization_mode="vector_entry_point",
                       duration=duration, head_cpg=2.0, head_cpg_phase="random", reset_noise_scale=0.3)
    obs, _ = env.reset(seed=[seed + i for i in range(n)])
    done = np.zeros(n, bool)
    last = {}
    state = np.zeros(n)
    for t in range(env.task.max_steps):
        action, state = policy(t * env.task.control_dt, obs, state)
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


def _klinokinesis(bias=0.3, tau=0.5):
    """The travelling wave on the body joints (the head left to its oscillator, as the interface leaves
    it) plus a ventral bias of every body joint while the low-passed concentration rate is negative:
    turn while things get worse (the pirouette's rule, Pierce-Shimomura, Morse & Lockery 1999)."""
    wave = TravellingWave(n_segments=J + 1)

    def policy(t, obs, rate):
        rate = rate + (obs[:, -1] - rate) * 0.02 / tau
        a = np.tile(wave(t), (len(obs), 1))
        b = np.where(rate < 0, bias, 0.0)[:, None]
        a[:, :J] -= b
        a[:, J:] += b
        a[:, :HEAD] = 0.5
        a[:, J:J + HEAD] = 0.5
        return a, rate
    return policy


def test_a_hand_made_steering_rule_reaches_the_target_and_random_commands_do_not():
    rule = _navigate(_klinokinesis())
    rng = np.random.default_rng(0)
    rand = _navigate(lambda t, obs, s: (rng.uniform(0, 1, (len(obs), 2 * J)), s))
    assert rule["score"].mean() >= 0.6, rule["score"]
    assert rand["score"].mean() <= 0.1, rand["score"]
    assert rule["score_chemotaxis"].mean() > rand["score_chemotaxis"].mean() + 0.3
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
