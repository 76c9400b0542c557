"""Watch a swimmer: a video of a trained run's policy, and of the two references, from the Python API.

    python examples/watch_swimmer.py runs/rate-connectome-swim-s0 [--size 320x240 --duration 5]

Writes swim.mp4 (trained), swim-untrained.mp4 (the level's connectome-derived start) and
swim-open-loop.gif (the 2 Hz travelling wave, no brain) into the run directory and prints each one's
speed (body lengths / s) and body wave (frequency, wavelength, wave speed, mid-body amplitude, head
oscillator). The same as `wormsim rollout`. Only runs of a task with a body (swim, navigate) can be
filmed.
"""
import argparse
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # headless; set before mujoco's rendering is imported

from wormsim.config import TrainConfig  # noqa: E402
from wormsim.envs.tasks import get_task  # noqa: E402
from wormsim.runs import Run  # noqa: E402
from wormsim.viz.commands import parse_size  # noqa: E402
from wormsim.viz.video import describe_wave, record_video  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run")
parser.add_argument("--size", type=parse_size, default=(320, 240))
parser.add_argument("--duration", type=float, default=5.0)
args = parser.parse_args()

run = Run.open(args.run)
config = TrainConfig.from_dict(run.config)
if not get_task(config.task).has_body:
    sys.exit(f"watch_swimmer: {run.path} is a {config.task!r} run, which has no body to film")
spec = config.eval_spec()                   # the level, circuit and body of the run
params, _ = run.load_policy()
for mode, name in (("trained", "swim.mp4"), ("untrained", "swim-untrained.mp4"),
                   ("open-loop", "swim-open-loop.gif")):
    info = record_video(spec, params, run.path / name, duration=args.duration, size=args.size, mode=mode,
                        label=f"{config.level} / {config.wiring}, {mode}")
    print(f"{mode:10s} speed {info['speed']:+.3f} BL/s, {info['frames']} frames -> {info['path']}")
    for line in describe_wave(info):
        print(f"           {line}")
