"""Plot a run (or several) from the Python API: learning curves, kymograph, neural activity, weights.

    python examples/plot_run.py runs/rate-connectome-swim-s0 [runs/spiking-connectome-swim-s0 ...]
                                [--duration 3]

The first run's directory receives learning_curves.png (every run overlaid), and for each run with a
policy: kymograph.png and activity.png (aligned in time with the kymograph; body tasks only) and
weights.png (the change from the connectome start; not for the mlp). The same as `wormsim plot`.
"""
import argparse
import sys

from wormsim.viz import plots

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("runs", nargs="+", help="run directories")
parser.add_argument("--duration", type=float, default=3.0,
                    help="simulated seconds of the recorded episode (default: 3)")
args = parser.parse_args()
notes = []
try:
    for path in plots.plot_run(args.runs, duration=args.duration, notes=notes):
        print(path)
except ValueError as exc:          # a missing or truncated metrics file, a directory that is no run
    sys.exit(f"plot_run: {exc}")
for note in notes:                 # figures left out, and why (e.g. a memory run has no body)
    print(f"note: {note}")
