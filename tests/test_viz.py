"""Videos, plots and the rollout/plot commands: files of the right size, clear errors on bad runs."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering (osmesa fails on this CPU)

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormsim.viz import plots  # noqa: E402
from wormsim.viz.commands import add_plot, add_rollout, parse_size  # noqa: E402
from wormsim.viz.video import (Rollout, describe_wave, record_video, undulation_frequency,  # noqa: E402
                               wave_metrics)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _swim_registered() -> bool:
    import gymnasium as gym

    import wormsim  # noqa: F401
    try:
        import wormsim.envs  # noqa: F401
    except ImportError:
        return False
    return "wormsim/Swim-v0" in gym.registry


needs_swim = pytest.mark.skipif(not _swim_registered(), reason="wormsim/Swim-v0 not registered yet")


class _StubSwim:
    """The smallest env with the Swim contract the video code reads (layout, control_dt, body, info
    speed), on the real MuJoCo body: lets the renderer be tested independently of the task code."""

    def __init__(self, duration=0.5, n_segments=6):
        from wormsim.envs.body import WormBody
        from wormsim.envs.layout import ObsLayout
        self.body = WormBody(n_worms=1, n_segments=n_segments)
        self.layout = ObsLayout(n_segments)
        self.control_dt = 0.02
        self.n = int(round(duration / self.control_dt))
        self.unwrapped = self
        self.spec = None

    def _obs(self):
        b = self.body
        return np.concatenate([b.joint_angles()[0], b.joint_velocities()[0], b.head_velocity()[0],
                               b.head_direction()[0]]).astype(np.float32)

    def reset(self, seed=None):
        self.body.reset()
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        x0 = self.body.com_position()[0, 0]
        self.body.step(np.asarray(action)[None], n_substeps=int(round(self.control_dt / self.body.timestep)))
        self.k += 1
        speed = (self.body.com_position()[0, 0] - x0) / self.control_dt
        return self._obs(), speed, False, self.k >= self.n, {"speed": speed}

    def close(self):
        pass


# ---- metrics of a rollout ----------------------------------------------------------------------------
def _wave(T=200, dt=0.02, f=2.0, J=11, wavelength=1.5):
    t = np.arange(T) * dt
    s = np.arange(1, J + 1) / (J + 1)
    return 3.0 * np.sin(2 * np.pi * (f * t[:, None] - s[None, :] / wavelength))


def test_undulation_frequency_of_a_travelling_wave():
    assert undulation_frequency(_wave(f=2.0), 0.02) == pytest.approx(2.0, abs=0.05)
    assert undulation_frequency(_wave(f=0.7, T=400), 0.02) == pytest.approx(0.7, abs=0.05)
    assert np.isnan(undulation_frequency(np.zeros((100, 5)), 0.02))   # a still worm has none
    drift = np.linspace(0, 1, 100)[:, None] * np.ones((1, 5))          # a bend building up, held
    assert np.isnan(undulation_frequency(drift, 0.02))


def test_wave_metrics_of_forward_backward_and_standing_waves():
    m = wave_metrics(_wave(f=2.0, wavelength=1.5), 0.02)
    assert m["direction"] == "head-to-tail"
    assert m["wavelength"] == pytest.approx(1.5, rel=0.03)
    assert m["wave_speed"] == pytest.approx(3.0, rel=0.03)                 # f * wavelength, + forward
    assert m["phase_lag"] == pytest.approx((11 / 12 - 1 / 12) / 1.5, abs=0.02)
    assert m["amplitude"] == pytest.approx(3.0, rel=0.05)                  # _wave's amplitude, rad/BL
    back = wave_metrics(_wave(f=1.0, wavelength=-0.8, T=300), 0.02)       # crest runs tail to head
    assert back["direction"] == "tail-to-head"
    assert back["wave_speed"] == pytest.approx(-0.8, rel=0.05)
    assert back["wavelength"] == pytest.approx(0.8, rel=0.05)
    t = np.arange(200)[:, None] * 0.02
    standing = 2.0 * np.sin(2 * np.pi * 2.0 * t) * np.ones((1, 11))       # every joint in phase
    st = wave_metrics(standing, 0.02)
    assert st["direction"] == "standing" and abs(st["phase_lag"]) < 0.01
    still = wave_metrics(np.zeros((100, 11)), 0.02)
    assert still["direction"] == "none" and np.isnan(still["wavelength"])


def test_describe_wave_names_the_head_oscillator():
    m = {**wave_metrics(_wave(), 0.02), "head_cpg": 2.0}
    wave, amplitude = describe_wave(m)
    assert "head-to-tail" in wave and "wavelength 1.50 BL" in wave and "+3.00 BL/s" in wave
    assert "head oscillator on (2 Hz" in amplitude
    assert "head oscillator off" in describe_wave({**m, "head_cpg": 0.0})[1]
    assert "head osc. off" in describe_wave({**m, "head_cpg": 0.0}, short=True)


def test_rollout_speed_falls_back_to_displacement():
    com = np.stack([np.linspace(0, 1, 51), np.zeros(51)], 1)
    r = Rollout(curvature=np.zeros((51, 3)), com=com, speed=np.full(51, np.nan), control_dt=0.02)
    assert r.mean_speed == pytest.approx(1.0 / (51 * 0.02))


# ---- videos --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_open_loop_video_has_the_asked_size_and_frames(tmp_path, suffix):
    import imageio.v3 as iio
    from wormsim.rollout import EvalSpec
    path = tmp_path / f"swim{suffix}"
    info = record_video(EvalSpec(), None, path, size=(96, 64), fps=25, mode="open-loop",
                        env=_StubSwim(duration=0.5))
    frames = iio.imread(path, index=None) if suffix == ".gif" else np.stack(list(iio.imiter(path)))
    # one frame at reset, one every 1/25 s of 0.5 s (25 control steps, every 2nd): 1 + 12 + last
    assert frames.shape[1:3] == (64, 96)
    assert len(frames) == info["frames"] == 14
    assert info["fps"] == pytest.approx(25.0)
    assert np.isfinite(info["speed"])
    assert frames[..., :3].std() > 1.0            # not a blank picture


def test_frames_show_a_red_head_a_violet_trail_and_the_overlay():
    from wormsim.rollout import EvalSpec
    from wormsim.viz.video import rollout
    r = rollout(EvalSpec(), None, mode="open-loop", size=(160, 120), env=_StubSwim(duration=3.0))
    last = r.frames[-1].astype(int)
    red = (last[..., 0] > 150) & (last[..., 1] < 70) & (last[..., 2] < 70)
    violet = (last[..., 2] > last[..., 1] + 40) & (last[..., 0] > last[..., 1] + 20)
    assert red.sum() > 10, "no red head in the frame"
    assert violet.sum() > 20, "no trail in the frame"
    # the text box at the top left is near-white and holds dark text; the floor there is not white
    corner = last[2:20, 2:60]
    assert (corner.min(axis=-1) > 200).mean() > 0.4 and (corner.max(axis=-1) < 90).any()
    # the worm fills much of the frame: its (non-floor) pixels span over 40 % of the width
    worm = (last[..., 0] > last[..., 2] + 30)
    cols = np.flatnonzero(worm[25:-25].any(axis=0))
    assert cols.max() - cols.min() > 0.4 * 160


def test_video_rejects_a_bad_suffix(tmp_path):
    from wormsim.rollout import EvalSpec
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        record_video(EvalSpec(), None, tmp_path / "swim.avi", mode="open-loop", env=_StubSwim())


def test_the_recorder_is_a_vector_env_of_one_worm():
    """What run_episodes steps: num_envs 1, every array batched, truncation after max_steps."""
    from wormsim.viz.video import _Recorder
    rec = _Recorder(_StubSwim(duration=0.1), None, frame_every=1, max_steps=3)
    obs, _ = rec.reset(seed=[0])
    assert rec.num_envs == 1 and obs.shape == (1, rec.layout.obs_dim)
    for _ in range(3):
        obs, reward, terminated, truncated, info = rec.step(np.full((1, 10), 0.5, np.float32))
        assert obs.shape == (1, rec.layout.obs_dim)
        assert reward.shape == terminated.shape == truncated.shape == info["speed"].shape == (1,)
    assert truncated[0] and not terminated[0] and rec.done
    assert len(rec.rollout({}).curvature) == 3                 # the reset row is dropped


@pytest.mark.parametrize("level", ["rate", "conductance"])
def test_a_video_and_a_training_evaluation_see_the_same_worm(level):
    """The video's rollout runs through the one closed-loop runner (conductance too, through its
    one-Brian2-run drive hook): the same seed gives the same body and brain as an Evaluator's."""
    from wormsim.rollout import EvalSpec, Evaluator
    from wormsim.viz.video import rollout
    spec = EvalSpec(level=level, env_kwargs=(("n_segments", 12), ("duration", 0.3)))
    r = rollout(spec, None, mode="untrained", seed=3)
    ev = Evaluator(spec)
    try:
        out = ev.evaluate(ev.initial_params()[None], seed=3, record=True)
    finally:
        ev.close()
    assert r.curvature.shape == out.traces["curvature"][:, 0].shape == (15, 11)
    assert np.allclose(r.curvature, out.traces["curvature"][:, 0], atol=1e-5)
    assert np.array_equal(r.traces["activity"], out.traces["activity"][:, 0])
    assert r.mean_speed == pytest.approx(float(out.speed[0]), rel=1e-5)


@needs_swim
def test_untrained_rate_rollout_video(tmp_path):
    import imageio.v3 as iio
    from wormsim.rollout import EvalSpec
    spec = EvalSpec(level="rate", env_kwargs=(("n_segments", 12), ("duration", 0.5)))
    info = record_video(spec, None, tmp_path / "rate.mp4", size=(96, 64), mode="untrained")
    frames = np.stack(list(iio.imiter(tmp_path / "rate.mp4")))
    assert frames.shape[1:3] == (64, 96) and len(frames) == info["frames"] > 5
    assert np.isfinite(info["speed"])


# ---- plots ---------------------------------------------------------------------------------------------
def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _fake_run(path, n=12, level="rate", truncate=False, **config):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"config": {"level": level, "wiring": "connectome",
                                                             **config}}))
    rows = [{"iteration": i, "best": 0.1 * i + 0.5, "mean": 0.05 * i, "std": 0.2, "speed_best": 0.01 * i,
             "speed_mean": 0.005 * i, "wall_time": float(i), "env_steps": 500 * i} for i in range(n)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (path / "metrics.jsonl").write_text(text[:-25] if truncate else text)
    return path


def test_kymograph_of_a_travelling_wave(tmp_path):
    path = plots.plot_kymograph(_wave(), 0.02, tmp_path / "kymo.png")
    w, h = _png_size(path)
    assert 600 < w < 2000 and 250 < h < 1000


def test_learning_curves_overlay_several_runs(tmp_path):
    a, b = _fake_run(tmp_path / "a"), _fake_run(tmp_path / "b", level="spiking")
    w, h = _png_size(plots.plot_learning_curves([a, b], tmp_path / "curves.png"))
    assert w > 800 and h > 500
    svg = plots.plot_learning_curves([a], tmp_path / "curves.svg")
    assert svg.read_text().lstrip().startswith("<?xml")


def test_activity_and_weights_of_a_rate_brain(tmp_path, circuit):
    from wormsim.envs.layout import ObsLayout
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    brain = get_level("rate")(circuit, Interface(circuit, ObsLayout(12)).io_spec())
    T = 100
    traces = {"activity": np.random.default_rng(0).random((T, 1, circuit.n))}
    _png_size(plots.plot_activity(traces, circuit, _wave(T=T), 0.02, tmp_path / "act.png", level="rate"))
    mag, unit = plots.chem_edge_weights(brain)
    assert mag.shape == (len(circuit.chem_edges),) and (mag > 0).all()
    # double every chemical weight: +1 (log2) in every class pair with a synapse, gaps unchanged
    start = brain.get_params()[0].numpy()
    doubled = start.copy()
    chem = slice(0, brain.param_sizes()["chem"])
    doubled[chem] *= 2.0
    change = plots.class_weight_change(circuit, plots.edge_weights(brain, doubled),
                                       plots.edge_weights(brain, start))
    has = change["chem_count"] > 0
    assert np.allclose(change["chem"][has], 1.0) and np.isnan(change["chem"][~has]).all()
    assert np.allclose(change["gap"][change["gap_count"] > 0], 0.0)
    assert np.allclose(change["gap"], change["gap"].T, equal_nan=True)   # gap junctions are symmetric
    assert np.allclose(brain.get_params()[0].numpy(), start)             # edge_weights put them back
    w, h = _png_size(plots.plot_weights(brain, tmp_path / "weights.png", trained_params=doubled))
    assert w > 1500 and h > 1500      # class-pair maps above, the circuit diagram edge by edge below


def test_weights_of_the_mlp_are_refused(circuit, tmp_path):
    from wormsim.envs.layout import ObsLayout
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.realism_levels.base import CapabilityError
    brain = get_level("mlp")(circuit, Interface(circuit, ObsLayout(12)).io_spec())
    with pytest.raises(CapabilityError):
        plots.edge_weights(brain)
    with pytest.raises(CapabilityError, match="no weights figure for the mlp level: it has no per-edge"):
        plots.plot_weights(brain, tmp_path / "weights.png")
    assert not (tmp_path / "weights.png").exists()


def test_a_level_on_the_wiring_without_edge_weights_is_told_so(circuit, tmp_path):
    """A new level that forgot edge_weights() gets an error naming what to implement, not a None."""
    from wormsim.envs.layout import ObsLayout
    from wormsim.interface import Interface
    from wormsim.realism_levels.base import Brain, CapabilityError
    from wormsim.realism_levels.rate import RateBrain

    class Forgetful(RateBrain):
        name = "forgetful"

        def edge_weights(self):
            return Brain.edge_weights(self)              # the contract's default: not implemented

    brain = Forgetful(circuit, Interface(circuit, ObsLayout(12)).io_spec())
    with pytest.raises(CapabilityError, match="implement edge_weights"):
        plots.plot_weights(brain, tmp_path / "weights.png")


def test_the_trace_shown_follows_the_traces_recorded():
    assert plots._trace_kind({"activity": 0, "state": 0}) == ("activity", "image")
    assert plots._trace_kind({"activity": 0, "membrane": 0, "spikes": 0}) == ("spikes", "raster")
    assert plots._trace_kind({"activity": 0, "voltage": 0}) == ("voltage", "image")
    with pytest.raises(ValueError, match="no neural trace"):
        plots._trace_kind({"u": 0, "muscles": 0})


def test_activity_of_a_connectome_free_level_shows_hidden_units(circuit, tmp_path):
    """Whether columns are the worm's neurons comes from the level's capabilities, not its name."""
    assert plots._shows_circuit_neurons("rate", circuit, circuit.n)
    assert not plots._shows_circuit_neurons("mlp", circuit, circuit.n)       # not built on the wiring
    assert not plots._shows_circuit_neurons("rate", circuit, circuit.n + 1)
    traces = {"activity": np.random.default_rng(0).random((50, 1, 40))}
    _png_size(plots.plot_activity(traces, circuit, _wave(T=50), 0.02, tmp_path / "act.png", level="mlp"))


def test_circuit_drawing_and_plots_import_no_cycle():
    import subprocess
    import sys
    code = ("import sys, wormsim.viz.circuit, wormsim.viz.figures; "
            "assert 'wormsim.viz.plots' not in sys.modules, 'viz.circuit imports viz.plots'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_labels_say_what_tells_runs_apart(tmp_path):
    a = _fake_run(tmp_path / "a", seed=0, algo="es", dataset="cook2019")
    b = _fake_run(tmp_path / "b", seed=1, algo="es", dataset="cook2019")
    la, lb = plots.run_labels([a, b])
    assert la != lb and "seed 0" in la and "seed 1" in lb and "cook2019" not in la
    c = _fake_run(tmp_path / "c", seed=0, algo="ppo", dataset="cook2019")
    assert "ES" in plots.run_labels([a, c])[0] and "PPO" in plots.run_labels([a, c])[1]
    twin = _fake_run(tmp_path / "twin", seed=0, algo="es", dataset="cook2019")
    assert plots.run_labels([a, twin]) == ["rate / connectome [a]", "rate / connectome [twin]"]
    assert plots.iteration_label([a, b]) == "ES generation"
    assert plots.iteration_label([c]) == "PPO iteration"
    assert plots.iteration_label([a, c]) == "iteration (ES generation or PPO iteration)"
    assert plots.iteration_label([_fake_run(tmp_path / "old")]) == "iteration"


def test_learning_curves_show_the_score_of_non_motor_runs(tmp_path):
    swim = _fake_run(tmp_path / "swim")
    memory = _fake_run(tmp_path / "memory", task="memory")
    rows = [json.loads(line) for line in (memory / "metrics.jsonl").read_text().splitlines()]
    text = "".join(json.dumps({**r, "speed_best": None, "speed_mean": None, "score_best": 0.01 * k,
                               "score_mean": 0.005 * k}) + "\n" for k, r in enumerate(rows))
    (memory / "metrics.jsonl").write_text(text)
    m = plots.load_metrics(memory)
    assert np.isnan(m["speed_mean"]).all() and m["score_best"][-1] == pytest.approx(0.11)
    assert np.isnan(plots.load_metrics(swim)["score_mean"]).all()     # no score column: NaN
    # rows: return and score (memory); return and speed (swim); all three when overlaid
    _, h_memory = _png_size(plots.plot_learning_curves([memory], tmp_path / "m.png"))
    _, h_swim = _png_size(plots.plot_learning_curves([swim], tmp_path / "s.png"))
    _, h_both = _png_size(plots.plot_learning_curves([swim, memory], tmp_path / "b.png"))
    assert h_memory == h_swim and h_both > 1.3 * h_swim


def test_neurons_are_ordered_by_class_then_position(circuit):
    order = plots.neuron_order(circuit)
    assert sorted(order) == list(range(circuit.n))
    cls = [circuit.cell_class[i] for i in order]
    ranks = [circuit.classes.index(c) for c in cls]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("damage, message", [
    ("missing", "is missing"), ("empty", "is empty"), ("truncated", "last line is truncated"),
    ("column", "lacks speed_mean")])
def test_bad_metrics_give_a_clear_error(tmp_path, damage, message):
    run = _fake_run(tmp_path / "r", truncate=damage == "truncated")
    if damage == "missing":
        (run / "metrics.jsonl").unlink()
    elif damage == "empty":
        (run / "metrics.jsonl").write_text("")
    elif damage == "column":
        (run / "metrics.jsonl").write_text(json.dumps({"iteration": 0, "best": 1, "mean": 1, "std": 0,
                                                       "speed_best": 0, "env_steps": 1}) + "\n")
    with pytest.raises(ValueError, match=message) as err:
        plots.plot_run(run)
    assert "metrics.jsonl" in str(err.value)


# ---- commands ------------------------------------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="wormsim")
    sub = parser.add_subparsers(dest="command")
    add_rollout(sub)
    add_plot(sub)
    return parser


def test_commands_parse_and_plot_writes_into_the_run(tmp_path, capsys):
    args = _parser().parse_args(["rollout", "runs/x", "--video", "a.gif", "--size", "96x64",
                                 "--episodes", "2", "--open-loop"])
    assert args.size == (96, 64) and args.open_loop and args.episodes == 2
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("96by64")
    a, b = _fake_run(tmp_path / "a"), _fake_run(tmp_path / "b")
    args = _parser().parse_args(["plot", str(a), str(b), "--no-rollout"])
    assert args.func(args) == 0
    assert (a / "learning_curves.png").is_file()
    assert "learning_curves.png" in capsys.readouterr().out


# ---- end to end: tiny real runs through the CLI ---------------------------------------------------------
TRAIN = ["--duration", "0.5", "--eval-episodes", "1", "--workers", "1", "--no-video"]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Real runs, as small as training allows: rate/ES on swim, rate/ES on memory, rate/PPO on swim,
    mlp/ES on swim."""
    from wormsim.cli import main
    root = tmp_path_factory.mktemp("runs")
    runs = {"rate": root / "rate", "memory": root / "memory", "ppo": root / "ppo", "mlp": root / "mlp"}
    assert main(["train", "--budget", "2", "--popsize", "4", *TRAIN, "--out", str(runs["rate"])]) == 0
    assert main(["train", "--task", "memory", "--budget", "1", "--popsize", "2", *TRAIN,
                 "--out", str(runs["memory"])]) == 0
    assert main(["train", "--algo", "ppo", "--budget", "1", *TRAIN, "--out", str(runs["ppo"])]) == 0
    assert main(["train", "--level", "mlp", "--budget", "1", "--popsize", "2", *TRAIN,
                 "--out", str(runs["mlp"])]) == 0
    return runs


def _number(text, before, after=""):
    import re
    found = re.search(re.escape(before) + r"\s*([+-]?\d+(?:\.\d+)?)\s*" + re.escape(after), text)
    assert found, f"{before!r} ... {after!r} not in {text!r}"
    return float(found.group(1))


def test_rollout_cli_prints_the_wave_and_writes_the_frames(tiny_runs, tmp_path, capsys):
    import imageio.v3 as iio
    from wormsim.cli import main
    video = tmp_path / "swim.mp4"
    capsys.readouterr()
    assert main(["rollout", str(tiny_runs["rate"]), "--duration", "2", "--size", "96x64",
                 "--video", str(video)]) == 0
    out = capsys.readouterr().out
    speed = _number(out, "speed", "body lengths/s")
    assert abs(speed) < 1.0                                     # a swimming worm: well under 1 BL/s
    # the head oscillator (on in training, 2 Hz) sets the rhythm; the print says so
    assert _number(out, "body wave:", "Hz") == pytest.approx(2.0, abs=0.1)
    assert "head oscillator on (2 Hz" in out
    assert "wavelength" in out and "wave speed" in out and "rad/BL at mid-body" in out
    # 2 s at 25 frames/s (one every 2 control steps of 20 ms): the reset frame and 50 more
    frames = np.stack(list(iio.imiter(video)))
    assert frames.shape == (51, 64, 96, 3)
    assert f"{video} (51 frames, 96x64, 25 fps" in out


def test_rollout_cli_open_loop_reference_has_no_head_oscillator(tiny_runs, tmp_path, capsys):
    from wormsim.cli import main
    capsys.readouterr()
    assert main(["rollout", str(tiny_runs["rate"]), "--open-loop", "--duration", "2", "--size", "64x48",
                 "--video", str(tmp_path / "ol.gif")]) == 0
    out = capsys.readouterr().out
    assert "head oscillator off" in out and "head-to-tail" in out
    # the commanded wave: 1.5 BL; the body's own comes out close to it (1.46 BL measured)
    assert _number(out, "wavelength", "BL") == pytest.approx(1.5, abs=0.2)
    assert _number(out, "wave speed", "BL/s") > 2.0


def test_rollout_cli_refuses_a_run_without_a_body(tiny_runs, capsys):
    from wormsim.cli import main
    capsys.readouterr()
    assert main(["rollout", str(tiny_runs["memory"])]) == 2
    err = capsys.readouterr().err.strip()
    assert "no body to film" in err and "memory" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tiny_runs["memory"] / "swim.mp4").exists()


def test_plot_cli_of_a_memory_run_draws_its_score_and_no_body(tiny_runs, capsys):
    from wormsim.cli import main
    run = tiny_runs["memory"]
    capsys.readouterr()
    assert main(["plot", str(run)]) == 0
    captured = capsys.readouterr()
    assert (run / "learning_curves.png").is_file() and (run / "weights.png").is_file()
    assert not (run / "kymograph.png").exists() and not (run / "activity.png").exists()
    assert "has no body" in captured.err
    _, h = _png_size(run / "learning_curves.png")
    _, h_swim = _png_size(plots.plot_learning_curves([tiny_runs["rate"]], run / "swim_curves.png"))
    assert h == h_swim                 # return and score rows (a memory run has no speed row)


def test_plot_run_of_a_rate_run(tiny_runs, tmp_path):
    notes = []
    written = plots.plot_run(tiny_runs["rate"], out=tmp_path, duration=0.5, notes=notes)
    assert [p.name for p in written] == ["learning_curves.png", "kymograph.png", "activity.png",
                                         "weights.png"]
    assert notes == []
    sizes = {p.name: _png_size(p) for p in written}
    assert sizes["kymograph.png"][0] > 900 and sizes["activity.png"][1] > 900
    assert sizes["weights.png"][0] > 1500
    # a trained run's weights moved from the connectome start
    from wormsim.runs import Run
    from wormsim.config import TrainConfig
    from wormsim.viz.video import _build_brain, make_env
    run = Run.open(tiny_runs["rate"])
    spec = TrainConfig.from_dict(run.config).eval_spec()
    env = make_env(spec)
    brain, _ = _build_brain(spec, env)
    env.close()
    start = brain.get_params()[0].numpy()
    change = plots.class_weight_change(brain.circuit, plots.edge_weights(brain, run.load_policy()[0]),
                                       plots.edge_weights(brain, start))
    assert np.nanmax(np.abs(change["chem"])) > 0.01


def test_plot_of_a_ppo_run(tiny_runs, tmp_path):
    written = plots.plot_run(tiny_runs["ppo"], out=tmp_path, duration=0.5)
    assert {p.name for p in written} == {"learning_curves.png", "kymograph.png", "activity.png",
                                         "weights.png"}
    assert plots.iteration_label([tiny_runs["ppo"]]) == "PPO iteration"
    assert "PPO" in plots.run_label(tiny_runs["ppo"])
    assert plots.run_labels([tiny_runs["rate"], tiny_runs["ppo"]])[1].startswith("rate / connectome (PPO")


def test_plot_of_an_mlp_run_says_it_has_no_per_edge_weights(tiny_runs, tmp_path, capsys):
    from wormsim.cli import main
    capsys.readouterr()
    assert main(["plot", str(tiny_runs["mlp"]), "--out", str(tmp_path), "--duration", "0.5"]) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "activity.png").is_file() and not (tmp_path / "weights.png").exists()
    assert "no weights figure for the mlp level: it has no per-edge weights" in captured.err


@pytest.mark.parametrize("level, seconds, key", [("spiking", 0.4, "spikes"), ("conductance", 0.3, "voltage")])
def test_activity_figure_of_spiking_and_conductance(tmp_path, level, seconds, key):
    from wormsim.rollout import EvalSpec, build_circuit
    from wormsim.viz.video import rollout
    spec = EvalSpec(level=level, env_kwargs=(("n_segments", 12), ("duration", seconds), ("head_cpg", 2.0)))
    r = rollout(spec, None, mode="untrained")
    x = r.traces[key]
    assert x.shape == (len(r.curvature), 81)
    if key == "spikes":
        assert x.sum() > 0 and set(np.unique(x)) <= set(range(0, 20))     # spike counts per step
        assert plots._trace_kind(r.traces) == ("spikes", "raster")
    else:
        assert -100 < x.min() < x.max() < 60 and np.ptp(x) > 1.0        # membrane potential, mV
        assert plots._trace_kind(r.traces) == ("voltage", "image")
    w, h = _png_size(plots.plot_activity(r.traces, build_circuit(spec), r.curvature, r.control_dt,
                                         tmp_path / "activity.png", level=level))
    assert w > 1000 and h > 900


@pytest.mark.parametrize("script, args", [
    ("open_loop_wave.py", ["--duration", "2"]),
    ("plot_run.py", ["{rate}", "{memory}", "--duration", "0.5"]),
    ("watch_swimmer.py", ["{rate}", "--duration", "0.3", "--size", "64x48"])])
def test_examples_run(tiny_runs, tmp_path, script, args):
    import shutil
    import subprocess
    import sys
    # copies, so that the examples write into a run of their own
    copies = {k: shutil.copytree(v, tmp_path / k) for k, v in tiny_runs.items() if k in ("rate", "memory")}
    argv = [a.format(**copies) for a in args]
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *argv],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if script == "open_loop_wave.py":
        assert "water" in done.stdout and "agar" in done.stdout and "wavelength" in done.stdout
    elif script == "plot_run.py":
        assert (copies["rate"] / "learning_curves.png").is_file()
        assert (copies["rate"] / "rate_kymograph.png").is_file()
        assert "memory" in done.stdout and "has no body" in done.stdout
    else:
        for name in ("swim.mp4", "swim-untrained.mp4", "swim-open-loop.gif"):
            assert (copies["rate"] / name).stat().st_size > 0
        assert done.stdout.count("head oscillator") == 3
