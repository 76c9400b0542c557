"""What the animal's own gait costs this body along the load axis: its kinematics imposed, the muscle power
and torque they take (the reference for the muscle power `wormsim gait` measures; docs/body/self-rhythm.md,
section 11).

Fang-Yen et al. (2010, PNAS, abstract) put the animal's measured kinematics into a model of its body and
find the muscle power nearly constant across its gaits, from swimming in water to crawling in 28,000
mPa s. The same question of this body: every joint follows the animal's curvature wave (frequency and
wavelength at each viscosity of their Fig. 2, ``wormsim.gait.ANIMAL_ALONG``, as digitized in the Cohen lab's
minimal-worm; on agar, the crawling wave), held by stiff position servos in place of the muscles
(BodyParams ``actuator="servo"``, 0.5 ms steps), and the servos' torque is what the muscles would have to give.
Each row: the wave made, the power (positive: the work done while bending, elastic bending included; net:
what the body's internal damping and the load dissipate), both relative to water at load 1, and the peak
joint torque over the muscles' maximum (BodyParams ``muscle_strength``: above 1 the muscles cannot make this
gait). The curvature amplitude is the same at every load (``--amplitude``, the calibrated swimming wave's;
the animal's own amplitude along the axis was not read here).

    python docs/body/animal_power.py [--bending-stiffness EI] [--amplitude 6.4]      # about 20 s
"""
from __future__ import annotations

import argparse
import time

import mujoco
import numpy as np

from wormsim.analysis import gait
from wormsim.envs.body import SZNITMAN_EI, BodyParams, WormBody
from wormsim.envs.waves import ANIMAL_GAITS
from wormsim.gait import ANIMAL_ALONG

SERVO_STIFFNESS = 30.0   # servo kp over the joints' own stiffness: stiff enough to hold the wave within ~5%
STEP = 0.0005            # s; the servo at that stiffness needs a finer step than the body's 20 ms
RAMP = 1.0               # s over which the imposed wave's amplitude rises from 0


def imposed(medium: str, load: float, frequency: float, wavelength: float, amplitude: float, ei: float,
            seconds: float, n_segments: int = 12) -> dict:
    """The curvature wave amplitude * sin(2 pi (f t - s / wavelength)) held by servos: power and torque."""
    J = n_segments - 1
    body = WormBody(n_segments=n_segments, medium=medium, load=load, bending_stiffness=ei, actuator="servo",
                    servo_kp=SERVO_STIFFNESS * ei * n_segments, timestep=STEP)
    # No damping in the servos (BodyParams gives them 0.01 kp): the body's own damping keeps them stable at
    # STEP, and a servo damping would dissipate far more than the body and its load do, leaving the power a
    # small difference of large terms (it did not converge with the step; without it, within 1% at 0.5 ms).
    body.model.actuator_biasprm[:J, 2] = 0.0
    body.reset()
    s = np.arange(1, J + 1) / (J + 1)
    steps, every = int(round(seconds / STEP)), int(round(0.02 / STEP))
    power, torque, curv, bad, start = [], [], [], 0, None
    for i in range(steps):
        ramp = min(1.0, i * STEP / RAMP)   # eased in: a step in the servos' target would kick the body
        body.step((ramp * amplitude / n_segments * np.sin(2 * np.pi * (frequency * i * STEP - s / wavelength)))[None], 1)
        bad += body.data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0
        if i == steps // 4:
            start = body.com_position()[0].copy()
        if i >= steps // 4:      # the transient from the reset posture left out
            f = body.data.actuator_force[:J]
            power.append(f * body.joint_velocities()[0])
            torque.append(np.abs(f).max())
        if i % every == 0:
            curv.append(body.curvature()[0])
    travelled = float(np.linalg.norm(body.com_position()[0] - start))
    body.close()
    if bad:
        raise RuntimeError(f"the servos went unstable at {medium} {load:g}x: lower SERVO_STIFFNESS or STEP")
    power = np.array(power)
    g = gait(np.array(curv), 0.02)
    return {"amplitude": float(g["amplitude"]), "wavelength": float(g["wavelength"]),
            "speed": travelled / ((steps - steps // 4) * STEP), "positive": float(np.maximum(power, 0).sum(1).mean()),
            "net": float(power.sum(1).mean()),
            "torque": float(np.max(torque)) / BodyParams(bending_stiffness=ei).muscle_strength}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--bending-stiffness", type=float, default=SZNITMAN_EI,
                   help="the body's EI (2.3: Sznitman et al. 2010, the default; 28.8: Fang-Yen et al. 2010)")
    p.add_argument("--amplitude", type=float, default=6.4, help="imposed curvature amplitude, rad/BL")
    p.add_argument("--agar-loads", type=float, nargs="*", default=[3000.0, 10000.0])
    a = p.parse_args(argv)
    if not a.seconds >= 4.0 or not a.bending_stiffness > 0 or not a.amplitude > 0:
        p.error("--seconds >= 4, --bending-stiffness > 0 and --amplitude > 0")
    t0 = time.time()
    crawl = ANIMAL_GAITS["crawl"]
    rows = [("water", load, f, lam) for load, f, lam in ANIMAL_ALONG]
    rows += [("agar", load, crawl.frequency, crawl.wavelength) for load in a.agar_loads]
    print(f"body EI {a.bending_stiffness:g}; the animal's wave (Fang-Yen et al. 2010 Fig. 2) imposed at "
          f"{a.amplitude:g} rad/BL")
    print("| medium | load | the animal's Hz / BL | amplitude made rad/BL | power, positive, x water 1x "
          "| power, net, x water 1x | peak torque / the muscles' maximum |")
    print("|---|---|---|---|---|---|---|")
    ref = None
    for medium, load, f, lam in rows:
        m = imposed(medium, load, f, lam, a.amplitude, a.bending_stiffness, a.seconds)
        ref = ref or m
        print(f"| {medium} | {load:g} | {f:.2f} / {lam:.2f} | {m['amplitude']:.2f} | {m['positive'] / ref['positive']:.2f} "
              f"| {m['net'] / ref['net']:.2f} | {m['torque']:.2f} |")
    print(f"\nwall time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
