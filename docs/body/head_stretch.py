"""Does a head that senses its own bend lengthen the water wave? (docs/body/self-rhythm.md section 21)

Three arms of section 18's recipe (rate level, bistable B cells, own-segment stretch, anterior field 3,
EI 28.8, trained at water 1x and 1000x), paired by seed:
- head: `--circuit motor+head --head-stretch` (the SMD cells sense their own side's head stretch, Yeon
  et al. 2018);
- passive: `--circuit motor+head` alone (the one change against head: no SMD entries);
- motor: section 18's motor-circuit runs of the same seeds (the reference for the wave; no head neurons).

Per run: the ends (water 1x, agar 1e4) as section 18 measures them (self_rhythm_nulls.replayed, cached in
each run's gait.json), and the head's bend in water at 1x: the curvature amplitude of the head joints
(0-1) and of the body's joints (2-10), over the replays' 2 episodes of 30 s (wormsim.analysis.gait's
profile, the first quarter left out). For each head-stretch run that learned, the water 1x gait again with its SMD
head-stretch gains at 0 (added after the data: which loop makes its rhythm).

The family fixed before the data (one claim, one test): the water 1x wavelength of each head run that
learned minus that of the motor run of its seed; mean, 95% t interval, one-sample t-test two-sided,
the direction said as found.

    python docs/body/head_stretch.py --head results/al18/head-stretch-s{5..8} \
        --passive results/al18/head-passive-s{5..8} --motor results/al18/stiff-field3-s{5..8} \
        --out docs/body/self-rhythm-tables                         # replays cached: about 1 min per run
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from self_rhythm_nulls import ANIMAL, outcomes, replayed  # noqa: E402

from wormsim.analysis import gait  # noqa: E402
from wormsim.config import TrainConfig  # noqa: E402
from wormsim.gait import measure, recorded, spec_at  # noqa: E402
from wormsim.rollout import Evaluator  # noqa: E402
from wormsim.runs import Run, atomic_write_text  # noqa: E402

AGAR_END = 10000.0
HEAD_JOINTS = slice(0, 2)
SECONDS = 30.0


def water_spec(cfg: TrainConfig):
    """Water at 1x, the replays' 2 episodes of 30 s, head oscillator off."""
    return spec_at(cfg.eval_spec(episodes=2), "water", 1.0, duration=SECONDS, head_cpg=0.0)


def bend(spec, params) -> tuple[float, float]:
    """(head, body) curvature amplitude (rad/BL): the mean over the episodes and over joints 0-1 and 2-10
    of the amplitude profile (wormsim.analysis.gait, the first quarter left out)."""
    res, dt = recorded(spec, params)          # the replays' episodes (wormsim.gait.SEED)
    profile = np.asarray(gait(np.asarray(res.traces["curvature"], float), dt)["profile"], float)   # (B, J)
    return float(profile[:, HEAD_JOINTS].mean()), float(profile[:, 2:].mean())


def head_entries(evaluator) -> np.ndarray:
    """Indices into the flat parameter vector of the SMD cells' head-stretch gains (empty without them)."""
    io, sizes = evaluator.interface, evaluator.brain.param_sizes()
    start = int(np.cumsum([0] + list(sizes.values()))[list(sizes).index(evaluator.brain.input_gains)])
    smd = set(io.circuit.indices(classes=("SMD",)).tolist()) if io.head_stretch else set()
    joints = set(io.head_joints.tolist())
    return np.array([start + k for k, (c, n) in enumerate(zip(*np.nonzero(io.input_mask)))
                     if c in joints and n in smd], int)


def without_head_stretch(run: Path) -> dict:
    """The run's water 1x gait (2 episodes of 30 s, as the replays) with its SMD head-stretch gains set to 0:
    what the head's stretch loop does to the rhythm and the wave."""
    r = Run.open(run)
    cfg = TrainConfig.from_dict(r.config)
    params, _ = r.load_policy()
    spec = water_spec(cfg)
    ev = Evaluator(spec)
    try:
        ev.initial_params()                   # builds its brain and interface
        idx = head_entries(ev)
    finally:
        ev.close()
    cut = np.array(params, np.float64)
    cut[idx] = 0.0
    out = {"run": run.name, "entries": len(idx)}
    for label, x in (("trained", params), ("head stretch cut", cut)):
        m = measure(spec, x)                  # the replays' episodes
        head, body = bend(spec, x)
        out[label] = {"speed": m["speed"], "frequency": m["frequency"], "wavelength": m["wavelength"],
                      "head_amplitude": head, "body_amplitude": body}
    return out


def per_run(run: Path, arm: str) -> dict:
    out = outcomes(replayed(run, AGAR_END), AGAR_END)
    r = Run.open(run)
    cfg = TrainConfig.from_dict(r.config)
    head, body = bend(water_spec(cfg), r.load_policy()[0])
    seed = int(cfg.seed)
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
    trained = summary.get("final_speed_by_load") or [float("nan")] * 2
    return {"run": run.name, "arm": arm, "seed": seed, "learned": bool(out["learned"]),
            "speed_water": out["speed_water"], "speed_trained": [float(x) for x in trained[:2]],
            "water": list(out["water"]), "agar": list(out["agar"]),
            "gait_both_ends": bool(out["gait_both_ends"]), "within_15": out["within_15"],
            "head_amplitude": head, "body_amplitude": body}


def paired_test(rows: list[dict], arm: str, against: str = "motor") -> dict:
    """Water 1x wavelength of ``arm`` minus ``against``, paired by seed, over seeds where both learned."""
    by = {(r["arm"], r["seed"]): r for r in rows}
    diffs = [by[(arm, s)]["water"][1] - by[(against, s)]["water"][1]
             for (a, s) in sorted(by) if a == arm and (against, s) in by
             and by[(arm, s)]["learned"] and by[(against, s)]["learned"]]
    n = len(diffs)
    if n < 2:
        return {"comparison": f"{arm} - {against}", "n": n, "diffs": diffs}
    d = np.asarray(diffs)
    half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return {"comparison": f"{arm} - {against}", "n": n, "diffs": diffs, "mean": float(d.mean()),
            "ci": [float(d.mean() - half), float(d.mean() + half)],
            "p": float(stats.ttest_1samp(d, 0.0).pvalue)}


def _f(x, fmt="{:.2f}") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def table(rows: list[dict], tests: list[dict]) -> str:
    lines = ["| run | arm | seed | learned | speed in training's 6 s episodes, 1x / 1000x | water speed (30 s) "
             "BL/s | water 1x Hz / BL | agar 1e4 Hz / BL | head / body bend in water (rad/BL) | ends within 15% |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['arm']} | {r['seed']} | {'yes' if r['learned'] else 'no'} | "
                     f"{' / '.join(_f(x, '{:.3f}') for x in r.get('speed_trained', [None, None]))} | "
                     f"{_f(r['speed_water'], '{:.3f}')} | {_f(r['water'][0])} / {_f(r['water'][1])} | "
                     f"{_f(r['agar'][0])} / {_f(r['agar'][1])} | {_f(r['head_amplitude'])} / "
                     f"{_f(r['body_amplitude'])} | {_f(r['within_15'], '{} of 4')} |")
    w, a = ANIMAL["water"], ANIMAL["agar"]
    lines.append(f"| the animal | | | | | ~0.35 | {w['frequency']:.2f} / {w['wavelength']:.2f} | "
                 f"{a['frequency']:.2f} / {a['wavelength']:.2f} | | 4 of 4 |")
    lines += ["", "Water 1x wavelength, paired by seed (runs that learned on both sides); the first row is the "
              "family's one test, fixed before the data.", "",
              "| comparison | n | differences (BL) | mean [95% t CI] | p (t, two-sided) |", "|---|---|---|---|---|"]
    for t in tests:
        diffs = ", ".join(f"{x:+.2f}" for x in t["diffs"])
        if "mean" in t:
            lines.append(f"| {t['comparison']} | {t['n']} | {diffs} | {t['mean']:+.3f} "
                         f"[{t['ci'][0]:+.3f}, {t['ci'][1]:+.3f}] | {t['p']:.3f} |")
        else:
            lines.append(f"| {t['comparison']} | {t['n']} | {diffs or '-'} | too few pairs | - |")
    return "\n".join(lines) + "\n"


def ablation_table(cut: list[dict]) -> str:
    """Each head-stretch learner in water at 1x as trained and with its SMD head-stretch gains at 0."""
    lines = ["", "The head-stretch learners in water at 1x, as trained and with the SMD cells' head-stretch "
             "gains set to 0 (described, not tested):", "",
             "| run | replay | speed BL/s | Hz / BL | head / body bend (rad/BL) |", "|---|---|---|---|---|"]
    for c in cut:
        for label in ("trained", "head stretch cut"):
            m = c[label]
            lines.append(f"| {c['run']} | {label} | {m['speed']:.3f} | {_f(m['frequency'])} / "
                         f"{_f(m['wavelength'])} | {m['head_amplitude']:.2f} / {m['body_amplitude']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--head", nargs="+", type=Path, required=True)
    p.add_argument("--passive", nargs="*", type=Path, default=[])
    p.add_argument("--motor", nargs="*", type=Path, default=[])
    p.add_argument("--out", type=Path, default=None, help="write head-stretch.md and .json here")
    a = p.parse_args(argv)
    for run in [*a.head, *a.passive, *a.motor]:
        if not (run / "policy.npz").is_file():
            p.error(f"{run} has no trained policy (policy.npz): train it first (section 21's commands)")
    rows = [per_run(run, arm) for arm, runs in (("head", a.head), ("passive", a.passive), ("motor", a.motor))
            for run in runs]
    tests = [paired_test(rows, "head"), paired_test(rows, "passive")]
    cut = [without_head_stretch(run) for run, r in zip(a.head, rows) if r["learned"]]
    text = table(rows, tests) + ablation_table(cut)
    print(text)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(a.out / "head-stretch.md", text)
        data = {"rows": rows, "tests": tests, "head_stretch_cut": cut}
        atomic_write_text(a.out / "head-stretch.json", json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
