"""A run directory: the exact config, metrics per iteration, atomic checkpoints, the final policy.

    runs/NAME/
        config.json          the config as used (every CLI flag), wormsim and library versions
        metrics.jsonl        one JSON object per finished iteration
        checkpoint.pkl       the trainer's whole state after the last finished iteration (atomic)
        policy.npz           the best parameters found, with what is needed to rebuild the brain
        summary.json         final numbers (speed in body lengths / s, wall time)
        events.out.tfevents.*  TensorBoard: every metrics row as scalars, the config with the final
                             numbers (hparams), weight histograms, the video (wormsim.tblog; off with
                             --no-tensorboard)

Every file is written to a temporary file in the same folder and renamed into place, so a run killed
at any moment (kill -9 included) leaves the previous complete version of each file, and
`wormsim resume` continues from the last checkpoint without losing a finished iteration.

TensorBoard sees what the trainers write here, without any trainer knowing of it: a metrics row
becomes scalars at its iteration, a saved policy a weight histogram now and then, the summary the
hparams entry (and the video, if the summary names one). ``truncate_metrics`` (every trainer calls it
before its first row: 0 for a fresh start, the checkpoint's rows on resume) opens the event file with
TensorBoard's ``purge_step``, so a resumed run's curves are an uninterrupted run's.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT_MAGIC = "wormsim-checkpoint"
CHECKPOINT_VERSION = 1


class RunError(ValueError):
    """A run directory that cannot be used as asked (missing, foreign, corrupt)."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _set_up(fingerprint: dict | None) -> dict:
    """A checkpoint's set-up as compared on resume: a field that TrainConfig leaves out of fingerprints
    while unset (OMITTED_UNSET) compares equal whether it is absent or at its unset value, so that
    checkpoints written on either side of the field's introduction resume."""
    from wormsim.config import TrainConfig
    return {k: v for k, v in (fingerprint or {}).items()
            if not (k in TrainConfig.OMITTED_UNSET and v == TrainConfig.OMITTED_UNSET[k])}


class Run:
    """A run directory. Create with Run.create(path, config), open with Run.open(path)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._tensorboard: bool | None = None      # None: as config.json says (default on)
        self._events = None                       # wormsim.tblog.EventLog, opened when first written
        self._step = 0                            # iteration of the last metrics row
        self._hist_steps: set[int] = set()
        self._hparams_written = False             # once per process: TensorBoard keeps a tag's first metadata

    # ---- creation and opening --------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: Any, overwrite: bool = False) -> "Run":
        path = Path(path)
        if (path / "config.json").exists() and not overwrite:
            raise RunError(f"{path} already holds a run; continue it with `wormsim resume {path}` "
                           f"or choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        from wormsim.tblog import remove_events
        remove_events(path)                       # an old run's curves would mix with the new one's
        run = cls(path)
        payload = {"config": asdict(config) if hasattr(config, "__dataclass_fields__") else config,
                   "versions": _versions()}
        atomic_write_text(path / "config.json", json.dumps(payload, indent=2, default=_jsonable))
        (path / "metrics.jsonl").unlink(missing_ok=True)
        (path / "checkpoint.pkl").unlink(missing_ok=True)
        return run

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"no run directory at {path}")
        if not (path / "config.json").is_file():
            raise RunError(f"{path} is not a wormsim run (no config.json)")
        return cls(path)

    @property
    def config(self) -> dict:
        try:
            return json.loads((self.path / "config.json").read_text())["config"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise RunError(f"{self.path / 'config.json'} is not a wormsim config ({exc})") from None

    # ---- TensorBoard ---------------------------------------------------------------------------------
    @property
    def tensorboard(self) -> bool:
        """Whether this run writes TensorBoard events: the config's ``tensorboard`` field (on when the
        config has none); settable (`wormsim resume --no-tensorboard`)."""
        if self._tensorboard is None:
            try:
                self._tensorboard = bool(self.config.get("tensorboard", True))
            except (RunError, OSError):
                self._tensorboard = True
        return self._tensorboard

    @tensorboard.setter
    def tensorboard(self, on: bool) -> None:
        self._tensorboard = bool(on)
        if not on:
            self.close_events()

    def events(self, purge_step: int | None = None):
        """The run's EventLog (None with TensorBoard off); purge_step reopens it there."""
        if not self.tensorboard:
            return None
        from wormsim.tblog import EventLog
        if purge_step is not None:
            self.close_events()
            self._events = EventLog(self.path, purge_step=purge_step)
        elif self._events is None:
            self._events = EventLog(self.path)
        return self._events

    def close_events(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None

    def __getstate__(self):          # a Run sent to another process carries no open writer
        return {**self.__dict__, "_events": None}

    # ---- metrics ---------------------------------------------------------------------------------------
    def append_metrics(self, row: dict) -> None:
        """Append one iteration's metrics. The whole file is rewritten atomically, so a crash never
        leaves half a line (the file is small: one line per iteration). Its numbers go to TensorBoard
        as scalars at the row's iteration (wormsim.tblog.metrics_tags)."""
        path = self.path / "metrics.jsonl"
        old = path.read_text() if path.exists() else ""
        atomic_write_text(path, old + json.dumps(row, default=_jsonable) + "\n")
        self._step = int(row.get("iteration", self._step + 1))
        events = self.events()
        if events is not None:
            from wormsim.tblog import metrics_tags
            events.scalars(metrics_tags(row), self._step)

    def truncate_metrics(self, n_rows: int) -> None:
        """Keep the first n_rows metric rows (on resume: drop rows past the last checkpoint); TensorBoard
        hides the steps from n_rows on that an earlier process wrote (purge_step)."""
        rows = self.metrics()
        atomic_write_text(self.path / "metrics.jsonl",
                          "".join(json.dumps(r, default=_jsonable) + "\n" for r in rows[:n_rows]))
        self._step = int(rows[n_rows - 1].get("iteration", n_rows - 1)) if 0 < n_rows <= len(rows) else 0
        self._hist_steps = set()
        if self.tensorboard:
            self.events(purge_step=n_rows)

    def metrics(self) -> list[dict]:
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return []
        rows = []
        for k, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise RunError(f"{path} line {k} is not valid JSON; the file is damaged") from None
        return rows

    # ---- checkpoints ------------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict) -> None:
        payload = {"magic": CHECKPOINT_MAGIC, "version": CHECKPOINT_VERSION, "state": state}
        atomic_write_bytes(self.path / "checkpoint.pkl", pickle.dumps(payload, protocol=4))

    def load_checkpoint(self, algo: str | None = None, fingerprint: dict | None = None) -> dict | None:
        """The last checkpoint's state, None if the run has none yet; a corrupt or foreign file is
        a RunError naming it. With ``algo`` and ``fingerprint`` (what the checkpoint must have been
        written by: the trainer and its set-up, see TrainConfig.fingerprint) a checkpoint of another
        trainer or set-up is a RunError naming what differs. Checkpoints are pickles: resume only runs
        you made or trust."""
        path = self.path / "checkpoint.pkl"
        if not path.exists():
            return None
        try:
            payload = pickle.loads(path.read_bytes())
        except Exception as exc:
            raise RunError(f"{path} is corrupt and cannot be read ({type(exc).__name__}); start the "
                           f"run again with `wormsim train --out {self.path} --overwrite`") from None
        if not isinstance(payload, dict) or payload.get("magic") != CHECKPOINT_MAGIC:
            raise RunError(f"{path} is not a wormsim checkpoint")
        if payload.get("version") != CHECKPOINT_VERSION:
            raise RunError(f"{path} was written by checkpoint format {payload.get('version')}, this "
                           f"wormsim reads format {CHECKPOINT_VERSION}")
        state = payload["state"]
        if algo is not None and state.get("algo") != algo:
            raise RunError(f"{path} is a checkpoint of {state.get('algo') or 'another trainer'}, not of "
                           f"{algo}: it belongs to another run")
        if fingerprint is not None and _set_up(state.get("fingerprint")) != _set_up(fingerprint):
            theirs = state.get("fingerprint") or {}
            keys = sorted(k for k in set(theirs) | set(fingerprint) if theirs.get(k, "?") != fingerprint.get(k, "?"))
            shown = ", ".join(f"{k} {theirs.get(k, 'absent')!r} -> {fingerprint.get(k, 'absent')!r}"
                              for k in keys[:6])
            raise RunError(f"{path} was written by another set-up than {self.path / 'config.json'} "
                           f"describes ({shown}): it belongs to another run or another wormsim version; "
                           f"start afresh with --overwrite")
        return state

    # ---- the final policy --------------------------------------------------------------------------------
    def save_policy(self, params: np.ndarray, **meta) -> Path:
        """Write policy.npz; TensorBoard gets its parameters as the histogram ``weights/policy`` at the
        last metrics row's iteration, about ten times over the run's budget and for the final policy."""
        path = self.path / "policy.npz"
        import io
        buf = io.BytesIO()
        np.savez(buf, params=np.asarray(params, np.float32), meta=json.dumps(meta, default=_jsonable))
        atomic_write_bytes(path, buf.getvalue())
        self._policy_histogram(params, final="source" in meta)
        return path

    def _policy_histogram(self, params, final: bool) -> None:
        if not self.tensorboard:
            return
        try:
            budget = int(self.config.get("budget") or 10)
        except (RunError, OSError, TypeError, ValueError):
            budget = 10
        every = max(1, budget // 10)
        step = self._step
        if step in self._hist_steps or not (final or step % every == 0):
            return
        self._hist_steps.add(step)
        self.events().histogram("weights/policy", params, step)

    def load_policy(self) -> tuple[np.ndarray, dict]:
        path = self.path / "policy.npz"
        if not path.exists():
            raise RunError(f"{self.path} has no policy.npz yet: the run has not finished an iteration")
        try:
            with np.load(path, allow_pickle=False) as z:
                return np.array(z["params"]), json.loads(str(z["meta"]))
        except Exception as exc:
            raise RunError(f"{path} is not a readable wormsim policy ({exc})") from None

    def write_summary(self, summary: dict) -> None:
        """Write summary.json. TensorBoard gets its final numbers as ``final/*`` scalars at the last
        iteration, the config with them as the run's hparams entry, and the video the summary names
        (``video``: a file in the run); then the event file is closed (a later write reopens it)."""
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
        events = self.events()
        if events is None:
            return
        from wormsim.tblog import hparam_values, summary_tags
        finals = summary_tags(summary)
        events.scalars(finals, self._step)
        if not self._hparams_written:
            try:
                config = self.config
            except (RunError, OSError):
                config = {}
            # the set-up, not where or how it ran: every run of a grid shares the same columns
            events.hparams(hparam_values(config, skip=HPARAMS_SKIP), finals)
            self._hparams_written = True
        video = summary.get("video")
        if video and Path(video).is_file():
            events.video(video, self._step)
        self.close_events()


# config fields that say where or how a run ran, not what it is: left out of TensorBoard's hparams
HPARAMS_SKIP = ("workers", "backend", "ray_address", "out", "video", "tensorboard")


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {}
    for pkg in ("wormsim", "torch", "numpy", "mujoco", "gymnasium", "brian2", "snntorch", "cma", "cect"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
