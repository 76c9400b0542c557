"""The report: per-task tables, the tests, findings in plain words, a verdict on each published claim,
the cost, and the command that made it, written into OUT as CSV files and report.md."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.claims import CLAIMS, FAMILIES, family_results
from wormsim.experiment.config import ExperimentConfig, command_line
from wormsim.experiment.figures import plot_curves
from wormsim.experiment.grid import cell_algo, split_label, uses_wiring, write_csv
from wormsim.experiment.stats import (ALPHA, FLOOR_MARGIN, cell_learning, comparisons, diff_format, fmt_p,
                                      floor_flag, format_g, interactions, mean_ci, smallest_p, speed_comparisons)
from wormsim.experiment.stats import format_ci as _ci
from wormsim.experiment.stats import md_table as _md_table
from wormsim.realism_levels import get_level
from wormsim.runs import atomic_write_text


# ---- tables ----------------------------------------------------------------------------------------------
def task_table(cfg: ExperimentConfig, task: str, rows: list[dict], labels: list[str],
               learning: dict | None = None) -> list[dict]:
    """Per level x wiring: seeds, mean and 95% interval (clamped to the value's range) of the analysed
    value, mean score, parameters, floor / chance / ceiling flag, and whether the cell learned."""
    learning = learning or {}
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
                          "clipped": any(r["value_is_clipped_score"] for r in sel),
                          "untrained": _untrained_mean(sel), "capped": _capped(sel),
                          **_learned_columns(learning.get((task, label, wiring)))})
    return table


def _untrained_mean(rows: list[dict]) -> float:
    """The untrained circuit's mean over the cell's held-out episodes (NaN where none were recorded)."""
    values = [v for r in rows for v in (r.get("untrained_trials") or []) if v is not None]
    return float(np.mean(values)) if values else math.nan


def _capped(rows: list[dict]) -> int:
    """How many of a cell's runs stopped at their budget before the plateau rule fired (their score is a
    lower bound on the plateau); fitted readouts, which have no rule, count as converged."""
    return sum(r.get("converged") in (False, "False") for r in rows)


def _note(t: dict) -> str:
    """A cell's note: its floor / chance / ceiling flag, a score that is only a lower bound, a clipped
    value."""
    parts = [t["flag"]] if t["flag"] else []
    if t.get("capped"):
        parts.append(f"{t['capped']} of {t['n']} runs at the budget, not converged: a lower bound")
    if t["clipped"]:
        parts.append("clipped score (no unclipped value stored)")
    return "; ".join(parts)


def _learned_columns(test: dict | None) -> dict:
    test = test or {"learned": None, "p_chance": math.nan, "p_untrained": math.nan, "n_trials": 0, "why": ""}
    word = {True: "yes", False: "no", None: "unknown"}[test["learned"]]
    return {"learned": word, "learned_why": test["why"], "p_chance": test["p_chance"],
            "p_untrained": test["p_untrained"], "n_trials": test["n_trials"]}


def build_tables(cfg: ExperimentConfig, results: list[dict]) -> tuple[dict, list[dict]]:
    """({task: table rows}, every comparison of the grid, each marked with whether its cells learned)."""
    labels = list(dict.fromkeys(r["level"] for r in results))
    learning = cell_learning(results)
    tables = {task: task_table(cfg, task, [r for r in results if r["task"] == task], labels, learning)
              for task in cfg.tasks}
    return tables, comparisons(cfg, results, learning)


# ---- findings in plain words ------------------------------------------------------------------------------
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


# ---- report.md ---------------------------------------------------------------------------------------------
def _grid_text(cfg: ExperimentConfig, results: list[dict]) -> str:
    """The paragraph that says what was run: the grid, each trainer's budget and stopping rule, the
    search and how it was tuned."""
    from wormsim.train.bptt import BPTTConfig
    algos = {}
    for r in results:
        algos.setdefault(r.get("algo") or "es", set()).add((r["task"], split_label(r["level"])[0]))
    bptt = sorted(algos.get("bptt", ()))
    unwired = [lv for lv in cfg.levels if not get_level(lv).uses_wiring]
    reservoir_only = [] if cfg.nonmotor_es or not cfg.nonmotor_gradient else sorted(
        {lv for t in cfg.tasks for lv in cfg.levels if not get_task(t).has_body
         and cell_algo(cfg, t, lv, "weights") == "es"})
    rule = (f"every run trained until its validation score stopped improving (the plateau rule: less than "
            f"{cfg.plateau_tol:g} of its gain so far, or than one validation check's standard error, over "
            f"the last {cfg.patience} ES generations / {cfg.bptt_patience} BPTT steps; checked every "
            f"{cfg.val_every} iterations on {cfg.val_episodes} fixed training-distribution episodes), at most "
            if cfg.stop == "plateau" else "every run took its whole budget, ")
    search = (f"each level's search tuned on every task with the same {len(cfg.tune_sigmas)} trials (ES step "
              f"{', '.join(f'{x:g}' for x in cfg.tune_sigmas)} of each parameter group's natural scale; BPTT "
              f"learning rate {', '.join(f'{x:g}' for x in cfg.tune_lrs)}), chosen on validation episodes "
              "(section Search and convergence)" if cfg.tune else
              f"ES step {cfg.sigma:g} of each parameter group's natural scale, not tuned")
    return (f"Grid: levels {', '.join(cfg.levels)}; wirings {', '.join(cfg.wirings)}; training "
            f"{', '.join(cfg.trains)}" + (" (readout: the circuit fixed at connectome-derived values, a "
                                         "linear readout fitted)" if "readout" in cfg.trains else "")
            + f"; tasks {', '.join(cfg.tasks)}; {cfg.seeds} seeds; dataset {cfg.dataset}. Training: {rule}"
            f"{cfg.budget} CMA-ES generations of {cfg.popsize} candidates, "
            f"{cfg.episodes} episode(s) per candidate on the tasks with a body ({cfg.duration:g} s, head "
            f"oscillator {cfg.head_cpg:g} Hz), {cfg.nonmotor_episodes} on the tasks without one"
            + (f", or {cfg.bptt_budget} BPTT steps (Adam, {BPTTConfig().num_envs} episodes a step: "
               + ", ".join(f"{lv} on {t}" for t, lv in bptt) + ")" if bptt else "")
            + f"; {search}; the final policy judged on {cfg.eval_episodes} fresh held-out episodes."
            + (f" Levels without a wiring ({', '.join(unwired)}) are trained once per seed and appear once "
               "per task." if unwired else "")
            + (f" On the tasks without a body, the levels BPTT cannot train ({', '.join(reservoir_only)}) enter "
               "only as fixed reservoirs with a fitted readout: trained by ES to a plateau there, a cell takes hours "
               "(--nonmotor-es runs them)." if reservoir_only else ""))


def _reading_notes(cfg: ExperimentConfig, tests: list[dict], seeds: int | None = None) -> list[str]:
    """The 'How to read the numbers' bullets."""
    regression = [t for t in cfg.tasks if get_task(t).readout == "regression"]
    chance = [f"{t} {get_task(t).chance:g}" for t in cfg.tasks if get_task(t).chance is not None]
    seeds = cfg.seeds if seeds is None else seeds     # the fewest a cell has (an interim report: fewer)
    p_min = smallest_p(seeds, seeds)
    ref = cfg.reference_level
    return [
        "- Each table gives, per level x wiring, the mean over seeds and its 95% t-interval, clamped to "
        "the range the mean can take (accuracy to [0, 1], R^2 to at most 1); speed is not clamped.",
        *([f"- {', '.join(regression)}: analysed on the unclipped recall R^2 (1 - MSE / variance of the "
           "targets; 0 is answering the targets' mean, below 0 is worse than that): the task's own score clips "
           "it at 0, which would make every failing cell equal. The clipped score is shown beside it. One "
           "episode's value is an unbiased estimate, not a bounded one: perfect recall of cues larger than "
           "average reads above 1, so a validation check on a few fixed episodes can exceed 1; its expected "
           "value over episodes is at most 1."
           + (" Reservoir (readout) cells are analysed on the same estimator, the mean return of their held-out "
                 "episodes (the env's return of the fitted readout's answers)."
              if "readout" in cfg.trains else "")] if regression else []),
        f"- **Learned**: a cell learned when its held-out trials (every evaluation episode of every seed, "
        f"pooled) beat the task's chance level" + (f" ({', '.join(chance)})" if chance else "")
        + " and the untrained circuit on the same episodes, each by a one-sided sign-flip permutation test "
        f"at {ALPHA} (a fitted readout, which has no untrained counterpart, only chance). Cells that did not "
        "learn, or recorded no trials, are listed apart and enter no comparison and no verdict.",
        f"- A cell marked *floor* (*chance*) has no seed more than {FLOOR_MARGIN} above chance; *ceiling*: "
        f"every seed's score within {FLOOR_MARGIN} of 1.",
        (f"- Level against level: every level trained by ES against the {ref} level, on the connectome."
         if ref in cfg.levels else f"- Level against level: not tested, the reference level {ref} is not among "
         "the grid's levels (--reference-level)."),
        "- Comparisons: the difference of means a - b with its 95% stratified-bootstrap interval, Hedges' g "
        "with its interval, the probability of improvement P(a > b) (rliable), and the two-sided exact "
        f"permutation test. With {seeds} seed{'s' if seeds != 1 else ''} a side the smallest p it can return "
        f"is {p_min:.4f}"
        + (" -- never below 0.05." if p_min >= ALPHA else ".")
        + " Inference is per claim: each published claim has families of comparisons fixed in code before "
        "the data (wormsim/experiment/claims.py), Holm's correction runs within each family, and the verdict "
        "is one of *supports*, *opposite to the claim*, *mixed* or *no difference detected*. A p above 0.05 "
        "means no difference was detected, not that there is none."]


def _task_section(cfg: ExperimentConfig, task: str, table: list[dict], tests: list[dict]) -> list[str]:
    spec = get_task(task)
    lines = [f"## {task} (value: {spec.metric_label})", ""]
    head = "| level | wiring | seeds | mean | 95% CI |" + (f" {spec.score_label or 'score'} |" if spec.score else "")
    lines += [head + " untrained | parameters | learned | note |", "|" + "---|" * (head.count("|") + 3)]
    for t in table:
        note = _note(t)
        untrained = "n/a" if not math.isfinite(t["untrained"]) else f"{t['untrained']:.4f}"
        lines.append(f"| {t['level']} | {t['wiring']} | {t['n']} | {t['mean']:.4f} | "
                     f"[{t['ci_low']:.4f}, {t['ci_high']:.4f}] |"
                     + (f" {t['score_mean']:.4f} |" if spec.score else "")
                     + f" {untrained} | {t['n_params']} | {t['learned']} | {note} |")
    lines += _reference_lines(cfg, task)
    if tests:
        lines += ["", "| comparison | a - b [95% CI] | g [95% CI] | P(a > b) [95% CI] | p | both learned | note |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {t['a']} vs {t['b']} | {t['diff']:+.4f} {_ci(t['diff_ci'])} | {format_g(t['hedges_g'])} "
                  f"{_ci(t['g_ci'], '+.2f', g=True)} | {t['poi']:.2f} {_ci(t['poi_ci'], '.2f')} | {fmt_p(t['p'])} | "
                  f"{'yes' if t['learned_a'] is True and t['learned_b'] is True else 'no'} | {t['floor']} |"
                  for t in tests]
    return lines + ["", f"![learning curves](curves_{task}.png)", ""]


def _reference_lines(cfg: ExperimentConfig, task: str) -> list[str]:
    """The task's reference rows (experiment/references.py): passive body, open-loop wave, the animal; and
    its chance level. The table's "untrained" column is each cell's untrained circuit on its own episodes."""
    from wormsim.experiment.references import body_references
    spec = get_task(task)
    rows = body_references(cfg, task)
    if not rows and spec.has_body and spec.episode_scores:      # navigate: its reference policies
        rows = _navigation_references(cfg, task)
    lines = []
    if rows:
        lines += ["", "References on the same kind of held-out episodes:", "",
                  "| reference | mean | 95% CI | episodes | what it is |", "|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {r['mean']:.4f} | {_ci((r['ci_low'], r['ci_high']), '.4f')} | "
                  f"{r['n'] or '-'} | {r['source']} |" for r in rows]
    if spec.chance is not None:
        lines += ["", f"Chance level: {spec.chance:g}."]
    return lines


def _navigation_references(cfg: ExperimentConfig, task: str) -> list[dict]:
    """navigate's reference rows: the task's reference policies (envs.navigate.REFERENCES: random muscle
    commands, the passive body, a blind straight swimmer, a hand-made klinokinesis rule) on the grid's
    kind of held-out episodes (the task's held_out options, the grid's duration and head oscillator,
    eval_episodes x seeds episodes, seeds of their own): the success rate with its 95% interval, and the
    chemotaxis index in words."""
    from wormsim.envs.navigate import REFERENCES, reference_scores
    spec = get_task(task)
    n = max(2, cfg.eval_episodes * cfg.seeds)
    rows = []
    for name, what in REFERENCES.items():
        s = reference_scores(name, n, seed=3_000_000, duration=float(cfg.duration),
                             head_cpg=float(cfg.head_cpg), **dict(spec.held_out))
        m, lo, hi = mean_ci(s["score"], spec.low, spec.high)
        rows.append({"name": name, "mean": m, "ci_low": lo, "ci_high": hi, "n": n,
                     "source": f"{what}; chemotaxis index {np.mean(s['score_chemotaxis']):+.2f}"})
    return rows


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


def _not_learned_section(tables: dict) -> list[str]:
    rows = [(task, t) for task, table in tables.items() for t in table if t["learned"] != "yes"]
    if not rows:
        return ["## Cells that did not learn", "", "None: every cell beat its references.", ""]
    lines = ["## Cells that did not learn", "",
             f"{len(rows)} cell(s); they enter no comparison and no verdict.", "",
             "| task | level | wiring | learned | p vs chance | p vs untrained | trials | why |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {task} | {t['level']} | {t['wiring']} | {t['learned']} | {fmt_p(t['p_chance'])} | "
              f"{fmt_p(t['p_untrained'])} | {t['n_trials']} | {t['learned_why']} |" for task, t in rows]
    return lines + [""]


def _claims_section(cfg: ExperimentConfig, families: list[dict]) -> list[str]:
    lines = ["## Next to the published claims", ""]
    for key, text in CLAIMS.items():
        lines += [f"**{text}**", ""]
        for fam in (f for f in families if f["claim"] == key):
            lines += [f"- *{fam['family']}* -- {fam['statement']}: **{fam['verdict']}**. {fam['text']}"]
            if fam["tests"]:
                lines += ["", "  | comparison | a - b [95% CI] | g [95% CI] | p | Holm p (family) |",
                          "  |---|---|---|---|---|"]
                lines += [f"  | {t['task']}: {t['a']} vs {t['b']} | {t['diff']:{diff_format(t)}} "
                          f"{_ci(t['diff_ci'], diff_format(t))} | "
                          f"{format_g(t['hedges_g'])} {_ci(t['g_ci'], '+.2f', g=True)} | {fmt_p(t['p'])} | "
                          f"{fmt_p(t['p_holm'])} |" for t in fam["tests"]]
                lines += [""]
        lines += [""]
    return lines


def _plateau_section(cfg: ExperimentConfig, results: list[dict], speed_tests: list[dict]) -> list[str]:
    """Two questions per level x wiring: what the circuit can do (its plateau, the task tables above) and
    how fast it learns (evaluations to 90% of its validation gain); whether each run converged; the
    search each level got."""
    import json
    from wormsim.experiment.grid import FRACTION
    key = f"evals_to_{round(FRACTION * 100)}"
    trained = [r for r in results if r.get("converged") is not None]
    if not trained:
        return []
    n_conv = sum(bool(r["converged"]) for r in trained)
    lines = ["## Search and convergence", "",
             f"{n_conv} of {len(trained)} trained runs converged (the plateau rule fired) within their budget"
             + (f"; the {len(trained) - n_conv} others stopped at the budget, and their plateau is a lower bound."
                if n_conv < len(trained) else ".") + " *Evaluations to 90%*: the episodes a run took to reach "
             "90% of its validation gain (how fast it learns); mean over the seeds with a gain and its 95% "
             "interval. *Evaluations at convergence*: the median over seeds, where the rule fired.", ""]
    head = ["task", "level", "wiring", "trainer", "search", "converged", "iterations (median)",
            "evaluations at convergence (median)", "evaluations to 90% [95% CI]"]
    rows = []
    groups = {}
    for r in trained:
        groups.setdefault((r["task"], r["level"], r["wiring"]), []).append(r)
    for (task, label, wiring), sel in groups.items():
        speeds = [float(r[key]) for r in sel if r.get(key) not in (None, "")]
        m, lo, hi = mean_ci(speeds, 0.0) if speeds else (math.nan,) * 3
        at = [r["evaluations"] for r in sel if r["converged"] and r.get("evaluations") is not None]
        algo = sel[0].get("algo") or "es"
        search = (f"sigma {sel[0]['sigma']:g}" if algo == "es" and sel[0].get("sigma") is not None else
                  f"lr {sel[0]['lr']:g}" if sel[0].get("lr") is not None else "-")
        rows.append([task, label, wiring if uses_wiring(label) else "(none)", algo, search,
                     f"{sum(bool(r['converged']) for r in sel)}/{len(sel)}",
                     f"{np.median([r['generations'] for r in sel]):.0f}",
                     f"{np.median(at):.0f}" if at else "-",
                     f"{m:.0f} [{lo:.0f}, {hi:.0f}] (n={len(speeds)})" if speeds else "no gain"])
    lines += _md_table(head, rows) + [""]
    if speed_tests:
        lines += ["How fast, compared (a - b in evaluations; negative: a learns faster):", ""]
        lines += _md_table(["task", "comparison", "a - b [95% CI]", "g [95% CI]", "p", "both learned"],
                           [[t["task"], f"{t['a']} vs {t['b']}", f"{t['diff']:+.0f} {_ci(t['diff_ci'], '+.0f')}",
                             f"{format_g(t['hedges_g'])} {_ci(t['g_ci'], '+.2f', g=True)}", fmt_p(t["p"]),
                             "yes" if t["learned_a"] is True and t["learned_b"] is True else "no"]
                            for t in speed_tests]) + [""]
    tuning = Path(cfg.out) / "tuning.json"
    if cfg.tune and tuning.is_file():
        record = json.loads(tuning.read_text())
        lines += ["The tuning trials (one run each on the first wiring, a seed no cell uses; the validation "
                  "score is the run's best check on training-distribution episodes; the chosen trial in bold):", ""]
        trial_rows = []
        for t in record["trials"]:
            chosen = record["choice"].get(t["key"], {}).get("trial") == t["trial"]
            val = "failed" if t["val_best"] is None else f"{t['val_best']:.4f}"
            trial_rows.append([t["key"].replace("/", " / "), f"sigma {t['sigma']:g}, lr {t['lr']:g}",
                               f"**{val}**" if chosen else val])
        lines += _md_table(["task / level / train", "trial (ES sigma, BPTT lr)", "validation score"],
                           trial_rows) + [""]
    return lines


def _probe_section(cfg: ExperimentConfig, results: list[dict]) -> list[str]:
    """The trained forward swimmers under conditions they were not trained in (references.probe_rows)."""
    from wormsim.experiment.references import probe_rows
    if not cfg.probes:
        return []
    done = [(r["task"], *split_label(r["level"]), r["wiring"], r["seed"]) for r in results]
    cells = [(task, level, wiring, train, seed) for task, level, train, wiring, seed in done]
    rows = probe_rows(cfg, cells)
    if not rows:
        return []
    lines = ["## Trained swimmers under other conditions", "",
             "Each trained forward swimmer (and its untrained circuit) on its held-out episodes with the head "
             "oscillator off (the circuit must make its own rhythm) and with the command drive reversed "
             "(AVA, AVD, AVE driven, AVB and PVC not: a worm reverses); negative speed is backward.", ""]
    lines += _md_table(["task", "level", "wiring", "condition", "speed", "95% CI", "untrained",
                        "episodes backward", "episodes"],
                       [[r["task"], r["level"], r["wiring"] if uses_wiring(r["level"]) else "(none)", r["probe"],
                         f"{r['mean']:+.4f}",
                         _ci((r["ci_low"], r["ci_high"])), f"{r['untrained']:+.4f}", f"{r['backward_share']:.0%}",
                         r["n"]] for r in rows])
    return lines + [""]


def _interaction_section(inter: list[dict]) -> list[str]:
    if not inter:
        return []
    lines = ["## Level x wiring interaction", "",
             "Does the connectome's effect (connectome - null) differ between a level and the reference "
             "level? Permutation of residuals under the additive model; Holm within this family; only "
             "where all four cells learned.", ""]
    lines += _md_table(["task", "level vs reference", "null", "effect (level)", "effect (reference)", "contrast",
                        "p", "Holm p"],
                       [[t["task"], f"{t['level']} vs {t['reference']}", t["null"], f"{t['effect_level']:+.4f}",
                         f"{t['effect_reference']:+.4f}", f"{t['contrast']:+.4f}",
                         fmt_p(t["p"]) if t["learned"] else "not learned", fmt_p(t["p_holm"])] for t in inter])
    return lines + [""]


def _failed_section(failed: list[dict]) -> list[str]:
    """The cells given up on (their process kept dying, or they raised): named, with their error, so
    that a table with fewer seeds than asked never goes unexplained."""
    if not failed:
        return []
    lines = ["## Cells that failed", "",
             f"{len(failed)} cell(s) did not finish and are left out of every table, test and verdict below; "
             "running the same command again tries them again (from their checkpoints).", "",
             "| task | level | wiring | seed | tries | error |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['level']} | {r['wiring']} | {r['seed']} | {r.get('tries', '')} | "
              f"{str(r.get('error', '')).replace('|', '/')} |" for r in failed]
    return lines + [""]


def _seed_counts(results: list[dict]) -> list[int]:
    """The number of seeds of each (task, level, wiring) in ``results``, sorted."""
    seeds: dict = {}
    for r in results:
        seeds.setdefault((r["task"], r["level"], r["wiring"]), set()).add(r["seed"])
    return sorted(len(v) for v in seeds.values())


def _fewest_seeds(cfg: ExperimentConfig, results: list[dict]) -> int:
    """The fewest seeds any level x wiring of ``results`` has (cfg.seeds in a finished grid)."""
    return min(_seed_counts(results), default=cfg.seeds)


def _interim_banner(cfg: ExperimentConfig, results: list[dict], grid_size: int) -> list[str]:
    """The warning at the top of an interim report (--report-only): how much of the grid it covers."""
    counts = _seed_counts(results)
    spread = (f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]}-{counts[-1]}") if counts else "0"
    return [f"> **Interim report: {len(results)} of {grid_size} cells finished** ({spread} of {cfg.seeds} seeds per "
            "level x wiring that has any; cells not finished are left out, as are the tasks and levels with none). "
            "Its intervals and tests are those of the seeds it has, and its verdicts may change when the grid "
            "completes; the command below finishes it.", ""]


def write_report(cfg: ExperimentConfig, results: list[dict], command: str | None = None,
                 grid_size: int | None = None) -> None:
    """Write table_<task>.csv, tests.csv, families.csv, curves_<task>.png and report.md into cfg.out.
    ``command``: the command line the report quotes (default: the full equivalent ``wormsim experiment``
    line). ``grid_size``: the number of cells in the whole grid, given for an interim report (results
    holding only the cells finished so far), which says so at its top."""
    out = Path(cfg.out)
    failed = [r for r in results if r.get("status") == "failed"]      # listed, not analysed
    results = [r for r in results if r.get("status") != "failed"]
    tables, tests = build_tables(cfg, results)
    speed_tests = speed_comparisons(cfg, results, cell_learning(results))
    families = family_results(cfg, tests + speed_tests)
    inter = interactions(cfg, results, cell_learning(results))
    for task, table in tables.items():
        write_csv(out / f"table_{task}.csv", table)
    write_csv(out / "tests.csv", [{"measure": "plateau", **t} for t in tests] + speed_tests)
    write_csv(out / "families.csv", [{k: v for k, v in t.items()} | {"family_key": f["family"], "verdict": f["verdict"]}
                                     for f in families for t in f["tests"]])
    lines = ["# Does biophysical detail matter? Realism levels x wirings", ""]
    if grid_size is not None and len(results) < grid_size:     # a report-only run over a finished grid is final
        lines += _interim_banner(cfg, results, grid_size)
    lines += [_grid_text(cfg, results), "",
             "Reproduce with:", "", "```", command or command_line(cfg), "```", "",
             "## How to read the numbers", "", *_reading_notes(cfg, tests, _fewest_seeds(cfg, results)), ""]
    lines += _failed_section(failed)
    findings = []
    for task in cfg.tasks:
        task_tests = [t for t in tests if t["task"] == task]
        plot_curves(cfg, task, out / f"curves_{task}.png")
        lines += _task_section(cfg, task, tables[task], task_tests)
        findings += _table_findings(task, tables[task])
    lines += _not_learned_section(tables)
    lines += _plateau_section(cfg, results, speed_tests)
    lines += ["## Findings in plain words", ""] + [f"- {f}" for f in findings] + [""]
    from wormsim.experiment.neural import atlas_section
    lines += _claims_section(cfg, families) + _interaction_section(inter) + _probe_section(cfg, results)
    lines += atlas_section(cfg, results, cell_learning(results))
    from wormsim.experiment.gait_load import gait_section
    lines += gait_section(cfg, results, cell_learning(results))
    lines += _cost_section(cfg, results)
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
