"""The `wormsim rollout` and `wormsim plot` subcommands (wired into wormsim/cli.py).

    wormsim rollout runs/NAME --video swim.mp4 [--episodes N --seed S --duration T --size WxH]
                              [--untrained | --open-loop]          (swim and navigate runs only)
    wormsim plot runs/NAME [runs/B ...] [--out DIR] [--svg] [--no-rollout]

Each ``cmd_*`` returns an exit status; a problem the user can fix raises ValueError (the CLI prints it
in one line and exits with status 2).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path


def parse_size(text: str) -> tuple[int, int]:
    """'320x240' -> (320, 240); ValueError otherwise (argparse turns it into a usage error)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT in pixels, e.g. 320x240, got {text!r}")
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise argparse.ArgumentTypeError(f"size must be between 16 and 4096 pixels a side, got {text!r}")
    return w, h


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return v


# ---- wormsim rollout -------------------------------------------------------------------------------
def add_rollout(subparsers) -> argparse.ArgumentParser:
    """Add `rollout` to ``subparsers`` (from ArgumentParser.add_subparsers); sets func=cmd_rollout."""
    p = subparsers.add_parser(
        "rollout", help="replay a run's policy headless into a video; print its speed and body wave",
        description="Replay the trained policy of a run (or, as references, the untrained circuit or "
        "the open-loop travelling wave) on one worm, write a video with a camera following the worm "
        "and a fading trail of its path, and print its speed (body lengths / s) and its body wave "
        "from the curvature kymograph: undulation frequency (Hz, mid-body), head-to-tail phase lag, "
        "wavelength (body lengths), wave speed (body lengths / s, + head to tail), mid-body curvature "
        "amplitude (rad / body length), and whether the head oscillator ran. Only runs of a task "
        "with a body (swim, navigate) can be filmed. The conductance level simulates in Brian2 and "
        "is much slower than the others.")
    p.add_argument("run", help="run directory (runs/NAME)")
    p.add_argument("--video", metavar="FILE", default=None,
                   help="video file, .mp4 or .gif (default: RUN/swim.mp4; "
                   "RUN/swim-untrained.mp4 or RUN/swim-open-loop.mp4 for the references)")
    p.add_argument("--episodes", type=_positive_int, default=1, help="episodes, one after another (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode (default: 0)")
    p.add_argument("--duration", type=_positive_float, default=None,
                   help="simulated seconds per episode (default: the run's training episode)")
    p.add_argument("--size", type=parse_size, default=(320, 240), metavar="WxH",
                   help="video size in pixels (default: 320x240)")
    p.add_argument("--fps", type=_positive_float, default=25.0,
                   help="frames per simulated second, played in real time (default: 25)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--untrained", action="store_true",
                       help="the run's level with its initial (connectome-derived) parameters")
    which.add_argument("--open-loop", dest="open_loop", action="store_true",
                       help="no brain: the open-loop travelling wave (2 Hz, 1.5 body lengths)")
    p.set_defaults(func=cmd_rollout)
    return p


def cmd_rollout(args) -> int:
    from wormsim.config import TrainConfig
    from wormsim.envs.tasks import get_task, task_names
    from wormsim.runs import Run
    from wormsim.viz.video import describe_wave, record_video
    run = Run.open(args.run)
    config = TrainConfig.from_dict(run.config)
    if not get_task(config.task).has_body:
        raise ValueError(f"{run.path} is a {config.task!r} run: that task has no body to film (rollout "
                         f"replays {' and '.join(task_names(has_body=True))} runs); `wormsim plot "
                         f"{run.path}` draws its score curve")
    mode = "untrained" if args.untrained else "open-loop" if args.open_loop else "trained"
    params = run.load_policy()[0] if mode == "trained" else None
    default = {"trained": "swim.mp4", "untrained": "swim-untrained.mp4", "open-loop": "swim-open-loop.mp4"}
    path = Path(args.video) if args.video else run.path / default[mode]
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"--video must end in .mp4 or .gif, got {path.name!r}")
    what = {"trained": f"{config.level} / {config.wiring}", "untrained": f"{config.level} / "
            f"{config.wiring} untrained", "open-loop": "open-loop travelling wave"}[mode]
    info = record_video(config.eval_spec(), params, path, duration=args.duration, seed=args.seed,
                        size=args.size, fps=args.fps, episodes=args.episodes, mode=mode, label=what)
    print(f"{what}: speed {_fmt(info['speed'], '+.3f')} body lengths/s "
          f"({info['episodes']} episode(s), {info['seconds']:.1f} s simulated)")
    for line in describe_wave(info):
        print(line)
    if info.get("distances"):                  # a task with a target (navigate)
        reached = [a for a in info["arrivals"] if a is not None]
        print(f"target: reached in {len(reached)} of {len(info['distances'])} episode(s)"
              + (f" (at {', '.join(f'{a:.1f}' for a in reached)} s)" if reached else "")
              + f"; final distance {', '.join(f'{d:.2f}' for d in info['distances'])} BL")
    print(f"video: {info['path']} ({info['frames']} frames, {info['size'][0]}x{info['size'][1]}, "
          f"{info['fps']:.0f} fps; rendered in {info['wall_time']:.0f} s)")
    return 0


def _fmt(v: float, spec: str) -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, spec)


# ---- wormsim plot ----------------------------------------------------------------------------------
def add_plot(subparsers) -> argparse.ArgumentParser:
    """Add `plot` to ``subparsers``; sets func=cmd_plot."""
    p = subparsers.add_parser(
        "plot", help="figures of one or several runs: learning curves, kymograph, activity, weights",
        description="Write the figures of a run into its directory: learning curves (return, and "
        "speed or, for the non-motor tasks, score, against iterations and environment steps); from "
        "one recorded episode of the trained policy the body-curvature kymograph and the neural "
        "activity of every neuron aligned with it (swim and navigate only: the other tasks have no "
        "body); and how training changed the weights from the connectome-derived start, per pair of "
        "cell classes (levels with per-edge weights; for the others, e.g. the mlp baseline, a note "
        "says the figure is left out). Several runs are "
        "overlaid in one learning-curve figure, written into the first run's directory or --out.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (runs/NAME)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the figures (default: the first run's directory)")
    p.add_argument("--svg", action="store_true", help="write SVG instead of PNG")
    p.add_argument("--seed", type=int, default=0, help="seed of the recorded episode (default: 0)")
    p.add_argument("--duration", type=_positive_float, default=None,
                   help="simulated seconds of the recorded episode (default: the run's episode)")
    p.add_argument("--no-rollout", dest="rollout", action="store_false",
                   help="learning curves only (no episode is simulated)")
    p.set_defaults(func=cmd_plot)
    return p


def cmd_plot(args) -> int:
    import sys

    from wormsim.viz.plots import plot_run
    notes: list[str] = []
    written = plot_run(args.runs, out=args.out, svg=args.svg, seed=args.seed, duration=args.duration,
                       rollout=args.rollout, notes=notes)
    for path in written:
        print(path)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
