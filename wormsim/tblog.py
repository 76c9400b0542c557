"""TensorBoard event files for a run directory, through the official writer (torch.utils.tensorboard).

    runs/NAME/events.out.tfevents.*     opened with `tensorboard --logdir runs`

What a run shows (see ``metrics_tags`` for how a metrics row becomes scalar tags):

- SCALARS, one point per iteration (ES generation, PPO iteration, BPTT step; step 0 is the untrained
  circuit): ``return/best``, ``return/mean``, ``return/std`` (the task's return over the population or
  batch), ``speed/best``, ``speed/mean`` (forward speed, body lengths / s), ``score/best``,
  ``score/mean`` (the task's score), ``validation/score`` and ``validation/se`` (the plateau rule's
  checks on fixed validation episodes), ``es/sigma`` (CMA-ES step size), ``loss/*`` (PPO's and BPTT's
  losses), ``train/*`` (wall time, environment steps, failed episodes, gradient norm, ...): every
  number of the run's metrics.jsonl rows. ``final/*``: the numbers of summary.json (held-out speed,
  score and return of the final policy, its untrained circuit's; ``final/video_frequency``: the undulation
  frequency in Hz of the final policy in the video's episode, when `wormsim train` makes one).
- HPARAMS: the run's config (level, wiring, dataset, task, algo, train, seed, budget, ...) with the
  ``final/*`` metrics, so that the hparams view compares runs, and the cells of an experiment grid
  side by side (each cell is a run tagged with its level, wiring, task, training and seed).
- HISTOGRAMS (and DISTRIBUTIONS): ``weights/policy``, the saved policy's parameter vector, about ten
  times per run and at the end.
- IMAGES: ``rollout/video``, the final policy's swimming video as an animated GIF (needs moviepy < 2,
  as torch's add_video does; without it a few frames are logged as still images in
  ``rollout/frames`` and a note says why).

Event files are append-only logs by design (a run killed mid-write leaves at most one truncated
record, which TensorBoard's reader skips); a resumed run opens a new file with ``purge_step`` at the
first iteration it redoes, so TensorBoard hides the points past the checkpoint the killed process had
written and the curve is that of an uninterrupted run.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

EVENTS_GLOB = "events.out.tfevents.*"

# the final metrics every run's hparams view lists (the experiment summary of the first run a
# TensorBoard reads names the columns for all, so the list is fixed; a run without one leaves it blank)
FINAL_METRICS = ("final/speed", "final/score", "final/return", "final/r2", "final/validation_best",
                 "final/untrained_speed", "final/untrained_score", "final/video_frequency", "final/n_params",
                 "final/wall_time")

_SUMMARY_KEYS = {"final_speed": "final/speed", "final_score": "final/score", "final_return": "final/return",
                 "final_r2": "final/r2", "val_best": "final/validation_best",
                 "untrained_speed": "final/untrained_speed", "untrained_score": "final/untrained_score",
                 "video_frequency": "final/video_frequency", "n_params": "final/n_params",
                 "wall_time": "final/wall_time"}

_warned: set = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        print(f"wormsim: {message}", file=sys.stderr)


def _writer_class():
    """torch's SummaryWriter, or None (with one line saying how to get it) if tensorboard is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        _warn_once("tensorboard", "TensorBoard logging is off: the tensorboard package is missing "
                   "(pip install tensorboard)")
        return None
    return SummaryWriter


def _number(v) -> float | None:
    """v as a finite float, None for anything else (strings, None, NaN, lists)."""
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(float(v)):
        return float(v)
    return None


def metrics_tag(key: str) -> str:
    """The scalar tag of a metrics-row key: return/best, speed/mean, score/best, es/sigma, loss/..., train/..."""
    if key in ("best", "mean", "std"):
        return f"return/{key}"
    for group in ("speed", "score"):
        if key.startswith(group + "_"):
            return f"{group}/{key[len(group) + 1:]}"
    if key.startswith("val_"):                     # the plateau rule's validation checks (wormsim.train.plateau)
        return f"validation/{key[4:]}"
    if key == "sigma" or key.startswith("sigma_"):
        return f"es/{key}"
    if key == "loss":
        return "loss/total"
    if "loss" in key:
        return f"loss/{key}"
    return f"train/{key}"


def metrics_tags(row: dict) -> dict[str, float]:
    """{tag: value} of every finite number in one metrics row (the iteration itself is the step)."""
    out = {}
    for key, value in row.items():
        if key == "iteration":
            continue
        x = _number(value)
        if x is not None:
            out[metrics_tag(key)] = x
    return out


def summary_tags(summary: dict) -> dict[str, float]:
    """{final/...: value} of summary.json's final numbers."""
    out = {}
    for key, tag in _SUMMARY_KEYS.items():
        x = _number(summary.get(key))
        if x is not None:
            out[tag] = x
    return out


def hparam_values(config: dict, skip=()) -> dict:
    """A config as TensorBoard's hparams take it (bool, int, float, str): lists joined by spaces,
    None as "none", nested values as text; ``skip``: fields that are not part of the set-up."""
    out = {}
    for key, v in config.items():
        if key in skip:
            continue
        if isinstance(v, (bool, int, float, str)):
            out[key] = v
        elif v is None:
            out[key] = "none"
        elif isinstance(v, (list, tuple)):
            out[key] = " ".join(map(str, v))
        else:
            out[key] = str(v)
    return out


class EventLog:
    """One run directory's TensorBoard writer, opened when first written to.

    purge_step: on resume, the first step redone (TensorBoard then hides that step and later ones
    from the files of the process that was killed)."""

    def __init__(self, logdir: str | Path, purge_step: int | None = None):
        self.logdir = Path(logdir)
        self.purge_step = purge_step
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            cls = _writer_class()
            if cls is None:
                return None
            # flush_secs is moot: every call below flushes, so a killed run loses nothing it reported
            self._writer = cls(log_dir=str(self.logdir), purge_step=self.purge_step, flush_secs=3600)
            self.purge_step = None
        return self._writer

    def scalars(self, values: dict[str, float], step: int) -> None:
        w = self.writer
        if w is None or not values:
            return
        for tag, x in values.items():
            w.add_scalar(tag, x, step)
        w.flush()

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        w = self.writer
        values = np.asarray(values, np.float64).ravel()
        values = values[np.isfinite(values)]
        if w is None or values.size == 0:
            return
        w.add_histogram(tag, values, step)
        w.flush()

    def hparams(self, hparams: dict, metrics: dict[str, float]) -> None:
        """The hparams plugin's three summaries (experiment, session start, session end) built by torch's
        own ``summary.hparams`` and written into this run's directory, not into the timestamped
        subdirectory that SummaryWriter.add_hparams makes (which TensorBoard would show as a second run).
        The view reads each metric's value from the run's scalar of that tag (Run.write_summary writes
        them); ``metrics`` here only names the columns, with FINAL_METRICS always among them."""
        from torch.utils.tensorboard.summary import hparams as hparams_summary
        w = self.writer
        if w is None:
            return
        names = dict.fromkeys(FINAL_METRICS, 0.0) | dict(metrics)
        for summary in hparams_summary(hparams, names):
            w.file_writer.add_summary(summary)
        w.flush()

    def text(self, tag: str, text: str, step: int = 0) -> None:
        w = self.writer
        if w is None:
            return
        w.add_text(tag, text, step)
        w.flush()

    def video(self, path: str | Path, step: int, max_frames: int = 80, max_width: int = 320) -> str:
        """The video file at ``path`` (mp4 or gif) as ``rollout/video``; returns what was logged: "video",
        "frames" (moviepy < 2 missing: 6 still frames in ``rollout/frames``) or "" (nothing)."""
        import imageio.v2 as imageio
        w = self.writer
        if w is None:
            return ""
        reader = imageio.get_reader(str(path))
        try:
            fps = float(reader.get_meta_data().get("fps", 25.0))
            frames = np.stack([np.asarray(f)[..., :3] for f in reader])     # (T, H, W, 3) uint8
        finally:
            reader.close()
        stride = max(1, math.ceil(len(frames) / max_frames))               # a GIF of a few seconds
        frames = frames[::stride]
        shrink = max(1, math.ceil(frames.shape[2] / max_width))
        frames = np.ascontiguousarray(frames[:, ::shrink, ::shrink])
        if _has_moviepy_editor():
            w.add_video("rollout/video", frames.transpose(0, 3, 1, 2)[None], step, fps=max(1.0, fps / stride))
            w.flush()
            return "video"
        _warn_once("moviepy", "TensorBoard gets still frames of the video, not the video: torch's add_video "
                   "needs moviepy < 2 (pip install 'moviepy<2')")
        picks = np.linspace(0, len(frames) - 1, min(6, len(frames))).round().astype(int)
        w.add_images("rollout/frames", frames[picks], step, dataformats="NHWC")
        w.add_text("rollout/note", "still frames: add_video needs moviepy < 2 (pip install 'moviepy<2')", step)
        w.flush()
        return "frames"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __getstate__(self):        # a Run sent to another process carries no open writer
        return {"logdir": self.logdir, "purge_step": self.purge_step, "_writer": None}


def _has_moviepy_editor() -> bool:
    """torch's add_video imports moviepy.editor, which moviepy 2 removed."""
    try:
        import moviepy.editor  # noqa: F401
    except Exception:           # ImportError, or moviepy's own errors on import
        return False
    return True


def remove_events(logdir: str | Path) -> None:
    """Delete a directory's event files (a run started afresh over an old one)."""
    for p in Path(logdir).glob(EVENTS_GLOB):
        p.unlink(missing_ok=True)


def read_scalars(logdir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} as TensorBoard shows them (its own reader, purged steps dropped)."""
    acc = accumulator(logdir)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def accumulator(logdir: str | Path) -> Any:
    """TensorBoard's EventAccumulator of a directory, loaded (every histogram and image kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "images": 0,
                                                       "tensors": 0})
    acc.Reload()
    return acc
