"""Does biophysical detail matter? The grid of realism levels x wirings x tasks x seeds, and its report.

    wormsim experiment --levels rate mlp --wirings connectome shuffled --tasks swim memory \\
        --seeds 5 --budget 30 --out results/NAME

Every cell (task, level, wiring, seed) is an ordinary training run under ``OUT/runs/``; a cell with a
summary.json is finished and skipped, a cell with a checkpoint is resumed, so the experiment can be
stopped and started again at any point. Then, into OUT:

- ``table_<task>.csv``: per level x wiring, the mean and 95% t-interval of the final score over seeds
  and the number of trainable parameters;
- ``tests_<task>.csv``: for each level, the connectome against each null wiring: difference of means,
  Hedges' g, and the exact two-sided permutation test on the difference of means;
- ``curves_<task>.png``: mean learning curves (best return per generation) of every level x wiring;
- ``report.md``: the tables, the findings in plain words, next to the published claims.

The score of a task: forward speed (body lengths / s) for swim, the task's own score in [0, 1] for
the others (recall R^2 for memory, accuracy for digits), measured on fresh episodes after training.
"""
from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormsim.runs import Run, atomic_write_text
from wormsim.train.es import TrainConfig, train_es

CLAIMS = {
    "schmidgall": ("Schmidgall, Schuman & Parsa 2022: the motor circuit helps locomotion without "
                   "biophysical realism; its architectural statistics carry the benefit; it may hinder "
                   "non-motor tasks."),
    "bio2art": ("Goulas, Damicelli & Hilgetag 2021 (bio2art): connectome-wired RNNs show no general gain "
                "over randomly wired ones on memory tasks."),
    "elegans_ai": ("Bardozzo et al. 2024 (Elegans-AI): connectome-derived topology beats random "
                   "rewiring; Watts-Strogatz null models come close."),
}
SCORE_UNIT = {"swim": "forward speed, body lengths / s", "navigate": "return",
              "memory": "recall R^2", "memory-capacity": "recall R^2", "digits": "accuracy"}


@dataclass
class ExperimentConfig:
    levels: list[str] = field(default_factory=lambda: ["rate", "spiking", "mlp"])
    wirings: list[str] = field(default_factory=lambda: ["connectome", "shuffled", "erdos-renyi"])
    tasks: list[str] = field(default_factory=lambda: ["swim", "memory"])
    trains: list[str] = field(default_factory=lambda: ["weights"])
    seeds: int = 5
    budget: int = 30
    popsize: int = 24
    duration: float = 3.0
    episodes: int = 1
    eval_episodes: int = 4
    workers: int = 2
    backend: str = "local"
    ray_address: str | None = None
    out: str = "results/experiment"

    @classmethod
    def quick(cls, out: str) -> "ExperimentConfig":
        """A tiny grid that runs in a few minutes on 2 cores (the CI check of the whole pipeline)."""
        return cls(levels=["rate", "mlp"], wirings=["connectome", "shuffled"], tasks=["swim", "memory"],
                   seeds=2, budget=2, popsize=6, duration=0.5, eval_episodes=1, workers=1, out=out)


def cells(cfg: ExperimentConfig):
    """(task, level, wiring, train, seed) of every cell. The mlp has no wiring: one set of seeds
    stands for every wiring. Reservoir mode on a body task needs a level that steps in torch, so
    conductance x readout x (swim, navigate) is left out."""
    from wormsim.rollout import MOTOR_TASKS
    for task, level, wiring, train, seed in itertools.product(cfg.tasks, cfg.levels, cfg.wirings,
                                                              cfg.trains, range(cfg.seeds)):
        if level == "mlp" and wiring != cfg.wirings[0]:
            continue
        if train == "readout" and level == "conductance" and task in MOTOR_TASKS:
            continue
        yield task, level, wiring, train, seed


def cell_dir(cfg: ExperimentConfig, task, level, wiring, train, seed) -> Path:
    mode = "" if train == "weights" else f"-{train}"
    return Path(cfg.out) / "runs" / task / f"{level}{mode}-{wiring}-s{seed}"


def run_cell(cfg: ExperimentConfig, task, level, wiring, train, seed, progress=False) -> dict:
    from wormsim.rollout import MOTOR_TASKS
    path = cell_dir(cfg, task, level, wiring, train, seed)
    if (path / "summary.json").is_file():
        return json.loads((path / "summary.json").read_text())
    tc = TrainConfig(level=level, wiring=wiring, task=task, seed=seed, budget=cfg.budget,
                     popsize=cfg.popsize, duration=cfg.duration, episodes=cfg.episodes,
                     eval_episodes=cfg.eval_episodes, workers=cfg.workers, backend=cfg.backend,
                     ray_address=cfg.ray_address, video=False, train=train, out=str(path))
    trainer = train_es
    if train == "readout" and task not in MOTOR_TASKS:
        from wormsim.reservoir import train_readout as trainer
    if (path / "checkpoint.pkl").is_file():
        return trainer(tc, Run.open(path), resume=True, progress=progress)
    return trainer(tc, Run.create(path, tc, overwrite=True), progress=progress)


def _label(level: str, train: str) -> str:
    return level if train == "weights" else f"{level} ({train})"


def final_score(task: str, summary: dict) -> float:
    return float(summary["final_speed"] if task == "swim" else
                 summary["final_return"] if task == "navigate" else summary["final_score"])


# ---- statistics --------------------------------------------------------------------------------------
def mean_ci(x) -> tuple[float, float, float]:
    """Mean and 95% t-interval (NaN interval for fewer than 2 values)."""
    from scipy import stats
    x = np.asarray(x, float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def hedges_g(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def permutation_p(a, b) -> float:
    """Exact (or 9999-resample) two-sided permutation test on the difference of means."""
    from scipy import stats
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    res = stats.permutation_test((a, b), lambda x, y: np.mean(x) - np.mean(y), n_resamples=9999,
                                 alternative="two-sided", random_state=0)
    return float(res.pvalue)


# ---- the whole experiment ------------------------------------------------------------------------------
def run_experiment(cfg: ExperimentConfig, progress: bool = True, log=print) -> Path:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "experiment.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    todo = list(cells(cfg))
    t0 = time.perf_counter()
    results = []
    for k, (task, level, wiring, train, seed) in enumerate(todo, 1):
        done = (cell_dir(cfg, task, level, wiring, train, seed) / "summary.json").is_file()
        summary = run_cell(cfg, task, level, wiring, train, seed, progress=False)
        results.append({"task": task, "level": _label(level, train), "wiring": wiring, "seed": seed,
                        "score": final_score(task, summary), "n_params": summary["n_params"],
                        "untrained": summary.get("untrained_speed"), "wall_time": summary["wall_time"]})
        if progress:
            log(f"[{k}/{len(todo)}] {task:8s} {_label(level, train):19s} {wiring:15s} seed {seed}: "
                f"score {results[-1]['score']:.4f}" + (" (already done)" if done else "")
                + f"  [{time.perf_counter() - t0:.0f} s]")
    write_report(cfg, results)
    return out / "report.md"


def write_report(cfg: ExperimentConfig, results: list[dict]) -> None:
    out = Path(cfg.out)
    lines = ["# Does biophysical detail matter? Realism levels x wirings", "",
             f"Grid: levels {', '.join(cfg.levels)}; wirings {', '.join(cfg.wirings)}; training "
             f"{', '.join(cfg.trains)} (readout: the circuit fixed, a linear readout fitted); tasks "
             f"{', '.join(cfg.tasks)}; {cfg.seeds} seeds; CMA-ES, {cfg.budget} generations of "
             f"{cfg.popsize}; swim episodes of {cfg.duration:g} s. The mlp has no wiring: it appears once "
             f"per task.", "", "Reproduce with:", "", "```", command_line(cfg), "```", ""]
    findings = []
    labels = list(dict.fromkeys(r["level"] for r in results))
    for task in cfg.tasks:
        rows = [r for r in results if r["task"] == task]
        table = []
        for level in labels:
            for wiring in cfg.wirings:
                xs = [r["score"] for r in rows if r["level"] == level and r["wiring"] == wiring]
                if not xs:
                    continue
                m, lo, hi = mean_ci(xs)
                n_params = next(r["n_params"] for r in rows if r["level"] == level and r["wiring"] == wiring)
                table.append({"level": level, "wiring": wiring if not level.startswith("mlp") else "(none)",
                              "n": len(xs), "mean": m, "ci_low": lo, "ci_high": hi, "n_params": n_params})
        _write_csv(out / f"table_{task}.csv", table)
        tests = []
        for level in labels:
            ref = [r["score"] for r in rows if r["level"] == level and r["wiring"] == "connectome"]
            for wiring in cfg.wirings:
                if wiring == "connectome" or level.startswith("mlp"):
                    continue
                other = [r["score"] for r in rows if r["level"] == level and r["wiring"] == wiring]
                if ref and other:
                    tests.append({"level": level, "null": wiring,
                                  "diff": float(np.mean(ref) - np.mean(other)),
                                  "hedges_g": hedges_g(ref, other), "p": permutation_p(ref, other)})
        _write_csv(out / f"tests_{task}.csv", tests)
        _plot_curves(cfg, task, out / f"curves_{task}.png")
        lines += [f"## {task} (score: {SCORE_UNIT.get(task, 'score')})", "",
                  "| level | wiring | seeds | mean | 95% CI | parameters |", "|---|---|---|---|---|---|"]
        lines += [f"| {t['level']} | {t['wiring']} | {t['n']} | {t['mean']:.4f} | "
                  f"[{t['ci_low']:.4f}, {t['ci_high']:.4f}] | {t['n_params']} |" for t in table]
        if tests:
            lines += ["", "Connectome against each null wiring (difference of means, Hedges' g, exact "
                      "permutation test):", "", "| level | null | connectome - null | g | p |",
                      "|---|---|---|---|---|"]
            lines += [f"| {t['level']} | {t['null']} | {t['diff']:+.4f} | {t['hedges_g']:+.2f} | "
                      f"{t['p']:.3f} |" for t in tests]
        lines += ["", f"![learning curves](curves_{task}.png)", ""]
        findings += _findings(task, table, tests)
    lines += ["## Findings in plain words", ""] + [f"- {f}" for f in findings] + [""]
    lines += ["## Next to the published claims", ""] + [f"- {c}" for c in CLAIMS.values()] + [
        "", "Read the findings above against these with the grid's size in mind: with few seeds and short "
        "training budgets a permutation p above 0.05 means 'no difference detected', not 'no difference'."]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def _findings(task, table, tests) -> list[str]:
    out = []
    if table:
        best = max(table, key=lambda t: t["mean"])
        out.append(f"{task}: the best cell is {best['level']} on {best['wiring']} "
                   f"({best['mean']:.4f} {SCORE_UNIT.get(task, '')}).")
    for t in tests:
        if not math.isfinite(t["p"]):
            continue
        verdict = ("helps" if t["diff"] > 0 else "hurts") if t["p"] < 0.05 else "makes no detectable difference"
        out.append(f"{task}, {t['level']} level: the connectome {verdict} against {t['null']} "
                   f"(difference {t['diff']:+.4f}, g = {t['hedges_g']:+.2f}, p = {t['p']:.3f}).")
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    import io
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _plot_curves(cfg: ExperimentConfig, task: str, path: Path) -> None:
    """Learning curves of the cells trained by ES (reservoir cells fitted in closed form have none)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wormsim.viz.plots import save_figure
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for level in cfg.levels:
        for wiring in cfg.wirings:
            curves = []
            for seed in range(cfg.seeds):
                p = cell_dir(cfg, task, level, wiring, "weights", seed)
                if (p / "metrics.jsonl").is_file():
                    curves.append([r["best"] for r in Run(p).metrics()])
            if not curves:
                continue
            n = min(map(len, curves))
            c = np.array([x[:n] for x in curves])
            label = level if level == "mlp" else f"{level} / {wiring}"
            ax.plot(np.arange(n), c.mean(0), label=label)
            ax.fill_between(np.arange(n), c.min(0), c.max(0), alpha=0.15)
    ax.set_xlabel("generation")
    ax.set_ylabel("best return in the generation")
    ax.set_title(f"{task}: mean over seeds (band: min to max)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def command_line(cfg: ExperimentConfig) -> str:
    return (f"wormsim experiment --levels {' '.join(cfg.levels)} --wirings {' '.join(cfg.wirings)} "
            f"--tasks {' '.join(cfg.tasks)} --train {' '.join(cfg.trains)} --seeds {cfg.seeds} --budget {cfg.budget} --popsize {cfg.popsize} "
            f"--duration {cfg.duration:g} --workers {cfg.workers} --out {cfg.out}")
