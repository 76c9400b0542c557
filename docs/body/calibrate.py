"""The body's calibration against C. elegans: the table of docs/body/README.md.

Drives wormsim/Swim-v0 open loop (no brain) with the animal's measured curvature waves (envs.waves.
ANIMAL_GAITS) and with the project's reference wave, plus the passive body under the head oscillator,
and measures speed (net centre-of-mass displacement / time), frequency, wavelength, curvature amplitude
and slip (speed / wave speed) with wormsim.analysis.gait, beside the animal and beside an independent
continuum resistive-force-theory computation (envs.body.rft_swimming_speed) of the same kinematics.
Then the load axis: the same open-loop waves at viscosities 1..1e4 times water's.

    python docs/body/calibrate.py [--quick] [--bending-stiffness EI]     # about 20 s (--quick: 5 s)
"""
from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import wormsim  # noqa: F401  (registers the environments)
from wormsim.analysis import gait
from wormsim.envs.body import MEDIA, SZNITMAN_EI, rft_swimming_speed
from wormsim.envs.waves import ANIMAL_GAITS, TravellingWave, animal_wave


def run(medium, wave: TravellingWave | None, seconds: float, load: float = 1.0, head_cpg: float = 0.0,
        skip: float = 2.0, seed: int = 0, bending_stiffness: float = SZNITMAN_EI) -> dict:
    """One open-loop episode (wave None: every muscle at rest, 0.5): speed and gait after ``skip`` s."""
    env = gym.make("wormsim/Swim-v0", medium=medium, load=load, duration=seconds, head_cpg=head_cpg,
                   bending_stiffness=bending_stiffness)
    env.reset(seed=seed)
    u = env.unwrapped
    dt, n = u.control_dt, u.max_steps
    rest = np.full(u.layout.n_muscles, 0.5, np.float32)
    curv, com = [], []
    for i in range(n):
        _, _, _, _, info = env.step(rest if wave is None else wave(i * dt))
        curv.append(info["curvature"])
        com.append((info["x_position"], info["y_position"]))
    env.close()
    k = int(round(skip / dt))
    com = np.array(com)
    speed = float(np.linalg.norm(com[-1] - com[k]) / ((n - 1 - k) * dt))
    g = gait(np.array(curv[k:]), dt, skip=0.0)
    ws = g["wave_speed"]
    return {"speed": speed, "frequency": g["frequency"], "wavelength": g["wavelength"],
            "amplitude": g["amplitude"], "amplitude_head": g["amplitude_head"],
            "slip": speed / ws if np.isfinite(ws) and ws > 0 else float("nan"), "profile": g["profile"]}


def rft(medium, m: dict) -> float:
    """Continuum RFT speed of a uniform sinusoidal curvature wave with the measured frequency, wavelength
    and mid-body amplitude (the body's own kinematics, idealised)."""
    f, lam, a = m["frequency"], m["wavelength"], m["amplitude"]
    K = MEDIA[medium] if isinstance(medium, str) else float(medium)
    return rft_swimming_speed(lambda s, t: a * np.sin(2 * np.pi * (s / lam - f * t)), f, K,
                              n_points=100, steps_per_period=100)


def fmt(x, spec=".3f"):
    return "-" if x is None or not np.isfinite(x) else format(x, spec)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter episodes, fewer loads")
    p.add_argument("--bending-stiffness", type=float, default=SZNITMAN_EI,
                   help="the body's EI (2.3: Sznitman et al. 2010, the default; 28.8: Fang-Yen et al. 2010)")
    a = p.parse_args(argv)
    ei = a.bending_stiffness
    t0 = time.time()
    swim_s, crawl_s = (6.0, 12.0) if a.quick else (12.0, 24.0)
    sw, cr = ANIMAL_GAITS["swim"], ANIMAL_GAITS["crawl"]
    ref = TravellingWave()
    rows = [
        ("animal swimming wave, unbounded water", "water-bulk", animal_wave("swim"), swim_s, 0.0, sw),
        ("animal swimming wave, water near a surface", "water", animal_wave("swim"), swim_s, 0.0, sw),
        ("animal crawling wave, agar", "agar", animal_wave("crawl"), crawl_s, 0.0, cr),
        ("animal crawling wave, water", "water", animal_wave("crawl"), crawl_s, 0.0, None),
        ("reference wave (2 Hz, 1.5 BL), water", "water", ref, swim_s, 0.0, None),
        ("reference wave (2 Hz, 1.5 BL), agar", "agar", ref, swim_s, 0.0, None),
        ("passive body, head oscillator 2 Hz, water", "water", None, swim_s, 2.0, None),
        ("passive body, head oscillator 2 Hz, agar", "agar", None, swim_s, 2.0, None),
    ]
    print("| condition | K | speed BL/s | frequency Hz | wavelength BL | amplitude mid / head rad/BL "
          "| slip | continuum RFT BL/s | the animal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, medium, wave, secs, head, animal in rows:
        m = run(medium, wave, secs, head_cpg=head, bending_stiffness=ei)
        r = rft(medium, m) if wave is not None else float("nan")
        an = "-"
        if animal is not None:
            an = (f"{animal.frequency:g} Hz, {animal.wavelength:g} BL"
                  + (f", {animal.speed:g} BL/s, slip {animal.slip:.3f}" if animal.speed else ""))
        print(f"| {name} | {MEDIA[medium]:g} | {fmt(m['speed'])} | {fmt(m['frequency'], '.2f')} | "
              f"{fmt(m['wavelength'], '.2f')} | {fmt(m['amplitude'], '.1f')} / {fmt(m['amplitude_head'], '.1f')} | "
              f"{fmt(m['slip'])} | {fmt(r)} | {an} |")
    print()
    loads = (1, 100, 1e4) if a.quick else (1, 10, 100, 1000, 1e4)
    print("| load (viscosity / water's) | medium | wave | speed BL/s | frequency Hz | wavelength BL | "
          "amplitude mid rad/BL | slip |")
    print("|---|---|---|---|---|---|---|---|")
    for load in loads:
        for medium, gait_name, secs in (("water", "swim", swim_s), ("water", "crawl", crawl_s),
                                         ("agar", "crawl", crawl_s)):
            m = run(medium, animal_wave(gait_name), secs, load=load, bending_stiffness=ei)
            print(f"| {load:g} | {medium} | {gait_name} | {fmt(m['speed'])} | {fmt(m['frequency'], '.2f')} | "
                  f"{fmt(m['wavelength'], '.2f')} | {fmt(m['amplitude'], '.2f')} | {fmt(m['slip'])} |")
    print(f"\nwall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
