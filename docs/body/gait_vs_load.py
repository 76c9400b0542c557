"""Replay a trained swimmer, without retraining, along the load axis: a thin caller of `wormsim gait`
(wormsim/gait.py), kept for the commands in docs/body/*.md and for two options the CLI does not have.

    python docs/body/gait_vs_load.py RUN [--episodes 2] [--duration 10] [--loads 1 10 100 1000]
                                         [--agar-loads 1] [--heads both|trained] [--drive F B]
                                         [--level-option NAME VALUE ...]

Prefer `wormsim gait RUN ...` (same measurement, same episode seeds; it also writes gait.json, gait.csv
and gait.png into the run directory). This script prints the table only, and keeps its old defaults
(--loads 1 10 100 1000, --agar-loads 1, --heads both) so the commands quoted in the notes still give
their tables; --level-option overrides a level config value for the replay (an ablation).
"""
from __future__ import annotations

import argparse

from wormsim.gait import SEED, format_table, measure, replay  # noqa: F401  (measure: self_rhythm_ablate.py)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--loads", type=float, nargs="+", default=[1, 10, 100, 1000])
    p.add_argument("--agar-loads", type=float, nargs="*", default=[1],
                   help="loads of the agar rows (agar's drag ratio, 10, times this viscosity)")
    p.add_argument("--drive", type=float, nargs=2, default=None, metavar=("FORWARD", "BACKWARD"),
                   help="the command drive channels (default: the run's, forward 1 0); 0 1 asks for reversal (AVA)")
    p.add_argument("--heads", choices=("both", "trained"), default="both",
                   help="both: the head oscillator as trained and off; trained: only as trained")
    p.add_argument("--level-option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a level config value for the replay, e.g. curvature_gain 1e-6 (the rate "
                        "level without proprioception: is the rhythm the circuit's or the body loop's?)")
    a = p.parse_args(argv)
    if min(a.loads + a.agar_loads) <= 0 or a.episodes < 1 or a.duration <= 0:
        p.error("loads and --duration must be > 0, --episodes >= 1")
    options = None
    if a.level_option:   # typed by the level config's fields, as `wormsim train --level-option NAME=VALUE` is
        from wormsim.config import TrainConfig, level_options
        from wormsim.rollout import make_level_config
        from wormsim.runs import Run
        level = TrainConfig.from_dict(Run.open(a.run).config).level
        try:
            options = dict(level_options(level, [f"{k}={v}" for k, v in a.level_option], make_level_config(level, {})))
        except ValueError as e:
            p.error(str(e))
    result = replay(a.run, loads=a.loads, agar_loads=a.agar_loads, episodes=a.episodes, duration=a.duration,
                    head_cpg=a.heads, drive=a.drive, level_options=options)
    print(format_table(result))
    print(f"\nwall time {result['wall_time']:.0f} s")


if __name__ == "__main__":
    main()
