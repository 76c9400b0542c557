"""The published claims the report sets its numbers beside, each split into what a grid can test, with
a verdict read from the tests (stats.comparisons) alone."""
from __future__ import annotations

import math

import numpy as np

from wormsim.envs.tasks import get_task, task_names
from wormsim.experiment.config import ExperimentConfig
from wormsim.experiment.stats import ALPHA, format_g
from wormsim.realism_levels import level_names

CLAIMS = {
    "schmidgall": ("Schmidgall, Schuman & Parsa 2022: the motor circuit helps locomotion without "
                   "biophysical realism; its architectural statistics carry the benefit; it may hinder "
                   "non-motor tasks."),
    "bio2art": ("Goulas, Damicelli & Hilgetag 2021 (bio2art): connectome-wired RNNs show no general gain "
                "over randomly wired ones on memory tasks."),
    "elegans_ai": ("Bardozzo et al. 2024 (Elegans-AI): connectome-derived topology beats random "
                   "rewiring; Watts-Strogatz null models come close."),
}
# the null wirings that keep nothing of the connectome's topology beyond its size (Elegans-AI's "random
# rewiring"; bio2art's random networks)
RANDOM_NULLS = ("erdos-renyi", "shuffled")


def fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def pick(tests, tasks=None, family=None, b_wirings=None, a_levels=None, b_levels=None) -> list[dict]:
    """The testable tests (finite p) matching every given filter."""
    def keep(t):
        return ((tasks is None or t["task"] in tasks) and (family is None or t["family"] == family)
                and (b_wirings is None or t["wiring_b"] in b_wirings)
                and (a_levels is None or t["level_a"] in a_levels)
                and (b_levels is None or t["level_b"] in b_levels) and math.isfinite(t["p"]))
    return [t for t in tests if keep(t)]


def _evidence(sel) -> str:
    return "; ".join(f"{t['task']} {t['a']} vs {t['b']}: g {format_g(t['hedges_g'])}, Holm p "
                     f"{fmt_p(t['p_holm'])}" + (f" ({t['floor']})" if t["floor"] else "") for t in sel)


def _floor_note(sel) -> str:
    k = sum(bool(t["floor"]) for t in sel)
    return f" {k} of these {len(sel)} test(s) involve a cell at the floor or at chance." if k else ""


def _unreachable(sel, m: int) -> bool:
    """True if no test of ``sel`` could reach p_holm < ALPHA: Holm multiplies the smallest p by m."""
    return min(t["p_min"] for t in sel) * max(m, 1) >= ALPHA


def directional(sel, sign: int, what: str, missing: str, m: int) -> str:
    """Verdict on 'a > b' (sign +1) or 'a < b' (sign -1) over the tests ``sel`` (m: the number of
    tests Holm's correction ran over)."""
    if not sel:
        return f"{what}: not tested here ({missing})."
    agree = [t for t in sel if t["p_holm"] < ALPHA and np.sign(t["diff"]) == sign]
    against = [t for t in sel if t["p_holm"] < ALPHA and np.sign(t["diff"]) == -sign]
    if agree and against:
        return (f"{what}: mixed -- {len(agree)} significant test(s) agree, {len(against)} contradict "
                f"({_evidence(agree + against)}).")
    if agree:
        return f"{what}: consistent ({_evidence(agree)})" + (
            f"; {len(sel) - len(agree)} other test(s) show no significant difference." if len(sel) > len(agree)
            else ".")
    if against:
        return f"{what}: contradicted ({_evidence(against)})."
    lean = int(sum(np.sign(t["diff"]) == sign for t in sel))
    return (f"{what}: inconclusive at this n -- no significant difference in {len(sel)} test(s), "
            f"{lean} of {len(sel)} pointing the claimed way"
            + (" (at this number of seeds no test can reach p < 0.05 after Holm's correction)"
               if _unreachable(sel, m) else "") + "." + _floor_note(sel))


def null_claim(sel, what: str, missing: str, m: int) -> str:
    """Verdict on 'no gain of a over b': contradicted by a significant gain; consistent only if a gain
    could have been detected at this n, inconclusive otherwise."""
    if not sel:
        return f"{what}: not tested here ({missing})."
    gains = [t for t in sel if t["p_holm"] < ALPHA and t["diff"] > 0]
    if gains:
        return f"{what}: contradicted -- a significant gain ({_evidence(gains)})."
    if _unreachable(sel, m):
        return (f"{what}: inconclusive at this n -- no gain detected in {len(sel)} test(s), but at this "
                f"number of seeds no test can reach p < 0.05 after Holm's correction, so none could have "
                f"been detected.")
    losses = [t for t in sel if t["p_holm"] < ALPHA and t["diff"] < 0]
    return (f"{what}: consistent -- no significant gain in {len(sel)} test(s)"
            + (f", {len(losses)} significant loss(es)" if losses else "")
            + " (absence of a detected gain, not proof of none)." + _floor_note(sel))


# ---- the claims ---------------------------------------------------------------------------------------------
def _schmidgall(cfg: ExperimentConfig, tests: list[dict], m: int) -> list[str]:
    """Locomotion is judged on the grid's tasks with a body; "detailed" levels are those above the
    reference level in the registry's order (most to least biophysical)."""
    body = [t for t in cfg.tasks if get_task(t).has_body]
    brainless = [t for t in cfg.tasks if not get_task(t).has_body]
    ref = cfg.reference_level
    order = level_names()
    detailed = order[:order.index(ref)] if ref in order else []
    return [
        directional(pick(tests, tasks=body, family="wiring"), +1,
                    f"The connectome helps locomotion ({', '.join(body) or 'tasks with a body'}: connectome "
                    "above each null, every level)", "needs a task with a body and at least one null wiring", m),
        null_claim(pick(tests, family="level", a_levels=detailed, b_levels=(ref,)),
                   f"Biophysical realism is not needed (no detailed level above the {ref} level)",
                   f"needs the {ref} level and a more detailed one ({', '.join(detailed) or 'none registered'})",
                   m),
        null_claim(pick(tests, tasks=body, family="wiring", b_wirings=("shuffled",)),
                   "Architectural statistics carry the benefit (" + (", ".join(body) or "tasks with a body")
                   + ": no gain of the exact wiring over the degree-preserving shuffle)",
                   "needs a task with a body and the shuffled wiring", m),
        directional(pick(tests, tasks=brainless, family="wiring"), -1,
                    "It may hinder non-motor tasks (connectome below the nulls on "
                    + (", ".join(brainless) or "non-motor tasks") + ")",
                    "needs a non-motor task and a null wiring", m),
    ]


def _bio2art(cfg: ExperimentConfig, tests: list[dict], m: int) -> list[str]:
    """Memory tasks: those scored by regressing the task's targets, the recall of past inputs
    (TaskSpec.readout "regression")."""
    memory = [t for t in task_names(has_body=False) if get_task(t).readout == "regression"]
    return [null_claim(pick(tests, tasks=memory, family="wiring", b_wirings=RANDOM_NULLS),
                       "No gain of the connectome over random wiring on memory tasks",
                       f"needs a memory task ({' or '.join(memory)}) and erdos-renyi or shuffled", m)]


def _elegans_ai(cfg: ExperimentConfig, tests: list[dict], m: int) -> list[str]:
    rand = pick(tests, family="wiring", b_wirings=RANDOM_NULLS)
    ws = pick(tests, family="wiring", b_wirings=("watts-strogatz",))
    out = [directional(rand, +1, "The connectome beats random rewiring (erdos-renyi, shuffled; every "
                                 "task and level)", "needs erdos-renyi or shuffled", m)]
    what = "Watts-Strogatz comes close"
    significant = [t for t in ws if t["p_holm"] < ALPHA]
    if not ws:
        return out + [f"{what}: not tested here (needs the watts-strogatz wiring)."]
    if significant:
        return out + [f"{what}: contradicted -- significant differences ({_evidence(significant)})."]
    g_ws = np.mean([min(abs(t["hedges_g"]), 10.0) for t in ws])
    g_r = np.mean([min(abs(t["hedges_g"]), 10.0) for t in rand]) if rand else math.nan
    closer = math.isfinite(g_r) and g_ws < g_r and not _unreachable(ws, m)
    return out + [f"{what}: " + ("consistent as far as this n can tell -- " if closer else
                                 "inconclusive at this n -- ")
                  + f"no significant difference, mean |g| {g_ws:.2f} against watts-strogatz vs "
                  + (f"{g_r:.2f} against random rewiring." if math.isfinite(g_r) else
                     "no random null to compare.")]


_VERDICTS = {"schmidgall": _schmidgall, "bio2art": _bio2art, "elegans_ai": _elegans_ai}


def claim_verdicts(key: str, cfg: ExperimentConfig, tests: list[dict]) -> list[str]:
    """Each published claim (a key of CLAIMS), split into what this grid can test, with a verdict from
    the numbers."""
    m = sum(math.isfinite(t["p"]) for t in tests)
    return _VERDICTS[key](cfg, tests, m)
