"""The report's statistics: whether a cell learned, intervals (rliable's stratified bootstrap), Hedges'
g, the probability of improvement, exact permutation tests, Holm's correction, the level x wiring
interaction, and the comparisons the claims' families draw from (wormsim/experiment/claims.py).

Why 8 seeds by default: the tests are exact permutation tests, Holm-corrected over all of them (about
60 in the default grid). With n seeds a side the smallest two-sided p is 2 / C(2n, n): 0.1 at 3 seeds,
0.0079 at 5, 1.6e-4 at 8, and Holm multiplies the smallest by the number of tests. At 5 seeds no test
of the default report could reach 0.05 after correction, whatever the data; at 8 it can.

The comparisons, on every task of the grid (each claim's family picks its own from them):
- wiring: per level on the wiring, the connectome against each null wiring;
- level: on the connectome, every level trained by ES against the reference level (``reference_level``;
  skipped when that level is not in the grid);
- training: on the connectome, the circuit trained by ES against its reservoir (readout only) and
  against the same circuit trained by BPTT, where the grid has them.
"""
from __future__ import annotations

import math

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import TRAINS, ExperimentConfig
from wormsim.experiment.grid import cell_label, split_label, uses_wiring

ALPHA = 0.05
N_RESAMPLES = 19999            # exact permutation tests up to 8 seeds a side (C(16, 8) = 12870 splits)
# a cell is at the floor when no seed beats chance by more than this, at the ceiling when every
# seed's score is within this of 1
FLOOR_MARGIN = 0.01


# ---- estimators --------------------------------------------------------------------------------------------
def mean_ci(x, low: float | None = None, high: float | None = None) -> tuple[float, float, float]:
    """Mean and 95% t-interval (NaN interval for fewer than 2 values), the interval clamped to
    [low, high], the range of the quantity (a t-interval knows nothing of bounds: a score in [0, 1]
    near 0 would otherwise get an interval below 0). None: unbounded."""
    from scipy import stats
    x = np.asarray(x, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    return m, max(m - half, low), min(m + half, high)


def hedges_g(a, b) -> float:
    """Hedges' g (pooled SD, J = 1 - 3 / (4 (n1 + n2) - 9)). Ties: with no spread in either group, g
    is 0 if the means are equal and +-inf if they differ (every value of one above every value of the
    other); NaN for fewer than 2 values in a group."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    diff = float(a.mean() - b.mean())
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled <= 1e-12 * max(1.0, abs(a.mean()), abs(b.mean())):
        return 0.0 if abs(diff) <= 1e-12 * max(1.0, abs(a.mean())) else math.copysign(math.inf, diff)
    return diff / pooled * (1 - 3 / (4 * (na + nb) - 9))


def format_g(g: float) -> str:
    if math.isnan(g):
        return "n/a"
    if math.isinf(g):
        return f"{'+' if g > 0 else '-'}inf (no spread)"
    if g == 0.0:
        return "0 (tie)"
    return f"{g:+.2f}"


def permutation_p(a, b) -> float:
    """Two-sided permutation test on the difference of means (scipy; exact when the number of
    distinct splits is at most N_RESAMPLES, as it is up to 8 seeds per group)."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    res = stats.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=N_RESAMPLES,
                                 alternative="two-sided", random_state=0)
    return float(res.pvalue)


def smallest_p(na: int, nb: int) -> float:
    """The smallest two-sided p the permutation test can return with groups of na and nb: 2 / the
    number of distinct splits when exact, else 2 / (N_RESAMPLES + 1). With 3 seeds a side it is 0.1,
    so such a test can never reach 0.05."""
    splits = math.comb(na + nb, na)
    return min(1.0, 2.0 / splits if splits <= N_RESAMPLES else 2.0 / (N_RESAMPLES + 1))


def holm(ps) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    ps = [float(p) for p in ps]
    idx = [i for i, p in enumerate(ps) if math.isfinite(p)]
    m = len(idx)
    out = [math.nan] * len(ps)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: ps[i])):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def floor_flag(task: str, scores: list[float], values: list[float]) -> str:
    """"floor" (chance 0) or "chance" when no value beats the task's chance level by more than
    FLOOR_MARGIN, "ceiling" when every score is within it of 1, else ""."""
    chance = get_task(task).chance
    if chance is None or not values:
        return ""
    if all(v <= chance + FLOOR_MARGIN for v in values):
        return "floor" if chance == 0 else "chance"
    if all(s >= 1 - FLOOR_MARGIN for s in scores):
        return "ceiling"
    return ""


# ---- did a cell learn? -------------------------------------------------------------------------------------
def sign_flip_p(x, mu: float = 0.0) -> float:
    """One-sided test that the mean of ``x`` exceeds ``mu``: a sign-flip permutation test of x - mu
    (scipy; exact up to 2^13 trials, else N_RESAMPLES random flips). NaN for fewer than 2 values."""
    from scipy import stats
    d = np.asarray(x, float) - mu
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return math.nan
    if not np.any(d):
        return 1.0
    res = stats.permutation_test((d,), np.mean, permutation_type="samples", alternative="greater",
                                 n_resamples=N_RESAMPLES, random_state=0)
    return float(res.pvalue)


def learned_test(trials, untrained=None, chance: float | None = None, alpha: float = ALPHA) -> dict:
    """Whether a cell learned, from its held-out trials pooled over seeds: the trials beat the task's
    chance level (one-sided sign-flip test of trial - chance) and the untrained circuit on the same
    episodes (one-sided sign-flip test of the paired differences), each at ``alpha``. A test that does
    not apply (no chance level; no untrained counterpart, e.g. a fitted readout) is left out; with none
    that applies, or no trials recorded, the answer is None (unknown), never True.

    Returns {"learned": True / False / None, "p_chance", "p_untrained", "n_trials", "why"}."""
    x = np.asarray([v for v in (trials or []) if v is not None], float)
    out = {"learned": None, "p_chance": math.nan, "p_untrained": math.nan, "n_trials": int(len(x)), "why": ""}
    if len(x) < 2:
        out["why"] = "no held-out trials recorded" if not len(x) else "one held-out trial"
        return out
    checks = []
    if chance is not None:
        out["p_chance"] = sign_flip_p(x, chance)
        checks.append(("chance", out["p_chance"]))
    if untrained is not None:
        pairs = [(a, b) for a, b in zip(trials, untrained) if a is not None and b is not None]
        if len(pairs) >= 2:
            out["p_untrained"] = sign_flip_p([a - b for a, b in pairs])
            checks.append(("the untrained circuit", out["p_untrained"]))
    if not checks:
        out["why"] = "neither a chance level nor an untrained circuit to beat"
        return out
    failed = [name for name, p in checks if not p < alpha]
    out["learned"] = not failed
    out["why"] = ("beats " + " and ".join(n for n, _ in checks) if not failed
                  else "does not beat " + " or ".join(failed) + f" (one-sided p >= {alpha})")
    return out


# ---- interval estimates (rliable) ---------------------------------------------------------------------------
BOOTSTRAP_REPS = 2000
G_CLAMP = 1e3        # a bootstrap resample with no spread gives g = +-inf; the interval is read clamped


def _g_clamped(a, b) -> float:
    g = hedges_g(a, b)
    return float(np.clip(g, -G_CLAMP, G_CLAMP)) if math.isfinite(g) or math.isinf(g) else math.nan


def interval_estimates(a, b, reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict:
    """Difference of means (a - b), Hedges' g and the probability of improvement P(a > b) with 95%
    stratified-bootstrap intervals (rliable: each group resampled on its own; percentile intervals).
    Returns {"diff", "diff_ci", "g", "g_ci", "poi", "poi_ci"}; intervals are NaN below 2 values a side."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    from rliable import library as rly
    from rliable import metrics

    def stats3(x, y):
        # P(a > b) as rliable's probability_of_improvement defines it (the Mann-Whitney U over n_a n_b,
        # ties counting half), in numpy: inside a bootstrap of thousands of replications its per-call
        # scipy test costs ~100x more
        x, y = x[:, 0], y[:, 0]
        poi = np.mean((x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :]))
        return np.array([x.mean() - y.mean(), _g_clamped(x, y), poi])
    point = stats3(a[:, None], b[:, None])
    out = {"diff": float(point[0]), "g": hedges_g(a, b),
           "poi": float(metrics.probability_of_improvement(a[:, None], b[:, None]))}
    if len(a) < 2 or len(b) < 2:
        return {**out, "diff_ci": (math.nan, math.nan), "g_ci": (math.nan, math.nan), "poi_ci": (math.nan, math.nan)}
    import warnings
    # rliable's independent-samples bootstrap draws its indices from numpy's global generator, not from
    # the random_state it is given (rliable 1.2), so the same data gave other intervals on every report:
    # seed the global generator for the call and put its state back
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():      # arch, under rliable, deprecates the RandomState it is given
            warnings.simplefilter("ignore", FutureWarning)
            _, ci = rly.get_interval_estimates({"ab": [a[:, None], b[:, None]]}, stats3, reps=reps,
                                               random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)
    lo, hi = ci["ab"]
    return {**out, "diff_ci": (float(lo[0]), float(hi[0])), "g_ci": (float(lo[1]), float(hi[1])),
            "poi_ci": (float(lo[2]), float(hi[2]))}


# ---- the level x wiring interaction -------------------------------------------------------------------------
def interaction_contrast(y11, y12, y21, y22) -> float:
    """(mean y11 - mean y12) - (mean y21 - mean y22): how much the wiring effect (column 1 vs 2)
    differs between two levels (row 1 vs 2)."""
    m = [float(np.mean(y)) for y in (y11, y12, y21, y22)]
    return (m[0] - m[1]) - (m[2] - m[3])


def interaction_p(y11, y12, y21, y22, n_resamples: int = N_RESAMPLES, seed: int = 0) -> float:
    """Two-sided permutation test of the 2 x 2 interaction contrast by permutation of residuals under the
    additive model (ter Braak 1992; Anderson & Legendre 1999): the additive fit (intercept, row and
    column effects, least squares, any cell sizes) is kept, its residuals are permuted over all
    observations, and the contrast recomputed. NaN with fewer than 2 values in a cell."""
    cells = [np.asarray(y, float) for y in (y11, y12, y21, y22)]
    if min(len(c) for c in cells) < 2:
        return math.nan
    y = np.concatenate(cells)
    row = np.concatenate([np.full(len(c), r) for c, r in zip(cells, (0, 0, 1, 1))])
    col = np.concatenate([np.full(len(c), k) for c, k in zip(cells, (0, 1, 0, 1))])
    x = np.column_stack([np.ones_like(y), row, col])
    fitted = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    resid = y - fitted
    masks = [(row == r) & (col == k) for r, k in ((0, 0), (0, 1), (1, 0), (1, 1))]
    # the contrast is linear in the values: one weight per observation (+-1 / cell size)
    weights = sum(sign * m / m.sum() for sign, m in zip((1, -1, -1, 1), masks))
    observed = abs(float(weights @ y))
    rng = np.random.default_rng(seed)
    permuted = rng.permuted(np.broadcast_to(resid, (n_resamples, len(resid))), axis=1)
    hits = int(np.sum(np.abs(fitted @ weights + permuted @ weights) >= observed - 1e-12))
    return float((hits + 1) / (n_resamples + 1))


# ---- the test families ---------------------------------------------------------------------------------------
def cell_name(label: str, wiring: str) -> str:
    return f"{label} / {wiring}" if uses_wiring(label) else label


def reference_wiring(cfg: ExperimentConfig) -> str:
    return "connectome" if "connectome" in cfg.wirings else cfg.wirings[0]


def cell_trials(rows: list[dict]) -> tuple[list, list | None]:
    """A cell's held-out trials pooled over its seeds, and the untrained circuit's on the same episodes
    (None where a seed recorded none), aligned; (trials, None) when no seed has an untrained record."""
    trials, untrained = [], []
    for r in rows:
        t = list(r.get("trials") or [])
        u = r.get("untrained_trials")
        trials += t
        untrained += list(u) if u else [None] * len(t)
    return trials, (untrained if any(u is not None for u in untrained) else None)


def cell_learning(results: list[dict]) -> dict:
    """{(task, label, wiring): learned_test(...)} for every cell of the grid, its trials pooled over seeds."""
    cells: dict = {}
    for r in results:
        cells.setdefault((r["task"], r["level"], r["wiring"]), []).append(r)
    out = {}
    for (task, label, wiring), rows in cells.items():
        trials, untrained = cell_trials(rows)
        out[task, label, wiring] = learned_test(trials, untrained, get_task(task).chance)
    return out


def _compare(task: str, family: str, rows: list[dict], a: tuple[str, str], b: tuple[str, str],
             learning: dict) -> dict | None:
    """One comparison: cell a = (label, wiring) against cell b, with its interval estimates, or None if
    either has no rows."""
    def cell(label, wiring):
        sel = [r for r in rows if r["level"] == label and r["wiring"] == wiring]
        return [r["value"] for r in sel], floor_flag(task, [r["score"] for r in sel], [r["value"] for r in sel])
    (va, fa), (vb, fb) = cell(*a), cell(*b)
    if not va or not vb:
        return None
    la, lb = (learning.get((task, *x), {}).get("learned") for x in (a, b))
    return {"task": task, "family": family, "a": cell_name(*a), "b": cell_name(*b),
            "level_a": a[0], "wiring_a": a[1], "level_b": b[0], "wiring_b": b[1], "n_a": len(va), "n_b": len(vb),
            "mean_a": float(np.mean(va)), "mean_b": float(np.mean(vb)), **interval_estimates(va, vb),
            "hedges_g": hedges_g(va, vb), "p": permutation_p(va, vb), "p_min": smallest_p(len(va), len(vb)),
            "learned_a": la, "learned_b": lb,
            "floor": " and ".join(f for f in dict.fromkeys((fa, fb)) if f)}


def family_pairs(cfg: ExperimentConfig, labels: list[str]) -> list[tuple[str, tuple, tuple]]:
    """(family, cell a, cell b) of every test the grid's labels allow, in the report's order."""
    ref_wiring = reference_wiring(cfg)

    def on_ref(label):                     # where a level meets the others: the connectome, if it has a wiring
        return ref_wiring if uses_wiring(label) else cfg.wirings[0]
    pairs = []
    if "connectome" in cfg.wirings:
        pairs += [("wiring", (lv, "connectome"), (lv, w)) for lv in labels if uses_wiring(lv)
                  for w in cfg.wirings if w != "connectome"]
    trained = [lv for lv in labels if split_label(lv)[1] == "weights"]
    ref = cfg.reference_level
    if ref in trained:
        pairs += [("level", (lv, on_ref(lv)), (ref, on_ref(ref))) for lv in trained if lv != ref]
    pairs += [("training", (lv, on_ref(lv)), (cell_label(lv, other), on_ref(lv))) for lv in trained
              for other in TRAINS[1:] if cell_label(lv, other) in labels]
    return pairs


def comparisons(cfg: ExperimentConfig, results: list[dict], learning: dict | None = None) -> list[dict]:
    """Every comparison the grid allows, task by task (raw p; Holm's correction runs within each claim's
    family, claims.family_results), each marked with whether its two cells learned."""
    learning = cell_learning(results) if learning is None else learning
    labels = list(dict.fromkeys(r["level"] for r in results))
    pairs = family_pairs(cfg, labels)
    tests = []
    for task in cfg.tasks:
        rows = [r for r in results if r["task"] == task]
        tests += [t for family, a, b in pairs if (t := _compare(task, family, rows, a, b, learning)) is not None]
    return tests


def interactions(cfg: ExperimentConfig, results: list[dict], learning: dict) -> list[dict]:
    """The level x wiring interaction: for every task, every level on the wiring trained by ES other than
    the reference level, and every null wiring, whether the connectome's effect (connectome - null)
    differs between that level and the reference level (interaction_p), among cells that learned; Holm
    within this family (p_holm)."""
    ref = cfg.reference_level
    out = []
    for task in cfg.tasks:
        rows = [r for r in results if r["task"] == task]

        def values(label, wiring):
            return [r["value"] for r in rows if r["level"] == label and r["wiring"] == wiring]
        levels = [lv for lv in dict.fromkeys(r["level"] for r in rows)
                  if split_label(lv)[1] == "weights" and uses_wiring(lv) and lv != ref]
        for lv in levels:
            for null in (w for w in cfg.wirings if w != "connectome"):
                keys = [(ref, "connectome"), (ref, null), (lv, "connectome"), (lv, null)]
                ys = [values(*k) for k in keys]
                if min(map(len, ys)) < 2 or "connectome" not in cfg.wirings:
                    continue
                ok = all(learning.get((task, *k), {}).get("learned") is True for k in keys)
                out.append({"task": task, "level": lv, "reference": ref, "null": null, "learned": ok,
                            "effect_level": float(np.mean(ys[2]) - np.mean(ys[3])),
                            "effect_reference": float(np.mean(ys[0]) - np.mean(ys[1])),
                            "contrast": interaction_contrast(ys[2], ys[3], ys[0], ys[1]),
                            "p": interaction_p(ys[2], ys[3], ys[0], ys[1]) if ok else math.nan})
    kept = [t for t in out if math.isfinite(t["p"])]
    for t, p in zip(kept, holm([t["p"] for t in kept])):
        t["p_holm"] = p
    for t in out:
        t.setdefault("p_holm", math.nan)
    return out


def speed_comparisons(cfg: ExperimentConfig, results: list[dict], learning: dict | None = None) -> list[dict]:
    """How fast cells learn, compared as their plateaus are (wiring and level families): the value is the
    evaluations a run took to reach 90% of its validation gain (grid.learning_speed; fewer is faster),
    each test marked ``measure`` "evaluations". Runs that gained nothing have no such value."""
    from wormsim.experiment.grid import FRACTION
    key = f"evals_to_{round(FRACTION * 100)}"
    learning = cell_learning(results) if learning is None else learning
    rows = [{**r, "value": float(r[key])} for r in results
            if r.get(key) not in (None, "") and math.isfinite(float(r[key]))]
    return [{**t, "measure": "evaluations"} for t in comparisons(cfg, rows, learning)
            if t["family"] in ("wiring", "level")]


# ---- formatting (report.md, the neural section) -----------------------------------------------------
def diff_format(test: dict) -> str:
    """The format of a comparison's difference: whole evaluations for the learning-speed tests, four
    decimals for scores."""
    return "+.0f" if test.get("measure") == "evaluations" else "+.4f"


def format_ci(pair, fmt: str = "+.4f", g: bool = False) -> str:
    """[lo, hi]; for Hedges' g (``g``), a bound at the clamp of a bootstrap g (a resample with no spread)
    reads as +-inf."""
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "n/a"

    def one(v):
        return ("+inf" if v > 0 else "-inf") if g and abs(v) >= G_CLAMP else f"{v:{fmt}}"
    return f"[{one(lo)}, {one(hi)}]"


def md_table(head: list[str], rows: list[list]) -> list[str]:
    """A markdown table: the header, its rule, one line per row (cells already formatted)."""
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def holm_within(tests: list[dict]) -> list[dict]:
    """Holm's correction over one side family (the atlas's, the gait's): ``p_holm`` on the tests whose two
    cells both learned the task; the others keep none (their tables say "not learned"). Returns tests."""
    kept = [t for t in tests if t.get("learned_a") is True and t.get("learned_b") is True and math.isfinite(t["p"])]
    for t, p in zip(kept, holm([t["p"] for t in kept])):
        t["p_holm"] = p
    return tests


def family_table(tests: list[dict], label: str = "measure") -> list[str]:
    """A side family's comparisons as a markdown table: what is compared, a - b and g with their
    intervals, the raw and the Holm p."""
    return md_table([label, "comparison", "n", "a - b [95% CI]", "g [95% CI]", "p", "Holm p"],
                    [[t["measure"], f"{t['a']} vs {t['b']}", f"{t['n_a']} / {t['n_b']}",
                      f"{t['diff']:+.3f} {format_ci(t['diff_ci'], '+.3f')}",
                      f"{format_g(t['hedges_g'])} {format_ci(t['g_ci'], '+.2f', g=True)}", fmt_p(t["p"]),
                      fmt_p(t["p_holm"]) if "p_holm" in t else "not learned"] for t in tests])
