"""Can the body hold what section 11 of self-rhythm.md asks for, at a step this project can afford?

Two stiff terms broke the body's 20 ms physics step (two implicitfast half steps, then a midpoint position
update; envs/body.py WormBody.step), because MuJoCo's implicitfast integrator treats damping implicitly but
stiffness explicitly:
- an internal viscosity below the 20 ms floor (``body_relaxation_time``: Kelvin-Voigt damping over
  stiffness; Fang-Yen et al. 2010 put the animal's internal viscous time below about 5 ms, as the Cohen
  lab's model code quotes them);
- stronger muscles with a force-length range: force falling linearly to 0 as the muscle's joint bends
  its own side to ``--fl-curvature`` rad/BL (a MuJoCo affine gain in the joint angle).
MuJoCo 4 has a ``discrete`` integrator that solves with M + hD + h^2 K, stiffness included. This swaps it
in (the MJCF's integrator attribute only) and compares, against a 2.5 ms step of the same integrator:
the animal's swimming wave at three internal viscous times, and a square wave of full activation on
muscles ``--strength`` times the default with the force-length range, in water and at 1000x.

    python docs/body/integrator_probe.py                  # about 40 s
"""
from __future__ import annotations

import argparse
import re

import numpy as np

import wormsim.envs.body as body_module
from wormsim.analysis import gait
from wormsim.envs.waves import animal_wave

CONTROL_DT = 0.02


def _body(integrator: str, timestep: float, load: float, relax: float, strength: float | None, fl: float | None):
    original = body_module.build_mjcf

    def patched(*args, **kwargs):
        xml = original(*args, **kwargs).replace('integrator="implicitfast"', f'integrator="{integrator}"')
        if strength is not None:
            f0 = strength * body_module.STATIC_CURVATURE * body_module.SZNITMAN_EI
            slope = -f0 / (fl / 12) if fl else 0.0
            xml = re.sub(r'gaintype="fixed" gainprm="[^"]+"', f'gaintype="affine" gainprm="{f0} {slope} 0"', xml)
        return xml

    body_module.build_mjcf = patched
    try:
        return body_module.WormBody(1, 12, "water", body_relaxation_time=relax, timestep=timestep, load=load)
    finally:
        body_module.build_mjcf = original


def run(integrator: str, timestep: float, load: float = 1.0, relax: float = 0.02, strength: float | None = None,
        fl: float | None = None, seconds: float = 6.0) -> str:
    body = _body(integrator, timestep, load, relax, strength, fl)
    wave = animal_wave("swim")
    n, sub = int(seconds / CONTROL_DT), max(1, round(CONTROL_DT / timestep))
    xy, curv = [], []
    for i in range(n):
        c = wave(i * CONTROL_DT)
        if strength is not None:                    # full activation on the side the wave drives
            c = (c > 0.5).astype(np.float32)
        body.step(c[None], n_substeps=sub)
        q = body.qpos[0]
        if not np.isfinite(q).all() or np.abs(q).max() > 1e3:
            return "diverged"
        xy.append(q[:2].copy())
        curv.append(q[3:] * 12)
    xy, k = np.array(xy), n // 3
    speed = np.linalg.norm(xy[-1] - xy[k]) / ((n - 1 - k) * CONTROL_DT)
    g = gait(np.array(curv)[k:, None, :], CONTROL_DT)
    return (f"speed {speed:.3f} BL/s, amplitude {float(np.atleast_1d(g['amplitude'])[0]):.2f} rad/BL, "
            f"deepest bend {np.abs(np.array(curv)).max():.1f} rad/BL")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strength", type=float, default=5.0, help="muscle strength over the default's (10 EI)")
    p.add_argument("--fl-curvature", type=float, default=13.0, help="bend (rad/BL) at which force reaches 0")
    a = p.parse_args(argv)
    if not (a.strength > 0 and a.fl_curvature > 0):
        p.error("--strength and --fl-curvature are numbers > 0")
    print("The animal's swimming wave, water; internal viscous time (body_relaxation_time):")
    for relax in (0.02, 0.005, 0.001):
        for integrator in ("implicitfast", "discrete"):
            for step in (0.02, 0.0025):
                print(f"  {relax * 1e3:4g} ms  {integrator:12s} step {step * 1e3:4g} ms: "
                      f"{run(integrator, step, relax=relax)}", flush=True)
    print(f"Full activation, muscles {a.strength:g}x with force falling to 0 at {a.fl_curvature:g} rad/BL:")
    for load in (1.0, 1000.0):
        for integrator, steps in (("implicitfast", (0.02, 0.0025)), ("discrete", (0.02, 0.01, 0.005, 0.0025))):
            for step in steps:
                print(f"  load {load:6g}  {integrator:12s} step {step * 1e3:4g} ms: "
                      f"{run(integrator, step, load, strength=a.strength, fl=a.fl_curvature)}", flush=True)


if __name__ == "__main__":
    main()
