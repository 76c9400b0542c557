"""Replay a trained swimmer, without retraining, along the load axis: speed and gait (frequency, wavelength,
mid-body curvature amplitude) at several viscosities in water and on agar, with the head oscillator as the
run had it and off, beside the animal and the open-loop reference. The measurement of docs/body/README.md,
"A trained circuit along the load axis".

    python docs/body/gait_vs_load.py RUN [--episodes 2] [--duration 10] [--loads 1 10 100 1000]
                                         [--agar-loads 1] [--heads both|trained]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from wormsim.analysis import gait
from wormsim.config import TrainConfig
from wormsim.rollout import Evaluator
from wormsim.runs import Run

SEED = 5_000_000   # episode seeds apart from training's and the experiment's


def measure(spec, params, seed: int = SEED) -> dict:
    ev = Evaluator(spec)
    try:
        r = ev.evaluate(np.asarray(params, np.float32)[None], seed=seed, record=True)
    finally:
        ev.close()
    curv = np.asarray(r.traces["curvature"], float)             # (T, B, J), rad / BL
    g = gait(curv, float(dict(spec.env_kwargs).get("control_dt", 0.02)))
    f = np.nanmean(g["frequency"]) if np.isfinite(g["frequency"]).any() else float("nan")
    return {"speed": float(np.mean(r.episodes["speed"])), "speed_sd": float(np.std(r.episodes["speed"])),
            "frequency": f, "moving": int(np.isfinite(g["frequency"]).sum()), "n": curv.shape[1],
            "wavelength": float(np.nanmedian(g["wavelength"])) if np.isfinite(g["wavelength"]).any() else np.nan,
            "amplitude": float(np.mean(g["amplitude"])),
            "direction": ",".join(sorted(set(np.atleast_1d(g["direction"]).tolist())))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--episodes", type=int, default=2)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--loads", type=float, nargs="+", default=[1, 10, 100, 1000])
    p.add_argument("--agar-loads", type=float, nargs="*", default=[1],
                   help="loads of the agar rows (agar's drag ratio, 10, times this viscosity)")
    p.add_argument("--drive", type=float, nargs=2, default=None, metavar=("FORWARD", "BACKWARD"),
                   help="the command drive channels (default: the run's, forward 1 0); 0 1 asks for reversal (AVA)")
    p.add_argument("--heads", choices=("both", "trained"), default="both",
                   help="both: the head oscillator as trained and off; trained: only as trained")
    p.add_argument("--level-option", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a level config value for the replay, e.g. curvature_gain 1e-6 (the rate "
                        "level without proprioception: is the rhythm the circuit's or the body loop's?)")
    a = p.parse_args(argv)
    if min(a.loads + a.agar_loads) <= 0 or a.episodes < 1 or a.duration <= 0:
        p.error("loads and --duration must be > 0, --episodes >= 1")
    t0 = time.time()
    run = Run.open(a.run)
    cfg = TrainConfig.from_dict(run.config)
    params, _ = run.load_policy()
    base = cfg.eval_spec(episodes=a.episodes)
    if a.drive is not None:
        base = dataclasses.replace(base, drive=tuple(a.drive))
    if a.level_option:
        base = dataclasses.replace(base, level_kwargs=tuple(base.level_kwargs)
                                   + tuple((k, float(v)) for k, v in a.level_option))
    heads = sorted({float(cfg.head_cpg), 0.0} if a.heads == "both" else {float(cfg.head_cpg)}, reverse=True)
    print(f"run {a.run}: {cfg.level}/{cfg.wiring}, trained in {cfg.medium} at head oscillator "
          f"{cfg.head_cpg:g} Hz; {a.episodes} episodes of {a.duration:g} s per row, gait after the first quarter"
          + (f"; level overrides {dict(a.level_option)}" if a.level_option else "")
          + (f"; command drive (forward, backward) {tuple(a.drive)}" if a.drive is not None else ""))
    print()
    print("| medium | load | head osc. Hz | speed BL/s (sd) | frequency Hz | wavelength BL | amplitude rad/BL "
          "| direction | episodes undulating |")
    print("|---|---|---|---|---|---|---|---|---|")
    conditions = [("water", load) for load in a.loads] + [("agar", load) for load in a.agar_loads]
    for head in heads:
        for medium, load in conditions:
            kw = dict(base.env_kwargs)
            kw.update(medium=medium, duration=a.duration, head_cpg=head)
            if load != 1.0:
                kw["load"] = load
            else:
                kw.pop("load", None)
            spec = dataclasses.replace(base, env_kwargs=tuple(kw.items()))
            m = measure(spec, params)
            fmt = lambda x, s: "-" if not np.isfinite(x) else format(x, s)  # noqa: E731
            print(f"| {medium} | {load:g} | {head:g} | {m['speed']:.3f} ({m['speed_sd']:.3f}) | "
                  f"{fmt(m['frequency'], '.2f')} | {fmt(m['wavelength'], '.2f')} | {m['amplitude']:.2f} | "
                  f"{m['direction']} | {m['moving']}/{m['n']} |")
    print(f"\nwall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
