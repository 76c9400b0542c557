"""Gait against load: a trained circuit replayed, without retraining, along the load axis (`wormsim gait`).

    wormsim gait runs/NAME [--loads 1 10 100 1000 10000] [--agar-loads 3000] [--episodes 2]
                           [--duration 10] [--head-cpg trained|off|both] [--drive F B] [--out DIR]

Each row is one condition: a medium (water: drag ratio 2; agar: 10, docs/body/README.md) at a load (the
medium's viscosity relative to water's, Fang-Yen et al. 2010's axis, which multiplies the drag). The run's
policy swims episodes there (seeds training never used), and its gait is measured from the curvature kymograph by
``wormsim.analysis.gait`` (the one measure the video, `wormsim rollout` and the experiment use): mid-body
frequency (Hz), wavelength (BL), mid-body curvature amplitude (rad/BL), direction of the wave; the
mean forward speed (BL/s, the environment's); and the muscles' mechanical power
(``wormsim.analysis.muscle_power``: "power", the positive power, the work they do while shortening, which
includes bending the elastic body; "power_net", what the body and load dissipate). The table gives the
power relative to water at load 1, beside the animal's, nearly constant across its gaits (Fang-Yen et al.
2010, ``ANIMAL_POWER``). The table is printed beside the animal's values (``ANIMAL``) and written with a
figure into the run directory (``write_outputs``): gait.json, gait.csv, gait.png (atomic writes).

The animal (cited where the project cites them, docs/body/README.md):
- swimming in water: 1.76 Hz, 1.54 BL (Fang-Yen et al. 2010, PNAS 107:20323, Fig. 2, the water end of
  gait against viscosity), about 0.35 BL/s (Sznitman et al. 2010, Biophys. J. 98:617);
- crawling on agar: 0.30 Hz, 0.65 BL (Fang-Yen et al. 2010, the agar end);
- along the axis in between (``ANIMAL_ALONG``): frequency and wavelength in dextran solutions of 1 to 28,000
  mPa s, Fang-Yen et al. 2010 Fig. 2, as digitized in the Cohen lab's model code (L. Deutz, minimal-worm,
  experiments/paper/sweeps.py ``fang_yen_data``; the figure itself was not readable here). Each water row
  inside that range gets the animal's value at its viscosity (``animal_at``: linear in log viscosity).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import time
from pathlib import Path

import numpy as np

SEED = 5_000_000   # episode seeds apart from training's (0..) and the experiment's
MEDIA = ("water", "agar")
FIELDS = ("medium", "load", "head_cpg", "speed", "speed_sd", "frequency", "wavelength", "amplitude",
          "power", "power_net", "direction", "undulating", "episodes")
# the animal's two ends of the load axis (see the module doc for the sources)
ANIMAL = {
    "water": {"frequency": 1.76, "wavelength": 1.54, "speed": 0.35,
              "source": "Fang-Yen et al. 2010 PNAS Fig. 2 (frequency, wavelength); Sznitman et al. 2010 "
                        "Biophys. J. (speed)"},
    "agar": {"frequency": 0.30, "wavelength": 0.65, "speed": None,
             "source": "Fang-Yen et al. 2010 PNAS Fig. 2"},
}
WITHIN = 0.15      # the issue's "within 15% of the animal"
# the animal along the load axis in water: (viscosity relative to water's, Hz, BL), see the module doc
ANIMAL_ALONG = ((1.0, 1.761, 1.516), (9.2, 1.597, 1.388), (122.0, 1.383, 1.328), (303.0, 1.119, 1.239),
                (798.0, 0.790, 1.032), (1387.0, 0.650, 0.943), (9016.0, 0.257, 0.856), (28054.0, 0.169, 0.799))
# the animal's muscle power along the load axis: "nearly constant across changes in locomotory gait" (Fang-Yen
# et al. 2010, PNAS, abstract; their model's power from the measured kinematics; the figure's values were not
# read here), drawn as 1 x its water value
ANIMAL_POWER = {"relative": 1.0, "label": "animal: nearly constant",
                "source": "Fang-Yen et al. 2010 PNAS (abstract: muscle power nearly constant across gaits)"}
ANIMAL_ALONG_SOURCE = ("Fang-Yen et al. 2010 PNAS Fig. 2 (dextran solutions), as digitized in L. Deutz's "
                       "minimal-worm (Cohen lab)")


def animal_at(load: float) -> tuple[float, float] | None:
    """The animal's (frequency Hz, wavelength BL) swimming at ``load`` times water's viscosity, linear in
    log viscosity between ANIMAL_ALONG's points; None outside them."""
    x = np.log10([p[0] for p in ANIMAL_ALONG])
    if not (x[0] <= math.log10(load) <= x[-1]):
        return None
    return tuple(float(np.interp(math.log10(load), x, [p[k] for p in ANIMAL_ALONG])) for k in (1, 2))


def conditions(loads, agar_loads) -> list[tuple[str, float]]:
    """[(medium, load)]: water rows then agar rows; every load checked (a ValueError naming the range)."""
    from wormsim.envs.body import check_load
    rows = [("water", check_load(x)) for x in loads] + [("agar", check_load(x)) for x in agar_loads]
    if not rows:
        raise ValueError("no condition to measure: give at least one of --loads, --agar-loads")
    return rows


def spec_at(spec, medium: str, load: float, duration: float | None = None, head_cpg: float | None = None,
            drive=None):
    """``spec`` with the body in ``medium`` at ``load`` (and the episode length, head oscillator and
    command drive when given)."""
    out = spec.at(medium, load)
    kw = dict(out.env_kwargs)
    if duration is not None:
        kw["duration"] = float(duration)
    if head_cpg is not None:
        kw["head_cpg"] = float(head_cpg)
    out = dataclasses.replace(out, env_kwargs=tuple(kw.items()))
    if drive is not None:
        out = dataclasses.replace(out, drive=tuple(float(d) for d in drive))
    return out


def recorded(spec, params, seed: int = SEED):
    """The policy ``params`` run on ``spec``'s episodes (seeds from ``seed``) with the traces kept:
    (its EvalResult, the control step in s)."""
    from wormsim.rollout import Evaluator
    ev = Evaluator(spec)
    try:
        r = ev.evaluate(np.asarray(params, np.float32)[None], seed=seed, record=True)
    finally:
        ev.close()
    return r, float(dict(spec.env_kwargs).get("control_dt", 0.02))


def measure(spec, params, seed: int = SEED) -> dict:
    """One condition: the policy ``params`` on ``spec``'s episodes (seeds from ``seed``), its speed and
    gait. frequency and amplitude are means over the episodes, wavelength the median over those with a
    wave; NaN where no episode undulates."""
    from wormsim.analysis import gait, muscle_power
    from wormsim.envs.body import BodyParams
    r, dt = recorded(spec, params, seed)
    curv = np.asarray(r.traces["curvature"], float)             # (T, B, J), rad / BL
    env_kw = dict(spec.env_kwargs)
    g = gait(curv, dt)
    freq, wl = np.atleast_1d(g["frequency"]), np.atleast_1d(g["wavelength"])
    speed = np.asarray(r.episodes["speed"], float)
    power = {"net": np.nan, "positive": np.nan}
    if not env_kw.get("head_cpg", 0.0) and env_kw.get("actuator", "muscle") == "muscle":
        # The recorded commands are the muscles' whole input only without the head oscillator's drive.
        names = {f.name for f in dataclasses.fields(BodyParams)}
        bp = BodyParams(**{k: v for k, v in env_kw.items() if k in names})
        power = muscle_power(r.traces["muscles"], curv, dt, bp.muscle_tau, bp.muscle_strength)
    return {"speed": float(np.mean(speed)), "speed_sd": float(np.std(speed)),
            "frequency": float(np.nanmean(freq)) if np.isfinite(freq).any() else float("nan"),
            "wavelength": float(np.nanmedian(wl)) if np.isfinite(wl).any() else float("nan"),
            "amplitude": float(np.mean(g["amplitude"])),
            "power": float(np.mean(power["positive"])), "power_net": float(np.mean(power["net"])),
            "direction": ",".join(sorted(set(np.atleast_1d(g["direction"]).tolist()))),
            "undulating": int(np.isfinite(freq).sum()), "episodes": int(curv.shape[1])}


def replay(run_path, loads=(1.0, 10.0, 100.0, 1000.0, 10000.0), agar_loads=(3000.0,), episodes: int = 2,
           duration: float = 10.0, head_cpg: str = "trained", drive=None, level_options: dict | None = None,
           progress=None) -> dict:
    """Replay the policy of the run at ``run_path`` under every condition. head_cpg: "trained" (the head
    oscillator as the run had it), "off" (0 Hz), or "both". drive: (forward, backward) command drive, or
    None for the run's. level_options: level config overrides for the replay (e.g. an ablation).
    ``progress(row)`` is called after each row. Returns {"run", "set_up", "rows", "animal", "ends",
    "wall_time"}. A ValueError (RunError) names a bad input before anything is simulated."""
    from wormsim.config import TrainConfig
    from wormsim.envs.tasks import get_task, task_names
    from wormsim.runs import Run
    if episodes < 1 or not duration > 0:
        raise ValueError(f"--episodes must be >= 1 and --duration > 0, got {episodes} and {duration}")
    if head_cpg not in ("trained", "off", "both"):
        raise ValueError(f"--head-cpg must be trained, off or both, got {head_cpg!r}")
    rows_to_do = conditions(loads, agar_loads)
    t0 = time.time()
    run = Run.open(run_path)
    cfg = TrainConfig.from_dict(run.config)
    if not get_task(cfg.task).has_body:
        raise ValueError(f"{run.path} is a {cfg.task!r} run: that task has no body, so no gait (gait replays "
                         f"{' and '.join(task_names(has_body=True))} runs)")
    params, _ = run.load_policy()
    base = cfg.eval_spec(episodes=episodes)
    if level_options:
        base = dataclasses.replace(base, level_kwargs=tuple(base.level_kwargs) + tuple(level_options.items()))
    heads = {"trained": [float(cfg.head_cpg)], "off": [0.0],
             "both": sorted({float(cfg.head_cpg), 0.0}, reverse=True)}[head_cpg]
    rows = []
    for head in heads:
        for medium, load in rows_to_do:
            m = measure(spec_at(base, medium, load, duration, head, drive), params)
            row = {"medium": medium, "load": load, "head_cpg": head, **m}
            rows.append(row)
            if progress is not None:
                progress(row)
    across = run.config.get("across_loads") if isinstance(run.config, dict) else None   # train_across_loads.py
    if not across and cfg.also_at:                                                       # wormsim train --also-at
        across = {"also_at": list(cfg.also_at), "fitness": "mean log10 speed"}
    set_up = {"level": cfg.level, "wiring": cfg.wiring, "dataset": cfg.dataset, "seed": cfg.seed,
              "trained_medium": cfg.medium, "trained_load": cfg.load, "trained_head_cpg": cfg.head_cpg,
              "bistable_gain": cfg.bistable_gain, "own_stretch": cfg.own_stretch,
              "circuit": cfg.circuit, "head_stretch": cfg.head_stretch,
              "bending_stiffness": cfg.bending_stiffness, "across_loads": across, "episodes": episodes,
              "duration": duration, "episode_seed": SEED,
              "drive": None if drive is None else list(drive),
              "level_options": dict(level_options or {})}
    return {"run": str(run.path), "set_up": set_up, "rows": rows, "animal": ANIMAL, "animal_power": ANIMAL_POWER,
            "animal_along": {"source": ANIMAL_ALONG_SOURCE, "load_frequency_wavelength": ANIMAL_ALONG},
            "ends": ends(rows), "wall_time": round(time.time() - t0, 1)}


def _rel(x: float, ref: float) -> float:
    return (x - ref) / ref if np.isfinite(x) else float("nan")


def ends(rows: list[dict]) -> list[dict]:
    """For each head-oscillator setting, the water end (water, load 1) against each agar row: the fold
    fall of frequency (the animal's: 1.76 / 0.30 = 5.9) and each end's frequency and wavelength
    relative to the animal's. Empty if there is no water row at load 1."""
    out = []
    for head in sorted({r["head_cpg"] for r in rows}, reverse=True):
        water = [r for r in rows if r["head_cpg"] == head and r["medium"] == "water" and r["load"] == 1.0]
        if not water:
            continue
        w = water[0]
        for a in (r for r in rows if r["head_cpg"] == head and r["medium"] == "agar"):
            fold = w["frequency"] / a["frequency"] if np.isfinite(w["frequency"]) and a["frequency"] > 0 else np.nan
            rel = {"water_frequency": _rel(w["frequency"], ANIMAL["water"]["frequency"]),
                   "water_wavelength": _rel(w["wavelength"], ANIMAL["water"]["wavelength"]),
                   "agar_frequency": _rel(a["frequency"], ANIMAL["agar"]["frequency"]),
                   "agar_wavelength": _rel(a["wavelength"], ANIMAL["agar"]["wavelength"])}
            out.append({"head_cpg": head, "agar_load": a["load"], "frequency_fall": float(fold),
                        "animal_frequency_fall": ANIMAL["water"]["frequency"] / ANIMAL["agar"]["frequency"],
                        "relative_to_animal": rel,
                        "within_15pct": {k: bool(abs(v) <= WITHIN) for k, v in rel.items()},
                        "goal_met": bool(np.isfinite(fold) and fold >= 3
                                         and all(abs(v) <= WITHIN for v in rel.values()))})
    return out


def power_vs_water(rows: list[dict], row: dict) -> float:
    """The row's muscle power (the positive power, ``wormsim.analysis.muscle_power``) over that of the
    water row at load 1 with the same head oscillator (NaN without one, or without a power; rows written
    before the power was measured have none). The animal's stays nearly constant (``ANIMAL_POWER``)."""
    water = [r for r in rows if r["head_cpg"] == row["head_cpg"] and r["medium"] == "water" and r["load"] == 1.0]
    p, p0 = row.get("power", np.nan), water[0].get("power", np.nan) if water else np.nan
    if p is None or p0 is None or not (np.isfinite(p) and np.isfinite(p0)) or p0 <= 0:
        return float("nan")
    return float(p / p0)


# ---- text -----------------------------------------------------------------------------------------------
def _f(x, spec: str) -> str:
    return "-" if x is None or not (isinstance(x, (int, float)) and math.isfinite(x)) else format(x, spec)


def format_table(result: dict) -> str:
    """The rows as a markdown table, the animal's two ends under it, then one line per end pair."""
    s = result["set_up"]
    lines = [f"run {result['run']}: {s['level']}/{s['wiring']}, trained in {s['trained_medium']} at load "
             f"{s['trained_load']:g}" + (f" and across loads {s['across_loads']}" if s.get("across_loads") else "")
             + f", head oscillator {s['trained_head_cpg']:g} Hz"
             + (f", body EI {s['bending_stiffness']:g} (default 2.3)" if s.get("bending_stiffness", 2.3) != 2.3 else "")
             + f"; {s['episodes']} episode(s) (fresh seeds) of "
             f"{s['duration']:g} s per row, gait after the first quarter"
             + (f"; command drive (forward, backward) {tuple(s['drive'])}" if s.get("drive") else "")
             + (f"; level overrides {s['level_options']}" if s.get("level_options") else ""), "",
             "| medium | load | head osc. Hz | speed BL/s (sd) | frequency Hz | wavelength BL | amplitude rad/BL "
             "| muscle power, x water 1x | direction | episodes undulating | the animal here Hz / BL |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        here = animal_at(r["load"]) if r["medium"] == "water" else None
        lines.append(f"| {r['medium']} | {r['load']:g} | {r['head_cpg']:g} | {r['speed']:.3f} ({r['speed_sd']:.3f}) "
                     f"| {_f(r['frequency'], '.2f')} | {_f(r['wavelength'], '.2f')} | {r['amplitude']:.2f} | "
                     f"{_f(power_vs_water(result['rows'], r), '.2f')} | "
                     f"{r['direction']} | {r['undulating']}/{r['episodes']} | "
                     + (f"{here[0]:.2f} / {here[1]:.2f} |" if here else "- |"))
    for medium, a in ANIMAL.items():
        lines.append(f"| the animal, {medium} | | | {_f(a['speed'], '.2f') if a['speed'] else '-'} | "
                     f"{a['frequency']:.2f} | {a['wavelength']:.2f} | | | {a['source']} | |")
    lines.append(f"(muscle power: the muscles' positive mechanical power, the work they do while shortening, "
                 f"wormsim.analysis.muscle_power, over the water 1x row's; the animal's: {ANIMAL_POWER['source']})")
    if any(r["medium"] == "water" and animal_at(r["load"]) for r in result["rows"]):
        lines.append(f"(the animal here: {ANIMAL_ALONG_SOURCE}; linear in log viscosity between its points)")
    for e in result["ends"]:
        rel = e["relative_to_animal"]
        pct = lambda k: "-" if not np.isfinite(rel[k]) else f"{rel[k]:+.0%}"  # noqa: E731
        fall = (f"frequency falls {e['frequency_fall']:.1f}-fold" if np.isfinite(e["frequency_fall"])
                else "no frequency fall (no rhythm at one end)")
        lines.append(f"water 1x -> agar {e['agar_load']:g}x (head osc. {e['head_cpg']:g} Hz): {fall} "
                     f"(animal: {e['animal_frequency_fall']:.1f}-fold); against the "
                     f"animal: water {pct('water_frequency')} Hz, {pct('water_wavelength')} BL; agar "
                     f"{pct('agar_frequency')} Hz, {pct('agar_wavelength')} BL; issue goal (>= 3-fold, all four "
                     f"within 15%): {'met' if e['goal_met'] else 'not met'}")
    return "\n".join(lines)


# ---- files ----------------------------------------------------------------------------------------------
def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return _jsonable(x.item())
    return x


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(r.get(k), float) and not math.isfinite(r[k]) else r.get(k, ""))
                    for k in FIELDS})
    return buf.getvalue()


MIN_AMPLITUDE = 1.0   # rad/BL: below it a "rhythm" is a small wobble (the animal bends ~5-10): hollow markers


def figure(result: dict, path) -> Path:
    """Frequency, wavelength, mid-body amplitude and speed against load (log x), water rows solid, agar
    rows dashed, one colour per head-oscillator setting, points below MIN_AMPLITUDE hollow; the animal's
    ends dotted (water black, agar grey) and its water values starred at load 1."""
    from wormsim.viz.figures import pyplot, save_figure
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), sharex=True)
    panels = [(axes[0, 0], "frequency", "frequency (Hz)"), (axes[0, 1], "wavelength", "wavelength (BL)"),
              (axes[0, 2], "amplitude", "mid-body amplitude (rad/BL)"), (axes[1, 0], "speed", "speed (BL/s)"),
              (axes[1, 1], "power_x_water", "muscle power (x water 1x)")]
    rows = [{**r, "power_x_water": power_vs_water(result["rows"], r)} for r in result["rows"]]
    heads = sorted({r["head_cpg"] for r in rows}, reverse=True)
    for i, head in enumerate(heads):
        for medium, style in (("water", "-o"), ("agar", "--s")):
            pts = sorted((r for r in rows if r["head_cpg"] == head and r["medium"] == medium), key=lambda r: r["load"])
            for ax, key, _ in panels:
                keep = [r for r in pts if np.isfinite(r[key])]
                ax.plot([r["load"] for r in keep], [r[key] for r in keep], style, color=f"C{i}", ms=4, lw=1.2,
                        label=f"{medium}, head osc. {head:g} Hz" if ax is axes[1, 0] else None)
                weak = [r for r in keep if r["amplitude"] < MIN_AMPLITUDE]
                ax.plot([r["load"] for r in weak], [r[key] for r in weak], style[-1], color="w", ms=2.5, ls="none")
    loads = [r["load"] for r in rows]
    lo, hi = min(loads + [1.0]) / 2, max(loads + [1.0]) * 2
    for ax, key, ylabel in panels:
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both", lw=0.5)
        for medium, color in (("water", "k"), ("agar", "0.5")):
            v = ANIMAL[medium].get(key)
            if v is None:
                continue
            ax.axhline(v, color=color, lw=0.9, ls=":")
            ax.text(hi / 1.1, v, f"animal, {medium}", fontsize=7, va="bottom", ha="right", color=color)
            if medium == "water":
                ax.plot([1.0], [v], "*", color="k", ms=10, zorder=5)
        if key == "power_x_water":
            ax.set_yscale("log")
            ax.axhline(ANIMAL_POWER["relative"], color="k", lw=0.9, ls=":")
            ax.text(hi / 1.1, ANIMAL_POWER["relative"], ANIMAL_POWER["label"], fontsize=7, va="bottom", ha="right",
                    color="k")
        if key in ("frequency", "wavelength"):
            k = 1 if key == "frequency" else 2
            ax.plot([p[0] for p in ANIMAL_ALONG], [p[k] for p in ANIMAL_ALONG], ":x", color="k", ms=4, lw=0.9,
                    label=None)
    axes[0, 2].tick_params(labelbottom=True)      # the panel above the legend keeps its own load axis
    for ax in (*axes[1, :2], axes[0, 2]):
        ax.set_xlabel("load (viscosity / water's); agar: drag ratio 10", fontsize=9)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    axes[1, 2].axis("off")
    axes[1, 2].legend(handles, labels, fontsize=8, loc="center")
    s = result["set_up"]
    fig.suptitle(f"{Path(result['run']).name}: {s['level']}/{s['wiring']}, replayed without retraining "
                 f"({s['episodes']} x {s['duration']:g} s per point)\nfrequency and wavelength where the body "
                 f"undulates; hollow markers: mid-body amplitude below {MIN_AMPLITUDE:g} rad/BL\nthe animal: "
                 "Fang-Yen et al. 2010 (water 1.76 Hz, 1.54 BL; agar 0.30 Hz, 0.65 BL;\nx: in viscous solutions, "
                 "Fig. 2 as digitized by Deutz); Sznitman et al. 2010 (0.35 BL/s in water)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def write_outputs(result: dict, out_dir, stem: str = "gait") -> dict[str, Path]:
    """gait.json (everything), gait.csv (the rows), gait.png (the figure) in ``out_dir``, each atomic."""
    from wormsim.runs import atomic_write_text
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"--out: the folder {out} does not exist")
    paths = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv", "figure": out / f"{stem}.png"}
    atomic_write_text(paths["json"], json.dumps(_jsonable(result), indent=2))
    atomic_write_text(paths["csv"], to_csv(result["rows"]))
    figure(result, paths["figure"])
    return paths
