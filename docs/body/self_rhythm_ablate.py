"""Which part of a self-rhythm circuit makes the rhythm: replay a run trained with --own-stretch (and, on
the rate level, --bistable-gain; docs/body/self-rhythm.md) in water at several loads, as trained and with
one part removed: the bistability (rate: bistable_gain 0), the own-segment stretch entries (their gains
set to 0), the anterior entries (Wen et al. 2012's, set to 0), or all proprioception (rate: curvature_gain
~0; other levels: every curvature entry's gain set to 0).

    python docs/body/self_rhythm_ablate.py RUN [--loads 1 100] [--duration 20] [--episodes 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from wormsim.config import TrainConfig
from wormsim.gait import measure
from wormsim.rollout import Evaluator
from wormsim.runs import Run


def gain_slice(brain) -> slice:
    start = 0
    for name, size in brain.param_sizes().items():
        if name in ("gain", "input_gain"):      # rate, spiking / conductance
            return slice(start, start + size)
        start += size
    raise KeyError("the level has no input gains")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--loads", type=float, nargs="+", default=[1, 100])
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--episodes", type=int, default=2)
    a = p.parse_args(argv)
    t0 = time.time()
    run = Run.open(a.run)
    cfg = TrainConfig.from_dict(run.config)
    if not cfg.own_stretch or (cfg.level == "rate" and not cfg.bistable_gain):
        p.error(f"{a.run} was not trained with --own-stretch (and, rate, --bistable-gain)")
    params, _ = run.load_policy()
    base = cfg.eval_spec(episodes=a.episodes)
    ev = Evaluator(base)
    ev._setup(1)
    itf, brain = ev.interface, ev.brain
    mask = np.asarray(itf.input_mask, bool)
    ch, nrn = np.nonzero(mask)                    # the gain vector's entries, in mask order
    own = itf.own_joint[nrn] == ch
    anterior = (itf.proprio_joint[nrn] == ch) & np.isin(np.array(itf.circuit.cell_class)[nrn], ["DB", "VB"])
    names = itf.channel_names
    curvature = np.array([str(names[c]).startswith("curvature") for c in ch], bool)
    gs = gain_slice(brain)
    ev.close()

    def without(entries):
        q = np.array(params, np.float32, copy=True)
        g = q[gs]
        g[entries] = 0.0
        q[gs] = g
        return q

    variants = [("as trained", params, ())]
    if cfg.bistable_gain:
        variants.append(("no bistability (bistable_gain 0)", params, (("bistable_gain", 0.0),)))
    variants += [("own-segment stretch gains 0", without(own), ()),
                 ("anterior B-cell gains 0", without(anterior), ())]
    variants.append(("no proprioception (curvature_gain 1e-6)", params, (("curvature_gain", 1e-6),))
                    if cfg.level == "rate" else ("no proprioception (curvature gains 0)", without(curvature), ()))
    print(f"run {a.run}: {a.episodes} episodes of {a.duration:g} s per row, water, head oscillator off")
    print()
    print("| variant | load | speed BL/s | frequency Hz | wavelength BL | amplitude rad/BL | undulating |")
    print("|---|---|---|---|---|---|---|")
    for name, q, overrides in variants:
        for load in a.loads:
            kw = dict(base.env_kwargs)
            kw.update(duration=a.duration)
            if load != 1.0:
                kw["load"] = load
            else:
                kw.pop("load", None)
            lk = dict(base.level_kwargs)
            lk.update(overrides)
            spec = dataclasses.replace(base, env_kwargs=tuple(kw.items()), level_kwargs=tuple(lk.items()))
            m = measure(spec, q)
            fmt = lambda x, s: "-" if not np.isfinite(x) else format(x, s)  # noqa: E731
            print(f"| {name} | {load:g} | {m['speed']:.3f} | {fmt(m['frequency'], '.2f')} | "
                  f"{fmt(m['wavelength'], '.2f')} | {m['amplitude']:.2f} | {m['undulating']}/{m['episodes']} |")
    print(f"\nwall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
