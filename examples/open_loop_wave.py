"""Open-loop travelling wave (2 Hz, wavelength 1.5 BL) in water and on agar: prints the swimming speed
(body lengths / s) and the undulation frequency measured from the body's curvature, to compare with
C. elegans (~2 Hz in water; Fang-Yen et al. 2010).

    python examples/open_loop_wave.py
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

import wormsim  # noqa: F401
from wormsim.envs.waves import TravellingWave


def undulation_frequency(curvature: np.ndarray, dt: float) -> float:
    """Dominant frequency (Hz) of mid-body curvature over time, from its spectrum."""
    x = curvature - curvature.mean()
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), dt)
    return float(freqs[1:][np.argmax(spectrum[1:])])


def main() -> None:
    for medium in ("water", "agar"):
        env = gym.make("wormsim/Swim-v0", medium=medium, duration=10.0)
        env.reset(seed=0)
        dt = env.unwrapped.task.control_dt
        wave = TravellingWave(n_segments=env.unwrapped.layout.n_segments, frequency=2.0, wavelength=1.5)
        speeds, curv, x = [], [], []
        for i in range(500):
            _, _, _, _, info = env.step(wave(i * dt))
            speeds.append(info["speed"])
            curv.append(info["curvature"][len(info["curvature"]) // 2])
            x.append((info["x_position"], info["y_position"]))
        x = np.array(x)
        # Skip the first 2 s (muscle and body transients).
        net = np.linalg.norm(x[-1] - x[100]) / (len(x) - 101) / dt
        print(f"{medium:5s}: forward speed {np.mean(speeds[100:]):.3f} BL/s (net COM {net:.3f} BL/s), "
              f"undulation {undulation_frequency(np.array(curv[100:]), dt):.2f} Hz, "
              f"mid-body curvature amplitude {np.abs(curv[100:]).max():.1f} rad/BL")


if __name__ == "__main__":
    main()
