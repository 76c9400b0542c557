"""Wirings: the real connectome, or null models that keep some of its statistics and destroy the rest.

    circuit = rewire(load_circuit(), "shuffled", seed=3)

Every null model changes only ``chem`` and ``gap``; neurons, signs (Dale's law goes with the neuron),
positions and the muscle map stay. Each is deterministic for a seed. What each keeps:

=================  ==========================================================================
connectome         everything (the circuit as loaded)
shuffled           every neuron's in- and out-degree of chemical synapses (directed edge swaps)
                   and every neuron's gap-junction degree (double edge swaps); the multiset of
                   synapse counts, redistributed over the new edges
erdos-renyi        the number of neurons and of chemical edges and gap pairs (G(n, m))
watts-strogatz     the density: the number of chemical edges and gap pairs exactly (ring lattice of
                   the nearest even k to 2 edges / n, 10% rewired, random neuron order, random edge
                   direction, then random edges added or removed to the source's count)
barabasi-albert    the density, likewise (preferential attachment with m = edges / n, random
                   direction, count matched)
dense              nothing but the neurons: every ordered pair chemically, every pair by gap
                   junction, each at the mean synapse count
=================  ==========================================================================

Self-connections (autapses) are kept as in the source, on the same neurons; no null model adds any.
"""
from __future__ import annotations

import warnings
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


def _match_count(edges: list, m: int, n: int, directed: bool, rng: np.random.Generator) -> list:
    """``edges`` with random edges removed or added (no self-loops, no duplicates) until there are
    exactly ``m``: the generators' parameters are integers, so their edge counts only approximate the
    source's (Watts-Strogatz on Cook 2019 gave 567 of 607 chemical edges, Barabasi-Albert 518)."""
    key = (lambda e: e) if directed else (lambda e: (min(e), max(e)))
    edges = list(dict.fromkeys(key(e) for e in edges if e[0] != e[1]))
    if len(edges) > m:
        keep = np.sort(rng.choice(len(edges), m, replace=False))
        return [edges[i] for i in keep]
    have = set(edges)
    room = n * (n - 1) // (1 if directed else 2)
    m = min(m, room)
    while len(edges) < m:
        i, j = (int(x) for x in rng.integers(n, size=2))
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
    n = len(mat)
    return [(i, j) for i in range(n) for j in range(n) if i != j and (directed or i < j)]


Generator = Callable[[np.ndarray, bool, np.random.Generator], list]
# name -> edge generator (None: the connectome itself). A generator gets the (N, N) count matrix, whether
# it is directed, and a seeded rng, and returns the new edge list; the synapse counts of the original
# edges are dealt out onto the new ones (``_to_matrix``), except for the wirings in UNIFORM_WEIGHTS,
# whose every edge gets the mean count.
WIRINGS: dict[str, Generator | None] = {
    "connectome": None,
    "shuffled": _shuffled,
    "erdos-renyi": _erdos_renyi,
    "watts-strogatz": _watts_strogatz,
    "barabasi-albert": _barabasi_albert,
    "dense": _dense,
}
UNIFORM_WEIGHTS: set[str] = {"dense"}


def register_wiring(name: str, generator: Generator, uniform_weights: bool = False,
                    replace: bool = False) -> None:
    """Add a null wiring: ``generator(counts (N, N), directed, rng) -> [(pre, post), ...]``. Neurons,
    signs, positions and the muscle map stay; only the chemical and gap matrices change. Its seeds are
    its own (the rng is keyed by the name's place in the registry)."""
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
        weights = _weights(mat, directed)
        edges = make(mat, directed, rng)
        if kind in UNIFORM_WEIGHTS:
            weights = np.full(len(edges), weights.mean() if len(weights) else 1.0)
        new[field] = _to_matrix(n, edges, weights, directed, mat.diagonal().copy(), rng)
    return circuit.replace(chem=new["chem"], gap=new["gap"], wiring=kind, wiring_seed=int(seed))
