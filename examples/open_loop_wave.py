"""Open-loop travelling wave (2 Hz, wavelength 1.5 BL) in water and on agar: prints the swimming speed
(body lengths / s) and the body wave measured from the curvature kymograph (frequency, head-to-tail
phase lag, wavelength, wave speed, mid-body curvature amplitude), to compare with C. elegans
(~2 Hz and ~1.5 BL in water; Fang-Yen et al. 2010).

    python examples/open_loop_wave.py [--duration 10]

No brain and no head oscillator: the wave drives every muscle, so the measured wave shows what the
body makes of the commanded one (1.5 BL, +3 BL/s). `--duration 2` is a quick check.
"""
from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import wormsim  # noqa: F401  (registers the environments)
from wormsim.envs.waves import TravellingWave
from wormsim.viz.video import describe_wave, wave_metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds (default: 10)")
    args = parser.parse_args(argv)
    for medium in ("water", "agar"):
        env = gym.make("wormsim/Swim-v0", medium=medium, duration=args.duration)
        env.reset(seed=0)
        dt = env.unwrapped.control_dt
        wave = TravellingWave(n_segments=env.unwrapped.layout.n_segments, frequency=2.0, wavelength=1.5)
        speeds, curvature, com = [], [], []
        for i in range(env.unwrapped.max_steps):
            _, _, _, _, info = env.step(wave(i * dt))
            speeds.append(info["speed"])
            curvature.append(info["curvature"])
            com.append((info["x_position"], info["y_position"]))
        env.close()
        # Skip the start (muscle and body transients): 2 s, or half of a shorter run.
        skip = int(round(min(2.0, args.duration / 2) / dt))
        com = np.array(com)
        net = np.linalg.norm(com[-1] - com[skip]) / max(len(com) - 1 - skip, 1) / dt
        m = wave_metrics(np.array(curvature[skip:]), dt)
        print(f"{medium:5s}: forward speed {np.mean(speeds[skip:]):.3f} BL/s (net COM {net:.3f} BL/s)")
        for line in describe_wave(m):
            print(f"       {line}")


if __name__ == "__main__":
    main()
