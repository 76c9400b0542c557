"""Two probes of dm_control's swimmer6 behind docs/ncap/README.md (about a minute under nice):

1. how fast open-loop travelling waves swim it, by frequency and wavelength (mean speed over 9 s after 1.5 s,
   one episode each, seed 0, straight start +-0.05 rad);
2. how the untrained NCAP moves it through the worm's neuromuscular map (ncap) and through its own muscle
   stage (ncap-direct): the correlation of each joint's curvature with the first joint's, 6 s, head
   oscillator 0.56 Hz. A travelling wave shows correlations falling off smoothly; a standing wave flips sign.

    nice -n 10 python docs/ncap/probe_dmc.py
"""
from __future__ import annotations

import numpy as np


def wave_speeds() -> None:
    import gymnasium as gym

    import wormsim  # noqa: F401
    from wormsim.envs.waves import TravellingWave
    print("open-loop wave on dm_control's swimmer6 (BL/s):")
    for f in (0.5, 1.0, 2.0):
        for wl in (1.0, 1.5):
            env = gym.make("wormsim/DMCSwim-v0", duration=10.5)
            wave = TravellingWave(n_segments=6, frequency=f, wavelength=wl)
            env.reset(seed=0)
            sp = [env.step(wave(np.array([k * 0.03]))[0].astype(np.float32))[4]["speed"] for k in range(350)]
            print(f"  {f:.1f} Hz, wavelength {wl:.1f} BL: {np.mean(sp[50:]):+.3f}")


def joint_correlations() -> None:
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator
    for level in ("ncap", "ncap-direct"):
        ev = Evaluator(TrainConfig(level=level, task="dmc-swim", n_segments=6, head_cpg=0.56,
                                   duration=6.0).eval_spec(episodes=1))
        rec = ev.evaluate(ev.initial_params()[None], seed=0, record=True)
        k = rec.traces["curvature"][50:, 0]
        corr = [np.corrcoef(k[:, 0], k[:, j])[0, 1] for j in range(k.shape[1])]
        print(f"{level}: speed {rec.speed[0]:+.3f} BL/s; corr(joint 0, joint j) =",
              " ".join(f"{c:+.2f}" for c in corr))


if __name__ == "__main__":
    wave_speeds()
    joint_correlations()
