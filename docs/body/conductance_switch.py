"""Why ES never used the conductance cells' bistability (docs/body/self-rhythm.md section 15): three
measurements and the isolated B cell as a Boyle switch.

    nice -n 5 python docs/body/conductance_switch.py          # about 30 s

1. What the cell's synapses read of the two stable states of a cell biased into its Ca plateau's window
   (the isolated cell's steady states, realism_levels.conductance.stable_voltages), at the level's
   release midpoint and at c302 C1's.
2. The B cells' own-stretch input ramped slowly from -2 to +2 input units and back (every curvature channel
   at the same value, the anterior entries silenced so that a B cell reads its own stretch only), in the
   starting circuit (every synapse and gap at its starting value, forward drive on). Each population member
   scales the own-stretch gains, i.e. the curvature scale. Printed: where the cell's output crosses its
   midpoint on the way up and on the way down (equal: no hysteresis).
3. The natural scale of the bias group, the unit of ES's steps.
4. The same ramp with every synapse and gap at 0, the B cells biased to 5.5 pA and c302 C1's release
   midpoint: where the voltage crosses -10 mV (between the low branch and the plateau) up and down.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from wormsim.config import TrainConfig
from wormsim.realism_levels.conductance import ConductanceConfig, release, stable_voltages
from wormsim.rollout import Evaluator

CELLS = ("DB3", "VB5")
HOLD, RAMP = 50, 300                     # control steps: hold at -2, then up and down over RAMP each


def ramp(scales_nS, options=(), isolate=False, voltage=False):
    """Ramp the B cells' own-stretch input; returns (u up, {cell: {scale: (crossings up, crossings down)}})."""
    cfg = TrainConfig(level="conductance", head_cpg=0, own_stretch=True, level_option=list(options))
    ev = Evaluator(cfg.eval_spec())
    ev._setup(len(scales_nS))
    brain, io = ev.brain, ev.interface
    names, J = list(brain.circuit.names), io.n_joints
    base = brain.config.curvature_scale_nS
    with torch.no_grad():
        for m, (ch, n) in enumerate(brain._mask_idx):
            if ch < J:                    # own-stretch entries scaled to each member's scale; the rest off
                own = io.own_joint[n] == ch
                for p, s in enumerate(scales_nS):
                    brain.input_gain[p, m] = brain.input_gain[p, m] * s / base if own else 0.0
        if isolate:
            brain.g_chem.zero_()
            brain.g_gap.zero_()
    brain.reset(len(scales_nS))
    u = np.concatenate([np.full(HOLD, -2.0), np.linspace(-2, 2, RAMP), np.linspace(2, -2, RAMP)])
    drive = np.array(ev.spec.drive, float)

    def inputs(t):
        x = np.zeros((len(scales_nS), io.n_inputs))
        x[:, :J] = u[min(t, len(u) - 1)]
        x[:, J:J + 2] = drive
        return torch.from_numpy(x)
    out, t = [], [0]

    def on_step(act):
        out.append(brain.voltage().reshape(len(scales_nS), -1).copy() if voltage else act.numpy().copy())
        t[0] += 1
        return None if t[0] >= len(u) else inputs(t[0])
    brain.drive(inputs(0), on_step, len(u))
    ev.close()
    x = np.stack(out)                                                    # (T, P, N)
    level = -10.0 if voltage else 0.5
    up_u = u[HOLD:HOLD + RAMP]
    result = {}
    for cell in CELLS:
        i = names.index(cell)
        result[cell] = {}
        for p, s in enumerate(scales_nS):
            up, down = x[HOLD:HOLD + RAMP, p, i], x[HOLD + RAMP:, p, i][::-1]

            def crossings(y):
                return [round(float(up_u[k]), 2) for k in np.flatnonzero(np.diff(np.sign(y - level)))]
            result[cell][s] = (crossings(up), crossings(down))
    return result


def main() -> None:
    t0 = time.time()
    low, plateau = stable_voltages(ConductanceConfig(), 4.0)
    print(f"1. isolated cell at 4 pA: low branch {low:.1f} mV, plateau {plateau:.1f} mV")
    for name, cfg in (("level (-35 mV)", ConductanceConfig()), ("c302 C1 (0 mV)", ConductanceConfig(v_release_mV=0.0))):
        print(f"   release, midpoint {name}: low {release(cfg, low):.3f}, plateau {release(cfg, plateau):.3f}")

    print("2. starting circuit, own-stretch ramp -2 -> +2 -> -2 units: output crosses 0.5 at u (up | down)")
    for cell, rows in ramp([2.0, 0.6, 0.2, 0.06, 0.02, 0.006]).items():
        for s, (up, down) in rows.items():
            print(f"   {cell} {s:6.3f} nS/unit: up {up} | down {down}")

    ev = Evaluator(TrainConfig(level="conductance", head_cpg=0, own_stretch=True).eval_spec())
    ev._setup(1)
    print(f"3. natural scale of the bias group: {ev.brain.natural_scales()['bias']:.3f} pA")
    ev.close()

    print("4. isolated cells, B biases 5.5 pA, release midpoint 0 mV: voltage crosses -10 mV at u (up | down)")
    options = ("v_release_mV=0", "init_bias_pA=DB=5.5,VB=5.5")
    for cell, rows in ramp([0.2, 0.1, 0.08, 0.06], options, isolate=True, voltage=True).items():
        for s, (up, down) in rows.items():
            print(f"   {cell} {s:6.3f} nS/unit: up {up} | down {down}")
    print(f"wall {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
