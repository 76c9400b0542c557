"""MLP level: the artificial baseline with no connectome at all (differentiable).

A recurrent network (``kind="gru"``, default) or a feed-forward one (``kind="mlp"``) reads the same
input channels as every other level. Its output stage is the circuits' own: it writes the activity of
the circuit's motor neurons (those with neuromuscular junctions), which the interface maps onto the
muscles through the same neuromuscular map as every circuit (``mlp``), so every contestant reaches the
same muscles the same way: no access to the two head joints no ventral-cord neuron reaches. The
variant that writes the muscle activations directly (``mlp-direct``, the baseline before this output
stage) is kept, named as such, outside the default comparisons:

    gru:  r = sigmoid(x W_ir + b_ir + h W_hr + b_hr),  z = sigmoid(x W_iz + b_iz + h W_hz + b_hz)
          n = tanh(x W_in + b_in + r * (h W_hn + b_hn)),  h' = (1 - z) * n + z * h       (torch.nn.GRU's cell)
    mlp:  h = tanh(x W_1 + b_1)
    mlp:         motor = sigmoid(h W_out + b_out)  (batch, K motor neurons) -> activity (batch, N), 0 elsewhere
    mlp-direct:  muscles = sigmoid(h W_out + b_out)                      (batch, n_muscles) in [0, 1]

The cell is written with bmm so that every population member has its own weights (torch.nn.GRU holds
one set). "activity" (recorded) is the hidden state h, (batch, H), in (-1, 1).

Size: unless ``hidden_size`` is given, H is the integer >= 1 whose parameter count is closest to that
of the rate level on the same circuit and IOSpec (without weight sharing, or with it when
``match_shared``): gru 3H(C + H + 2) + H K + K, mlp H(C + 1) + H K + K, for C inputs and K outputs (the
motor neurons, or the M muscles of mlp-direct).
Weights start uniform in +-1/sqrt(H) like torch.nn.GRU (readout +-0.1/sqrt(H), so untrained muscles
sit near 0.5), drawn from a generator seeded by ``init_seed``; biases start at 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from wormsim.circuit import Circuit
from wormsim.realism_levels.base import Brain, IOSpec

KINDS = ("gru", "mlp")


@dataclass(frozen=True)
class MLPConfig:
    """kind: "gru" (recurrent) or "mlp" (feed-forward). hidden_size: None = match the rate level's
    parameter count. match_shared: match the rate level with share_weights. init_seed: weight init."""
    kind: str = "gru"
    hidden_size: int | None = None
    match_shared: bool = False
    init_seed: int = 0


def count_params(kind: str, hidden: int, n_inputs: int, n_outputs: int) -> int:
    """Per-member parameter count of the mlp level with ``n_outputs`` output units."""
    h, c, m = hidden, n_inputs, n_outputs
    core = 3 * h * (c + h + 2) if kind == "gru" else h * (c + 1)
    return core + h * m + m


def motor_neurons(circuit: Circuit) -> np.ndarray:
    """Indices of the circuit's neurons that reach a muscle (any neuromuscular junction)."""
    return np.flatnonzero(np.asarray(circuit.nmj).reshape(circuit.n, -1).sum(axis=1) > 0)


def matched_hidden_size(circuit: Circuit, io: IOSpec, kind: str = "gru", shared: bool = False,
                        n_outputs: int | None = None) -> int:
    """The hidden size whose parameter count is closest to the rate level's on this circuit."""
    from wormsim.realism_levels.rate import RateBrain, RateConfig

    target = RateBrain(circuit, io, RateConfig(share_weights=shared)).n_params
    outputs = io.n_muscles if n_outputs is None else n_outputs
    sizes = np.arange(1, 4097)
    counts = np.array([count_params(kind, int(h), io.n_inputs, outputs) for h in sizes])
    return int(sizes[np.abs(counts - target).argmin()])


class MLPBrain(Brain):
    """GRU or feed-forward baseline with per-member weights (see the module docstring)."""

    name = "mlp"
    differentiable = True
    outputs_muscles = False
    uses_wiring = False
    state_names = ("h",)
    reservoir_knob = None
    param_groups = {"b_ih": "bias", "b_hh": "bias", "b_1": "bias", "b_out": "bias"}
    input_rows = ("w_ih", "w_1")        # the GRU's (or MLP's) input weights: one row per input channel
    group_scales = {"bias": 1.0}         # biases start at zero; 1.0 in the units of the gates' argument

    @classmethod
    def default_config(cls) -> MLPConfig:
        return MLPConfig()

    def _build(self) -> None:
        cfg = self.config
        if cfg.kind not in KINDS:
            raise ValueError(f"unknown mlp kind {cfg.kind!r}; choose from {', '.join(KINDS)}")
        c = self.io.n_inputs
        # the output units: the circuit's motor neurons (through the interface's neuromuscular map, as
        # every circuit), or the muscles themselves (mlp-direct)
        self.register_buffer("_motor", torch.as_tensor(motor_neurons(self.circuit), dtype=torch.long),
                             persistent=False)
        m = self.io.n_muscles if self.outputs_muscles else len(self._motor)
        h = cfg.hidden_size or matched_hidden_size(self.circuit, self.io, cfg.kind, cfg.match_shared, m)
        if h < 1:
            raise ValueError(f"hidden_size must be >= 1, got {h}")
        self.hidden_size = int(h)
        gen = torch.Generator().manual_seed(cfg.init_seed)
        k = 1.0 / math.sqrt(h)

        def uniform(*shape, bound=k):
            return (torch.rand(*shape, generator=gen) * 2 - 1) * bound

        if cfg.kind == "gru":
            self.add_param("w_ih", uniform(c, 3 * h))
            self.add_param("w_hh", uniform(h, 3 * h))
            self.add_param("b_ih", torch.zeros(3 * h))
            self.add_param("b_hh", torch.zeros(3 * h))
        else:
            self.add_param("w_1", uniform(c, h))
            self.add_param("b_1", torch.zeros(h))
        self.add_param("w_out", uniform(h, m, bound=0.1 * k))
        self.add_param("b_out", torch.zeros(m))
        self.h: torch.Tensor | None = None

    def readout_features(self, output: torch.Tensor) -> torch.Tensor:
        """The hidden state h (batch, H): a readout reads it, not the muscles."""
        return self.h

    @torch.no_grad()
    def make_reservoir(self, scale, input_gains, input_scale: float = 1.0) -> dict:
        """The untrained random network is the reservoir (weights from ``init_seed``); no connectome,
        so no scale; ``input_scale`` multiplies its random input weights (``input_gains`` does not
        apply: every input reaches every hidden unit)."""
        (self.w_ih if self.config.kind == "gru" else self.w_1).mul_(float(input_scale))
        return {}

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        self.h = torch.zeros(batch, self.hidden_size, device=self.device)

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (batch, C) -> muscles (batch, n_muscles) in [0, 1] (one control step)."""
        if self.h is None:
            raise RuntimeError("call reset(batch) before step()")
        batch, hs, p = self.h.shape[0], self.hidden_size, self.population
        if inputs.shape != (batch, self.io.n_inputs):
            raise ValueError(f"inputs must have shape ({batch}, {self.io.n_inputs}), "
                             f"got {tuple(inputs.shape)}")
        e = batch // p
        x = inputs.to(self.device, torch.float32).view(p, e, -1)
        if self.config.kind == "gru":
            h = self.h.view(p, e, hs)
            gi = torch.bmm(x, self.w_ih) + self.b_ih.unsqueeze(1)              # (P, E, 3H)
            gh = torch.bmm(h, self.w_hh) + self.b_hh.unsqueeze(1)
            r = torch.sigmoid(gi[..., :hs] + gh[..., :hs])
            z = torch.sigmoid(gi[..., hs:2 * hs] + gh[..., hs:2 * hs])
            nn_ = torch.tanh(gi[..., 2 * hs:] + r * gh[..., 2 * hs:])
            h = (1 - z) * nn_ + z * h
        else:
            h = torch.tanh(torch.bmm(x, self.w_1) + self.b_1.unsqueeze(1))
        out = torch.sigmoid(torch.bmm(h, self.w_out) + self.b_out.unsqueeze(1)).reshape(batch, -1)
        self.h = h.reshape(batch, hs)
        self._record(activity=self.h)
        if self.outputs_muscles:
            return out
        # the motor neurons' activity, 0 for every other neuron of the circuit (which it has none of)
        return out.new_zeros(batch, self.circuit.n).index_copy(1, self._motor, out)


class MLPDirectBrain(MLPBrain):
    """The mlp baseline writing the muscle activations directly (every muscle, the two head joints no
    ventral-cord neuron reaches included): a different output stage from every circuit's, so kept out of
    the default comparisons."""

    name = "mlp-direct"
    outputs_muscles = True
