"""Would an objective that counts the muscles' cost ask for the animal's water wave? The animal's wave
held by servos at one frequency and amplitude, swept in wavelength: speed, muscle power, and two
efficiencies (docs/body/self-rhythm.md section 19).

Section 7 found that this body swims fastest in water with a 1.3 BL wave, where the animal makes 1.54 BL,
so a speed objective does not ask for the animal's wave. An objective that charges for the muscles' work
is the obvious next candidate: the animal's gait is often read as economical (Fang-Yen et al. 2010 find its
muscle power nearly constant along the load axis). This measures what such an objective would reward, on
the body alone: each row imposes the curvature wave amplitude * sin(2 pi (f t - s / wavelength)) with stiff
position servos (docs/body/animal_power.py ``imposed``, 0.5 ms steps) and reports
- speed, BL/s (the centre of mass, after the first quarter);
- positive power (the work the muscles do while bending, elastic bending included) and net power (what the
  body's damping and the load dissipate), relative to the animal's wavelength's row;
- speed / positive power (distance per unit of muscle work), and speed^2 / net power (Lighthill's
  efficiency up to the towing-drag constant: the power to tow the straight body at that speed over the
  power spent), each relative to the animal's wavelength's row.

    python docs/body/wavelength_cost.py [--bending-stiffness 28.8] [--load 1000]       # 5-10 s
"""
from __future__ import annotations

import argparse
import time

from animal_power import imposed

from wormsim.envs.body import SZNITMAN_EI
from wormsim.envs.waves import ANIMAL_GAITS
from wormsim.gait import animal_at


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wavelengths", type=float, nargs="+", default=[0.5, 0.65, 0.8, 1.0, 1.15, 1.3, 1.54, 1.8, 2.2, 3.0])
    p.add_argument("--load", type=float, default=1.0, help="water's viscosity times this")
    p.add_argument("--frequency", type=float, default=None,
                   help="Hz (default: the animal's at this load, Fang-Yen et al. 2010 Fig. 2)")
    p.add_argument("--amplitude", type=float, default=6.4, help="imposed curvature amplitude, rad/BL")
    p.add_argument("--bending-stiffness", type=float, default=SZNITMAN_EI,
                   help="the body's EI (2.3: Sznitman et al. 2010, the default; 28.8: Fang-Yen et al. 2010)")
    p.add_argument("--seconds", type=float, default=8.0)
    a = p.parse_args(argv)
    if not (a.load > 0 and a.amplitude > 0 and a.bending_stiffness > 0 and a.seconds >= 4
            and all(x > 0 for x in a.wavelengths)):
        p.error("--load, --amplitude, --bending-stiffness and --wavelengths are > 0, --seconds >= 4")
    f_animal, ref_lam = animal_at(a.load) or (ANIMAL_GAITS["swim"].frequency, ANIMAL_GAITS["swim"].wavelength)
    f = a.frequency or f_animal
    t0 = time.time()
    rows = {lam: imposed("water", a.load, f, lam, a.amplitude, a.bending_stiffness, a.seconds)
            for lam in sorted(set(a.wavelengths) | {round(ref_lam, 2)})}
    ref = rows[round(ref_lam, 2)]
    eff = lambda m: m["speed"] / m["positive"]               # noqa: E731
    lighthill = lambda m: m["speed"] ** 2 / m["net"]         # noqa: E731
    best = {name: max(rows, key=lambda lam: fn(rows[lam]))
            for name, fn in (("speed", lambda m: m["speed"]), ("eff", eff), ("lighthill", lighthill))}
    print(f"water {a.load:g}x, {f:.2f} Hz, {a.amplitude:g} rad/BL, body EI {a.bending_stiffness:g}; relative to the "
          f"animal's wavelength here, {ref_lam:.2f} BL (Fang-Yen et al. 2010 Fig. 2); * the best of the column")
    print("| wavelength BL (made) | speed BL/s | positive power | net power | speed / positive power "
          "| speed^2 / net power |")
    print("|---|---|---|---|---|---|")
    star = lambda name, lam: "*" if best[name] == lam else ""   # noqa: E731
    for lam, m in rows.items():
        print(f"| {lam:g} ({m['wavelength']:.2f}) | {m['speed']:.3f}{star('speed', lam)} | "
              f"{m['positive'] / ref['positive']:.2f} | {m['net'] / ref['net']:.2f} | "
              f"{eff(m) / eff(ref):.2f}{star('eff', lam)} | {lighthill(m) / lighthill(ref):.2f}{star('lighthill', lam)} |",
              flush=True)
    print(f"\nwall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
