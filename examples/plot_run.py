"""Plot a run (or several) from the Python API: learning curves, kymograph, neural activity, weights.

    python examples/plot_run.py runs/rate-connectome-swim-s0 [runs/spiking-connectome-swim-s0 ...]

The first run's directory receives learning_curves.png (every run overlaid), and for each run with a
policy: kymograph.png, activity.png (aligned in time with the kymograph) and weights.png. The same as
`wormsim plot`.
"""
import sys

from wormsim.viz import plots

if len(sys.argv) < 2:
    sys.exit(__doc__)
try:
    for path in plots.plot_run(sys.argv[1:], duration=3.0):
        print(path)
except ValueError as exc:          # a missing or truncated metrics file, a directory that is no run
    sys.exit(f"plot_run: {exc}")
