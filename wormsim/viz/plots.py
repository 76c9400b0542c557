"""Figures of runs and rollouts: learning curves, curvature kymograph, neural activity, trained weights.

    from wormsim.viz import plots
    plots.plot_learning_curves(["runs/rate-connectome-swim-s0"], "curves.png")
    plots.plot_kymograph(curvature, dt, "kymograph.png")            # curvature (T, J), rad / BL
    plots.plot_activity(traces, circuit, curvature, dt, "activity.png", level="rate")
    plots.plot_weights(brain, "weights.png")
    plots.plot_run("runs/NAME")                                      # all of the above, into the run

Every function writes PNG, or SVG/PDF by the file's suffix, atomically, and returns the path.
A metrics file that is missing, empty, truncated or lacks a column raises ValueError naming the file
and what is wrong (``load_metrics``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wormsim.viz.circuit import EXCITATORY, GAP, INHIBITORY

# The columns a learning curve needs (written by every trainer, see wormsim/runs.py).
METRIC_COLUMNS = ("iteration", "best", "mean", "std", "speed_best", "speed_mean", "env_steps")
RUN_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a Path if a figure can be written there (a known suffix); ValueError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"figure file must end in {', '.join(FIGURE_SUFFIXES)}, got {path.name!r}")
    return path


def save_figure(fig, path: str | Path, dpi: int = 120, **savefig_kwargs) -> Path:
    """Write ``fig`` atomically (rendered in memory, then a temporary file renamed onto ``path``; the
    format follows the suffix) and close it. The one way wormsim writes a figure."""
    import io

    from wormsim.runs import atomic_write_bytes
    plt = _plt()
    try:
        path = check_figure_path(path)
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lower()[1:], dpi=dpi, **savefig_kwargs)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


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
    return {c: np.array([np.nan if r[c] is None else float(r[c]) for r in rows]) for c in METRIC_COLUMNS}


def run_label(run_dir: str | Path) -> str:
    """'level / wiring' from the run's config, else the directory name."""
    try:
        cfg = json.loads((Path(run_dir) / "config.json").read_text())["config"]
        return f"{cfg['level']} / {cfg['wiring']}"
    except Exception:
        return Path(run_dir).name


# ---- learning curves -------------------------------------------------------------------------------
def plot_learning_curves(run_dirs, path: str | Path, labels=None, title: str | None = None) -> Path:
    """Return and speed of one or several runs against iterations and against environment steps.

    2 x 2 panels: rows return, speed (body lengths / s); columns iteration, environment steps. Per
    run: the population mean with a mean +- std band (return; the speed column has no std) and the
    best candidate as a dashed line. Several runs (e.g. the realism levels) share the axes.
    """
    plt = _plt()
    run_dirs = [Path(r) for r in ([run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs)]
    if not run_dirs:
        raise ValueError("no runs to plot")
    labels = list(labels) if labels is not None else [run_label(r) for r in run_dirs]
    metrics = [load_metrics(r) for r in run_dirs]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey="row")
    for k, (m, label) in enumerate(zip(metrics, labels)):
        colour = RUN_COLOURS[k % len(RUN_COLOURS)]
        for col, xkey in enumerate(("iteration", "env_steps")):
            x = m[xkey]
            ax = axes[0, col]
            ax.fill_between(x, m["mean"] - m["std"], m["mean"] + m["std"], color=colour, alpha=0.2, lw=0)
            ax.plot(x, m["mean"], color=colour, lw=1.5)
            ax.plot(x, m["best"], color=colour, lw=1.2, ls="--")
            ax = axes[1, col]
            ax.plot(x, m["speed_mean"], color=colour, lw=1.5)
            ax.plot(x, m["speed_best"], color=colour, lw=1.2, ls="--")
    for col, xlabel in enumerate(("iteration (ES generation)", "environment steps (all worms)")):
        axes[1, col].set_xlabel(xlabel)
        for row in range(2):
            axes[row, col].grid(alpha=0.3)
    axes[1, 1].ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    axes[0, 1].ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    axes[0, 0].set_ylabel("episode return")
    axes[1, 0].set_ylabel("forward speed (body lengths / s)")
    axes[0, 0].set_title("return vs iterations")
    axes[0, 1].set_title("return vs environment steps")
    axes[1, 0].set_title("speed vs iterations (solid mean, dashed best)")
    axes[1, 1].set_title("speed vs environment steps")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Line2D([], [], color=RUN_COLOURS[k % len(RUN_COLOURS)], lw=2, label=label)
               for k, label in enumerate(labels)]
    handles += [Line2D([], [], color="0.3", lw=1.5, label="population mean"),
                Line2D([], [], color="0.3", lw=1.2, ls="--", label="best candidate"),
                Patch(color="0.3", alpha=0.2, label="mean ± std (return)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False, fontsize=8)
    fig.suptitle(title or ("learning curve: " + labels[0] if len(labels) == 1
                           else f"learning curves of {len(labels)} runs"))
    fig.tight_layout(rect=(0, 0.05 + 0.03 * ((len(handles) - 1) // 6), 1, 1))
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
    plt = _plt()
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


def _trace_kind(traces: dict, level: str | None) -> tuple[str, str]:
    """Which trace to show and how: (key, 'raster' | 'image')."""
    if level == "spiking" and "spikes" in traces:
        return "spikes", "raster"
    if level == "conductance" and "voltage" in traces:
        return "voltage", "image"
    if level in (None, "rate", "mlp") or "activity" in traces:
        if "activity" in traces:
            return "activity", "image"
    for key in ("spikes", "voltage", "activity", "state"):
        if key in traces:
            return key, "raster" if key == "spikes" else "image"
    raise ValueError(f"no neural trace to plot; the rollout recorded {', '.join(traces) or 'nothing'}")


def plot_activity(traces: dict, circuit, curvature: np.ndarray, dt: float, path: str | Path,
                  level: str | None = None, title: str | None = None) -> Path:
    """Kymograph (top) and the activity of every neuron (bottom) on one time axis.

    traces: the brain's traces, each (T, N) (one episode) or (T, batch, N) (row 0 is shown): voltage
    (mV) for conductance, spikes as a raster for spiking, activity in [0, 1] for rate, hidden units
    for mlp (not circuit neurons: shown in their own order). Neurons are ordered by class, then by
    soma position head to tail, with the classes labelled. curvature: (T, J) rad / BL; dt: s.
    """
    plt = _plt()
    key, how = _trace_kind(traces, level)
    x = np.asarray(traces[key], float)
    if x.ndim == 3:
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"trace {key!r} must be (T, N) or (T, batch, N), got shape {x.shape}")
    circuit_neurons = circuit is not None and level != "mlp" and x.shape[1] == circuit.n
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
        ax1.scatter((t_idx + 0.5) * dt, n_idx, s=2, marker="|", c="k", lw=0.6)
        ax1.set_ylim(x.shape[1] - 0.5, -0.5)
        ax1.set_title("spikes (one row per neuron)")
        # an invisible colour bar keeps the raster exactly as wide as the kymograph above it
        fig.colorbar(plt.cm.ScalarMappable(cmap="Greys"), ax=ax1, pad=0.01).ax.set_visible(False)
    else:
        cmap, label = {"voltage": ("viridis", "membrane potential (mV)"),
                       "activity": ("magma", "activity (sigmoid output, 0..1)" if level != "mlp"
                                    else "hidden-unit state"),
                       "state": ("magma", "state v")}.get(key, ("magma", key))
        if level == "conductance" and key == "activity":
            label = "graded release s(V), 0..1"
        im1 = ax1.imshow(x.T, aspect="auto", origin="upper", cmap=cmap, interpolation="nearest",
                         extent=(0.0, T * dt, x.shape[1] - 0.5, -0.5))
        fig.colorbar(im1, ax=ax1, label=label, pad=0.01)
        ax1.set_title({"voltage": "membrane potential of every neuron",
                       "activity": "activity of every neuron" if level != "mlp"
                       else "hidden units of the mlp (no circuit neurons)"}.get(key, key))
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


# ---- weights on the circuit ---------------------------------------------------------------------------
def chem_edge_weights(brain) -> tuple[np.ndarray, str] | None:
    """Effective magnitude of every chemical edge of ``brain.circuit.chem_edges`` for member 0, and
    its unit; None for brains without circuit weights (mlp).

    rate, spiking: |W| from ``brain.chem_matrix()`` (sign[pre] |theta| / in-degree).
    conductance: |theta| * count * g_syn (nS), rebuilt from the public ``g_chem`` parameter and
    base.edge_groups, as the level's own _effective does.
    """
    import torch
    c = brain.circuit
    edges = c.chem_edges
    with torch.no_grad():
        if hasattr(brain, "chem_matrix"):
            w = brain.chem_matrix()[0].cpu().numpy()
            return np.abs(w[edges[:, 0], edges[:, 1]]), "|effective weight| (sign · |θ| / in-degree)"
        if hasattr(brain, "g_chem"):
            from wormsim.realism_levels.base import edge_groups
            groups, _ = edge_groups(c, edges, bool(getattr(brain.config, "share_weights", False)))
            theta = np.abs(brain.g_chem[0].detach().cpu().numpy())
            count = c.chem[edges[:, 0], edges[:, 1]]
            g_syn = float(getattr(brain.config, "g_syn_nS", 1.0))
            return theta[groups] * count * g_syn, "peak synaptic conductance |θ| · count · g_syn (nS)"
    return None


def plot_weights(brain=None, path: str | Path = "weights.png", circuit=None, title: str | None = None) -> Path:
    """The circuit along the body with each chemical edge drawn by its trained magnitude.

    x: soma position (0 head, 1 tail); y: cell class. Edge colour: presynaptic sign (red excitatory,
    blue inhibitory); edge width and opacity: the brain's effective magnitude (chem_edge_weights),
    relative to the largest. Gap junctions dashed grey. Without a brain exposing circuit weights
    (mlp, or ``brain=None`` with ``circuit``), the synapse counts are drawn and the title says so.
    """
    plt = _plt()
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    c = circuit if circuit is not None else brain.circuit
    found = chem_edge_weights(brain) if brain is not None else None
    edges = c.chem_edges
    if found is None:
        mag, unit = c.chem[edges[:, 0], edges[:, 1]].astype(float), "synapse count"
        default_title = (f"{c.dataset} circuit ({c.wiring}): synapse counts, NOT trained weights "
                         f"({'no brain given' if brain is None else brain.name + ' has no circuit weights'})")
    else:
        mag, unit = found
        default_title = f"{brain.name} level, {c.dataset} circuit ({c.wiring}): trained chemical weights"
    classes = list(c.classes)
    row = {k: i for i, k in enumerate(classes)}
    x = np.asarray(c.position, float)
    y = np.array([row[k] for k in c.cell_class], float)
    top = float(mag.max()) if len(mag) and mag.max() > 0 else 1.0
    rel = mag / top
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(classes) + 2.4))
    keep = edges[:, 0] != edges[:, 1]
    order = np.argsort(rel[keep])                    # strongest drawn last, on top
    e, r = edges[keep][order], rel[keep][order]
    # Slight curvature so that reciprocal edges do not overlap: a quadratic Bezier per edge.
    p0 = np.stack([x[e[:, 0]], y[e[:, 0]]], 1)
    p1 = np.stack([x[e[:, 1]], y[e[:, 1]]], 1)
    d = p1 - p0
    ctrl = (p0 + p1) / 2 + 0.15 * np.stack([-d[:, 1], d[:, 0]], 1)
    s = np.linspace(0, 1, 12)[None, :, None]
    curves = (1 - s) ** 2 * p0[:, None] + 2 * (1 - s) * s * ctrl[:, None] + s ** 2 * p1[:, None]
    colours = np.array([EXCITATORY if c.sign[i] > 0 else INHIBITORY for i in e[:, 0]])
    from matplotlib.colors import to_rgba
    rgba = np.array([to_rgba(col) for col in colours]) if len(colours) else np.zeros((0, 4))
    if len(rgba):
        rgba[:, 3] = 0.1 + 0.8 * r
    ax.add_collection(LineCollection(curves, colors=rgba, linewidths=0.2 + 3.0 * r, zorder=1))
    # arrow heads: the post end of each edge, a marker at 85 % along the curve
    tip = curves[:, -3]
    ax.scatter(tip[:, 0], tip[:, 1], s=4 + 14 * r, c=rgba, marker="o", lw=0, zorder=2)
    for i, j in c.gap_edges:
        ax.plot([x[i], x[j]], [y[i], y[j]], ls="--", color=GAP, lw=0.5, alpha=0.5, zorder=0)
    node_col = [EXCITATORY if s_ > 0 else INHIBITORY for s_ in c.sign]
    ax.scatter(x, y, s=26, c=node_col, edgecolors="k", linewidths=0.4, zorder=3)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("soma position along the body (0 head, 1 tail)")
    ax.set_ylabel("cell class")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(len(classes) - 0.4, -0.6)
    ax.set_title(title or default_title, fontsize=10)
    handles = [Line2D([], [], color=EXCITATORY, lw=2.5, label="excitatory (strong)"),
               Line2D([], [], color=EXCITATORY, lw=0.5, alpha=0.3, label="excitatory (weak)"),
               Line2D([], [], color=INHIBITORY, lw=2.5, label="inhibitory (strong)"),
               Line2D([], [], color=GAP, ls="--", label="gap junction"),
               Line2D([], [], ls="", marker="o", color="0.4", ms=4, label="dot: postsynaptic end")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=5, frameon=False,
              fontsize=8, title=f"edge width and opacity: {unit}, relative to the largest ({top:.3g})",
              title_fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# ---- everything about one run ----------------------------------------------------------------------
def plot_run(run_dirs, out: str | Path | None = None, svg: bool = False, seed: int = 0,
             duration: float | None = None, rollout: bool = True) -> list[Path]:
    """All figures of one or several runs; returns the paths written.

    Always: learning_curves.png (every run overlaid). With ``rollout`` and a policy.npz, per run:
    kymograph.png, activity.png and weights.png from one recorded episode of the trained policy
    (``seed``; ``duration`` s, default the run's episode). Files go to ``out``, default the
    (first) run's directory; with several runs the per-run figures are prefixed by the run's name.
    svg: write .svg instead of .png.
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
    written = [plot_learning_curves(run_dirs, out / f"learning_curves{ext}")]
    if not rollout:
        return written
    for run in runs:
        if not (run.path / "policy.npz").exists():
            continue
        prefix = "" if len(runs) == 1 else f"{run.path.name}_"
        written += plot_rollout_figures(run, out, prefix=prefix, ext=ext, seed=seed, duration=duration)
    return written


def plot_rollout_figures(run, out: Path, prefix: str = "", ext: str = ".png", seed: int = 0,
                         duration: float | None = None) -> list[Path]:
    """Kymograph, activity and weights of one recorded episode of ``run``'s policy."""
    from wormsim.train.es import TrainConfig
    from wormsim.viz.video import _build_brain, make_env, rollout as do_rollout
    config = TrainConfig.from_dict(run.config)
    params, _ = run.load_policy()
    spec = config.eval_spec()
    env = make_env(spec, duration)
    try:
        r = do_rollout(spec, params, mode="trained", seed=seed, env=env,
                       duration=duration)
        brain, _, _ = _build_brain(spec, env)
    finally:
        env.close()
    brain.set_params(np.asarray(params, np.float32))
    name = f"{config.level} / {config.wiring}"
    stats = f"speed {r.mean_speed:.3f} BL/s, undulation {r.frequency:.2f} Hz"
    out = Path(out)
    written = [plot_kymograph(r.curvature, r.control_dt, out / f"{prefix}kymograph{ext}",
                              title=f"body-curvature kymograph, {name} ({stats})")]
    if r.traces:
        written.append(plot_activity(r.traces, brain.circuit, r.curvature, r.control_dt,
                                     out / f"{prefix}activity{ext}", level=config.level,
                                     title=f"{name}: body curvature and neural activity ({stats})"))
    written.append(plot_weights(brain, out / f"{prefix}weights{ext}"))
    return written
