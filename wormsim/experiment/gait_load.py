"""The grid's gait question (issue 18): do the trained swimmers adapt their gait to the load as the animal does?

In Newtonian fluids spanning nearly five orders of magnitude of viscosity the animal keeps undulating,
and as the load rises both the frequency and the wavelength of its undulation fall continuously, from
swimming in water (1.76 Hz, 1.54 BL) to crawling on agar (0.30 Hz, 0.65 BL) (Fang-Yen et al. 2010, PNAS
107:20323, abstract and Fig. 2): it adapts so as to keep its thrust. No cell of the grid is trained for
it: every finished swim cell trained by ES is replayed, without retraining, along the load axis of
``wormsim gait`` (wormsim/gait.py, docs/body/README.md: water at 1, 10, 100 and 1,000 times its
viscosity, then agar at 3,000), with the head oscillator as it was trained (the frequency is then
imposed; only the wavelength can adapt) and off (the circuit must make its rhythm). Its gait is measured
per episode from the curvature kymograph by ``wormsim.analysis.gait``, the project's one gait measure. A
seed *swims* in a condition when, in at least half its episodes, the mid-body carries a head-to-tail wave
of at least 1 rad/BL (gait.MIN_AMPLITUDE; the animal bends 5-10). Each cell's replays are cached in its
run directory (gait_load.json, keyed by the cell's configuration hash; a condition added later is
computed alone).

Three outcomes per seed, each in the direction the animal goes (all positive for it):

- ``rhythm_range`` (head oscillator off): log10 of the highest load on the water axis at which the seed
  still swims (0: water only; 3: up to 1,000x; -1: not even in water). The animal undulates across the
  whole axis (3 or more here). Defined for every seed.
- ``frequency_fall`` (head oscillator off): log2 of its frequency at load 1 over its frequency at load 10;
  defined where it swims at both.
- ``wavelength_fall`` (head oscillator as trained): log2 of its wavelength at load 1 over its wavelength
  at load 100, where an imposed swimming wave still bends this body (docs/body/README.md); defined where
  it swims at both. What the body alone contributes (its mechanics shorten an imposed wave) is the
  open-loop wave's fall on the same row.

Why these and not the water / agar ends. The first version of this question (this session, before any
comparison was computed) took both outcomes between water at load 1 and agar at 3,000: on the 64 rate and
spiking cells no seed, and not the open-loop 2 Hz wave either, swims on agar at 3,000x, so no test was
possible. The loads above are where a wave exists to be measured; the agar column stays in the table.

The family ``gait-load`` (+1: the connectome adapts more than each null wiring) tests, per level and
outcome, the connectome against each null wiring among cells that learned to swim and have at least two
seeds with the outcome; Holm within the family. Reference rows: the open-loop travelling wave (no circuit,
head oscillator off) at the same loads, and the animal.

The sense check of issue 18 rides along: each swimmer given backward drive (AVA, AVD, AVE driven, AVB and
PVC not), head oscillator off, in water; the table counts the episodes whose mid-body wave runs tail to
head with at least 1 rad/BL, as a reversing worm's does (descriptive, no test).
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import ExperimentConfig

WATER_LOADS = (1.0, 10.0, 100.0, 1000.0)
AGAR = ("agar", 3000.0)                               # the far end of `wormsim gait`'s axis
CONDITIONS = tuple(("water", x) for x in WATER_LOADS) + (AGAR,)
WATER = CONDITIONS[0]
HEADS = ("trained", "off")
DURATION = 10.0            # s: at the animal's agar frequency (0.3 Hz) 2 periods after the skipped transient
EPISODES = 2               # per seed and condition
SEED0 = 6_000_000          # episode seeds apart from training's, the probes' and `wormsim gait`'s
# outcome -> (measure, head oscillator, the load it falls to)
FALLS = {"frequency_fall": ("frequency", "off", 10.0), "wavelength_fall": ("wavelength", "trained", 100.0)}
OUTCOMES = ("rhythm_range", *FALLS)
# the sense check of issue 18: the forward swimmer given backward drive (AVA, AVD, AVE driven, AVB and PVC
# not; the probes' "backward drive"), head oscillator off, in water: does its wave run tail to head?
BACKWARD = "backward/water/1"


def animal_fall(measure: str) -> float:
    """log2 of the animal's water value over its agar value (Fang-Yen et al. 2010's two ends)."""
    from wormsim.gait import ANIMAL
    return math.log2(ANIMAL["water"][measure] / ANIMAL["agar"][measure])


def _cond_key(head: str, medium: str, load: float) -> str:
    return f"{head}/{medium}/{load:g}"


def _measure(spec, params: np.ndarray, seed: int) -> dict:
    """Per episode: speed, frequency, wavelength, amplitude, direction (lists; NaN as None)."""
    from wormsim.analysis import gait
    from wormsim.rollout import Evaluator
    ev = Evaluator(spec)
    try:
        r = ev.evaluate(np.asarray(params, np.float32)[None], seed=seed, record=True)
    finally:
        ev.close()
    g = gait(np.asarray(r.traces["curvature"], float), float(dict(spec.env_kwargs).get("control_dt", 0.02)))

    def clean(x):
        return [None if not math.isfinite(float(v)) else float(v) for v in np.atleast_1d(x)]
    return {"speed": clean(r.episodes["speed"][0]), "frequency": clean(g["frequency"]),
            "wavelength": clean(g["wavelength"]), "amplitude": clean(g["amplitude"]),
            "direction": [str(d) for d in np.atleast_1d(g["direction"])]}


def replay_spec(base, head_cpg: float, medium: str, load: float):
    from wormsim.gait import spec_at
    return spec_at(base, medium, load, DURATION, head_cpg)


def gait_cell(cfg: ExperimentConfig, cell) -> dict:
    """{condition key: per-episode gait} of a finished cell's trained policy, cached in its run directory
    (gait_load.json, keyed by the cell's configuration hash): only conditions not yet there are replayed."""
    from wormsim.experiment.grid import cell_dir, config_hash, train_config
    from wormsim.runs import Run, atomic_write_text
    path = cell_dir(cfg, *cell) / "gait_load.json"
    tc = train_config(cfg, *cell)
    key = config_hash(tc)
    stored = json.loads(path.read_text()) if path.is_file() else {}
    replays = stored.get("gait_load", {}) if stored.get("config_hash") == key else {}
    todo = [(head, medium, load) for head in HEADS for medium, load in CONDITIONS
            if _cond_key(head, medium, load) not in replays]
    todo += [("backward", *WATER)] if BACKWARD not in replays else []
    if todo:
        params, _ = Run.open(cell_dir(cfg, *cell)).load_policy()
        base = tc.eval_spec(episodes=EPISODES, held_out=True)
        for head, medium, load in todo:
            hz = float(tc.head_cpg) if head == "trained" else 0.0
            spec = replay_spec(base, hz, medium, load)
            if head == "backward":
                spec = replay_spec(dataclasses.replace(base, drive=(0.0, 1.0)), 0.0, medium, load)
            replays[_cond_key(head, medium, load)] = _measure(spec, params, SEED0 + 1000 * int(cell[-1]))
        atomic_write_text(path, json.dumps({"config_hash": key, "gait_load": replays}))
    return replays


def _swims(record: dict, i: int, direction: str = "head-to-tail") -> bool:
    """Episode i undulates as a swimmer does: a wave at mid-body running ``direction`` (head to tail:
    forward) with an amplitude of at least gait.MIN_AMPLITUDE (1 rad/BL; the animal bends 5-10), not a
    small wobble or a wave run the other way."""
    from wormsim.gait import MIN_AMPLITUDE
    return (record["frequency"][i] is not None and record["direction"][i] == direction
            and (record["amplitude"][i] or 0.0) >= MIN_AMPLITUDE)


def _end(record: dict, key: str) -> float:
    """The seed's value of ``key`` in one condition: the mean over the episodes that undulate (_swims), NaN
    unless at least half of them do."""
    n = len(record[key])
    have = [record[key][i] for i in range(n) if _swims(record, i) and record[key][i] is not None]
    return float(np.mean(have)) if have and 2 * len(have) >= n else math.nan


def seed_outcomes(replay: dict) -> dict:
    """A seed's outcomes (NaN where a fall's two loads do not both have a wave)."""
    swims = [math.isfinite(_end(replay[_cond_key("off", "water", x)], "frequency")) for x in WATER_LOADS]
    out = {"rhythm_range": max((math.log10(x) for x, ok in zip(WATER_LOADS, swims) if ok), default=-1.0)}
    for key, (measure, head, load) in FALLS.items():
        w = _end(replay[_cond_key(head, *WATER)], measure)
        a = _end(replay[_cond_key(head, "water", load)], measure)
        out[key] = math.log2(w / a) if math.isfinite(w) and math.isfinite(a) and a > 0 and w > 0 else math.nan
    return out


def gait_results(cfg: ExperimentConfig, results: list[dict]) -> list[dict]:
    """One row per eligible finished cell: task, level label, wiring, seed, its outcomes and its replays."""
    from wormsim.experiment.grid import trained_cells
    from wormsim.experiment.references import trained_swimmer
    rows = []
    for r, cell in trained_cells(cfg, results, trained_swimmer):
        replay = gait_cell(cfg, cell)
        rows.append({"task": r["task"], "level": r["level"], "wiring": r["wiring"], "seed": r["seed"],
                     **seed_outcomes(replay), "replay": replay})
    return rows


def wave_references(cfg: ExperimentConfig, task: str = "swim") -> dict:
    """The open-loop travelling wave (envs.waves.TravellingWave at the grid's head-oscillator frequency,
    1.5 BL, no circuit, head oscillator off) at every condition: {condition key: per-episode gait}. What
    the body alone does to an imposed wave as the load rises: its wavelength change is mechanical."""
    import gymnasium as gym

    from wormsim.analysis import gait
    from wormsim.envs.waves import TravellingWave
    from wormsim.experiment.references import open_loop
    probe = gym.make_vec(get_task(task).env_id, num_envs=1, vectorization_mode="vector_entry_point")
    layout = probe.layout
    probe.close()
    wave = TravellingWave(n_segments=layout.n_segments, frequency=cfg.head_cpg or 2.0)
    out = {}
    for medium, load in CONDITIONS:
        _, curvature, dt = open_loop(task, [SEED0 - 1 - k for k in range(EPISODES)],
                                     lambda t, n: np.repeat(wave(t)[None], n, axis=0), duration=DURATION,
                                     head_cpg=0.0, medium=medium, **({"load": load} if load != 1.0 else {}))
        g = gait(curvature, dt)
        out[_cond_key("off", medium, load)] = {
            **{k: [float(x) if math.isfinite(float(x)) else None for x in g[k]]
               for k in ("frequency", "wavelength", "amplitude")},
            "direction": [str(d) for d in g["direction"]]}
    return out


# ---- statistics ---------------------------------------------------------------------------------------
def gait_tests(cfg: ExperimentConfig, rows: list[dict], learning: dict) -> list[dict]:
    """Connectome against each null wiring, per level and outcome, among seeds with the outcome (at least
    two a side); Holm over the family (``p_holm`` on the tests whose cells both learned to swim)."""
    from wormsim.experiment.stats import comparisons, holm_within
    tests = []
    for key in OUTCOMES:
        vals = [{**r, "value": r[key], "score": r[key], "n_params": 0} for r in rows if math.isfinite(r[key])]
        counts: dict = {}
        for r in vals:
            counts[r["level"], r["wiring"]] = counts.get((r["level"], r["wiring"]), 0) + 1
        vals = [r for r in vals if counts[r["level"], r["wiring"]] >= 2]
        tests += [{**t, "measure": key} for t in comparisons(cfg, vals, learning) if t["family"] == "wiring"]
    return holm_within(tests)


def gait_verdict(tests: list[dict]) -> tuple[str, str]:
    """The family's verdict in the claims' words (claims.verdict, direction +1)."""
    from wormsim.experiment.claims import Family, verdict
    fam = Family("gait-load", "fang_yen", "The connectome adapts its gait to the load more than each null wiring",
                 +1, lambda cfg, t: True, "cells whose bodies swim at both loads of an outcome")
    kept = [t for t in tests if "p_holm" in t]
    left_out = [t for t in tests if "p_holm" not in t]
    return verdict(fam, kept, left_out)


# ---- the report's section ------------------------------------------------------------------------------
def _fmt(x: float, spec: str = ".2f") -> str:
    return format(x, spec) if math.isfinite(x) else "-"


def _along(records: list[dict], measure: str) -> tuple[str, str]:
    """(the mean of ``measure`` over the seeds that swim, per condition, joined; how many swim, joined)."""
    values, counts = [], []
    for rec in records:
        per_seed = [_end(r, measure) for r in rec]
        ok = [v for v in per_seed if math.isfinite(v)]
        values.append(_fmt(float(np.mean(ok)) if ok else math.nan))
        counts.append(str(len(ok)))
    return " · ".join(values), " · ".join(counts)


def _mean_n(values: list[float], spec: str = "+.2f") -> str:
    v = [x for x in values if math.isfinite(x)]
    if not v:
        return "- (0)"
    return f"{np.mean(v):{spec}} ({len(v)})"


def gait_section(cfg: ExperimentConfig, results: list[dict], learning: dict) -> list[str]:
    """The report's section (empty without eligible cells or with --no-gait)."""
    from wormsim.experiment.grid import uses_wiring
    from wormsim.experiment.stats import family_table
    from wormsim.experiment.stats import md_table as _md_table
    from wormsim.gait import ANIMAL
    if not cfg.gait:
        return []
    rows = gait_results(cfg, results)
    if not rows:
        return []
    aw, aa = ANIMAL["water"], ANIMAL["agar"]
    loads = " · ".join(f"{x:g}" for x in WATER_LOADS) + f" · agar {AGAR[1]:g}"
    lines = ["## Gait against load (without retraining)", "",
             f"Every trained swimmer replayed, not retrained, along the load axis (water at {loads} times its "
             f"viscosity; `wormsim gait`), {EPISODES} episodes of {DURATION:g} s per seed and condition, with the "
             "head oscillator as trained (its frequency imposed) and off (the circuit's own rhythm). Frequency "
             "(Hz) and wavelength (BL) per condition, mean over the seeds that swim there (a head-to-tail "
             "mid-body wave of at least 1 rad/BL), and how many of them do. Outcomes per seed, mean (seeds): "
             "rhythm range, log10 of the highest water load with a rhythm of its own (-1: none); frequency fall, "
             "log2 of load 1 over load 10, head oscillator off; wavelength fall, log2 of load 1 over load 100, "
             f"head oscillator as trained. The animal (Fang-Yen et al. 2010): {aw['frequency']:g} Hz, "
             f"{aw['wavelength']:g} BL in water; {aa['frequency']:g} Hz, {aa['wavelength']:g} BL on agar; it "
             "undulates at every viscosity and both its frequency and wavelength fall as the load rises "
             f"(water to agar: frequency {animal_fall('frequency'):+.2f}, wavelength "
             f"{animal_fall('wavelength'):+.2f} in log2).", ""]
    table = []
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["level"], r["wiring"]), []).append(r)
    for (task, label, wiring), sel in groups.items():
        for head in HEADS:
            recs = [[r["replay"][_cond_key(head, *c)] for r in sel] for c in CONDITIONS]
            hz, n = _along(recs, "frequency")
            bl, _ = _along(recs, "wavelength")
            out = ([_mean_n([r["rhythm_range"] for r in sel]), _mean_n([r["frequency_fall"] for r in sel]), ""]
                   if head == "off" else ["", "", _mean_n([r["wavelength_fall"] for r in sel])])
            back = [r["replay"][BACKWARD] for r in sel] if head == "off" else []
            reverse = (f"{sum(_swims(rec, i, 'tail-to-head') for rec in back for i in range(len(rec['direction'])))}"
                       f" of {sum(len(rec['direction']) for rec in back)}" if back else "")
            table.append([task, label, wiring if uses_wiring(label) else "(none)", head, f"{n} of {len(sel)}", hz,
                          bl, *out, reverse])
    refs = wave_references(cfg, rows[0]["task"])
    rec = [[refs[_cond_key("off", *c)]] for c in CONDITIONS]
    hz, _ = _along(rec, "frequency")
    bl, _ = _along(rec, "wavelength")
    w, a = (_end(refs[_cond_key("off", "water", x)], "wavelength") for x in (1.0, FALLS["wavelength_fall"][2]))
    table.append(["", "open-loop wave (no circuit)", "", "imposed", "", hz, bl, "", "",
                  _fmt(math.log2(w / a) if math.isfinite(w) and math.isfinite(a) else math.nan, "+.2f"), ""])
    table.append(["", "C. elegans (Fang-Yen et al. 2010)", "", "", "every load",
                  f"{aw['frequency']:g} (water) to {aa['frequency']:g} (agar)",
                  f"{aw['wavelength']:g} (water) to {aa['wavelength']:g} (agar)", ">= 3", "> 0", "> 0",
                  "reverses (AVA-driven backward waves)"])
    lines += _md_table(["task", "level", "wiring", "head osc.", f"seeds swimming ({loads})", "Hz", "BL",
                        "rhythm range", "frequency fall", "wavelength fall",
                        "backward drive: episodes with a tail-to-head wave"], table) + [""]
    tests = gait_tests(cfg, rows, learning)
    word, text = gait_verdict(tests)
    lines += [f"**gait-load** (the connectome adapts its gait to the load more than each null wiring, +1; Holm "
              f"within the family): **{word}**. {text}", ""]
    if tests:
        lines += family_table(tests, label="outcome") + [""]
    return lines
