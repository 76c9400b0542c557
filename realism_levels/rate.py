"""Rate level: a continuous-time rate network on the wiring, in PyTorch (differentiable).

Every neuron i has a state v_i (dimensionless) and an output a_i = sigmoid(v_i) in [0, 1]:

    tau_i dv_i/dt = -v_i + sum_j W_ji a_j + sum_j g_ij (v_j - v_i) + sum_c U_ci u_c + b_i

- chemical: W_ji = sign[j] * |theta_e| * s_e on the chemical edges e = (j -> i) of the wiring only;
  s_e = 1 / in-degree(i) (fixed) so that a neuron's summed input does not grow with its number of
  inputs and a dense null model is as strong in total as the connectome. theta starts at
  ``chem_scale * log1p(count_e) / mean(log1p(count))``: more synapses, a stronger start.
- gap junctions: g_ij = g_ji = |theta_g| / sqrt(deg_i deg_j) on the gap pairs only (symmetric by
  construction), theta_g starting at ``gap_scale * log1p(count) / mean(log1p(count))``.
- input: U_ci, a learnable signed gain on every True entry of ``io.input_mask`` (start ``input_gain``),
  times a fixed ``curvature_gain`` on the proprioceptive channels.
- b_i learnable bias (start 0), tau_i = exp(log_tau_i) learnable, clamped to [tau_min, tau_max].
- opt-in, off by default (``bistable_gain`` > 0): the B-type motor neurons (``bistable_classes``, DB and
  VB) get an intrinsic positive feedback ``+ w (a_i - 1/2)`` in their drive, a fixed property of the
  membrane, not a synapse (no wiring edge, no parameter). For w > 4 the unit is bistable: between two
  fold inputs (+-1.07 at w = 8) it has two stable states and switches only when its input leaves that
  window, a hysteresis. Boyle, Berri & Cohen 2012 (Front. Comput. Neurosci. 6:10) model the B-class
  neurons as bistable, so that proprioceptive feedback through the body makes a relaxation oscillation
  whose period grows with the time the body takes to bend between the two thresholds, i.e. with the
  mechanical load (their swim-to-crawl transition); such bistability was recorded in one C. elegans
  motor neuron, the head's RMD (up and down states: Mellem et al. 2008, Nat. Neurosci. 11:865, Fig. 1).

With ``share_weights`` all chemical edges between one ordered pair of cell classes (all gap pairs
between one unordered pair) read one theta (base.edge_groups), started at the mean of their per-edge
starts; the fixed s_e still differ. On Cook 2019 (81 neurons, 611 chemical edges, 231 gap pairs, 49
input entries): 1053 parameters per member, 362 with sharing (94 chemical + 57 gap groups).

Integration: ``n_substeps`` exponential-Euler steps per control step,
v <- I + (v - I) exp(-dt/tau) with the drive I held over the substep (exact for constant I; stable for
any tau/dt). The population is one batch: effective matrices (P, N, N) are built by scatter from the
edge values once per control step and applied with bmm over (P, E, N).

Recorded: "activity" (a) and "state" (v), each (batch, N) per control step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from wormsim.circuit import Circuit
from wormsim.realism_levels.base import Brain, edge_groups


def _log_count_init(counts: np.ndarray, scale: float) -> np.ndarray:
    """Per-edge start magnitudes proportional to log1p(count), with mean ``scale``."""
    w = np.log1p(np.asarray(counts, dtype=np.float64))
    return scale * w / w.mean() if len(w) else w


def _group_mean(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros(n_groups)
    np.add.at(out, groups, values)
    return out / np.maximum(np.bincount(groups, minlength=n_groups), 1)


class EdgeWeights:
    """Mixin for the connectome levels (rate, spiking): learnable magnitudes on the wiring's edges.

    Declares parameters ``chem`` (groups,), ``gap`` (gap groups,), ``gain`` (mask entries,) and
    builds the effective per-member matrices with ``_matrices()``. Expects ``self.config`` to have
    ``share_weights``, ``chem_scale``, ``gap_scale``, ``input_gain``.
    """

    state_names: tuple[str, ...] = ("v",)
    synaptic_params = ("chem", "gap")
    reservoir_knob = "spectral_radius"
    param_groups = {"chem": "synapse", "gap": "synapse", "gain": "input", "bias": "bias", "log_tau": "time"}
    input_gains = "gain"
    # biases in the units of the activation's argument (rate: the sigmoid's; spiking: the threshold's,
    # 1.0); time constants are log-parameters, so one unit is an e-fold
    group_scales = {"bias": 1.0, "time": 1.0}

    def _declare_edges(self) -> None:
        c: Circuit = self.circuit
        cfg = self.config
        n = c.n
        chem_e = c.chem_edges                                   # (E, 2) pre, post
        gap_e = c.gap_edges                                     # (G, 2) i < j
        self.n_chem_edges, self.n_gap_edges = len(chem_e), len(gap_e)

        chem_g, n_chem_g = edge_groups(c, chem_e, cfg.share_weights)
        gap_g, n_gap_g = edge_groups(c, gap_e, cfg.share_weights, directed=False)
        chem0 = _log_count_init(c.chem[chem_e[:, 0], chem_e[:, 1]], cfg.chem_scale)
        gap0 = _log_count_init(c.gap[gap_e[:, 0], gap_e[:, 1]], cfg.gap_scale)
        self.add_param("chem", _group_mean(chem0, chem_g, n_chem_g))
        self.add_param("gap", _group_mean(gap0, gap_g, n_gap_g))

        indeg = np.bincount(chem_e[:, 1], minlength=n)
        chem_s = c.sign[chem_e[:, 0]] / np.maximum(indeg[chem_e[:, 1]], 1)   # sign * fixed scale
        gdeg = (c.gap > 0).sum(axis=1)
        gap_s = 1.0 / np.sqrt(np.maximum(gdeg[gap_e[:, 0]] * gdeg[gap_e[:, 1]], 1))

        mask = np.asarray(self.io.input_mask, bool)
        ch, nrn = np.nonzero(mask)
        self.add_param("gain", self.io.initial_gains(cfg.input_gain))
        # a fixed factor on the proprioceptive entries (channels named "curvature[...]"), outside theta
        names = self.io.channel_names or ("",) * self.io.n_inputs
        curvature = np.array([str(names[c]).startswith("curvature") for c in ch], bool)
        in_scale = np.where(curvature, float(getattr(cfg, "curvature_gain", 1.0)), 1.0)

        long = dict(dtype=torch.long)
        self.register_buffer("_chem_group", torch.as_tensor(chem_g, **long), persistent=False)
        self.register_buffer("_chem_flat", torch.as_tensor(chem_e[:, 0] * n + chem_e[:, 1], **long),
                             persistent=False)
        self.register_buffer("_chem_sign_scale", torch.as_tensor(chem_s, dtype=torch.float32),
                             persistent=False)
        # Both directions of every gap pair, so that G is symmetric by construction.
        self.register_buffer("_gap_group", torch.as_tensor(np.concatenate([gap_g, gap_g]), **long),
                             persistent=False)
        self.register_buffer("_gap_flat", torch.as_tensor(np.concatenate(
            [gap_e[:, 0] * n + gap_e[:, 1], gap_e[:, 1] * n + gap_e[:, 0]]), **long), persistent=False)
        self.register_buffer("_gap_scale", torch.as_tensor(np.concatenate([gap_s, gap_s]),
                                                           dtype=torch.float32), persistent=False)
        self.register_buffer("_in_flat", torch.as_tensor(ch * n + nrn, **long), persistent=False)
        self.register_buffer("_in_scale", torch.as_tensor(in_scale, dtype=torch.float32), persistent=False)

    def _scatter(self, flat_idx: torch.Tensor, values: torch.Tensor, rows: int) -> torch.Tensor:
        """(P, K) values at flat indices of a (rows, N) matrix -> (P, rows, N); differentiable."""
        p, n = self.population, self.circuit.n
        out = values.new_zeros(p, rows * n)
        return out.scatter(1, flat_idx.expand(p, -1), values).view(p, rows, n)

    def chem_matrix(self) -> torch.Tensor:
        """(P, N, N) effective chemical weights, W[p, pre, post] = sign[pre] |theta| s; zero off-edges."""
        vals = self.chem.abs()[:, self._chem_group] * self._chem_sign_scale
        return self._scatter(self._chem_flat, vals, self.circuit.n)

    def gap_matrix(self) -> torch.Tensor:
        """(P, N, N) symmetric gap conductances, >= 0, zero off the gap pairs."""
        vals = self.gap.abs()[:, self._gap_group] * self._gap_scale
        return self._scatter(self._gap_flat, vals, self.circuit.n)

    def input_matrix(self) -> torch.Tensor:
        """(P, C, N) input gains, zero where io.input_mask is False."""
        return self._scatter(self._in_flat, self.gain * self._in_scale, self.io.n_inputs)

    def edge_weights(self) -> dict:
        """Member 0's |W| on every chemical edge (sign[pre] |theta| / in-degree) and gap conductance on
        every gap pair, at the current parameters (see Brain.edge_weights)."""
        ce, ge = self.circuit.chem_edges, self.circuit.gap_edges
        with torch.no_grad():
            w = self.chem_matrix()[0].cpu().numpy()
            g = self.gap_matrix()[0].cpu().numpy()
        return {"chem": np.abs(w[ce[:, 0], ce[:, 1]]), "gap": g[ge[:, 0], ge[:, 1]],
                "chem_unit": "|sign · θ / in-degree|", "gap_unit": "|θ| / sqrt(deg deg)"}

    def chem_spectral_radius(self) -> float:
        """Largest |eigenvalue| of member 0's effective signed chemical matrix."""
        with torch.no_grad():
            w = self.chem_matrix()[0].double().cpu().numpy()
        return float(np.abs(np.linalg.eigvals(w)).max()) if w.size else 0.0

    @torch.no_grad()
    def make_reservoir(self, scale: float | None, input_gains: np.ndarray | None,
                       input_scale: float = 1.0) -> dict:
        """The chemical magnitudes start where the level puts them (derived from the wiring's synapse
        counts) and are multiplied by one factor so that the spectral radius of the signed chemical
        matrix is ``scale`` (default 0.9; a nilpotent matrix, spectral radius 0, keeps its magnitudes).
        Gap junctions stay at the level's default; input gains as given (None: the interface's prior)."""
        target = 0.9 if scale is None else float(scale)
        rho = self.chem_spectral_radius()
        info = {"spectral_radius_before": rho, "chem_factor": None}
        if rho > 1e-12:
            info["chem_factor"] = target / rho
            self.chem.copy_(self.chem.abs() * info["chem_factor"])
        info["spectral_radius"] = self.chem_spectral_radius()
        gains = self.io.initial_gains(self.config.input_gain) if input_gains is None else input_gains
        self.gain.copy_(torch.as_tensor(np.asarray(gains) * float(input_scale), dtype=torch.float32))
        return info

    def _matrices(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W (P, N, N), L (P, N, N), U (P, C, N)) with L = G - diag(G 1), so that v @ L is the gap
        current sum_j g_ij (v_j - v_i). Without a graph (ES, rollouts) they are built once and kept
        until a parameter changes (set_params and optimizer steps bump the tensors' versions)."""
        params = (self.chem, self.gap, self.gain)
        caching = not (torch.is_grad_enabled() and any(p.requires_grad for p in params))
        key = tuple((p._version, p.data_ptr()) for p in params)
        cached = getattr(self, "_matrix_cache", None)
        if caching and cached is not None and cached[0] == key:
            return cached[1]
        g = self.gap_matrix()
        out = (self.chem_matrix(), g - torch.diag_embed(g.sum(dim=2)), self.input_matrix())
        self._matrix_cache = (key, out) if caching else None
        return out


@dataclass(frozen=True)
class RateConfig:
    """n_substeps: exponential-Euler steps per control step. tau_init, tau_min, tau_max: membrane
    time constants, s (C. elegans neurons integrate over tens of ms to ~1 s). share_weights: one
    parameter per cell-class pair. chem_scale, gap_scale: mean start magnitude of an edge before the
    fixed degree normalisation. input_gain: start of every input gain. curvature_gain: a fixed factor
    on the proprioceptive gains (the trainable gain stays ~1, so ES steps it by its own relative
    amount): the interface scales curvature to O(1), which moves a rate neuron that also sums
    synaptic drive of O(chem_scale) too little to pass a bend on (the sweep that chose 10:
    docs/measurements.md).
    bistable_gain: the intrinsic positive feedback w on the ``bistable_classes`` (module docstring); 0
    (default) leaves the level as it always was, > 4 makes those neurons bistable (Boyle, Berri & Cohen
    2012).
    implicit_gaps: opt-in, off by default (the level as it always was). Each neuron's own gap-junction
    leak, -G_i v_i (G_i its summed gap conductance, the diagonal of L), is integrated exactly with the
    membrane leak, tau dv/dt = -(1 + G_i) v + J, J the rest of the drive held over the substep. The
    default treats the whole gap current as part of the held drive: then the mode v_i - v_j of a
    coupled pair grows by decay - (1 - decay) 2g per substep (decay = exp(-dt_sub / tau)), which
    exceeds 1 in magnitude for 2g > (1 + decay) / (1 - decay), 8.1 at tau = 20 ms and 4 substeps:
    trained gap magnitudes of about 4 on a pair coupled only to each other (AIYL-AIYR of the head
    circuit) make the state oscillate with a growing amplitude until it overflows to NaN. With the
    leak exact that factor is decay' - (1 - decay') g / (1 + g), below 1 in magnitude for every g.
    The fixed points are the same."""
    n_substeps: int = 4
    tau_init: float = 0.05
    tau_min: float = 0.02
    tau_max: float = 2.0
    share_weights: bool = False
    chem_scale: float = 2.0
    gap_scale: float = 1.0
    input_gain: float = 1.0
    curvature_gain: float = 10.0
    bistable_gain: float = 0.0
    bistable_classes: tuple = ("DB", "VB")
    implicit_gaps: bool = False


def fold_inputs(w: float) -> tuple[float, float]:
    """The two inputs between which a unit ``tau dv/dt = -v + w (sigmoid(v) - 1/2) + I`` is bistable
    (w > 4): (I_down, I_up) = (-I*, +I*); it switches on above I_up and off below I_down."""
    if w <= 4:
        raise ValueError(f"a sigmoid unit with self-feedback w is bistable only for w > 4, got {w}")
    s = 0.5 * (1 + math.sqrt(1 - 4 / w))            # the upper fold, where w s (1 - s) = 1
    v = math.log(s / (1 - s))
    i_star = w * (s - 0.5) - v                       # the input at which the lower branch ends
    return -i_star, i_star


class RateBrain(EdgeWeights, Brain):
    """Continuous-time rate network on the wiring (see the module docstring)."""

    name = "rate"
    differentiable = True
    outputs_muscles = False

    @classmethod
    def default_config(cls) -> RateConfig:
        return RateConfig()

    def _build(self) -> None:
        cfg = self.config
        if cfg.n_substeps < 1:
            raise ValueError(f"n_substeps must be >= 1, got {cfg.n_substeps}")
        if not 0 < cfg.tau_min <= cfg.tau_init <= cfg.tau_max:
            raise ValueError("need 0 < tau_min <= tau_init <= tau_max (s)")
        self._declare_edges()
        self.add_param("bias", np.zeros(self.circuit.n))
        self.add_param("log_tau", np.full(self.circuit.n, math.log(cfg.tau_init)))
        if not (np.isfinite(cfg.bistable_gain) and cfg.bistable_gain >= 0):
            raise ValueError(f"bistable_gain must be >= 0 (0: off), got {cfg.bistable_gain}")
        self_w = None
        if cfg.bistable_gain > 0:
            idx = self.circuit.indices(classes=tuple(cfg.bistable_classes))
            if len(idx) == 0:
                raise ValueError(f"bistable_classes {tuple(cfg.bistable_classes)} name no neuron of this circuit")
            w = np.zeros(self.circuit.n, np.float32)
            w[idx] = cfg.bistable_gain
            self_w = torch.as_tensor(w)
        self.register_buffer("_self_w", self_w, persistent=False)      # None: off
        self.v: torch.Tensor | None = None

    def tau(self) -> torch.Tensor:
        """(P, N) time constants, s, within [tau_min, tau_max]."""
        cfg = self.config
        return self.log_tau.clamp(math.log(cfg.tau_min), math.log(cfg.tau_max)).exp()

    def init_from_activity(self, mean_activity, mean_input, first_activity):
        """The state v* = logit(a*) is made the fixed point under the mean input by the bias
        b = v* - a* W - v* L - u U; returns the state logit(first_activity). A saturated teacher
        (activity near 0 or 1) is otherwise out of reach of a bias that starts at 0."""
        def logit(a):
            a = torch.as_tensor(a, dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
            return torch.log(a / (1 - a))
        a_star = torch.as_tensor(mean_activity, dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
        v_star = logit(a_star)
        with torch.no_grad():
            w, lap, u = self._matrices()
            b = v_star - a_star @ w[0] - v_star @ lap[0] - torch.as_tensor(mean_input, dtype=torch.float32) @ u[0]
            self.bias.copy_(b.expand_as(self.bias))
        return {"v": logit(first_activity).unsqueeze(0)}

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        self.v = torch.zeros(batch, self.circuit.n, device=self.device)

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (batch, C) -> activity (batch, N) in [0, 1] after io.control_dt seconds."""
        if self.v is None:
            raise RuntimeError("call reset(batch) before step()")
        batch, n, p = self.v.shape[0], self.circuit.n, self.population
        if inputs.shape != (batch, self.io.n_inputs):
            raise ValueError(f"inputs must have shape ({batch}, {self.io.n_inputs}), "
                             f"got {tuple(inputs.shape)}")
        e = batch // p
        w, lap, u = self._matrices()
        drive = torch.bmm(inputs.to(self.device, torch.float32).view(p, e, -1), u) + self.bias.unsqueeze(1)
        leak = None
        if self.config.implicit_gaps:                           # opt-in: the gap leak exact (RateConfig)
            g_self = -torch.diagonal(lap, dim1=1, dim2=2)       # (P, N) summed gap conductance G_i
            lap = lap + torch.diag_embed(g_self)                # the coupling to the others only
            leak = (1.0 + g_self).unsqueeze(1)                  # (P, 1, N)
        rate = 1.0 / self.tau() if leak is None else leak.squeeze(1) / self.tau()
        decay = torch.exp(-(self.io.control_dt / self.config.n_substeps) * rate).unsqueeze(1)
        v = self.v.view(p, e, n)
        for _ in range(self.config.n_substeps):
            a = torch.sigmoid(v)
            i_tot = torch.baddbmm(torch.baddbmm(drive, a, w), v, lap)
            if self._self_w is not None:                        # opt-in bistability (bistable_gain)
                i_tot = i_tot + self._self_w * (a - 0.5)
            if leak is not None:
                i_tot = i_tot / leak                            # the fixed point of -(1 + G) v + J
            v = torch.lerp(i_tot, v, decay)                     # i_tot + (v - i_tot) * decay
        self.v = v.reshape(batch, n)
        a = torch.sigmoid(self.v)
        self._record(activity=a, state=self.v)
        return a
