"""The grid's neural question beside its behavioural ones: which level x wiring, trained and untrained, makes
the circuit's neurons respond to one another as the living worm's do (the signal-propagation atlas of Randi
et al. 2023, Nature; wormsim/atlas.py does the stimulation and the comparison).

Every finished swim cell trained by ES on a level with the worm's neurons is stimulated the atlas's way
(body held still, one pulse per neuron the atlas stimulated), and compared with the wild-type and unc-31
atlases: Pearson r of amplitudes and the ROC AUC of telling significant pairs. The result is cached in
the cell's run directory (atlas.json, keyed by the cell's configuration hash, as the probes are). The
untrained circuit of each level x wiring (its initial parameters; one per wiring seed) and the anatomy
(synapse counts, the paper's own predictor) are the references. Connectome against each null wiring is
tested per level as the grid's other comparisons are (cells that did not learn to swim left out, Holm
within the family).
"""
from __future__ import annotations

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import ExperimentConfig
from wormsim.realism_levels import get_level

MEASURES = ("r", "auc")


def _eligible(cell) -> bool:
    task, level, _, train, _ = cell
    return train == "weights" and get_task(task).has_body and get_level(level).uses_wiring


def atlas_cell(cfg: ExperimentConfig, cell) -> dict:
    """{"trained": {strain: {measure: value}}, "untrained": {...}, "anatomy": {...}} of a finished cell,
    cached in its run directory (atlas.json, grid.cell_cache)."""
    from wormsim.atlas import STRAINS, Subject, evaluate_subject
    from wormsim.experiment.grid import cell_cache, cell_dir, train_config

    def compute() -> dict:
        spec = train_config(cfg, *cell).eval_spec()
        base = dict(level=spec.level, wiring=spec.wiring, wiring_seed=spec.wiring_seed, dataset=spec.dataset,
                    env_kwargs=spec.env_kwargs, level_kwargs=spec.level_kwargs, drive=tuple(spec.drive))
        out = {}
        for name, subject in (("trained", Subject(trained=True, run=str(cell_dir(cfg, *cell)), **base)),
                              ("untrained", Subject(trained=False, run=None, **base))):
            result = evaluate_subject(subject, n_boot=200)
            out[name] = {s: {m: float(result["compare"][s][m]) for m in MEASURES} for s in STRAINS}
            if name == "untrained":
                anatomy = result["anatomy"]["anatomy: chemical + gap count"]
                out["anatomy"] = {s: {m: float(anatomy[s][m]) for m in MEASURES} for s in STRAINS}
        return out
    return cell_cache(cfg, cell, "atlas", compute)


def atlas_results(cfg: ExperimentConfig, results: list[dict]) -> list[dict]:
    """One row per eligible finished cell: task, level label, wiring, seed, and for each strain and
    measure the trained value (``wt_auc``, ...), the untrained circuit's (``untrained_wt_auc``, ...) and
    the anatomy's (``anatomy_wt_auc``, ...)."""
    from wormsim.experiment.grid import trained_cells
    rows = []
    for r, cell in trained_cells(cfg, results, _eligible):
        a = atlas_cell(cfg, cell)
        row = {"task": r["task"], "level": r["level"], "wiring": r["wiring"], "seed": r["seed"]}
        for strain in a["trained"]:
            for m in MEASURES:
                row[f"{strain}_{m}"] = a["trained"][strain][m]
                row[f"untrained_{strain}_{m}"] = a["untrained"][strain][m]
                row[f"anatomy_{strain}_{m}"] = a["anatomy"][strain][m]
        rows.append(row)
    return rows


def atlas_tests(cfg: ExperimentConfig, rows: list[dict], learning: dict) -> list[dict]:
    """Connectome against each null wiring, per level, on each strain's AUC and r of the trained cells
    (the grid's comparisons, stats.comparisons), Holm within this family."""
    from wormsim.experiment.stats import comparisons, holm_within
    tests = []
    for strain in ("wt", "unc31"):
        for m in MEASURES:
            key = f"{strain}_{m}"
            vals = [{**r, "value": r[key], "score": r[key], "n_params": 0}
                    for r in rows if r.get(key) is not None and np.isfinite(r[key])]
            tests += [{**t, "measure": f"atlas {strain} {m}"} for t in comparisons(cfg, vals, learning)
                      if t["family"] == "wiring"]
    return holm_within(tests)


def atlas_section(cfg: ExperimentConfig, results: list[dict], learning: dict) -> list[str]:
    """The report's section (empty without eligible cells or with --no-atlas)."""
    from wormsim.experiment.stats import family_table, mean_ci
    from wormsim.experiment.stats import md_table as _md_table
    if not cfg.atlas:
        return []
    rows = atlas_results(cfg, results)
    if not rows:
        return []
    lines = ["## Against the living worm's neurons", "",
             "Each trained swimmer (and its untrained circuit) stimulated the atlas's way, one neuron at a time with "
             "the body held still, against the signal-propagation atlas of Randi et al. 2023 (Nature): Pearson r of "
             "the response amplitudes over the measured pairs, and the ROC AUC of telling the significant pairs "
             "(q < 0.05) from the rest; wild type (wt) and unc-31 (no neuropeptide release: the anatomy-only "
             "condition). Chance: r 0, AUC 0.5. Anatomy: the wiring's own synapse counts as the predictor, the "
             "paper's comparison. Mean over seeds and its 95% interval (wormsim atlas for the whole protocol).", ""]
    table = []
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["task"], r["level"], r["wiring"]), []).append(r)
    for (task, label, wiring), sel in groups.items():
        cells = [task, label, wiring]
        for strain in ("wt", "unc31"):
            for m in MEASURES:
                m_, lo, hi = mean_ci([r[f"{strain}_{m}"] for r in sel])
                cells.append(f"{m_:.2f} [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else f"{m_:.2f}")
                cells.append(f"{np.mean([r[f'untrained_{strain}_{m}'] for r in sel]):.2f} / "
                             f"{np.mean([r[f'anatomy_{strain}_{m}'] for r in sel]):.2f}")
        table.append(cells)
    head = ["task", "level", "wiring"] + [f"{s} {m} {what}" for s in ("wt", "unc31") for m in MEASURES
                                          for what in ("trained", "untrained / anatomy")]
    lines += _md_table(head, table) + [""]
    tests = atlas_tests(cfg, rows, learning)
    if tests:
        lines += ["Connectome against each null wiring (trained swimmers; cells that did not learn to swim left "
                  "out; Holm within this family):", ""]
        lines += family_table(tests) + [""]
    return lines
