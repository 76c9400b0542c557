"""The circuit: one immutable description of neurons, synapses, gap junctions and muscles.

Every realism level builds from a `Circuit`; every null wiring returns one. It knows no simulator.

Conventions (shapes use N neurons, M muscle rows along the body):
- ``chem[i, j]``: number of chemical synapses from neuron i (pre) onto neuron j (post); directed.
- ``gap[i, j] == gap[j, i]``: number of gap junctions between i and j; symmetric, zero diagonal.
- ``sign[i]``: +1 excitatory, -1 inhibitory, fixed by the presynaptic neuron (Dale's law).
- ``nmj[i, side, k]``: synapses from neuron i onto the muscle row k (side 0 dorsal, 1 ventral); the
  left and right quadrants of the worm's body-wall muscles are pooled, since the simulated body bends
  in one plane.
- ``position[i]``: soma position along the body, 0 at the head, 1 at the tail.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

ROLES = ("command", "motor")
DORSAL, VENTRAL = 0, 1


@dataclass(frozen=True, eq=False)
class Circuit:
    names: tuple[str, ...]
    cell_class: tuple[str, ...]
    role: tuple[str, ...]
    position: np.ndarray
    chem: np.ndarray
    gap: np.ndarray
    sign: np.ndarray
    nmj: np.ndarray
    muscle_position: np.ndarray
    dataset: str
    sign_rule: str
    nmj_source: str
    position_source: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    wiring: str = "connectome"
    wiring_seed: int | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        n = len(self.names)
        for name, arr, shape in (("chem", self.chem, (n, n)), ("gap", self.gap, (n, n)),
                                 ("sign", self.sign, (n,)), ("position", self.position, (n,))):
            if np.shape(arr) != shape:
                raise ValueError(f"Circuit.{name} has shape {np.shape(arr)}, expected {shape}")
        if self.nmj.shape[:2] != (n, 2) or self.nmj.shape[2] != len(self.muscle_position):
            raise ValueError(f"Circuit.nmj has shape {self.nmj.shape}, expected ({n}, 2, "
                             f"{len(self.muscle_position)})")
        if not np.allclose(self.gap, self.gap.T):
            raise ValueError("Circuit.gap must be symmetric")
        if not set(np.unique(self.sign)) <= {-1, 1}:
            raise ValueError("Circuit.sign must hold only +1 and -1")
        for arr in (self.chem, self.gap, self.sign, self.position, self.nmj, self.muscle_position):
            arr.setflags(write=False)

    # ---- sizes and look-ups ---------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of neurons."""
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no neuron {name!r} in this circuit ({self.dataset}); "
                           f"it has {', '.join(self.names)}") from None

    def indices(self, classes=None, role=None) -> np.ndarray:
        """Indices of the neurons whose class is in ``classes`` and/or whose role is ``role``."""
        keep = np.ones(self.n, bool)
        if classes is not None:
            keep &= np.isin(np.array(self.cell_class), list(classes))
        if role is not None:
            keep &= np.array(self.role) == role
        return np.flatnonzero(keep)

    @property
    def chem_edges(self) -> np.ndarray:
        """(E, 2) array of (pre, post) index pairs with at least one chemical synapse."""
        return np.argwhere(self.chem > 0)

    @property
    def gap_edges(self) -> np.ndarray:
        """(G, 2) array of undirected gap-junction pairs (i < j)."""
        return np.argwhere(np.triu(self.gap > 0, k=1))

    @property
    def classes(self) -> tuple[str, ...]:
        """Distinct cell classes, in order of first appearance."""
        return tuple(dict.fromkeys(self.cell_class))

    # ---- the body ----------------------------------------------------------------------------------
    def segment_map(self, n_segments: int) -> np.ndarray:
        """The neuromuscular map resampled onto a body of ``n_segments`` segments.

        The body's muscles sit at its ``n_segments - 1`` joints (joint j between segment j and j+1,
        at body position (j+1)/n_segments). Every muscle row is assigned to its nearest joint, so
        the total synapse count onto each side is conserved.

        Returns: (N, 2, n_segments - 1) synapse counts; [:, 0] dorsal, [:, 1] ventral.
        """
        if not 2 <= int(n_segments) <= 1000:
            raise ValueError(f"n_segments must be an integer >= 2, got {n_segments!r}")
        n_joints = int(n_segments) - 1
        joint_pos = np.arange(1, n_joints + 1) / n_segments
        nearest = np.abs(self.muscle_position[:, None] - joint_pos[None, :]).argmin(axis=1)
        out = np.zeros((self.n, 2, n_joints))
        np.add.at(out, (slice(None), slice(None), nearest), self.nmj)
        return out

    # ---- graphs and statistics ------------------------------------------------------------------
    def to_networkx(self, kind: str = "chemical") -> nx.Graph:
        """The chemical synapses as a weighted DiGraph or the gap junctions as a weighted Graph.

        kind: "chemical" or "gap". Nodes carry cell_class, role, position and sign.
        """
        if kind not in ("chemical", "gap"):
            raise ValueError(f"unknown graph kind {kind!r}; choose from chemical, gap")
        g = nx.DiGraph() if kind == "chemical" else nx.Graph()
        for i, name in enumerate(self.names):
            g.add_node(name, cell_class=self.cell_class[i], role=self.role[i],
                       position=float(self.position[i]), sign=int(self.sign[i]))
        edges = self.chem_edges if kind == "chemical" else self.gap_edges
        mat = self.chem if kind == "chemical" else self.gap
        g.add_weighted_edges_from((self.names[i], self.names[j], float(mat[i, j])) for i, j in edges)
        return g

    def stats(self, small_world_seed: int = 0, small_world: bool = True) -> dict:
        """Graph statistics of the chemical network (and gap junction counts) as a plain dict."""
        return graph_stats(self, seed=small_world_seed, small_world=small_world)

    def replace(self, **changes) -> "Circuit":
        """A copy with some fields changed (the circuit itself is immutable)."""
        return dataclasses.replace(self, **changes)

    def summary_by_class(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cell_class:
            out[c] = out.get(c, 0) + 1
        return out

    def __repr__(self) -> str:
        return (f"Circuit({self.dataset}, wiring={self.wiring}, {self.n} neurons, "
                f"{len(self.chem_edges)} chemical edges, {len(self.gap_edges)} gap pairs)")


# ---- graph statistics -------------------------------------------------------------------------------------
def graph_stats(circuit: Circuit, seed: int = 0, small_world: bool = True, n_random: int = 5) -> dict:
    """Statistics of the chemical network (directed) and the gap junctions, as a plain dict.

    Clustering and path length are taken on the undirected union of chemical and gap edges (the
    graph signals can travel on), over its largest connected component. Small-world coefficients:
    sigma = (C / C_rand) / (L / L_rand) with G(n, m) references (Humphries & Gurney 2008), and
    omega = L_rand / L - C / C_latt with a ring lattice of the same density (Telesford et al. 2011).

    What a null wiring may change besides topology (issue 16): ``inhibitory_share`` of chemical edges
    (an edge's sign is its sender's) and of chemical synapses, ``command_motor_edges`` (chemical edges
    from a command interneuron to a motor neuron, by Circuit.role), and the number of gap-junction
    partners per neuron, ``gap_degree_mean`` over all neurons and ``gap_degree_motor`` over the motor
    neurons (None without motor neurons).
    """
    chem = circuit.to_networkx("chemical")
    n = circuit.n
    e_chem = [(i, j) for i, j in circuit.chem_edges if i != j]
    edges = circuit.chem_edges
    exc = int((circuit.sign[edges[:, 0]] > 0).sum())
    role = np.array(circuit.role)
    gap_degree = (circuit.gap > 0).sum(axis=1) - (np.diag(circuit.gap) > 0)
    motor = role == "motor"
    und = nx.Graph()
    und.add_nodes_from(range(n))
    und.add_edges_from((int(i), int(j)) for i, j in e_chem)
    und.add_edges_from((int(i), int(j)) for i, j in circuit.gap_edges)
    out = {
        "dataset": circuit.dataset,
        "wiring": circuit.wiring,
        "neurons": n,
        "neurons_by_class": circuit.summary_by_class(),
        "chemical_edges": int(len(circuit.chem_edges)),
        "chemical_synapses": float(circuit.chem.sum()),
        "excitatory_edges": int(exc),
        "inhibitory_edges": int(len(circuit.chem_edges) - exc),
        "gap_pairs": int(len(circuit.gap_edges)),
        "gap_junctions": float(np.triu(circuit.gap, 1).sum()),
        "inhibitory_share": (len(edges) - exc) / len(edges) if len(edges) else 0.0,
        "inhibitory_synapse_share": (float(circuit.chem[circuit.sign < 0].sum() / circuit.chem.sum())
                                     if circuit.chem.sum() > 0 else 0.0),
        "command_motor_edges": int(((role[edges[:, 0]] == "command") & (role[edges[:, 1]] == "motor")).sum()),
        "gap_degree_mean": float(gap_degree.mean()) if n else 0.0,
        "gap_degree_motor": float(gap_degree[motor].mean()) if motor.any() else None,
        "density": len(e_chem) / (n * (n - 1)) if n > 1 else 0.0,
        "reciprocity": float(nx.reciprocity(chem)) if chem.number_of_edges() else 0.0,
        "self_loops": int(nx.number_of_selfloops(chem)),
        "sign_rule": circuit.sign_rule,
        "nmj_source": circuit.nmj_source,
        "missing": list(circuit.missing),
        "notes": list(circuit.notes),
    }
    cc, path = _clustering_and_path(und)
    out["clustering"] = cc
    out["mean_shortest_path"] = path
    if small_world and und.number_of_edges() > n:
        rng = np.random.default_rng(seed)
        m = und.number_of_edges()
        rand = [_clustering_and_path(nx.gnm_random_graph(n, m, seed=int(rng.integers(2**31))))
                for _ in range(n_random)]
        c_rand, l_rand = float(np.mean([r[0] for r in rand])), float(np.mean([r[1] for r in rand]))
        k = max(2, min(n - 1 - (n - 1) % 2, int(round(2 * m / n / 2)) * 2))
        c_latt = nx.average_clustering(nx.watts_strogatz_graph(n, k, 0.0))
        out["small_world_sigma"] = (cc / c_rand) / (path / l_rand) if c_rand > 0 and path > 0 else None
        out["small_world_omega"] = l_rand / path - cc / c_latt if path > 0 and c_latt > 0 else None
    else:
        out["small_world_sigma"] = out["small_world_omega"] = None
    return out


def _clustering_and_path(g: nx.Graph) -> tuple[float, float]:
    if g.number_of_edges() == 0:
        return 0.0, 0.0
    giant = g.subgraph(max(nx.connected_components(g), key=len))
    path = nx.average_shortest_path_length(giant) if giant.number_of_nodes() > 1 else 0.0
    return float(nx.average_clustering(g)), float(path)
