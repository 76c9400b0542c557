"""Figures of runs and rollouts: learning curves, curvature kymograph, neural activity, trained weights.

    from wormsim.viz import plots
    plots.plot_learning_curves(["runs/rate-connectome-swim-s0"], "curves.png")
    plots.plot_kymograph(curvature, dt, "kymograph.png")            # curvature (T, J), rad / BL
    plots.plot_activity(traces, circuit, curvature, dt, "activity.png", level="rate")
    plots.plot_weights(brain, "weights.png")                        # change from the connectome start
    plots.plot_run("runs/NAME")                                      # all of the above, into the run

Every function writes PNG, or SVG/PDF by the file's suffix, atomically, and returns the path.
A metrics file that is missing, empty, truncated or lacks a column raises ValueError naming the file
and what is wrong (``load_metrics``).

Tasks with a body (the task registry's ``has_body``: swim, navigate) get the speed learning curve and
the body figures (kymograph, activity); the others (memory, memory-capacity, digits) have no body:
their learning curve shows the score in [0, 1] (metrics columns score_best, score_mean) and
``plot_run`` draws no body figure. The weights figure needs no body, but a level that reports per-edge
weights (``Brain.edge_weights``); for a level without them (the mlp baseline, whose weights sit on no
synapse) ``plot_weights`` raises CapabilityError (a ValueError) and ``plot_run`` notes that the
figure is left out and why.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wormsim.viz.circuit import EXCITATORY, GAP, INHIBITORY, draw_circuit_on
# check_figure_path and save_figure are re-exported: callers that import them from here keep working
from wormsim.viz.figures import FIGURE_SUFFIXES, check_figure_path, pyplot, save_figure  # noqa: F401

# The columns a learning curve needs (written by every trainer, see wormsim/runs.py); the score
# columns are optional (runs from before they existed), NaN when absent.
METRIC_COLUMNS = ("iteration", "best", "mean", "std", "speed_best", "speed_mean", "env_steps")
OPTIONAL_COLUMNS = ("score_best", "score_mean")
RUN_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


# ---- metrics ----------------------------------------------------------------------------------------
def load_metrics(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The metrics of a run as columns, {name: (n_rows,) float array}, checked.

    Raises ValueError naming the file when it is missing, empty, has a truncated or non-JSON line, or
    a row lacks one of METRIC_COLUMNS.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not Path(run_dir).is_dir():
        raise ValueError(f"no run directory at {run_dir}")
    if not path.is_file():
        raise ValueError(f"{path} is missing: the run has not finished an iteration yet")
    lines = path.read_text().splitlines()
    rows = []
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            where = "the last line is truncated" if k == len(lines) else f"line {k} is not valid JSON"
            raise ValueError(f"{path}: {where} (was the run killed while writing?); "
                             f"`wormsim resume {Path(run_dir)}` rewrites it") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path} line {k} is not a JSON object")
        missing = [c for c in METRIC_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"{path} line {k} lacks {', '.join(missing)}: not a wormsim metrics file")
        rows.append(row)
    if not rows:
        raise ValueError(f"{path} is empty: the run has not finished an iteration yet")
    return {c: np.array([np.nan if r.get(c) is None else float(r[c]) for r in rows])
            for c in METRIC_COLUMNS + OPTIONAL_COLUMNS}


def run_config(run_dir: str | Path) -> dict:
    """The run's training config (config.json's "config"), or {} where there is none to read."""
    try:
        cfg = json.loads((Path(run_dir) / "config.json").read_text())["config"]
        return cfg if isinstance(cfg, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# What tells runs apart, in the order a label names them (level and wiring always come first).
LABEL_FIELDS = ("dataset", "task", "algo", "train", "seed", "medium", "head_cpg", "share_weights",
                "n_segments", "duration", "popsize", "budget")


def _describe(key: str, value) -> str:
    if key == "algo":
        return str(value).upper()
    if key == "seed":
        return f"seed {value}"
    if key == "train":
        return "readout only" if value == "readout" else "weights trained"
    if key == "head_cpg":
        return f"head osc. {value:g} Hz" if value else "head osc. off"
    if key == "share_weights":
        return "shared weights" if value else "per-edge weights"
    if key == "n_segments":
        return f"{value} segments"
    if key == "duration":
        return f"{value:g} s episodes"
    if key in ("popsize", "budget"):
        return f"{key} {value}"
    return str(value)


def run_labels(run_dirs) -> list[str]:
    """One legend label per run: 'level / wiring' plus every config field in LABEL_FIELDS on which the
    runs differ (e.g. the seed of two otherwise equal runs); the directory name where a run has no
    config or two labels would still be equal."""
    run_dirs = [Path(r) for r in run_dirs]
    cfgs = [run_config(r) for r in run_dirs]
    varying = [k for k in LABEL_FIELDS if len({json.dumps(c.get(k)) for c in cfgs}) > 1]
    labels = []
    for run, cfg in zip(run_dirs, cfgs):
        if "level" not in cfg:
            labels.append(run.name)
            continue
        extra = [_describe(k, cfg[k]) for k in varying if k in cfg]
        labels.append(f"{cfg['level']} / {cfg.get('wiring', '?')}" + (f" ({', '.join(extra)})" if extra else ""))
    if len(set(labels)) < len(labels):
        labels = [f"{label} [{run.name}]" for label, run in zip(labels, run_dirs)]
    return labels


def run_label(run_dir: str | Path) -> str:
    """A run described on its own, for titles: 'level / wiring (dataset, task, ALGO, seed S)', else
    the directory name."""
    cfg = run_config(run_dir)
    if "level" not in cfg:
        return Path(run_dir).name
    extra = [_describe(k, cfg[k]) for k in ("dataset", "task", "algo", "seed") if k in cfg]
    if cfg.get("train") == "readout":
        extra.append("readout only")
    return f"{cfg['level']} / {cfg.get('wiring', '?')} ({', '.join(extra)})"


def iteration_label(run_dirs) -> str:
    """What an iteration is for these runs: 'ES generation', 'PPO iteration', or 'iteration'."""
    algos = {run_config(r).get("algo") for r in run_dirs}
    if algos == {"es"}:
        return "ES generation"
    if algos == {"ppo"}:
        return "PPO iteration"
    if algos == {"es", "ppo"}:
        return "iteration (ES generation or PPO iteration)"
    return "iteration"


# ---- learning curves -------------------------------------------------------------------------------
def plot_learning_curves(run_dirs, path: str | Path, labels=None, title: str | None = None) -> Path:
    """Return, and speed or score, of one or several runs against iterations and environment steps.

    Rows: the episode return; the forward speed (body lengths / s) where any run has one (swim,
    navigate); the score in [0, 1] where any run has one (memory, memory-capacity, digits). Columns:
    iteration (ES generation or PPO iteration, as the runs were trained), environment steps. Per run:
    the mean over the population (ES) or the batch's episodes (PPO) with a mean +- std band (return;
    the other rows have no std) and the best candidate or episode as a dashed line. Several runs share
    the axes, labelled by what tells them apart (``run_labels``).
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator
    run_dirs = [Path(r) for r in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    if not run_dirs:
        raise ValueError("no runs to plot")
    labels = list(labels) if labels is not None else run_labels(run_dirs)
    metrics = [load_metrics(r) for r in run_dirs]
    rows = [("return", "mean", "best", "episode return")]
    if any(np.isfinite(m["speed_mean"]).any() or np.isfinite(m["speed_best"]).any() for m in metrics):
        rows.append(("speed", "speed_mean", "speed_best", "forward speed (body lengths / s)"))
    if any(np.isfinite(m["score_mean"]).any() or np.isfinite(m["score_best"]).any() for m in metrics):
        rows.append(("score", "score_mean", "score_best", _score_label(run_dirs)))
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 1.2 + 2.9 * len(rows)), sharey="row",
                             squeeze=False)
    for k, (m, label) in enumerate(zip(metrics, labels)):
        colour = RUN_COLOURS[k % len(RUN_COLOURS)]
        few = len(m["iteration"]) <= 25                # a dot per iteration, or a lone point is invisible
        style = dict(marker="o", ms=3) if few else {}
        for col, xkey in enumerate(("iteration", "env_steps")):
            x = m[xkey]
            for r, (name, mean, best, _) in enumerate(rows):
                ax = axes[r, col]
                if name == "return":
                    ax.fill_between(x, m["mean"] - m["std"], m["mean"] + m["std"], color=colour,
                                    alpha=0.2, lw=0)
                ax.plot(x, m[mean], color=colour, lw=1.5, **style)
                ax.plot(x, m[best], color=colour, lw=1.2, ls="--", **style)
    xlabel = iteration_label(run_dirs)
    for col, what in enumerate((xlabel, "environment steps (all worms)")):
        axes[-1, col].set_xlabel(what)
        for r, (name, _, _, ylabel) in enumerate(rows):
            ax = axes[r, col]
            ax.grid(alpha=0.3)
            ax.set_title(f"{name} vs {'iterations' if col == 0 else 'environment steps'}")
            if col == 1:
                ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
            else:
                ax.set_ylabel(ylabel)
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if name == "score":
                ax.set_ylim(-0.05, 1.05)
    algos = {run_config(r).get("algo") for r in run_dirs}
    if algos == {"es"}:
        mean_name, best_name = "population mean", "best candidate"
    elif "es" not in algos:                                            # PPO and BPTT: episodes
        mean_name, best_name = "mean over the batch's episodes", "best episode"
    else:
        mean_name, best_name = "mean (ES: population, else: episodes)", "best (ES: candidate, else: episode)"
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Line2D([], [], color=RUN_COLOURS[k % len(RUN_COLOURS)], lw=2, label=label)
               for k, label in enumerate(labels)]
    handles += [Line2D([], [], color="0.3", lw=1.5, label=mean_name),
                Line2D([], [], color="0.3", lw=1.2, ls="--", label=best_name),
                Patch(color="0.3", alpha=0.2, label="mean ± std (return)")]
    ncol = min(len(handles), 3 if max(len(h.get_label()) for h in handles) > 40 else 6)
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, fontsize=8)
    fig.suptitle(title or ("learning curve: " + run_label(run_dirs[0]) if len(run_dirs) == 1
                           else f"learning curves of {len(labels)} runs"))
    legend_rows = -(-len(handles) // ncol)
    fig.tight_layout(rect=(0, (0.12 + 0.2 * legend_rows) / fig.get_figheight(), 1, 1))
    return save_figure(fig, path)


def _score_label(run_dirs) -> str:
    """The score axis's words: the task's own (navigate: success rate) when every run has one task whose
    metric is its score, else "task score (0..1)"."""
    from wormsim.envs.tasks import TASKS
    tasks = {run_config(r).get("task") for r in run_dirs}
    spec = TASKS.get(next(iter(tasks))) if len(tasks) == 1 else None
    if spec is not None and spec.metric == "final_score" and spec.has_body:
        return spec.metric_label.split(" (")[0] + " (0..1)"
    return "task score (0..1)"


# ---- navigation paths --------------------------------------------------------------------------------
def navigation_paths(spec, params, episodes: int = 8, seed: int = 0) -> list[dict]:
    """Run ``episodes`` episodes of ``spec`` (a navigate EvalSpec) with ``params`` and return each one's
    centre-of-mass path in the frame of its own gradient: the target at (0, 0), the start on the -x
    axis (the gradient points along +x). Each entry: {"path": (T + 1, 2) BL, "start_distance": BL (of
    the centre of mass; the head tip starts ``target_distance`` away), "radius": BL, "success": bool,
    "distance": final head-target distance BL}. Episode e has seed ``seed + e`` (the Evaluator's seeds
    for one member), so these are the episodes a judgement with that seed runs."""
    import dataclasses

    from wormsim.rollout import Evaluator, run_episodes
    ev = Evaluator(dataclasses.replace(spec, episodes=int(episodes)))
    seeds = [int(seed) + e for e in range(episodes)]      # the Evaluator's seeds of member 0
    try:
        ev._setup(1)
        ev.brain.set_params(np.asarray(params, np.float32)[None])
        out = run_episodes(ev.brain, ev.interface, ev.env, seeds, record=True)
        # the start and target of each episode: a reset of a fresh env with the same seeds (the
        # evaluated env has auto-reset the rows that ended first)
        probe = ev.make_env(episodes)
        try:
            probe.reset(seed=seeds)
            start, target = probe.task.start_com.copy(), probe.task.target.copy()
            radius = float(probe.task.success_radius)
        finally:
            probe.close()
    finally:
        ev.close()
    com = np.asarray(out.traces["com"], float)                 # (T, E, 2), relative to each worm's home
    paths = []
    for e in range(episodes):
        d = target[e] - start[e]
        ang = -np.arctan2(d[1], d[0])
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        path = np.vstack([start[e][None], com[: int(out.steps[e]), e]]) - target[e]
        paths.append({"path": path @ rot.T, "start_distance": float(np.hypot(*d)), "radius": radius,
                      "success": bool(out.score[e] > 0.5),
                      "distance": float(out.scores.get("score_distance", np.full(episodes, np.nan))[e])})
    return paths


def plot_navigation(paths: list[dict], path: str | Path, title: str | None = None) -> Path:
    """The paths of several episodes (``navigation_paths``) from their starting points to the target at
    (0, 0), each rotated so that it starts on the -x axis (the attractant's gradient points right), as
    chemotaxis tracks are shown; reaching paths in colour, the others grey, the success radius as a
    circle, each start a square."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    reach = max(p["start_distance"] for p in paths)
    for p in paths:
        xy = p["path"]
        ax.plot(xy[:, 0], xy[:, 1], lw=1.3, color="tab:red" if p["success"] else "0.55",
                alpha=0.9 if p["success"] else 0.7)
        ax.plot(xy[-1, 0], xy[-1, 1], "o", ms=3, color="tab:red" if p["success"] else "0.55")
        ax.plot(xy[0, 0], xy[0, 1], "ks", ms=4)
    ax.add_patch(plt.Circle((0.0, 0.0), paths[0]["radius"], fill=False, color="tab:red", lw=1.5))
    ax.plot([0.0], [0.0], "*", ms=12, color="tab:red")
    n_ok = sum(p["success"] for p in paths)
    ax.set_aspect("equal")
    lim = reach + 0.6
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.grid(alpha=0.3)
    ax.set_xlabel("along the gradient (BL; target at 0, start to the left)")
    ax.set_ylabel("across the gradient (BL)")
    ax.set_title((title + "\n" if title else "") +
                 f"centre-of-mass paths; {n_ok} of {len(paths)} reach the target (head tip inside the circle)",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


# ---- kymograph and activity -------------------------------------------------------------------------
def _kymograph(ax, curvature: np.ndarray, dt: float, plt, vmax: float | None = None):
    curvature = np.asarray(curvature, float)
    if curvature.ndim != 2 or curvature.shape[0] < 1 or curvature.shape[1] < 1:
        raise ValueError(f"curvature must be (T, J) with T, J >= 1, got shape {curvature.shape}")
    T, J = curvature.shape
    finite = curvature[np.isfinite(curvature)]
    vmax = vmax or (float(np.percentile(np.abs(finite), 99)) if finite.size else 1.0) or 1.0
    # joints sit at body positions (j + 1) / n_segments, n_segments = J + 1; pixel edges half-way between
    n_seg = J + 1
    im = ax.imshow(curvature.T, aspect="auto", origin="upper", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                   extent=(0.0, T * dt, (J + 0.5) / n_seg, 0.5 / n_seg), interpolation="nearest")
    ax.set_ylabel("body position\n(0 head, 1 tail)")
    return im


def plot_kymograph(curvature: np.ndarray, dt: float, path: str | Path, title: str | None = None) -> Path:
    """Body-curvature kymograph: time (s) across, body position (0 head .. 1 tail) down.

    curvature: (T, J) rad / BL per control step of ``dt`` s, joints head to tail. Diverging colours
    centred at zero (red dorsal, blue ventral), so a wave travelling head to tail shows as diagonal
    stripes running down and to the right.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    im = _kymograph(ax, curvature, dt, plt)
    ax.set_xlabel("time (s)")
    fig.colorbar(im, ax=ax, label="curvature (rad / body length)\n+ dorsal, − ventral")
    ax.set_title(title or "body-curvature kymograph")
    fig.tight_layout()
    return save_figure(fig, path)


def neuron_order(circuit) -> np.ndarray:
    """Neuron indices ordered by cell class (the circuit's class order), then position head to tail."""
    classes = {c: k for k, c in enumerate(circuit.classes)}
    key = [(classes[circuit.cell_class[i]], float(circuit.position[i]), i) for i in range(circuit.n)]
    return np.array([k[2] for k in sorted(key)], dtype=int)


# the neural trace a figure shows, in order of preference: spikes as a raster, the others as images.
# Keys are the Brain contract's trace names (realism_levels/base.py, Brain.traces).
TRACE_PREFERENCE = ("spikes", "voltage", "activity", "state")


def _trace_kind(traces: dict) -> tuple[str, str]:
    """Which recorded trace to show and how: (key, 'raster' | 'image'), from the traces there are:
    spikes (a raster) before membrane voltage before activity before a level's state."""
    for key in TRACE_PREFERENCE:
        if key in traces:
            return key, "raster" if key == "spikes" else "image"
    raise ValueError(f"no neural trace to plot; the rollout recorded {', '.join(traces) or 'nothing'} "
                     f"(a figure needs one of {', '.join(TRACE_PREFERENCE)})")


def _shows_circuit_neurons(level: str | None, circuit, n_units: int) -> bool:
    """Whether a trace's columns are the worm's neurons (ordered and labelled by class) or units of a
    model of their own (hidden units): the level's capabilities say whether it is built on the wiring
    (a connectome-free baseline's units are no neurons of the worm); the width must match the circuit."""
    if circuit is None or n_units != circuit.n:
        return False
    if level is None:
        return True
    from wormsim.realism_levels import get_level
    return bool(get_level(level).capabilities()["uses_wiring"])


def plot_activity(traces: dict, circuit, curvature: np.ndarray, dt: float, path: str | Path,
                  level: str | None = None, title: str | None = None) -> Path:
    """Kymograph (top) and the activity of every neuron (bottom) on one time axis.

    traces: the brain's traces, each (T, N) (one episode) or (T, batch, N) (row 0 is shown); the
    figure shows the first there is of spikes (a raster), voltage (mV), activity (0..1) and state.
    level: the level's name, for the title and its capabilities: the units of a level that is not
    built on the wiring (the mlp baseline) are hidden units, shown in their own order; circuit neurons
    are ordered by class, then by soma position head to tail, with the classes labelled.
    curvature: (T, J) rad / BL; dt: s.
    """
    plt = pyplot()
    key, how = _trace_kind(traces)
    x = np.asarray(traces[key], float)
    if x.ndim == 3:
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"trace {key!r} must be (T, N) or (T, batch, N), got shape {x.shape}")
    circuit_neurons = _shows_circuit_neurons(level, circuit, x.shape[1])
    order = neuron_order(circuit) if circuit_neurons else np.arange(x.shape[1])
    x = x[:, order]
    T = x.shape[0]
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(11, 8.5), sharex=True,
                                   gridspec_kw={"height_ratios": [1, 2.6]})
    im0 = _kymograph(ax0, curvature, dt, plt)
    fig.colorbar(im0, ax=ax0, label="curvature\n(rad / BL)", pad=0.01)
    ax0.set_title("body curvature")
    if how == "raster":
        t_idx, n_idx = np.nonzero(x > 0)
        # a tick as tall as a neuron's row (the axes are ~5.4 in tall), thicker for more spikes in
        # the control step
        row_pt = 0.9 * 5.4 * 72 / max(x.shape[1], 1)
        counts = x[t_idx, n_idx]
        ax1.scatter((t_idx + 0.5) * dt, n_idx, s=row_pt ** 2, marker="|", c="k",
                    lw=0.6 + 0.4 * np.minimum(counts, 4))
        ax1.set_ylim(x.shape[1] - 0.5, -0.5)
        ax1.set_title(f"spikes (one row per neuron; a tick per {dt * 1e3:g} ms control step with "
                      f"spikes, thicker for more; {int(x.sum())} spikes)")
        # an invisible colour bar keeps the raster exactly as wide as the kymograph above it
        fig.colorbar(plt.cm.ScalarMappable(cmap="Greys"), ax=ax1, pad=0.01).ax.set_visible(False)
    else:
        cmap, label = {"voltage": ("viridis", "membrane potential (mV)"),
                       "activity": ("magma", "activity (0..1)" if circuit_neurons else "hidden-unit state"),
                       "state": ("magma", "state v")}.get(key, ("magma", key))
        im1 = ax1.imshow(x.T, aspect="auto", origin="upper", cmap=cmap, interpolation="nearest",
                         extent=(0.0, T * dt, x.shape[1] - 0.5, -0.5))
        fig.colorbar(im1, ax=ax1, label=label, pad=0.01)
        what = "every neuron" if circuit_neurons else "every hidden unit (no neurons of the worm)"
        ax1.set_title({"voltage": f"membrane potential of {what}", "activity": f"activity of {what}",
                       "state": f"state of {what}"}.get(key, key))
    if circuit_neurons:
        cls = [circuit.cell_class[i] for i in order]
        starts = [k for k in range(len(cls)) if k == 0 or cls[k] != cls[k - 1]]
        ends = starts[1:] + [len(cls)]
        ax1.set_yticks([(a + b - 1) / 2 for a, b in zip(starts, ends)], [cls[a] for a in starts],
                       fontsize=7)
        for a in starts[1:]:
            ax1.axhline(a - 0.5, color="w" if how == "image" else "0.7", lw=0.4)
        ax1.set_ylabel("neuron (by class, head to tail)")
    else:
        ax1.set_ylabel("unit")
    ax1.set_xlabel("time (s)")
    ax1.set_xlim(0.0, T * dt)
    fig.suptitle(title or f"{level or 'brain'}: body curvature and neural activity")
    fig.tight_layout()
    return save_figure(fig, path)


# ---- trained weights against the connectome start -----------------------------------------------------
def _edge_magnitudes(brain) -> dict:
    """Member 0's per-edge magnitudes at the brain's current parameters (Brain.edge_weights), checked:
    "chem" (E,) on circuit.chem_edges and "gap" (G,) on circuit.gap_edges, finite and >= 0.
    CapabilityError (a ValueError) for a level that reports none (the mlp baseline, or a new level
    that has not implemented edge_weights); ValueError naming the level for a malformed answer."""
    import torch
    c = brain.circuit
    with torch.no_grad():
        found = brain.edge_weights()
    missing = [k for k in ("chem", "gap", "chem_unit", "gap_unit") if k not in found]
    if missing:
        raise ValueError(f"the {brain.name} level's edge_weights() lacks {', '.join(missing)}")
    out = dict(found)
    for kind, edges in (("chem", c.chem_edges), ("gap", c.gap_edges)):
        v = np.asarray(found[kind], float)
        if v.shape != (len(edges),):
            raise ValueError(f"the {brain.name} level's edge_weights()[{kind!r}] has shape {v.shape}; "
                             f"the circuit has {len(edges)} {kind} edges")
        if not (np.isfinite(v).all() and (v >= 0).all()):
            raise ValueError(f"the {brain.name} level's edge_weights()[{kind!r}] must be finite "
                             f"magnitudes >= 0")
        out[kind] = v
    return out


def edge_weights(brain, params=None) -> dict:
    """Effective weights of member 0 on the circuit's edges, at ``params`` (n_params,) or, by default,
    the brain's current parameters (which are put back afterwards).

    Returns the level's ``Brain.edge_weights()``: {"chem": (E,) on circuit.chem_edges, "gap": (G,) on
    circuit.gap_edges, "chem_unit", "gap_unit"}, magnitudes >= 0 (signs are fixed by the presynaptic
    neuron and never trained); each level defines its magnitudes and names their unit.
    CapabilityError (a ValueError) for a level without per-edge weights (the mlp baseline).
    """
    if params is None:
        return _edge_magnitudes(brain)
    saved = brain.get_params()
    try:
        brain.set_params(np.asarray(params, np.float32))
        return _edge_magnitudes(brain)
    finally:
        brain.set_params(saved)


def chem_edge_weights(brain) -> tuple[np.ndarray, str]:
    """(magnitude on every chemical edge, unit) of member 0; CapabilityError for a level without
    per-edge weights. See ``edge_weights``."""
    found = edge_weights(brain)
    return found["chem"], found["chem_unit"]


def initial_params_of(brain) -> np.ndarray:
    """(n_params,) the level's connectome-derived start: a fresh brain of the same level, circuit,
    interface and config (its initialisation is deterministic)."""
    fresh = type(brain)(brain.circuit, brain.io, brain.config)
    return fresh.get_params()[0].cpu().numpy()


def class_weight_change(circuit, trained: dict, initial: dict) -> dict:
    """Per cell-class pair: log2(summed trained magnitude / summed initial magnitude).

    trained, initial: ``edge_weights`` dicts. Returns {"classes", "chem": (K, K) pre -> post,
    "gap": (K, K) symmetric, NaN where the circuit has no such edge, "chem_edges", "gap_edges":
    per-edge log2 ratios, "chem_count", "gap_count": (K, K) edges per pair}.
    """
    classes = list(circuit.classes)
    k_of = {c: k for k, c in enumerate(classes)}
    cls = np.array([k_of[c] for c in circuit.cell_class])
    K = len(classes)
    tiny = 1e-12

    def ratio(t, i):
        return np.log2(np.maximum(t, tiny) / np.maximum(i, tiny))

    out = {"classes": classes}
    for kind, edges, symmetric in (("chem", circuit.chem_edges, False), ("gap", circuit.gap_edges, True)):
        t_sum, i_sum, count = np.zeros((K, K)), np.zeros((K, K)), np.zeros((K, K), int)
        a, b = cls[edges[:, 0]], cls[edges[:, 1]]
        t, i = np.asarray(trained[kind], float), np.asarray(initial[kind], float)
        if symmetric:          # a gap pair counts in both cells of its class pair, once on the diagonal
            mirror = a != b
            a, b = np.concatenate([a, b[mirror]]), np.concatenate([b, a[mirror]])
            t, i = np.concatenate([t, t[mirror]]), np.concatenate([i, i[mirror]])
        np.add.at(t_sum, (a, b), t)
        np.add.at(i_sum, (a, b), i)
        np.add.at(count, (a, b), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[kind] = np.where(count > 0, ratio(t_sum, i_sum), np.nan)
        out[f"{kind}_count"] = count
        out[f"{kind}_edges"] = ratio(trained[kind], initial[kind])
    return out


def _weights_for_figure(brain, params) -> dict:
    """``edge_weights`` for the weights figure: a level without them gets an error that says so."""
    from wormsim.realism_levels.base import CapabilityError
    try:
        return edge_weights(brain, params)
    except CapabilityError as err:
        raise CapabilityError(f"no weights figure for the {brain.name} level: it has no per-edge weights "
                              f"to compare with the connectome ({err})") from None


def plot_weights(brain, path: str | Path = "weights.png", initial_params=None, title: str | None = None,
                 trained_params=None) -> Path:
    """How training changed the circuit: per pair of cell classes, log2 of the summed trained
    magnitude over the summed magnitude at the connectome-derived start (0: unchanged, +1: doubled,
    −1: halved), for chemical synapses (presynaptic class down, postsynaptic across) and gap junctions
    (symmetric); grey cells have no edge. A diverging colour map centred at 0 with a labelled colour
    bar; the number in a cell is its value. Right: the spread of the per-edge changes, excitatory and
    inhibitory synapses and gap junctions apart. Below: the circuit diagram (as ``wormsim circuit``
    draws it) with every edge coloured by its own change, on the per-edge histogram's range (its own
    colour bar), and drawn as wide as its trained magnitude (chemical arrows, dashed gap junctions).

    brain: a level that reports per-edge weights (``Brain.edge_weights``), at its trained parameters
    (or pass ``trained_params``). initial_params: (n_params,) the start, default ``initial_params_of``.
    CapabilityError (a ValueError), before anything is drawn, for a level without per-edge weights
    (the mlp baseline: its weights sit on no synapse).
    """
    plt = pyplot()
    from matplotlib.colors import TwoSlopeNorm
    path = check_figure_path(path)
    trained = _weights_for_figure(brain, trained_params)
    initial = edge_weights(brain, initial_params if initial_params is not None else initial_params_of(brain))
    c = brain.circuit
    ch = class_weight_change(c, trained, initial)
    finite = np.concatenate([v[np.isfinite(v)].ravel() for v in (ch["chem"], ch["gap"])])
    top = float(np.abs(finite).max()) if finite.size else 0.0
    vmax = float(np.ceil(min(max(top, 0.05), 4.0) * 20) / 20)     # a round limit, in steps of 0.05
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    fig = plt.figure(figsize=(17, 13.5))
    grid = fig.add_gridspec(2, 5, width_ratios=[1, 1, 0.04, 0.32, 0.8], height_ratios=[1, 1.05],
                            wspace=0.25, hspace=0.35)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-vmax, vmax=vmax)
    im = _class_maps(fig, [fig.add_subplot(grid[0, i]) for i in range(2)], ch, trained, cmap, norm, vmax)
    fig.colorbar(im, cax=fig.add_subplot(grid[0, 2]), extend="both" if top > vmax else "neither",
                 label="log2(trained / start) of the summed |weight|\n+1 doubled, 0 unchanged, −1 halved")
    span = _edge_spread(fig.add_subplot(grid[0, 4]), c, ch)
    _edges_on_circuit(fig, fig.add_subplot(grid[1, :]), c, ch, trained, cmap, span)
    note = "" if top > 1e-6 else " — no change from the start"
    fig.suptitle(title or f"{brain.name} level, {c.dataset} circuit ({c.wiring}): trained weights "
                 f"against the connectome-derived start{note}", fontsize=11)
    fig.subplots_adjust(left=0.05, right=0.96, bottom=0.05, top=0.94)
    return save_figure(fig, path)


def _class_maps(fig, axes, ch: dict, trained: dict, cmap, norm, vmax: float):
    """The class-pair maps of the weights figure (chemical, gap); returns the last image (colour bar)."""
    classes, K = ch["classes"], len(ch["classes"])
    digits = 2 if vmax < 0.5 else 1
    for ax, kind, what in ((axes[0], "chem", "chemical synapses"), (axes[1], "gap", "gap junctions")):
        m = ch[kind]
        im = ax.imshow(np.ma.masked_invalid(m), cmap=cmap, norm=norm, interpolation="nearest")
        for i, j in zip(*np.nonzero(np.isfinite(m))):
            v = m[i, j]
            ax.text(j, i, f"{v:+.{digits}f}", ha="center", va="center", fontsize=6.5,
                    color="w" if abs(v) > 0.6 * vmax else "0.15")
        ax.set_xticks(range(K), classes, rotation=90, fontsize=8)
        ax.set_yticks(range(K), classes, fontsize=8)
        ax.set_xticks(np.arange(K + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(K + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="w", lw=0.6)
        ax.tick_params(which="minor", length=0)
        n_edges = len(ch[f"{kind}_edges"])
        unit = trained[f"{kind}_unit"]
        ax.set_title(f"{what} ({n_edges} {'pairs' if kind == 'gap' else 'edges'}; {unit})", fontsize=9)
        ax.set_xlabel("postsynaptic class (to)" if kind == "chem" else "cell class")
        ax.set_ylabel("presynaptic class (from)" if kind == "chem" else "cell class")
    return im


def _edge_spread(hax, c, ch: dict) -> float:
    """Histograms of the per-edge changes by kind; returns the range drawn (98 % of the edges)."""
    sign = c.sign[c.chem_edges[:, 0]] > 0
    groups = [("excitatory synapses", ch["chem_edges"][sign], EXCITATORY),
              ("inhibitory synapses", ch["chem_edges"][~sign], INHIBITORY),
              ("gap junctions", ch["gap_edges"], GAP)]
    all_edges = np.concatenate([g[1] for g in groups])
    # the range of 98 % of the edges; the rest are counted in the end bins
    span = float(np.percentile(np.abs(all_edges), 98)) if all_edges.size else 0.0
    span = float(np.ceil(max(span, 0.05) * 10) / 10)
    bins = np.linspace(-span, span, 41)
    for name, values, colour in groups:
        if values.size:
            hax.hist(np.clip(values, -span, span), bins=bins, histtype="step", lw=1.5, color=colour,
                     label=f"{name} ({values.size}; median {np.median(values):+.2f})")
    hax.axvline(0, color="k", lw=0.6)
    hax.set_xlabel(f"log2(trained / start), per edge\n(beyond ±{span:g}: in the end bins)")
    hax.set_ylabel("edges")
    hax.set_title("spread over single edges", fontsize=9)
    hax.legend(fontsize=7, frameon=False, loc="upper left")
    hax.grid(alpha=0.3)
    return span


def _edges_on_circuit(fig, dax, c, ch: dict, trained: dict, cmap, span: float) -> None:
    """The same changes on the circuit diagram, edge by edge: colour its change, width its magnitude."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import TwoSlopeNorm

    def widths(magnitude):
        magnitude = np.asarray(magnitude, float)
        return magnitude / magnitude.max() if magnitude.size and magnitude.max() > 0 else magnitude

    edge_norm = TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)    # single edges: the histogram's range
    draw_circuit_on(dax, c, chem_values=np.clip(ch["chem_edges"], -span, span),
                    gap_values=np.clip(ch["gap_edges"], -span, span), chem_widths=widths(trained["chem"]),
                    gap_widths=widths(trained["gap"]), cmap=cmap, norm=edge_norm)
    fig.colorbar(ScalarMappable(norm=edge_norm, cmap=cmap), ax=dax, fraction=0.02, pad=0.01,
                 extend="both", label=f"log2(trained / start) per edge (end colours: beyond ±{span:g})")
    dax.set_title("every edge on the circuit: colour = its own change, width = trained magnitude (arrows: "
                  "chemical synapses; dashed: gap junctions; dots: neurons, red excitatory, blue inhibitory)",
                  fontsize=9)


# ---- everything about one run ----------------------------------------------------------------------
def plot_run(run_dirs, out: str | Path | None = None, svg: bool = False, seed: int = 0,
             duration: float | None = None, rollout: bool = True, notes: list | None = None) -> list[Path]:
    """All figures of one or several runs; returns the paths written.

    Always: learning_curves.png (every run overlaid; speed for swim, success rate for navigate, score
    for the others). A task with per-episode scores (navigate) also gets paths.png: the paths of 8
    held-out episodes to the target (``navigation_paths``, ``plot_navigation``).
    With ``rollout`` and a policy.npz, per run (``plot_rollout_figures``): for body tasks
    kymograph.png and activity.png from one recorded episode of the trained policy (``seed``;
    ``duration`` s, default the run's episode), and weights.png (every level that reports per-edge
    weights, body or not; for the others a note says there are none). Files go to ``out``, default
    the (first) run's directory; with several runs the per-run figures are prefixed by the run's
    name. svg: write .svg instead of .png.
    notes: a list that receives one line for every figure left out, and why.
    """
    from wormsim.runs import Run
    run_dirs = [Path(r) for r in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    if not run_dirs:
        raise ValueError("no runs to plot")
    runs = [Run.open(r) for r in run_dirs]        # RunError (a ValueError) for a non-run
    for r in runs:
        load_metrics(r.path)                      # every run checked before anything is drawn
    out = Path(out) if out is not None else run_dirs[0]
    ext = ".svg" if svg else ".png"
    notes = notes if notes is not None else []
    written = [plot_learning_curves(run_dirs, out / f"learning_curves{ext}")]
    if not rollout:
        return written
    for run in runs:
        if not (run.path / "policy.npz").exists():
            notes.append(f"{run.path}: no policy.npz yet, so no rollout figures")
            continue
        prefix = "" if len(runs) == 1 else f"{run.path.name}_"
        written += plot_rollout_figures(run, out, prefix=prefix, ext=ext, seed=seed, duration=duration,
                                        notes=notes)
    return written


def plot_rollout_figures(run, out: Path, prefix: str = "", ext: str = ".png", seed: int = 0,
                         duration: float | None = None, notes: list | None = None) -> list[Path]:
    """The figures of ``run``'s trained policy: kymograph and activity of one recorded episode (body
    tasks only) and the weights against the connectome start (levels that report per-edge weights,
    not in readout mode). What is left out, and why, is said in ``notes``."""
    from wormsim.config import TrainConfig
    from wormsim.envs.tasks import get_task
    from wormsim.realism_levels.base import CapabilityError
    from wormsim.viz.video import _build_brain, describe_wave, make_env, rollout as do_rollout
    notes = notes if notes is not None else []
    config = TrainConfig.from_dict(run.config)
    spec = config.eval_spec()
    motor = get_task(spec.task).has_body
    readout = config.train == "readout"
    name = run_label(run.path)
    out = Path(out)
    written = []
    if not motor:
        notes.append(f"{run.path}: the {config.task!r} task has no body, so no kymograph or activity "
                     f"figure (its learning curve shows the score)")
    if readout:
        notes.append(f"{run.path}: readout mode keeps the circuit at its connectome-derived values, so "
                     f"no weights figure (only the linear readout was trained)")
    if not motor and readout:
        return written
    params, _ = run.load_policy()
    env = make_env(spec, duration if motor else None)
    try:
        r = (do_rollout(spec, params, mode="trained", seed=seed, env=env, duration=duration)
             if motor else None)
        brain, _ = _build_brain(spec, env)
    finally:
        env.close()
    initial = brain.get_params()[0].cpu().numpy()      # a fresh brain holds the connectome start
    brain.set_params(np.asarray(params, np.float32))
    if motor and get_task(spec.task).episode_scores:        # a task with per-episode scores: navigate
        held = config.eval_spec(episodes=8, held_out=True)
        written.append(plot_navigation(navigation_paths(held, params, episodes=8, seed=seed),
                                       out / f"{prefix}paths{ext}",
                                       title=f"{name}: 8 held-out episodes"))
    if r is not None:
        stats = f"{r.mean_speed:+.3f} BL/s; {describe_wave(r.wave, short=True)}"
        written.append(plot_kymograph(r.curvature, r.control_dt, out / f"{prefix}kymograph{ext}",
                                      title=f"body-curvature kymograph, {name}\n{stats}"))
        if r.traces:
            written.append(plot_activity(r.traces, brain.circuit, r.curvature, r.control_dt,
                                         out / f"{prefix}activity{ext}", level=config.level,
                                         title=f"{name}: body curvature and neural activity\n{stats}"))
    if readout:
        return written
    try:
        written.append(plot_weights(brain, out / f"{prefix}weights{ext}", initial_params=initial,
                                    title=f"{name}: trained weights against the connectome-derived start"))
    except CapabilityError as err:
        notes.append(f"{run.path}: {err}")
    return written
