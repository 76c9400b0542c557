"""The published claims, each tested by named families of comparisons fixed in code before any data: which
tests belong to a family, the direction the claim predicts, Holm's correction within the family, and a
verdict in one of three words: "supports", "opposite to the claim" or "no difference detected" (with
"mixed" when significant tests point both ways).

A family takes only comparisons between cells that learned (stats.learned_test): a difference between
two cells that never learned the task says how they fail, not which wiring or level helps.

The families (``FAMILIES``; direction +1: a above b claimed, -1: a below b, 0: no difference claimed):

- schmidgall-locomotion (+1): on tasks with a body, every level on the wiring, the connectome against
  each null wiring.
- schmidgall-learning-speed (-1): on tasks with a body, every level on the wiring, the evaluations the
  connectome took to reach 90% of its plateau against each null wiring's (fewer: faster; Schmidgall et
  al.'s view of a wiring's benefit as better performance early in training).
- schmidgall-realism (0): on tasks with a body, every more detailed level than the reference against
  the reference level ("the motor circuit helps locomotion without biophysical realism": detail should
  bring no gain; a significant gain of detail is opposite to the claim).
- schmidgall-statistics (0): on tasks with a body, the connectome against the degree-preserving shuffle
  (its architectural statistics, not its exact wiring, carry the benefit: no difference claimed).
- schmidgall-nonmotor (-1): on tasks without a body, the connectome against each null wiring.
- bio2art (0): on memory tasks (TaskSpec.readout "regression"), the connectome against random wirings.
- elegans-ai (+1): on every task, the connectome against random wirings (erdos-renyi, shuffled).
- elegans-ai-ws (0): on every task, the connectome against Watts-Strogatz ("comes close").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import ExperimentConfig
from wormsim.experiment.stats import ALPHA, diff_format, fmt_p, format_g, holm
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
# the null wirings that keep nothing of the connectome's topology beyond its size and sign structure
# (Elegans-AI's "random rewiring"; bio2art's random networks)
RANDOM_NULLS = ("erdos-renyi", "shuffled")


@dataclass(frozen=True)
class Family:
    key: str
    claim: str
    statement: str
    direction: int
    select: Callable[[ExperimentConfig, dict], bool]
    missing: str
    # what its comparisons compare: "plateau" (the held-out score after training) or "evaluations" (the
    # evaluations a run took to reach 90% of its validation gain: how fast it learns)
    measure: str = "plateau"


def _body(t: dict) -> bool:
    return get_task(t["task"]).has_body


def _detailed(cfg: ExperimentConfig, level: str) -> bool:
    order = level_names()
    ref = cfg.reference_level
    return ref in order and level in order and order.index(level) < order.index(ref)


FAMILIES: tuple[Family, ...] = (
    Family("schmidgall-locomotion", "schmidgall",
           "The connectome helps locomotion: connectome above each null wiring, tasks with a body", +1,
           lambda cfg, t: t["family"] == "wiring" and _body(t), "a task with a body and a null wiring"),
    Family("schmidgall-learning-speed", "schmidgall",
           "The connectome speeds up learning to move: fewer evaluations to 90% of the plateau than each null "
           "wiring, tasks with a body", -1,
           lambda cfg, t: t["family"] == "wiring" and _body(t), "a task with a body and a null wiring",
           measure="evaluations"),
    Family("schmidgall-realism", "schmidgall",
           "Biophysical realism is not needed: no more detailed level above the reference level, tasks "
           "with a body", 0,
           lambda cfg, t: t["family"] == "level" and _body(t) and _detailed(cfg, t["level_a"])
           and t["level_b"] == cfg.reference_level,
           "the reference level and a more detailed one on a task with a body"),
    Family("schmidgall-statistics", "schmidgall",
           "Architectural statistics carry the benefit: no gain of the exact wiring over the "
           "degree-preserving shuffle, tasks with a body", 0,
           lambda cfg, t: t["family"] == "wiring" and _body(t) and t["wiring_b"] == "shuffled",
           "a task with a body and the shuffled wiring"),
    Family("schmidgall-nonmotor", "schmidgall",
           "It may hinder non-motor tasks: connectome below each null wiring, tasks without a body", -1,
           lambda cfg, t: t["family"] == "wiring" and not _body(t), "a task without a body and a null wiring"),
    Family("bio2art", "bio2art",
           "No gain of the connectome over random wiring on memory tasks", 0,
           lambda cfg, t: t["family"] == "wiring" and get_task(t["task"]).readout == "regression"
           and t["wiring_b"] in RANDOM_NULLS, "a memory task and erdos-renyi or shuffled"),
    Family("elegans-ai", "elegans_ai",
           "The connectome beats random rewiring (erdos-renyi, shuffled), every task and level", +1,
           lambda cfg, t: t["family"] == "wiring" and t["wiring_b"] in RANDOM_NULLS,
           "erdos-renyi or shuffled"),
    Family("elegans-ai-ws", "elegans_ai",
           "Watts-Strogatz comes close: no difference between the connectome and Watts-Strogatz", 0,
           lambda cfg, t: t["family"] == "wiring" and t["wiring_b"] == "watts-strogatz", "watts-strogatz"),
)


def both_learned(t: dict) -> bool:
    return t.get("learned_a") is True and t.get("learned_b") is True


def family_tests(cfg: ExperimentConfig, family: Family, tests: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the family's testable comparisons, copied, with Holm's correction within the family as p_holm;
    the comparisons it leaves out because a cell did not learn)."""
    chosen = [t for t in tests if t.get("measure", "plateau") == family.measure and family.select(cfg, t)
              and math.isfinite(t["p"])]
    kept = [dict(t) for t in chosen if both_learned(t)]
    for t, p in zip(kept, holm([t["p"] for t in kept])):
        t["p_holm"] = p
    return kept, [t for t in chosen if not both_learned(t)]


def evidence(t: dict) -> str:
    lo, hi = t["diff_ci"]
    f = diff_format(t)
    return (f"{t['task']} {t['a']} vs {t['b']}: a - b {t['diff']:{f}} [{lo:{f}}, {hi:{f}}], "
            f"g {format_g(t['hedges_g'])}, Holm p {fmt_p(t['p_holm'])}")


def verdict(family: Family, kept: list[dict], left_out: list[dict]) -> tuple[str, str]:
    """(one of "supports", "opposite to the claim", "mixed", "no difference detected", "not tested";
    the sentence that says it with its evidence)."""
    dropped = (f" {len(left_out)} comparison(s) left out: a cell did not learn." if left_out else "")
    if not kept:
        why = "every comparison involves a cell that did not learn" if left_out else f"needs {family.missing}"
        return "not tested", f"not tested here ({why}).{dropped}"
    sig = [t for t in kept if t["p_holm"] < ALPHA]
    if family.direction == 0:
        if sig:
            return ("opposite to the claim", f"opposite to the claim: the claim predicts no difference, "
                    f"{len(sig)} of {len(kept)} differ ({'; '.join(evidence(t) for t in sig)}).{dropped}")
        return ("no difference detected", f"no difference detected in {len(kept)} comparison(s), as the "
                f"claim predicts (absence of a detected difference, not proof of none).{dropped}")
    agree = [t for t in sig if np.sign(t["diff"]) == family.direction]
    against = [t for t in sig if np.sign(t["diff"]) == -family.direction]
    if agree and against:
        return ("mixed", f"mixed: {len(agree)} significant comparison(s) support it, {len(against)} run "
                f"opposite ({'; '.join(evidence(t) for t in agree + against)}).{dropped}")
    if agree:
        return ("supports", f"supports the claim ({'; '.join(evidence(t) for t in agree)}); "
                f"{len(kept) - len(agree)} other comparison(s) show no difference.{dropped}")
    if against:
        return ("opposite to the claim", f"opposite to the claim ({'; '.join(evidence(t) for t in against)})"
                f"; {len(kept) - len(against)} other comparison(s) show no difference.{dropped}")
    lean = int(sum(np.sign(t["diff"]) == family.direction for t in kept))
    return ("no difference detected", f"no difference detected in {len(kept)} comparison(s); {lean} of "
            f"{len(kept)} point the claimed way.{dropped}")


def family_results(cfg: ExperimentConfig, tests: list[dict]) -> list[dict]:
    """Every family: {"family", "claim", "statement", "direction", "tests" (with p_holm), "left_out",
    "verdict", "text"}."""
    out = []
    for fam in FAMILIES:
        kept, left_out = family_tests(cfg, fam, tests)
        word, text = verdict(fam, kept, left_out)
        out.append({"family": fam.key, "claim": fam.claim, "statement": fam.statement,
                    "direction": fam.direction, "tests": kept, "left_out": left_out, "verdict": word,
                    "text": text})
    return out
