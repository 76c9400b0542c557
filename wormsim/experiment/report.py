"""The report: per-task tables, the tests, findings in plain words, a verdict on each published claim,
the cost, and the command that made it, written into OUT as CSV files and report.md."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.claims import CLAIMS, claim_verdicts, fmt_p
from wormsim.experiment.config import ExperimentConfig, command_line
from wormsim.experiment.figures import plot_curves
from wormsim.experiment.grid import split_label, uses_wiring, write_csv
from wormsim.experiment.stats import ALPHA, FLOOR_MARGIN, comparisons, floor_flag, format_g, mean_ci, smallest_p
from wormsim.realism_levels import get_level
from wormsim.runs import atomic_write_text


# ---- tables ----------------------------------------------------------------------------------------------
def task_table(cfg: ExperimentConfig, task: str, rows: list[dict], labels: list[str]) -> list[dict]:
    """Per level x wiring: seeds, mean and 95% interval (clamped to the value's range) of the analysed
    value, mean score, parameters, floor / chance / ceiling flag."""
    spec = get_task(task)
    table = []
    for label in labels:
        for wiring in cfg.wirings:
            sel = [r for r in rows if r["level"] == label and r["wiring"] == wiring]
            if not sel:
                continue
            values, scores = [r["value"] for r in sel], [r["score"] for r in sel]
            m, lo, hi = mean_ci(values, spec.low, spec.high)
            table.append({"level": label, "wiring": wiring if uses_wiring(label) else "(none)",
                          "n": len(values), "mean": m, "ci_low": lo, "ci_high": hi,
                          "score_mean": float(np.mean(scores)), "n_params": sel[0]["n_params"],
                          "flag": floor_flag(task, scores, values),
                          "clipped": any(r["value_is_clipped_score"] for r in sel)})
    return table


def build_tables(cfg: ExperimentConfig, results: list[dict]) -> tuple[dict, list[dict]]:
    """({task: table rows}, every test of the report with Holm-adjusted p)."""
    labels = list(dict.fromkeys(r["level"] for r in results))
    tables = {task: task_table(cfg, task, [r for r in results if r["task"] == task], labels)
              for task in cfg.tasks}
    return tables, comparisons(cfg, results)


# ---- findings in plain words ------------------------------------------------------------------------------
def _verdict_word(t) -> str:
    if not math.isfinite(t["p"]):
        return "not testable (fewer than 2 seeds)"
    if t["p_holm"] < ALPHA:
        return "higher" if t["diff"] > 0 else "lower"
    if t["diff"] == 0:
        return "tied"
    return "no difference detected"


def _table_findings(task: str, table: list[dict]) -> list[str]:
    if not table:
        return []
    out = []
    means = [t["mean"] for t in table]
    top = max(means)
    if len(table) == 1:
        out.append(f"{task}: one cell only, {table[0]['level']} on {table[0]['wiring']}: {top:.4f}.")
    elif top - min(means) <= 1e-12 * max(1.0, abs(top)):
        out.append(f"{task}: every cell ties at {top:.4f}.")
    else:
        best = [t for t in table if t["mean"] >= top - 1e-12 * max(1.0, abs(top))]
        names = " and ".join(t["level"] if t["wiring"] == "(none)" else f"{t['level']} on {t['wiring']}"
                             for t in best)
        within = [t for t in table if t not in best and t["ci_high"] >= top]
        out.append(f"{task}: highest mean {top:.4f} ({names})"
                   + (f"; {len(within)} other cell(s) have 95% intervals reaching it" if within else "") + ".")
    flagged = [t for t in table if t["flag"]]
    if flagged:
        out.append(f"{task}: {len(flagged)} of {len(table)} cells at the floor / chance / ceiling ("
                   + ", ".join(f"{t['level']} {t['wiring']}: {t['flag']}" for t in flagged) + ").")
    return out


# what the b side of a "training" test is, by its training
_TRAINED_OTHERWISE = {"readout": "its reservoir (readout only)", "bptt": "the same circuit trained by BPTT"}


def _test_finding(task: str, t: dict) -> str:
    word = _verdict_word(t)
    what = {"wiring": f"{t['level_a']} level, the connectome", "level": t["level_a"],
            "training": f"{t['level_a']} level, the circuit trained by ES"}[t["family"]]
    against = {"wiring": t["wiring_b"], "level": f"the {t['level_b']} level",
               "training": _TRAINED_OTHERWISE.get(split_label(t["level_b"])[1], t["level_b"])}[t["family"]]
    sentence = (f"{task}, {what} vs {against}: " + (f"significantly {word}" if word in ("higher", "lower") else word)
                + f" (a - b {t['diff']:+.4f}, g = {format_g(t['hedges_g'])}, p = {fmt_p(t['p'])}, "
                  f"Holm p = {fmt_p(t['p_holm'])})")
    if t["floor"]:
        sentence += f"; cells at {t['floor']}: read with care"
    return sentence + "."


# ---- report.md ---------------------------------------------------------------------------------------------
def _grid_text(cfg: ExperimentConfig, results: list[dict]) -> str:
    """The paragraph that says what was run."""
    from wormsim.train.bptt import BPTTConfig
    bptt = [(r["task"], split_label(r["level"])[0]) for r in results if split_label(r["level"])[1] == "bptt"]
    unwired = [lv for lv in cfg.levels if not get_level(lv).uses_wiring]
    return (f"Grid: levels {', '.join(cfg.levels)}; wirings {', '.join(cfg.wirings)}; training "
            f"{', '.join(cfg.trains)}" + (" (readout: the circuit fixed at connectome-derived values, a "
                                         "linear readout fitted)" if "readout" in cfg.trains else "")
            + f"; tasks {', '.join(cfg.tasks)}; {cfg.seeds} seeds; dataset {cfg.dataset}. CMA-ES, "
            f"{cfg.budget} generations of {cfg.popsize} candidates (sigma {cfg.sigma:g}), "
            f"{cfg.episodes} episode(s) per candidate on the tasks with a body ({cfg.duration:g} s, head "
            f"oscillator {cfg.head_cpg:g} Hz), {cfg.nonmotor_episodes} on the tasks without one"
            + (f"; bptt cells: {cfg.bptt_budget} gradient steps of backpropagation through time (Adam, "
               f"{BPTTConfig().num_envs} episodes a step; {', '.join(dict.fromkeys(lv for _, lv in bptt))} on "
               f"{', '.join(dict.fromkeys(t for t, _ in bptt))})" if bptt else "")
            + f"; the final policy judged on {cfg.eval_episodes} fresh episodes."
            + (f" Levels without a wiring ({', '.join(unwired)}) are trained once per seed and appear once "
               "per task." if unwired else ""))


def _reading_notes(cfg: ExperimentConfig, tests: list[dict]) -> list[str]:
    """The 'How to read the numbers' bullets."""
    regression = [t for t in cfg.tasks if get_task(t).readout == "regression"]
    chance = [f"{t} {get_task(t).chance:g}" for t in cfg.tasks if get_task(t).chance is not None]
    n_min = min((min(t["n_a"], t["n_b"]) for t in tests), default=cfg.seeds)
    m = sum(math.isfinite(t["p"]) for t in tests)
    p_min, p_holm_min = smallest_p(cfg.seeds, cfg.seeds), m * smallest_p(n_min, n_min)
    ref = cfg.reference_level
    return [
        "- Each table gives, per level x wiring, the mean over seeds and its 95% t-interval, clamped to "
        "the range the mean can take (accuracy to [0, 1], R^2 to at most 1); speed is not clamped.",
        *([f"- {', '.join(regression)}: analysed on the unclipped recall R^2 (1 - MSE / variance of the "
           "targets; 0 is answering the targets' mean, below 0 is worse than that): the task's own score clips "
           "it at 0, which would make every failing cell equal. The clipped score is shown beside it."
           + (" Reservoir (readout) cells report the held-out R^2 pooled over all test steps."
              if "readout" in cfg.trains else "")] if regression else []),
        f"- A cell marked *floor* (*chance*) has no seed more than {FLOOR_MARGIN} above chance"
        + (f" ({', '.join(chance)})" if chance else "") + f"; *ceiling*: every seed's score within "
        f"{FLOOR_MARGIN} of 1. A difference between such cells says how badly they fail (or that both are "
        "saturated), not which one learns the task.",
        (f"- Level against level: every level trained by ES against the {ref} level, on the connectome."
         if ref in cfg.levels else f"- Level against level: not tested, the reference level {ref} is not among "
         "the grid's levels (--reference-level)."),
        f"- Tests: difference of means, Hedges' g (0 (tie): identical values; inf: no spread in either "
        f"group), and the two-sided permutation test on the difference of means. With {cfg.seeds} seeds a "
        f"side the smallest p it can return is {p_min:.4f}"
        + (" -- never below 0.05, so no test of this report can be significant whatever the data."
           if p_min >= ALPHA else ".")
        + f" Holm's correction runs over all {m} tests of this report (p_holm), so the smallest adjusted "
        f"p is {min(1.0, p_holm_min):.3f}"
        + (": no test can reach 0.05 after correction at this number of seeds (more seeds, or fewer "
           "tests, would be needed)." if p_holm_min >= ALPHA else ".")
        + " A p above 0.05 means no difference was detected, not that there is none."]


def _task_section(cfg: ExperimentConfig, task: str, table: list[dict], tests: list[dict]) -> list[str]:
    spec = get_task(task)
    lines = [f"## {task} (value: {spec.metric_label})", ""]
    head = "| level | wiring | seeds | mean | 95% CI |" + (f" {spec.score_label or 'score'} |" if spec.score else "")
    lines += [head + " parameters | note |", "|" + "---|" * (head.count("|") + 1)]
    for t in table:
        note = t["flag"] + ("; clipped score (no unclipped value stored)" if t["clipped"] else "")
        lines.append(f"| {t['level']} | {t['wiring']} | {t['n']} | {t['mean']:.4f} | "
                     f"[{t['ci_low']:.4f}, {t['ci_high']:.4f}] |"
                     + (f" {t['score_mean']:.4f} |" if spec.score else "") + f" {t['n_params']} | {note} |")
    if tests:
        lines += ["", "| comparison | a - b | g | p | p (Holm) | note |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['a']} vs {t['b']} | {t['diff']:+.4f} | {format_g(t['hedges_g'])} | "
                  f"{fmt_p(t['p'])} | {fmt_p(t['p_holm'])} | {t['floor']} |" for t in tests]
    return lines + ["", f"![learning curves](curves_{task}.png)", ""]


def _costs(results, key: str) -> str:
    """'level task seconds, ...': the mean of ``key`` over each (level, task)'s cells."""
    out = {}
    for r in results:
        out.setdefault((r["level"], r["task"]), []).append(r[key])
    return ", ".join(f"{lv} {task} {np.mean(v):.1f}" for (lv, task), v in out.items())


def _cost_section(cfg: ExperimentConfig, results: list[dict]) -> list[str]:
    lines = ["## Cost", ""]
    recorded = [r for r in results if r.get("wall_time") is not None]
    if recorded:
        total = sum(r["wall_time"] for r in recorded)
        lines += [f"Training time as each run recorded it, {total / 60:.1f} min over {len(recorded)} cells "
                  "(build and final evaluation not included; seconds per cell, mean over its seeds and "
                  "wirings): " + _costs(recorded, "wall_time") + ".", ""]
    timed = [r for r in results if r.get("cell_seconds") is not None]
    if timed:
        total = sum(r["cell_seconds"] for r in timed)
        lines += [f"{len(timed)} cells run by this invocation, {total / 60:.1f} min of cell time in all, on "
                  f"{cfg.workers} worker(s); seconds per cell, build and final evaluation included: "
                  + _costs(timed, "cell_seconds") + ".", ""]
    return lines


def write_report(cfg: ExperimentConfig, results: list[dict], command: str | None = None) -> None:
    """Write table_<task>.csv, tests.csv, curves_<task>.png and report.md into cfg.out. ``command``: the
    command line the report quotes (default: the full equivalent ``wormsim experiment`` line)."""
    out = Path(cfg.out)
    tables, tests = build_tables(cfg, results)
    for task, table in tables.items():
        write_csv(out / f"table_{task}.csv", table)
    write_csv(out / "tests.csv", tests)
    lines = ["# Does biophysical detail matter? Realism levels x wirings", "", _grid_text(cfg, results), "",
             "Reproduce with:", "", "```", command or command_line(cfg), "```", "",
             "## How to read the numbers", "", *_reading_notes(cfg, tests), ""]
    findings = []
    for task in cfg.tasks:
        task_tests = [t for t in tests if t["task"] == task]
        plot_curves(cfg, task, out / f"curves_{task}.png")
        lines += _task_section(cfg, task, tables[task], task_tests)
        findings += _table_findings(task, tables[task]) + [_test_finding(task, t) for t in task_tests]
    lines += ["## Findings in plain words", ""] + [f"- {f}" for f in findings] + [""]
    lines += ["## Next to the published claims", ""]
    for key, text in CLAIMS.items():
        lines += [f"**{text}**", ""] + [f"- {v}" for v in claim_verdicts(key, cfg, tests)] + [""]
    lines += _cost_section(cfg, results)
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
