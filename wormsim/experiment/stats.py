"""The report's statistics: intervals, Hedges' g, exact permutation tests, Holm's correction, and the
families of tests the report runs.

Why 8 seeds by default: the tests are exact permutation tests, Holm-corrected over all of them (about
60 in the default grid). With n seeds a side the smallest two-sided p is 2 / C(2n, n): 0.1 at 3 seeds,
0.0079 at 5, 1.6e-4 at 8, and Holm multiplies the smallest by the number of tests. At 5 seeds no test
of the default report could reach 0.05 after correction, whatever the data; at 8 it can.

The test families, on every task of the grid:
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


# ---- the test families ---------------------------------------------------------------------------------------
def cell_name(label: str, wiring: str) -> str:
    return f"{label} / {wiring}" if uses_wiring(label) else label


def reference_wiring(cfg: ExperimentConfig) -> str:
    return "connectome" if "connectome" in cfg.wirings else cfg.wirings[0]


def _compare(task: str, family: str, rows: list[dict], a: tuple[str, str], b: tuple[str, str]) -> dict | None:
    """One test: cell a = (label, wiring) against cell b, or None if either has no rows."""
    def cell(label, wiring):
        sel = [r for r in rows if r["level"] == label and r["wiring"] == wiring]
        return [r["value"] for r in sel], floor_flag(task, [r["score"] for r in sel], [r["value"] for r in sel])
    (va, fa), (vb, fb) = cell(*a), cell(*b)
    if not va or not vb:
        return None
    return {"task": task, "family": family, "a": cell_name(*a), "b": cell_name(*b),
            "level_a": a[0], "wiring_a": a[1], "level_b": b[0], "wiring_b": b[1], "n_a": len(va), "n_b": len(vb),
            "mean_a": float(np.mean(va)), "mean_b": float(np.mean(vb)), "diff": float(np.mean(va) - np.mean(vb)),
            "hedges_g": hedges_g(va, vb), "p": permutation_p(va, vb), "p_min": smallest_p(len(va), len(vb)),
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


def comparisons(cfg: ExperimentConfig, results: list[dict]) -> list[dict]:
    """Every test of the report, task by task, with Holm's correction over all of them (p_holm)."""
    labels = list(dict.fromkeys(r["level"] for r in results))
    pairs = family_pairs(cfg, labels)
    tests = []
    for task in cfg.tasks:
        rows = [r for r in results if r["task"] == task]
        tests += [t for family, a, b in pairs if (t := _compare(task, family, rows, a, b)) is not None]
    for t, p in zip(tests, holm([t["p"] for t in tests])):
        t["p_holm"] = p
    return tests
