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


# ---- training: common episodes, and a start from a swimmer ---------------------------------------------
def test_navigate_members_meet_the_same_episodes_and_swim_members_their_own():
    # common random numbers on navigate (TaskSpec.common_episodes): two copies of one policy in a
    # population score the same on every episode; on swim each member has its own episodes
    from wormsim.rollout import EvalSpec, Evaluator
    for task, same in (("navigate", True), ("swim", False)):
        ev = Evaluator(EvalSpec(level="rate", task=task, episodes=2,
                                env_kwargs=(("duration", 0.3), ("head_cpg", 2.0), ("reset_noise_scale", 0.3))))
        x = ev.initial_params()
        r = ev.evaluate(np.stack([x, x]), seed=11)
        ev.close()
        a, b = r.episodes["return"]
        assert np.allclose(a, b, rtol=1e-5, atol=1e-6) is same, task


def _swim_run(tmp_path, wiring="connectome", level="rate"):
    from wormsim.cli import main
    out = tmp_path / f"swim-{level}-{wiring}"
    assert main(["train", "--task", "swim", "--level", level, "--wiring", wiring, "--budget", "1", "--popsize", "2",
                 "--duration", "0.2", "--eval-episodes", "1", "--workers", "1", "--no-video",
                 "--no-tensorboard", "--out", str(out)]) == 0
    return out


def _same_muscles(nav, x, src, swim_params):
    """The navigator's start (x on nav) commands the muscles as the swimmer (swim_params on src) does."""
    from wormsim.rollout import run_episodes
    muscles = []
    for ev, p in ((nav, x), (src, swim_params)):
        ev.brain.set_params(np.asarray(p, np.float32)[None])
        out = run_episodes(ev.brain, ev.interface, ev.env, [3], n_steps=10, record=True)
        muscles.append(out.traces["muscles"])
    nav.close(), src.close()
    assert np.allclose(muscles[0], muscles[1], atol=1e-5)


@pytest.mark.parametrize("level", ["rate", "conductance"])
def test_a_navigate_run_starts_from_a_swimmers_circuit_with_its_attractant_inputs_silent(tmp_path, level):
    # conductance names its input gains input_gain, not gain (Brain.input_gains): --init refused it before
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run
    from wormsim.train.warmstart import initial_params_from_run
    swim = _swim_run(tmp_path, level=level)
    swim_params, _ = Run.open(swim).load_policy()
    cfg = TrainConfig(task="navigate", level=level, duration=0.3, init=str(swim))
    nav = Evaluator(cfg.eval_spec())
    x = initial_params_from_run(cfg, nav)
    src = Evaluator(TrainConfig(task="swim", level=level, duration=0.3).eval_spec())
    src.initial_params()
    # every parameter but the input gains is the swimmer's; the gains of the shared channels are too,
    # and the 2 attractant channels x 10 command interneurons start at 0
    n_nav, n_swim = nav.brain.n_params, src.brain.n_params
    assert n_nav - n_swim == 20 and len(x) == n_nav
    assert np.count_nonzero(x) == np.count_nonzero(swim_params)
    # so the navigate circuit at its start commands the muscles as the swimmer does, whatever it smells
    _same_muscles(nav, x, src, swim_params)


def test_the_gru_navigator_starts_from_its_swimmer_with_the_attractant_rows_at_zero(tmp_path):
    """The GRU has no per-neuron input gains: its input weights' rows are the input channels, carried over
    by name, so a navigator starts from the GRU swimmer's behaviour too."""
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run
    from wormsim.train.warmstart import initial_params_from_run
    swim = _swim_run(tmp_path, level="mlp")
    swim_params, _ = Run.open(swim).load_policy()
    cfg = TrainConfig(task="navigate", level="mlp", duration=0.3, init=str(swim))
    nav = Evaluator(cfg.eval_spec())
    x = initial_params_from_run(cfg, nav)
    src = Evaluator(TrainConfig(task="swim", level="mlp", duration=0.3).eval_spec())
    src.initial_params()
    assert len(x) == nav.brain.n_params > src.brain.n_params
    assert np.count_nonzero(x) == np.count_nonzero(swim_params)
    _same_muscles(nav, x, src, swim_params)


def test_init_refuses_another_circuit_and_other_trainers(tmp_path):
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    from wormsim.trainers import trainer_for
    from wormsim.train.warmstart import initial_params_from_run
    swim = _swim_run(tmp_path)
    for bad, words in ((dict(wiring="shuffled"), "wiring 'connectome' != 'shuffled'"),
                       (dict(level="spiking"), "level 'rate' != 'spiking'")):
        cfg = TrainConfig(task="navigate", duration=0.3, init=str(swim), **bad)
        with pytest.raises(ValueError, match=words):
            initial_params_from_run(cfg, Evaluator(cfg.eval_spec()))
    with pytest.raises(ValueError, match="--init .*nowhere: no run directory"):
        cfg = TrainConfig(task="navigate", init=str(tmp_path / "nowhere"))
        initial_params_from_run(cfg, Evaluator(cfg.eval_spec()))
    with pytest.raises(ValueError, match="--init"):
        trainer_for(TrainConfig(task="navigate", algo="ppo", level="mlp", init=str(swim)))


def test_init_unset_leaves_checkpoints_and_grid_hashes_as_they_were():
    # runs made before --init resume (their checkpoints' fingerprints lack it) and the experiment's cells
    # keep their config hashes
    from wormsim.config import TrainConfig
    from wormsim.experiment.grid import _semantic
    assert "init" not in TrainConfig().fingerprint() and "init" not in _semantic(TrainConfig())
    assert TrainConfig(init="runs/x").fingerprint()["init"] == "runs/x"


def test_the_sensed_change_is_the_low_passed_relative_rate_and_keeps_its_sign():
    from wormsim.envs.navigate import sensory_response
    # a step of d ln c / dt = 0.15 /s (0.3 BL/s straight up a 2 BL gradient): after tau the response is
    # 1 - 1/e of gain x 0.15, and it settles at gain x 0.15 = 0.75
    r, dt = np.zeros(1), 0.02
    for _ in range(25):                          # 0.5 s = tau
        r = sensory_response(r, 0.15, dt, tau=0.5, gain=5.0)
    assert r[0] == pytest.approx(0.75 * (1 - np.exp(-1)), rel=1e-6)
    for _ in range(500):
        r = sensory_response(r, 0.15, dt, tau=0.5, gain=5.0)
    assert r[0] == pytest.approx(0.75, rel=1e-4)
    # falling concentration: negative; a 2 Hz head sweep is attenuated about 6-fold by the 0.5 s filter
    assert sensory_response(np.zeros(1), -0.1, dt)[0] < 0
    t = np.arange(0, 5, dt)
    r, out = np.zeros(1), []
    for x in np.sin(2 * np.pi * 2.0 * t):
        r = sensory_response(r, x, dt, tau=0.5, gain=1.0)
        out.append(r[0])
    assert 0.12 < np.max(np.abs(out[-100:])) < 0.2


def test_the_navigate_input_is_the_sense_of_the_heads_approach():
    # the env's second task input follows the head's approach to the target: positive while the distance
    # falls, and equal to sensory_response of the exact d ln c / dt
    from wormsim.envs.navigate import sensory_response
    from wormsim.envs.vector import NavigateVectorEnv
    env = NavigateVectorEnv(num_envs=2, duration=1.0, head_cpg=2.0)
    obs, info = env.reset(seed=[0, 1])
    d_prev, r = info["distance"], np.zeros(2)
    for _ in range(20):
        obs, _, _, _, info = env.step(np.full((2, env.layout.n_muscles), 0.5, np.float32))
        r = sensory_response(r, (d_prev - info["distance"]) / (2.0 * 0.02), 0.02)
        d_prev = info["distance"]
    env.close()
    np.testing.assert_allclose(obs[:, -1], r, rtol=1e-4, atol=1e-6)
