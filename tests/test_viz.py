"""Videos, plots and the rollout/plot commands: files of the right size, clear errors on bad runs."""
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering (osmesa fails on this CPU)

import argparse  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormsim.viz import plots  # noqa: E402
from wormsim.viz.commands import add_plot, add_rollout, parse_size  # noqa: E402
from wormsim.viz.video import Rollout, record_video, undulation_frequency  # noqa: E402

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


def test_video_rejects_a_bad_suffix(tmp_path):
    from wormsim.rollout import EvalSpec
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        record_video(EvalSpec(), None, tmp_path / "swim.avi", mode="open-loop", env=_StubSwim())


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


def _fake_run(path, n=12, level="rate", truncate=False):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"config": {"level": level, "wiring": "connectome"}}))
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
    _png_size(plots.plot_weights(brain, tmp_path / "weights.png"))


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
