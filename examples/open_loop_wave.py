"""Open-loop travelling waves on the calibrated body, no brain: the animal's swimming wave in water
(1.76 Hz, 1.54 BL) and crawling wave on agar (0.30 Hz, 0.65 BL; Fang-Yen et al. 2010), and the project's
reference wave (2 Hz, 1.5 BL) in both. Prints the swimming speed (body lengths / s) and the body wave
measured from the curvature kymograph (frequency, head-to-tail phase lag, wavelength, wave speed,
curvature amplitude), with the slip (speed / wave speed) and the animal's values beside them.

    python examples/open_loop_wave.py [--duration 12] [--load 1]

docs/body/README.md has the calibration behind the body and the whole table (docs/body/calibrate.py).
`--duration 4` is a quick check; `--load 100` runs the same waves in a fluid 100 times as viscous as water.
"""
from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

import wormsim  # noqa: F401  (registers the environments)
from wormsim.envs.waves import ANIMAL_GAITS, TravellingWave, animal_wave
from wormsim.viz.video import describe_wave, wave_metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=12.0, help="simulated seconds (default: 12)")
    parser.add_argument("--load", type=float, default=1.0,
                        help="viscosity of the medium relative to water (default: 1)")
    args = parser.parse_args(argv)
    runs = [("water", "the animal's swimming wave", "swim"), ("agar", "the animal's crawling wave", "crawl"),
            ("water", "reference wave 2 Hz, 1.5 BL", None), ("agar", "reference wave 2 Hz, 1.5 BL", None)]
    for medium, name, gait in runs:
        env = gym.make("wormsim/Swim-v0", medium=medium, load=args.load, duration=args.duration)
        env.reset(seed=0)
        dt = env.unwrapped.control_dt
        n = env.unwrapped.layout.n_segments
        wave = animal_wave(gait, n) if gait else TravellingWave(n_segments=n, frequency=2.0, wavelength=1.5)
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
        slip = net / m["wave_speed"] if np.isfinite(m["wave_speed"]) and m["wave_speed"] > 0 else float("nan")
        print(f"{medium:5s} {name}: net speed {net:.3f} BL/s (mean forward {np.mean(speeds[skip:]):.3f}), "
              f"slip {slip:.3f}")
        for line in describe_wave(m):
            print(f"       {line}")
        if gait:
            g = ANIMAL_GAITS[gait]
            print(f"       C. elegans: {g.frequency:g} Hz, {g.wavelength:g} BL"
                  + (f", {g.speed:g} BL/s, slip {g.slip:.3f}" if g.speed else "") + f" ({g.source})")


if __name__ == "__main__":
    main()
