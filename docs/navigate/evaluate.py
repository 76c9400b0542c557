"""Judge navigate runs and the task's references on the very same held-out episodes; write the table.

    python docs/navigate/evaluate.py RUN [RUN ...] --episodes 64 --out docs/navigate

Every run's trained policy, its untrained circuit (the level's initial, connectome-derived
parameters) and, for a run started from a swimmer (``--init``), that swimmer; and every reference policy of envs.navigate.REFERENCES, run the same ``--episodes``
held-out episodes (the task's held-out options: the head oscillator at a random phase, the wider
starting posture; seeds SEED .. SEED + episodes - 1, which no training or validation episode uses), so
the rows differ by the policy alone. Per row: success rate with its 95% Wilson interval, chemotaxis
index (the plate assay's (A - C) / (A + C)), final distance, time to target (arrivals), path efficiency.
Writes results.json and table.md into --out, paths_<run directory>.png per run, and learning_curves.png;
each run's rows are kept in run_<run directory>.json and reused while its policy is unchanged (an untrained
row that two runs share is listed once).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SEED = 7_000_000


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n (well behaved at 0 and n, unlike a t-interval)."""
    from scipy.stats import binomtest
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def row(name: str, scores: dict, what: str) -> dict:
    s = np.asarray(scores["score"], float)
    t = np.asarray(scores["score_time"], float)
    k, n = int(np.sum(s > 0.5)), len(s)
    lo, hi = wilson(k, n)
    return {"name": name, "what": what, "episodes": n, "success": k / n, "success_ci": [lo, hi],
            "chemotaxis_index": float(np.mean(scores["score_chemotaxis"])),
            "distance": float(np.mean(scores["score_distance"])),
            "time_to_target": float(np.mean(t[np.isfinite(t)])) if np.isfinite(t).any() else None,
            "path_efficiency": float(np.mean(scores["score_efficiency"]))}


def _ending(run) -> str:
    """How a finished run ended, in words (the plateau rule's verdict where the summary has one)."""
    summary = json.loads((run.path / "summary.json").read_text())
    if summary.get("converged") is True:
        return f", stopped by the plateau rule at {summary.get('converged_at')}"
    if summary.get("converged") is False:
        return ", the whole budget (the plateau rule did not fire)"
    return ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--out", default="docs/navigate")
    args = ap.parse_args(argv)
    import wormsim  # noqa: F401
    from wormsim.config import TrainConfig
    from wormsim.envs.navigate import REFERENCES, reference_scores
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run
    from wormsim.viz.plots import navigation_paths, plot_learning_curves, plot_navigation
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, env_kwargs = [], None
    for path in args.runs:
        run = Run.open(path)
        cfg = TrainConfig.from_dict(run.config)
        spec = cfg.eval_spec(episodes=args.episodes, held_out=True)
        if env_kwargs is None:
            env_kwargs = dict(spec.env_kwargs)
        elif dict(spec.env_kwargs) != env_kwargs:
            raise ValueError(f"{path} was judged on other episodes ({dict(spec.env_kwargs)} != {env_kwargs})")
        done = (run.path / "summary.json").is_file()
        generations = len(run.metrics()) - 1          # row 0 is the untrained policy
        scope = "" if getattr(cfg, "circuit", "motor") == "motor" else f" ({cfg.circuit})"   # the circuit's neurons
        label = f"{cfg.level} / {cfg.wiring}{scope}, seed {cfg.seed}"
        circuit = f"{cfg.level} / {cfg.wiring}{scope}" + ("" if cfg.wiring == "connectome" else f", seed {cfg.seed}")
        key = run.path.name                          # two runs of one level and wiring keep their own files
        cache = out / f"run_{key}.json"
        stamp = [str(run.path.resolve()), (run.path / "policy.npz").stat().st_mtime, args.episodes, done]
        if cache.is_file() and json.loads(cache.read_text())["stamp"] == stamp:   # judged already
            rows += json.loads(cache.read_text())["rows"]
            continue
        params, _ = run.load_policy()
        ev = Evaluator(spec)
        members = [np.asarray(params, np.float32), ev.initial_params()]
        if cfg.init:                                  # the swimmer it started from (its own row)
            from wormsim.train.warmstart import initial_params_from_run
            members.append(initial_params_from_run(cfg, ev))
        # navigate's episodes are common to the members (TaskSpec.common_episodes): every row below
        # meets the same episodes, seeds SEED .. SEED + episodes - 1, as the references do
        res = ev.evaluate(np.stack(members), seed=SEED)
        ev.close()
        per = [{k: v[i] for k, v in res.episodes.items()} for i in range(len(members))]
        start = f" from the swimmer {Path(cfg.init).name}" if cfg.init else ""
        rows.append(row(label, per[0], f"trained by ES{start}, {generations} generations of {cfg.popsize} x "
                        f"{cfg.episodes} episodes" + (_ending(run) if done else ", stopped by the time limit: the best "
                                                      "candidate so far (policy.npz)")))
        rows.append(row(f"{circuit} untrained", per[1],
                        "the level's initial parameters (connectome-derived on a circuit)"))
        if cfg.init:
            rows.append(row(f"{circuit} swimmer {Path(cfg.init).name} (a start)", per[2],
                            f"the start of training: the swim-trained circuit {Path(cfg.init).name}, its "
                            "attractant inputs at 0 (a blind swimmer made by the circuit)"))
        paths = navigation_paths(cfg.eval_spec(held_out=True), params, episodes=12, seed=SEED)
        plot_navigation(paths, out / f"paths_{key}.png", title=f"{label}, trained")
        mine = rows[-len(members):]
        cache.write_text(json.dumps({"stamp": stamp, "rows": mine}))
        print(f"{label}: success {mine[0]['success']:.2f}, CI {mine[0]['chemotaxis_index']:+.2f}", file=sys.stderr)
    seen, unique = set(), []
    for r in rows:              # one row per untrained circuit and per swimmer; two trained runs of one set-up
        key = (r["name"], r["what"])                 # (e.g. another --patience) differ in their "what"
        if key in seen:
            continue
        seen.add(key)
        unique.append(r)
    rows = unique
    for name, what in REFERENCES.items():
        rows.append(row(name, reference_scores(name, args.episodes, seed=SEED, **env_kwargs), what))
    plot_learning_curves(args.runs, out / "learning_curves.png", title="navigate: ES learning curves")
    (out / "results.json").write_text(json.dumps({"env_kwargs": env_kwargs, "seed": SEED, "rows": rows}, indent=1))
    lines = ["| policy | success | 95% CI | chemotaxis index | final distance (BL) | time to target (s) | "
             "path efficiency | what it is |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = "n/a" if r["time_to_target"] is None else f"{r['time_to_target']:.1f}"
        lines.append(f"| {r['name']} | {r['success']:.2f} | [{r['success_ci'][0]:.2f}, {r['success_ci'][1]:.2f}] | "
                     f"{r['chemotaxis_index']:+.2f} | {r['distance']:.2f} | {t} | {r['path_efficiency']:+.2f} | "
                     f"{r['what']} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
