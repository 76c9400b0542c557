"""Draw a circuit along the body axis: neurons placed by position (x) and class (row)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from wormsim.circuit import Circuit
from wormsim.viz.figures import check_figure_path, pyplot, save_figure

EXCITATORY, INHIBITORY, GAP = "#c0392b", "#2471a3", "#7f8c8d"


def draw_circuit(circuit: Circuit, path: str | Path, title: str | None = None) -> Path:
    """Write a figure of the circuit to ``path`` (PNG, SVG or PDF by its suffix).

    x: soma position along the body (0 head, 1 tail); y: one row per cell class. Chemical synapses
    are arrows coloured by the presynaptic sign (red excitatory, blue inhibitory), their width by
    synapse count; gap junctions are dashed grey lines.
    """
    plt = pyplot()
    from matplotlib.lines import Line2D
    path = check_figure_path(path)
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(circuit.classes) + 2))
    draw_circuit_on(ax, circuit)
    ax.set_title(title or f"{circuit.dataset} motor circuit, wiring: {circuit.wiring}"
                 + (f" (seed {circuit.wiring_seed})" if circuit.wiring_seed is not None else ""))
    ax.legend(handles=[Line2D([], [], color=EXCITATORY, label="excitatory synapse"),
                       Line2D([], [], color=INHIBITORY, label="inhibitory synapse"),
                       Line2D([], [], color=GAP, ls="--", label="gap junction")],
              loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def draw_circuit_on(ax, circuit: Circuit, chem_values=None, gap_values=None, chem_widths=None,
                    gap_widths=None, cmap=None, norm=None) -> None:
    """Draw the circuit diagram on ``ax`` (layout of ``draw_circuit``).

    Without values, edges are coloured by sign (chemical) or grey (gap) and chemical widths follow the
    synapse count. With ``chem_values`` (E,) on circuit.chem_edges and ``gap_values`` (G,) on
    circuit.gap_edges, every edge is coloured by its value through ``cmap`` and ``norm`` (the trained
    weights' change, say); ``chem_widths`` / ``gap_widths`` in [0, 1] scale the line widths.
    """
    classes = list(circuit.classes)
    row = {c: k for k, c in enumerate(classes)}
    x = np.asarray(circuit.position)
    y = np.array([row[c] for c in circuit.cell_class], float)
    ce, ge = circuit.chem_edges, circuit.gap_edges
    if chem_widths is None:
        chem_widths = circuit.chem[ce[:, 0], ce[:, 1]] / max(circuit.chem.max(), 1.0)
    valued = chem_values is not None
    for k, (i, j) in enumerate(ce):
        if i == j:
            continue
        colour = (cmap(norm(chem_values[k])) if valued else EXCITATORY if circuit.sign[i] > 0 else INHIBITORY)
        ax.annotate("", xy=(x[j], y[j]), xytext=(x[i], y[i]),
                    arrowprops=dict(arrowstyle="-|>", color=colour, alpha=0.6 if valued else 0.35,
                                    lw=0.3 + 1.5 * float(chem_widths[k]), shrinkA=3, shrinkB=3,
                                    connectionstyle="arc3,rad=0.15"))
    for k, (i, j) in enumerate(ge):
        colour = cmap(norm(gap_values[k])) if gap_values is not None else GAP
        lw = 0.6 if gap_widths is None else 0.3 + 1.5 * float(gap_widths[k])
        ax.plot([x[i], x[j]], [y[i], y[j]], ls="--", color=colour, lw=lw, alpha=0.7)
    colours = [EXCITATORY if s > 0 else INHIBITORY for s in circuit.sign]
    ax.scatter(x, y, s=28, c=colours, edgecolors="k", linewidths=0.4, zorder=3)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("position along the body (0 head, 1 tail)")
    ax.set_ylabel("cell class")
    ax.set_xlim(-0.02, 1.02)
    ax.invert_yaxis()
