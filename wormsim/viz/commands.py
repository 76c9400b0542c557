"""The `wormsim rollout`, `wormsim plot` and `wormsim gait` subcommands (wired into wormsim/cli.py).

    wormsim rollout runs/NAME --video swim.mp4 [--episodes N --seed S --duration T --size WxH]
                              [--untrained | --open-loop]          (swim and navigate runs only)
    wormsim plot runs/NAME [runs/B ...] [--out DIR] [--svg] [--no-rollout]
    wormsim gait runs/NAME [--loads L ...] [--agar-loads L ...] [--episodes N] [--duration T]
                           [--head-cpg trained|off|both] [--drive F B] [--out DIR]   (wormsim/gait.py)

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


# ---- wormsim gait ----------------------------------------------------------------------------------
def _load(text: str) -> float:
    """A load on the command line: a number > 0 (its range is checked against the body's in cmd_gait)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a load is a number (viscosity relative to water's), got {text!r}")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"a load must be > 0, got {text}")
    return v


def add_gait(subparsers) -> argparse.ArgumentParser:
    """Add `gait` to ``subparsers``; sets func=cmd_gait."""
    p = subparsers.add_parser(
        "gait", help="replay a run along the load axis (water to agar): frequency, wavelength, amplitude, "
        "speed beside the animal",
        description="Replay the trained policy of a swim or navigate run, without retraining, along the "
        "load axis: the medium's viscosity relative to water's (Fang-Yen et al. 2010), in water (drag "
        "ratio 2) and on agar (drag ratio 10). Prints a table of speed (BL/s), undulation frequency "
        "(Hz), wavelength (BL), mid-body curvature amplitude (rad/BL) and wave direction per load, "
        "beside the animal's values (Fang-Yen et al. 2010: water 1.76 Hz, 1.54 BL; agar 0.30 Hz, "
        "0.65 BL; Sznitman et al. 2010: about 0.35 BL/s in water) and how far the frequency falls "
        "from water to each agar row; writes gait.json, gait.csv and gait.png (the four against "
        "load, log axis, the animal marked) into the run directory or --out. The conductance level "
        "simulates in Brian2 and is much slower than the others.")
    p.add_argument("run", help="run directory (runs/NAME)")
    p.add_argument("--loads", type=_load, nargs="*", default=[1.0, 10.0, 100.0, 1000.0, 10000.0],
                   metavar="LOAD", help="loads of the water rows (default: 1 10 100 1000 10000)")
    p.add_argument("--agar-loads", type=_load, nargs="*", default=[3000.0], metavar="LOAD",
                   help="loads of the agar rows: agar's drag ratio at that viscosity (default: 3000, the "
                   "highest load at which the calibrated body still crawls, docs/body/self-rhythm.md)")
    p.add_argument("--episodes", type=_positive_int, default=2, help="episodes per row (default: 2)")
    p.add_argument("--duration", type=_positive_float, default=10.0,
                   help="simulated seconds per episode; the gait is measured after the first quarter "
                   "(default: 10)")
    p.add_argument("--head-cpg", choices=("trained", "off", "both"), default="trained",
                   help="the head oscillator as the run was trained, off (0 Hz: is the rhythm the "
                   "circuit's own?), or both (default: trained)")
    p.add_argument("--drive", type=float, nargs=2, default=None, metavar=("FORWARD", "BACKWARD"),
                   help="command drive (default: the run's, forward 1 0); 0 1 asks for reversal (AVA)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for gait.json, gait.csv and gait.png (default: the run directory)")
    p.set_defaults(func=cmd_gait)
    return p


def cmd_gait(args) -> int:
    import sys

    from wormsim.gait import conditions, format_table, replay, write_outputs
    from wormsim.runs import Run
    conditions(args.loads, args.agar_loads)          # a load out of range: one line, before any work
    run = Run.open(args.run)                         # a missing run: one line
    out = Path(args.out) if args.out else run.path
    if not out.is_dir():
        raise ValueError(f"--out: the folder {out} does not exist")
    n = (len(args.loads) + len(args.agar_loads)) * (2 if args.head_cpg == "both" else 1)
    print(f"replaying {run.path} under {n} condition(s), {args.episodes} x {args.duration:g} s each ...",
          file=sys.stderr, flush=True)
    result = replay(run.path, loads=args.loads, agar_loads=args.agar_loads, episodes=args.episodes,
                    duration=args.duration, head_cpg=args.head_cpg, drive=args.drive)
    print(format_table(result))
    paths = write_outputs(result, out)
    print(f"\nwall time {result['wall_time']:.0f} s")
    for path in paths.values():
        print(path)
    return 0
