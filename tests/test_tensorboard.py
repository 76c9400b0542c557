"""Every run writes TensorBoard event files (wormsim.tblog), read back here with TensorBoard's own reader
(tensorboard.backend.event_processing.event_accumulator): the metrics rows as scalars, the config with
the final numbers as hparams, weight histograms, the video; a resumed run's curves are an
uninterrupted run's; --no-tensorboard writes none."""
import json
from pathlib import Path

import numpy as np
import pytest

from wormsim.cli import main
from wormsim.runs import Run
from wormsim.tblog import EVENTS_GLOB, accumulator, metrics_tag, read_scalars

TINY = ["--popsize", "4", "--duration", "0.4", "--eval-episodes", "1", "--no-video", "--workers", "1"]


def rows(run):
    return [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def numbers(row):
    return {k: float(v) for k, v in row.items()
            if k != "iteration" and isinstance(v, (int, float)) and np.isfinite(v)}


def hparams_of(logdir):
    from tensorboard.plugins.hparams import plugin_data_pb2
    content = accumulator(logdir).PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    values = {k: (v.string_value if v.HasField("string_value") else v.bool_value if v.HasField("bool_value")
                  else v.number_value) for k, v in start.session_start_info.hparams.items()}
    return values, [m.name.tag for m in exp.experiment.metric_infos]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("tb") / "run"
    assert main(["train", "--budget", "3", "--seed", "2", "--out", str(out), *TINY]) == 0
    return out


def test_every_metrics_number_is_a_scalar_at_its_iteration(trained):
    scalars = read_scalars(trained)
    metric_rows = rows(trained)
    assert [r["iteration"] for r in metric_rows] == [0, 1, 2, 3]
    for row in metric_rows:
        for key, value in numbers(row).items():
            points = dict(scalars[metrics_tag(key)])
            assert points[row["iteration"]] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    assert {"return/best", "return/mean", "speed/best", "es/sigma", "train/env_steps"} <= set(scalars)
    summary = json.loads((trained / "summary.json").read_text())
    assert scalars["final/speed"] == [(3, pytest.approx(summary["final_speed"], rel=1e-6))]


def test_the_config_and_final_numbers_are_the_hparams_entry(trained):
    values, metrics = hparams_of(trained)
    assert values["level"] == "rate" and values["wiring"] == "connectome" and values["task"] == "swim"
    assert values["seed"] == 2 and values["algo"] == "es" and values["budget"] == 3
    assert "workers" not in values and "out" not in values      # where it ran is not what it is
    assert "final/speed" in metrics and "final/score" in metrics


def test_the_policy_weights_are_histograms(trained):
    acc = accumulator(trained)
    hist = acc.Histograms("weights/policy")
    assert [h.step for h in hist] == [1, 2, 3]       # a budget of 3: every saved policy, the final one last
    params, _ = Run.open(trained).load_policy()
    assert hist[-1].histogram_value.num == params.size
    assert hist[-1].histogram_value.min == pytest.approx(float(params.min()), rel=1e-5)


def test_a_resumed_run_draws_the_curves_of_an_uninterrupted_one(trained, tmp_path):
    ref, out = trained, tmp_path / "resumed"
    assert main(["train", "--budget", "1", "--seed", "2", "--out", str(out), *TINY]) == 0
    assert main(["resume", str(out), "--budget", "3", "--no-video"]) == 0
    a, b = read_scalars(ref), read_scalars(out)
    assert set(a) == set(b)
    for tag in a:
        if tag in ("train/wall_time", "final/wall_time"):
            continue
        if tag.startswith("final/"):      # the resumed run also keeps its first budget's final point
            assert b[tag][-1][0] == a[tag][-1][0] == 3 and b[tag][-1][1] == pytest.approx(a[tag][-1][1]), tag
            continue
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]], tag
        assert np.allclose([v for _, v in a[tag]], [v for _, v in b[tag]]), tag


def test_points_past_the_checkpoint_of_a_killed_run_are_purged(tmp_path):
    # a run killed after writing rows 0..3, whose checkpoint holds 2 generations: the resume keeps rows
    # 0..2 and redoes 3 onwards; TensorBoard shows one point per step, the resumed process's
    run = Run.create(tmp_path / "r", {"budget": 5})
    run.truncate_metrics(0)
    for i in range(4):
        run.append_metrics({"iteration": i, "best": float(i)})
    again = Run.open(tmp_path / "r")
    again.truncate_metrics(3)
    for i in range(3, 6):
        again.append_metrics({"iteration": i, "best": 10.0 + i})
    again.close_events()
    assert len(list((tmp_path / "r").glob(EVENTS_GLOB))) == 2
    assert read_scalars(tmp_path / "r")["return/best"] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0), (4, 14.0),
                                                           (5, 15.0)]
    # a run started afresh over it (--overwrite) starts with no old event files
    Run.create(tmp_path / "r", {"budget": 5}, overwrite=True)
    assert not list((tmp_path / "r").glob(EVENTS_GLOB))


def test_no_tensorboard_writes_no_event_files(tmp_path):
    from wormsim.cli import build_parser
    from wormsim.config import TrainConfig, from_args
    args = build_parser().parse_args(["train", "--no-tensorboard", "--out", str(tmp_path / "off")])
    config = from_args(TrainConfig, args)
    assert config.tensorboard is False
    # what a trainer does to its run: none of it reaches an event file
    for run in (Run.create(config.out, config), Run.open(config.out)):
        assert run.tensorboard is False
        run.truncate_metrics(0)
        run.append_metrics({"iteration": 0, "best": 1.0})
        run.save_policy(np.ones(3), source="final")
        run.write_summary({"final_speed": 0.1})
    # `wormsim resume --no-tensorboard` of a run that had it on sets Run.tensorboard from the flag
    on = Run.create(tmp_path / "on", TrainConfig())
    assert on.tensorboard is True
    on.tensorboard = False
    on.truncate_metrics(0)
    on.append_metrics({"iteration": 0, "best": 1.0})
    assert not list((tmp_path / "off").glob(EVENTS_GLOB)) and not list((tmp_path / "on").glob(EVENTS_GLOB))


def _write_video(path: Path, n: int = 30) -> None:
    """A bar moving across 64x48 frames."""
    import imageio.v2 as imageio
    frames = np.zeros((n, 48, 64, 3), np.uint8)
    for t in range(n):
        frames[t, :, 2 * t:2 * t + 4] = 255
    imageio.mimwrite(str(path), list(frames), fps=10)


@pytest.mark.parametrize("moviepy", [True, False])
def test_the_runs_video_reaches_tensorboard(tmp_path, monkeypatch, moviepy):
    import wormsim.tblog as tblog
    if moviepy:
        pytest.importorskip("moviepy.editor")
    else:
        monkeypatch.setattr(tblog, "_has_moviepy_editor", lambda: False)
    run = Run.create(tmp_path / "r", {"budget": 1})
    _write_video(tmp_path / "r" / "swim.mp4")
    run.write_summary({"final_speed": 0.1, "video": str(tmp_path / "r" / "swim.mp4")})
    acc = accumulator(tmp_path / "r")
    if moviepy:                    # an animated GIF of the frames, as TensorBoard's images tab plays it
        (image,) = acc.Images("rollout/video")
        assert image.encoded_image_string[:6] == b"GIF89a" and (image.width, image.height) == (64, 48)
    else:                          # still frames, and a note saying why
        (frames,) = acc.Images("rollout/frames")          # 6 frames side by side
        assert frames.encoded_image_string[:4] == b"\x89PNG" and (frames.width, frames.height) == (6 * 64, 48)
        assert "moviepy" in accumulator(tmp_path / "r").Tensors("rollout/note/text_summary")[0] \
            .tensor_proto.string_val[0].decode()


def test_a_distillations_events_hold_its_losses_fit_and_settings(tmp_path):
    from wormsim.distill import DistillConfig, _tensorboard
    cfg = DistillConfig(out=str(tmp_path), epochs=3, seed=5).resolved()
    metrics = {"heldout": {"neuron": {"pooled": 0.5, "median": 0.4}, "muscle": {"pooled": 0.75, "median": None}},
               "student": {"n_params": 900}}
    _tensorboard(cfg, metrics, [3.0, 2.0, 1.5])
    scalars = read_scalars(tmp_path)
    assert scalars["loss/train"] == [(1, 3.0), (2, 2.0), (3, 1.5)]
    assert scalars["final/neuron_r2_pooled"] == [(3, 0.5)] and scalars["final/muscle_r2_pooled"] == [(3, 0.75)]
    assert "final/muscle_r2_median" not in scalars
    values, _ = hparams_of(tmp_path)
    assert values["student"] == "rate" and values["seed"] == 5 and "command_line" not in values


@pytest.mark.slow
def test_a_distillation_shows_its_loss_and_held_out_fit(tmp_path):
    import torch

    from wormsim.distill import distill
    torch.set_num_threads(1)
    out = tmp_path / "d"
    m = distill(None, student="rate", out=out, teacher_level="rate", teacher_perturb=0.3, head_cpg=2.0,
                n_train=1, n_test=1, duration=0.3, warmup=0.1, epochs=6, n_replays=2, data_sizes=(1,),
                perturb=(), unseen_drives=(), seed=0)
    scalars = read_scalars(out)
    assert [s for s, _ in scalars["loss/train"]] == list(range(1, 7))
    assert np.allclose([v for _, v in scalars["loss/train"]], m["training"]["losses"])
    assert scalars["final/muscle_r2_pooled"][0][1] == pytest.approx(m["heldout"]["muscle"]["pooled"], rel=1e-5)
    values, _ = hparams_of(out)
    assert values["student"] == "rate" and values["epochs"] == 6
