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


def curve_column(task: str) -> tuple[str, str]:
    """(metrics column, axis label) of a task's learning curve: its score where it has one beside the
    analysed value (the clipped score of the memory tasks), else the analysed value itself."""
    spec = get_task(task)
    return CURVE_COLUMNS.get(spec.score or spec.metric, CURVE_COLUMNS["final_return"])


def _curves(cfg: ExperimentConfig, task: str, level: str, wiring: str, train: str, key: str) -> list[list]:
    """The learning curve (values of ``key`` per iteration) of every seed's run that has one."""
    curves = []
    for seed in range(cfg.seeds):
        p = cell_dir(cfg, task, level, wiring, train, seed)
        if (p / "metrics.jsonl").is_file():
            c = [r.get(key) for r in Run(p).metrics()]
            if c and all(v is not None for v in c):
                curves.append(c)
    return curves


def plot_curves(cfg: ExperimentConfig, task: str, path: Path) -> None:
    """Mean learning curves over seeds (band: min to max) in the task's own units: one colour per
    level (and training), one line style per wiring; a reservoir cell, fitted in closed form, is a
    thin horizontal line at its held-out score."""
    from wormsim.viz.figures import pyplot, save_figure
    plt = pyplot()
    key, ylabel = curve_column(task)
    fig, ax = plt.subplots(figsize=(9, 5))
    colours: dict[str, str] = {}
    flat, n_max = [], 1
    for level, train, wiring in itertools.product(cfg.levels, cfg.trains, cfg.wirings):
        curves = _curves(cfg, task, level, wiring, train, key)
        if not curves:
            continue
        name = cell_label(level, train)
        colour = colours.setdefault(name, f"C{len(colours) % 10}")
        style = WIRING_STYLES[cfg.wirings.index(wiring) % len(WIRING_STYLES)]
        label = f"{name} / {wiring}" if uses_wiring(level) else name
        n = min(map(len, curves))
        if n == 1:
            flat.append((label, float(np.mean([c[0] for c in curves])), colour, style))
            continue
        c = np.array([x[:n] for x in curves], float)
        n_max = max(n_max, n)
        ax.plot(np.arange(n), c.mean(0), color=colour, ls=style, lw=1.6, label=label)
        ax.fill_between(np.arange(n), c.min(0), c.max(0), color=colour, alpha=0.08)
    for label, y, colour, style in flat:
        ax.hlines(y, 0, n_max - 1, colors=colour, linestyles=[style], lw=1.0,
                  label=f"{label} (fitted; held-out)")
    ax.set_xlabel("generation (bptt cells: gradient step)" if "bptt" in cfg.trains else "generation")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{task}: mean over seeds (band: min to max); colour: level, line style: wiring")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        ax.text(0.5, 0.5, "no learning curves in this grid", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
