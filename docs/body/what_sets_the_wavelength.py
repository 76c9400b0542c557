"""What sets the wavelength of a self-made gait? Replays of one trained run (no retraining), each with one
part of the loop changed, in water and on agar at 3000x (docs/body/self-rhythm.md section 9).

1. The lag budget: at the gait's frequency, how far the curvature of a joint lags its own muscles'
   command (the muscles' and the body's share of the loop), and the curvature's phase step from joint to
   joint (Fourier phases at the reference joint's frequency, mid-body joints).
2. Faster or slower muscles (the body's ``muscle_tau``, 0.1 s as trained).
3. Groups of the trained parameters scaled: the B cells' first anterior entry, the rest of their anterior
   field (``--anterior-field``), their own-segment entry, every chemical synapse, every gap junction, the
   gap junctions between B cells of one class (DB-DB, VB-VB: the coupling Johnson, Lewis & Guy 2021 find
   sets the water wavelength against proprioception), and the time constants.

    python docs/body/what_sets_the_wavelength.py RUN [--seconds 20] [--scales 0 0.5 1.5]   # about a minute
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from wormsim.analysis import gait
from wormsim.config import TrainConfig
from wormsim.gait import measure, recorded, spec_at
from wormsim.rollout import Evaluator
from wormsim.runs import Run

ENDS = (("water", 1.0), ("agar", 3000.0))
SEED = 11


def lag_budget(spec, params) -> dict:
    """Median over mid-body joints of the curvature's lag behind its own joint's muscle command (ms), and
    of its phase step from one joint to the next (ms), at the gait's frequency."""
    r, dt = recorded(spec, params, SEED)
    k = np.asarray(r.traces["curvature"], float)[:, 0]
    mus = np.asarray(r.traces["muscles"], float)[:, 0]
    n_j = k.shape[1]
    g = gait(k, dt)
    f = float(g["frequency"])
    s0 = len(k) // 4
    t = np.arange(len(k))[s0:] * dt
    e = np.exp(-2j * np.pi * f * t) * np.hanning(len(t))
    zk = (k[s0:] * e[:, None]).sum(0)
    zm = ((mus[:, :n_j] - mus[:, n_j:])[s0:] * e[:, None]).sum(0)
    mid = slice(3, n_j - 2)
    to_ms = 1000.0 / (2 * np.pi * f)
    return {"frequency": f, "wavelength": float(g["wavelength"]),
            "muscle_to_curvature_ms": float(np.median(np.angle(zm / zk)[mid]) * to_ms),
            "step_per_joint_ms": float(np.median(np.angle(zk[:-1] / zk[1:])[mid]) * to_ms),
            "period_ms": 1000.0 / f}


def groups(evaluator) -> dict[str, np.ndarray]:
    """Indices into the flat parameter vector of each group that is scaled."""
    io, sizes = evaluator.interface, evaluator.brain.param_sizes()
    starts = dict(zip(sizes, np.cumsum([0] + list(sizes.values()))[:-1]))
    out = {name: np.arange(starts[name], starts[name] + sizes[name])
           for name in ("chem", "gap", "log_tau") if name in sizes}
    cls = np.array(io.circuit.cell_class)
    if "gap" in sizes:
        from wormsim.realism_levels.base import edge_groups
        edges = io.circuit.gap_edges
        group, _ = edge_groups(io.circuit, edges, evaluator.brain.config.share_weights, directed=False)
        same_b = (cls[edges[:, 0]] == cls[edges[:, 1]]) & np.isin(cls[edges[:, 0]], ("DB", "VB"))
        out["gap, B to B of one class"] = starts["gap"] + np.unique(group[same_b])
    first, far, own = [], [], []
    for k, (c, n) in enumerate(zip(*np.nonzero(io.input_mask))):
        if c >= io.n_joints or cls[n] not in ("DB", "VB"):
            continue
        (first if c == io.proprio_joint[n] else own if c == io.own_joint[n] else far).append(starts["gain"] + k)
    out.update({"anterior, first entry": np.array(first, int), "anterior, rest of the field": np.array(far, int),
                "own segment": np.array(own, int)})
    return {k: v for k, v in out.items() if len(v)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--scales", type=float, nargs="+", default=[0.0, 0.5, 1.5],
                   help="factors each group is scaled by (time constants: every factor but 0)")
    a = p.parse_args(argv)
    t0 = time.time()
    run = Run.open(a.run)
    params, _ = run.load_policy()
    params = np.asarray(params, np.float64)
    cfg = TrainConfig.from_dict(run.config)
    specs = {end: spec_at(cfg.eval_spec(episodes=1), end[0], end[1], a.seconds, 0.0) for end in ENDS}

    print(f"# {a.run}: what sets the wavelength\n")
    print("| end | frequency Hz | wavelength BL | period ms | curvature behind its muscles, ms | "
          "phase step per joint, ms |")
    print("|---|---|---|---|---|---|")
    for (medium, load), spec in specs.items():
        b = lag_budget(spec, params)
        print(f"| {medium} {load:g}x | {b['frequency']:.2f} | {b['wavelength']:.2f} | {b['period_ms']:.0f} | "
              f"{b['muscle_to_curvature_ms']:.0f} | {b['step_per_joint_ms']:.0f} |")

    def row(label, q, spec_of=lambda s: s):
        cells = []
        for spec in specs.values():
            m = measure(spec_of(spec), q, seed=SEED)
            cells.append(f"{m['speed']:.3f} / {m['frequency']:.2f} / {m['wavelength']:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)

    print("\n| replayed with | water 1x: speed BL/s / Hz / BL | agar 3000x |")
    print("|---|---|---|")
    row("nothing changed", params)
    for tau in (0.05, 0.2):
        def with_tau(spec, tau=tau):
            kw = dict(spec.env_kwargs)
            kw["muscle_tau"] = tau
            return dataclasses.replace(spec, env_kwargs=tuple(kw.items()))
        row(f"muscle time constant {tau * 1000:.0f} ms (trained at 100)", params, with_tau)
    ev = Evaluator(cfg.eval_spec())
    ev.initial_params()
    parts = groups(ev)
    ev.close()
    for name, idx in parts.items():
        for s in a.scales:
            q = params.copy()
            if name == "log_tau":
                if s == 0.0:
                    continue
                q[idx] += np.log(s)
                label = f"time constants x {s}"
            else:
                q[idx] *= s
                label = f"{name} x {s}"
            row(label, q)
    print(f"\nwall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
