"""The experiment's figures: mean learning curves per task, in the task's own units."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import ExperimentConfig
from wormsim.experiment.grid import cell_dir, cell_label, uses_wiring
from wormsim.runs import Run

WIRING_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))   # one per wiring, in grid order
# the metrics column (wormsim/runs.py metrics.jsonl) that follows a summary key, and its axis label
CURVE_COLUMNS = {"final_speed": ("speed_best", "forward speed of the generation's best candidate (BL/s)"),
                 "final_return": ("best", "best return in the generation"),
                 "final_score": ("score_best", "score of the generation's best candidate")}


def validation_label(task: str) -> str:
    """The axis label of a validation curve: the task's own value, of the policy being trained (ES: the
    distribution's mean), on the fixed validation episodes."""
    spec = get_task(task)
    what = {"final_speed": "forward speed (BL/s)", "final_return": "return"}.get(spec.metric, "score")
    return f"validation {what}, current policy"


def curve_column(task: str) -> tuple[str, str]:
    """(metrics column, axis label) of a task's learning curve: its score where it has one beside the
    analysed value (the clipped score of the memory tasks), else the analysed value itself."""
    spec = get_task(task)
    return CURVE_COLUMNS.get(spec.score or spec.metric, CURVE_COLUMNS["final_return"])


def _curves(cfg: ExperimentConfig, task: str, level: str, wiring: str, train: str, key: str) -> list[list]:
    """The learning curve (values of ``key`` per iteration) of every seed's run that has one."""
    curves = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        p = cell_dir(cfg, task, level, wiring, train, seed)
        if (p / "summary.json").is_file():      # finished runs only (an interim report: not those still running)
            c = [r.get(key) for r in Run(p).metrics()]
            if c and all(v is not None for v in c):
                curves.append(c)
    return curves


def validation_curves(cfg: ExperimentConfig, task: str, level: str, wiring: str, train: str) -> list[tuple]:
    """Every seed's validation curve: (evaluations (K,), validation score (K,), evaluations at which the
    plateau rule fired or None), from runs that validated (wormsim/train/plateau.py)."""
    out = []
    for seed in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        p = cell_dir(cfg, task, level, wiring, train, seed)
        if not (p / "summary.json").is_file():      # finished runs only
            continue
        rows = [r for r in Run(p).metrics() if r.get("val_score") is not None and r.get("evaluations") is not None]
        if rows:
            fired = next((r["evaluations"] for r in rows if r.get("converged")), None)
            out.append((np.array([r["evaluations"] for r in rows], float),
                        np.array([r["val_score"] for r in rows], float), fired))
    return out


def _on_grid(curves: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """(common evaluations, (seeds, K) values): each seed's curve held at its last value after it ends
    (a run that stopped at its plateau stays there)."""
    grid = np.unique(np.concatenate([x for x, _, _ in curves]))
    values = np.array([y[np.clip(np.searchsorted(x, grid, side="right") - 1, 0, len(y) - 1)]
                       for x, y, _ in curves])
    return grid, values


def plot_curves(cfg: ExperimentConfig, task: str, path: Path) -> None:
    """Mean learning curves over seeds (band: min to max) in the task's own units, against evaluations
    (episodes trained on): one colour per level (and training), one line style per wiring; each run's
    validation score, held at its last value once it stopped, and a dot where the plateau rule fired. A
    reservoir cell, fitted in closed form, is a thin horizontal line at its held-out score. Runs without
    validation checks (grids from before the plateau rule) are drawn per generation instead."""
    from wormsim.viz.figures import pyplot, save_figure
    plt = pyplot()
    key, ylabel = curve_column(task)
    fig, ax = plt.subplots(figsize=(9, 5))
    colours: dict[str, str] = {}
    flat, x_max, by_evaluations = [], 1.0, False
    for level, train, wiring in itertools.product(cfg.levels, cfg.trains, cfg.wirings):
        name = cell_label(level, train)
        label = f"{name} / {wiring}" if uses_wiring(level) else name
        style = WIRING_STYLES[cfg.wirings.index(wiring) % len(WIRING_STYLES)]
        validated = validation_curves(cfg, task, level, wiring, train)
        curves = [] if validated else _curves(cfg, task, level, wiring, train, key)
        if not validated and not curves:
            continue
        colour = colours.setdefault(name, f"C{len(colours) % 10}")
        if validated and max(len(x) for x, _, _ in validated) > 1:
            by_evaluations = True
            grid, values = _on_grid(validated)
            ax.plot(grid, values.mean(0), color=colour, ls=style, lw=1.6, label=label)
            ax.fill_between(grid, values.min(0), values.max(0), color=colour, alpha=0.08)
            for x, y, fired in validated:
                if fired is not None:
                    ax.plot([fired], [y[np.searchsorted(x, fired)]], "o", color=colour, ms=3)
            x_max = max(x_max, float(grid[-1]))
            continue
        n = min(map(len, curves)) if curves else 1
        if n == 1:
            y0 = float(np.mean([c[0] for c in curves])) if curves else float(np.mean([y[0] for _, y, _ in validated]))
            flat.append((label, y0, colour, style))
            continue
        c = np.array([x[:n] for x in curves], float)
        x_max = max(x_max, n - 1)
        ax.plot(np.arange(n), c.mean(0), color=colour, ls=style, lw=1.6, label=label)
        ax.fill_between(np.arange(n), c.min(0), c.max(0), color=colour, alpha=0.08)
    for label, y, colour, style in flat:
        ax.hlines(y, 0, x_max, colors=colour, linestyles=[style], lw=1.0, label=f"{label} (fitted; held-out)")
    if by_evaluations:
        ax.set_xlabel("evaluations (episodes trained on)")
        ax.set_ylabel(validation_label(task))
    else:
        ax.set_xlabel("generation (bptt cells: gradient step)" if "bptt" in cfg.trains else "generation")
        ax.set_ylabel(ylabel)
    ax.set_title(f"{task}: mean over seeds (band: min to max; dot: plateau reached); colour: level, "
                 "line style: wiring", fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        ax.text(0.5, 0.5, "no learning curves in this grid", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
