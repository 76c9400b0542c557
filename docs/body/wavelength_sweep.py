"""Which wavelength does this body swim fastest with? Open-loop waves at the animal's frequency, swept in
wavelength, at the two ends of the load axis used for gait adaptation (docs/body/self-rhythm.md).

A circuit trained for speed settles on a wave this body rewards; whether the animal's wavelength is the
fastest one here says whether "the animal's wavelength" is even within reach of a speed objective. Each row:
an open-loop TravellingWave at full muscle amplitude (docs/body/calibrate.run), speed after 2 s, and the
wave the body actually makes (at high load the muscles cannot impose a short commanded wave).

    python docs/body/wavelength_sweep.py [--bending-stiffness EI]     # about 6 s
"""
from __future__ import annotations

import argparse
import time

from calibrate import fmt, run

from wormsim.envs.body import SZNITMAN_EI
from wormsim.envs.waves import ANIMAL_GAITS, TravellingWave

ENDS = (  # (label, medium, load, the animal's gait whose frequency drives the wave)
    ("water, 1x", "water", 1.0, "swim"),
    ("water, 1000x", "water", 1000.0, "crawl"),
    ("agar, 1x", "agar", 1.0, "crawl"),
    ("agar, 3000x", "agar", 3000.0, "crawl"),
)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wavelengths", type=float, nargs="+", default=[0.5, 0.65, 0.8, 1.0, 1.15, 1.3, 1.54, 1.8, 2.2])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--bending-stiffness", type=float, default=SZNITMAN_EI,
                   help="the body's EI (2.3: Sznitman et al. 2010, the default; 28.8: Fang-Yen et al. 2010)")
    p.add_argument("--frequency", type=float, default=None,
                   help="drive every end at this frequency (Hz) instead of the animal's swimming/crawling one")
    a = p.parse_args(argv)
    t0 = time.time()
    print("| end | frequency Hz | commanded wavelength BL | speed BL/s | wave made: wavelength BL | amplitude rad/BL |")
    print("|---|---|---|---|---|---|")
    for label, medium, load, gait_name in ENDS:
        f = a.frequency or ANIMAL_GAITS[gait_name].frequency
        rows = [(lam, run(medium, TravellingWave(frequency=f, wavelength=lam), a.seconds, load=load,
                          bending_stiffness=a.bending_stiffness))
                for lam in a.wavelengths]
        best = max(rows, key=lambda r: r[1]["speed"])[0]
        for lam, m in rows:
            mark = " (fastest)" if lam == best else ""
            print(f"| {label} | {f:g} | {lam:g}{mark} | {fmt(m['speed'])} | {fmt(m['wavelength'], '.2f')} | "
                  f"{fmt(m['amplitude'], '.1f')} |", flush=True)
    print(f"\nthe animal: water {ANIMAL_GAITS['swim'].wavelength} BL, agar {ANIMAL_GAITS['crawl'].wavelength} BL "
          f"(Fang-Yen et al. 2010); wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
