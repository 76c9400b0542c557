"""Wirings: the real connectome, or null models that keep some of its statistics and destroy the rest.

    circuit = rewire(load_circuit(), "shuffled", seed=3)

Every null model changes only ``chem`` and ``gap``; neurons, signs (Dale's law goes with the neuron),
positions and the muscle map stay. Each is deterministic for a seed.

A chemical edge's sign is its presynaptic neuron's, so a wiring that draws edges without looking at
the neurons moves edges between excitatory and inhibitory senders: uniform random wirings of Cook 2019
raise the inhibitory share of chemical edges from 9.5% to 22-25% (DD and VD are 19 of 81 neurons but
send 58 of 607 edges). The plain null names therefore keep the sign structure: every neuron's sign, the
number of excitatory and of inhibitory chemical edges, and the synapse counts of each sign's edges
(dealt out onto the new edges of the same sign), so that a difference from the connectome is one of
topology, not of E/I balance. The models draw each sign group's out-edges separately (``PerSignGroup``);
``shuffled`` keeps them because a directed edge swap keeps every neuron's out-degree.

What each keeps, besides the signs' edge counts:

========================  ========================================================================
connectome                everything (the circuit as loaded)
shuffled                  every neuron's in- and out-degree of chemical synapses (directed edge
                          swaps) and every neuron's gap-junction degree (double edge swaps); the
                          synapse counts of each sign group, redistributed over its new edges
erdos-renyi               the number of neurons and of chemical edges per sign group: each group's
                          out-edges uniform over (sender in the group, any other neuron) (G(n, m)
                          restricted to the group's senders); gap pairs as G(n, m)
watts-strogatz            the density per sign group exactly: a small-world graph (ring lattice of
                          the nearest even k to 2 edges / n, 10% rewired, random neuron order,
                          random edge direction) drawn per group at the density whose share of
                          that group's senders has the group's edge count, of which the group's
                          out-edges are kept, then random edges from the group's senders added or
                          removed to the source's count; gap pairs likewise, without groups
barabasi-albert           the density per sign group, likewise (preferential attachment with
                          m = edges / n, random direction, count matched)
dense                     the neurons and the sign rule only: every ordered pair chemically, every
                          pair by gap junction, each at the mean synapse count. It keeps each
                          neuron's sign (an edge's sign is its sender's) but NOT the E/I edge
                          counts (the inhibitory share becomes the share of inhibitory neurons,
                          19/81 on Cook 2019): a control of another kind (no topology at all)
erdos-renyi-unsigned      the unconstrained versions (the plain names until issue 16): the total
watts-strogatz-unsigned   edge count and the multiset of synapse counts only, drawn without regard
barabasi-albert-unsigned  to the sender's sign, so the E/I balance changes with the topology
========================  ========================================================================

Gap junctions have no sign: every null keeps their number of pairs and the multiset of junction
counts per pair (``shuffled`` also each neuron's gap degree, hence the motor neurons'); the others
redistribute them over all neurons, so the mean gap degree stays and the motor neurons' changes
(``wormsim circuit`` reports both).

Self-connections (autapses) are kept as in the source, on the same neurons; no null model adds any.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import networkx as nx
import numpy as np

from wormsim.circuit import Circuit, graph_stats  # noqa: F401  (graph_stats: re-exported)

WS_REWIRING_PROBABILITY = 0.1  # Watts & Strogatz 1998: small-world regime between 0.01 and 0.2


def _edges(mat: np.ndarray, directed: bool) -> list[tuple[int, int]]:
    m = mat.copy()
    np.fill_diagonal(m, 0)
    if not directed:
        m = np.triu(m)
    return [tuple(e) for e in np.argwhere(m > 0)]


def _weights(mat: np.ndarray, directed: bool) -> np.ndarray:
    m = mat.copy()
    np.fill_diagonal(m, 0)
    if not directed:
        m = np.triu(m)
    return m[m > 0]


def _to_matrix(n: int, edges, weights: np.ndarray, directed: bool, diag: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """Place the source's synapse counts, in random order, onto the new edges."""
    edges = list(edges)
    out = np.zeros((n, n))
    if edges:
        w = rng.permutation(weights)
        if len(w) < len(edges):  # a model with more edges than the source: draw with replacement
            w = np.concatenate([w, rng.choice(weights, len(edges) - len(w))]) if len(weights) else \
                np.ones(len(edges))
        for (i, j), x in zip(edges, w):
            out[i, j] = x
            if not directed:
                out[j, i] = x
    out[np.diag_indices(n)] = diag
    return out


def _shuffled(mat: np.ndarray, directed: bool, rng: np.random.Generator) -> list:
    edges = _edges(mat, directed)
    if len(edges) < 3:
        return edges
    g = nx.DiGraph(edges) if directed else nx.Graph(edges)
    nswap = 10 * len(edges)  # ten swaps per edge: enough to forget the original (Maslov & Sneppen 2002)
    seed = int(rng.integers(2**31))
    try:
        if directed:
            nx.directed_edge_swap(g, nswap=nswap, max_tries=100 * nswap, seed=seed)
        else:
            nx.double_edge_swap(g, nswap=nswap, max_tries=100 * nswap, seed=seed)
    except (nx.NetworkXAlgorithmError, nx.NetworkXError) as exc:
        # a graph too small or too constrained to swap (more): keep the swaps done so far, and say so
        warnings.warn(f"shuffled: the {'chemical' if directed else 'gap-junction'} graph "
                      f"({len(edges)} edges) could not be fully rewired ({exc}); it stays close to the "
                      "source", stacklevel=4)
    return list(g.edges())


def _random_direction(edges, rng) -> list:
    flip = rng.random(len(edges)) < 0.5
    return [(j, i) if f else (i, j) for (i, j), f in zip(edges, flip)]


def _relabel(g: nx.Graph, n: int, rng) -> list:
    perm = rng.permutation(n)
    return [(int(perm[i]), int(perm[j])) for i, j in g.edges()]


def _erdos_renyi(mat, directed, rng):
    m = len(_edges(mat, directed))
    g = nx.gnm_random_graph(len(mat), m, seed=int(rng.integers(2**31)), directed=directed)
    return list(g.edges())


def _undirected_count(mat, directed) -> int:
    return len(_edges(mat, directed))


def _match_count(edges: list, m: int, n: int, directed: bool, rng: np.random.Generator,
                 senders: np.ndarray | None = None) -> list:
    """``edges`` with random edges removed or added (no self-loops, no duplicates) until there are
    exactly ``m``: the generators' parameters are integers, so their edge counts only approximate the
    source's (Watts-Strogatz on Cook 2019 gave 567 of 607 chemical edges, Barabasi-Albert 518).
    senders: (directed only) the presynaptic neurons an added edge may start from (default: any)."""
    key = (lambda e: e) if directed else (lambda e: (min(e), max(e)))
    edges = list(dict.fromkeys(key(e) for e in edges if e[0] != e[1]))
    if len(edges) > m:
        keep = np.sort(rng.choice(len(edges), m, replace=False))
        return [edges[i] for i in keep]
    have = set(edges)
    if senders is None:
        room = n * (n - 1) // (1 if directed else 2)
    else:
        room = len(senders) * (n - 1)
    m = min(m, room)
    while len(edges) < m:
        if senders is None:
            i, j = (int(x) for x in rng.integers(n, size=2))
        else:
            i, j = int(senders[rng.integers(len(senders))]), int(rng.integers(n))
        e = key((i, j))
        if i != j and e not in have:
            have.add(e)
            edges.append(e)
    return edges


def _watts_strogatz(mat, directed, rng):
    n, m = len(mat), _undirected_count(mat, directed)
    if m == 0:
        return []
    k = max(2, int(round(2 * m / n / 2)) * 2)  # even number of ring neighbours giving ~m edges
    k = min(k, n - 1 - (n - 1) % 2)
    g = nx.watts_strogatz_graph(n, k, WS_REWIRING_PROBABILITY, seed=int(rng.integers(2**31)))
    edges = _relabel(g, n, rng)
    return _match_count(_random_direction(edges, rng) if directed else edges, m, n, directed, rng)


def _barabasi_albert(mat, directed, rng):
    n, m = len(mat), _undirected_count(mat, directed)
    if m == 0:
        return []
    attach = int(np.clip(round(m / n), 1, n - 1))
    g = nx.barabasi_albert_graph(n, attach, seed=int(rng.integers(2**31)))
    edges = _relabel(g, n, rng)
    return _match_count(_random_direction(edges, rng) if directed else edges, m, n, directed, rng)


def _dense(mat, directed, rng):
    """Every ordered pair (every pair, for gap junctions). Keeps the sign rule by construction (an
    edge's sign is its sender's) but not the E/I edge counts: every neuron sends to all others, so the
    inhibitory share of chemical edges becomes the share of inhibitory neurons (19/81 = 23% on
    Cook 2019, against 9.5% in the connectome). A control of another kind: no topology at all."""
    n = len(mat)
    return [(i, j) for i in range(n) for j in range(n) if i != j and (directed or i < j)]


def _density_template(n: int, m: int) -> np.ndarray:
    """An (n, n) matrix with ``m`` off-diagonal ones: all a graph model reads of its source is its size
    and its number of edges."""
    off = np.flatnonzero(~np.eye(n, dtype=bool))[:m]
    out = np.zeros(n * n)
    out[off] = 1.0
    return out.reshape(n, n)


@dataclass(frozen=True)
class PerSignGroup:
    """A graph model drawn once per sign group of senders, so the chemical wiring keeps the number of
    excitatory and inhibitory edges (an edge's sign is its presynaptic neuron's, Dale's law).

    For the group of senders S (|S| of the N neurons) with m_S source edges, ``model`` draws a whole
    graph of N neurons at the density m_S * N / |S| (the density at which S's out-edges number m_S),
    keeps the edges sent by S, and random edges from S are added or removed to make exactly m_S (the
    models' integer parameters only approximate a count). The groups' edge sets are disjoint (each
    edge has one sender), so their union has the source's edge count. The model must be a model of a
    graph at a density: it reads only its matrix's size and number of edges (``_density_template``).
    Gap junctions have no sign: the model is called on them as it is (``__call__``).

        register_wiring("mine-signed", PerSignGroup(my_model))
    """
    model: Callable[[np.ndarray, bool, np.random.Generator], list]

    def __call__(self, mat: np.ndarray, directed: bool, rng: np.random.Generator) -> list:
        return self.model(mat, directed, rng)

    def signed(self, mat: np.ndarray, sign: np.ndarray, rng: np.random.Generator) -> list:
        """The new chemical edges [(pre, post), ...]: per sign group of ``sign`` (N,), its count kept."""
        n = len(mat)
        source = _edges(mat, True)
        edges: list = []
        for s in _SIGN_ORDER:
            senders = np.flatnonzero(sign == s)
            m = sum(1 for i, _ in source if sign[i] == s)
            if m == 0:
                continue
            whole = min(n * (n - 1), int(round(m * n / len(senders))))
            drawn = self.model(_density_template(n, whole), True, rng)
            mine = [(int(i), int(j)) for i, j in drawn if sign[i] == s]
            edges += _match_count(mine, m, n, True, rng, senders=senders)
        return edges


_SIGN_ORDER = (1, -1)  # excitatory group first: the order the rng is used in


def _sign_counts(edges, sign: np.ndarray) -> dict[int, int]:
    return {s: sum(1 for i, _ in edges if sign[i] == s) for s in _SIGN_ORDER}


Generator = Callable[[np.ndarray, bool, np.random.Generator], list]
# name -> edge generator (None: the connectome itself). A generator gets the (N, N) count matrix, whether
# it is directed, and a seeded rng, and returns the new edge list; a PerSignGroup generator draws the
# chemical edges per sign group instead. The synapse counts of the original edges are dealt out onto the
# new ones (``_to_matrix``): per sign group when the wiring kept each group's edge count (every
# sign-keeping wiring), else as one pool; the wirings in UNIFORM_WEIGHTS give every edge the mean count.
# The rng of a wiring is keyed by its place here: new names go at the END, so the others keep their
# streams (the plain model names kept their places when they became sign-keeping; their graphs changed).
WIRINGS: dict[str, Generator | None] = {
    "connectome": None,
    "shuffled": _shuffled,              # keeps every out-degree, hence each sign's edge count, itself
    "erdos-renyi": PerSignGroup(_erdos_renyi),
    "watts-strogatz": PerSignGroup(_watts_strogatz),
    "barabasi-albert": PerSignGroup(_barabasi_albert),
    "dense": _dense,                    # the sign rule by construction, not the E/I counts
    "erdos-renyi-unsigned": _erdos_renyi,
    "watts-strogatz-unsigned": _watts_strogatz,
    "barabasi-albert-unsigned": _barabasi_albert,
}
UNIFORM_WEIGHTS: set[str] = {"dense"}


def register_wiring(name: str, generator: Generator, uniform_weights: bool = False,
                    replace: bool = False) -> None:
    """Add a null wiring: ``generator(counts (N, N), directed, rng) -> [(pre, post), ...]``. Neurons,
    signs, positions and the muscle map stay; only the chemical and gap matrices change. Its seeds are
    its own (the rng is keyed by the name's place in the registry). A model of a graph at a density,
    wrapped as ``PerSignGroup(model)``, keeps the number of excitatory and inhibitory chemical edges;
    a bare generator keeps whatever it keeps (the synapse counts are dealt per sign group if it kept
    each group's edge count)."""
    if name in WIRINGS and not replace:
        raise ValueError(f"wiring {name!r} is registered already (replace=True to replace it)")
    WIRINGS[name] = generator
    ADDED[name] = (generator, uniform_weights)
    (UNIFORM_WEIGHTS.add if uniform_weights else UNIFORM_WEIGHTS.discard)(name)


def unregister_wiring(name: str) -> None:
    if name != "connectome":
        WIRINGS.pop(name, None)
        ADDED.pop(name, None)
        UNIFORM_WEIGHTS.discard(name)


# the wirings registered at run time (not shipped): worker processes register them too (wormsim.extensions)
ADDED: dict[str, tuple] = {}


def available_wirings() -> list[str]:
    return list(WIRINGS)


def rewire(circuit: Circuit, kind: str, seed: int = 0) -> Circuit:
    """The circuit with its chemical and gap wiring replaced by the null model ``kind``.

    kind: one of available_wirings(); "connectome" returns the circuit unchanged.
    seed: the same seed gives the same matrices; different seeds give different graphs.
    """
    if kind not in WIRINGS:
        raise ValueError(f"unknown wiring {kind!r}; choose from {', '.join(WIRINGS)}")
    if WIRINGS[kind] is None:
        return circuit
    if circuit.wiring != "connectome":
        raise ValueError(f"circuit is already rewired ({circuit.wiring}); rewire the connectome")
    make = WIRINGS[kind]
    rng = np.random.default_rng([int(seed), list(WIRINGS).index(kind)])
    n = circuit.n
    new = {}
    for field, directed in (("chem", True), ("gap", False)):
        mat = getattr(circuit, field)
        if directed and isinstance(make, PerSignGroup):
            edges = make.signed(mat, circuit.sign, rng)
        else:
            edges = make(mat, directed, rng)
        diag = mat.diagonal().copy()
        if kind in UNIFORM_WEIGHTS:
            weights = _weights(mat, directed)
            weights = np.full(len(edges), weights.mean() if len(weights) else 1.0)
            new[field] = _to_matrix(n, edges, weights, directed, diag, rng)
        elif directed and _sign_counts(edges, circuit.sign) == _sign_counts(_edges(mat, True), circuit.sign):
            # each sign's synapse counts onto its own new edges: the inhibitory synapse total stays too
            out = np.zeros((n, n))
            for s in _SIGN_ORDER:
                rows = circuit.sign == s
                out += _to_matrix(n, [e for e in edges if circuit.sign[e[0]] == s],
                                  _weights(mat * rows[:, None], True), True, np.zeros(n), rng)
            out[np.diag_indices(n)] = diag
            new[field] = out
        else:
            new[field] = _to_matrix(n, edges, _weights(mat, directed), directed, diag, rng)
    return circuit.replace(chem=new["chem"], gap=new["gap"], wiring=kind, wiring_seed=int(seed))
