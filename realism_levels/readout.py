"""Readout on a fixed reservoir: any level's circuit, fixed, with only a linear readout onto the muscles
trained (``--train readout`` on swim and navigate; the non-motor tasks fit a ridge readout in closed
form instead, wormsim/reservoir.py).

``fix_reservoir(brain, ...)`` puts a brain of any level into its reservoir state through the level's
own ``make_reservoir`` (the rule lives with the level: rate and spiking scale their chemical matrix to a
spectral radius, conductance scales every conductance, the mlp keeps its random weights).

``readout_class("rate")`` is the Brain named ``readout-rate`` (get_level("readout-rate") returns it):
a fixed reservoir (population 1, shared by every member) and per-member readout parameters ``w_out``
(F, 2J), ``b_out`` (2J,): muscles = sigmoid(features @ w_out + b_out), F the reservoir's readout
features (every neuron's activity; the mlp's hidden state). The readout starts at the interface's
neuromuscular map (w_out = motor_gain * NMJ weights, b_out = -motor_offset), so the untrained readout
behaves exactly as the reservoir behind the standard interface. The reservoir level must step in
torch: a readout brain is stepped once per control step.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from wormsim.realism_levels.base import Brain, IOSpec

INPUT_WEIGHTS = ("prior", "random")


def random_input_gains(io: IOSpec, seed: int) -> np.ndarray:
    """Echo-state-style input gains, uniform in [-1, 1] on the input mask's True entries."""
    n = int(np.asarray(io.input_mask, bool).sum())
    return np.random.default_rng([int(seed), 0x5E5]).uniform(-1.0, 1.0, n)


@torch.no_grad()
def fix_reservoir(brain: Brain, scale: float | None = None, input_scale: float = 1.0,
                  input_weights: str = "prior", seed: int = 0) -> dict:
    """Put ``brain`` (every member alike) into its fixed-reservoir state in place, by the level's own
    rule (Brain.make_reservoir). scale: the value of the level's ``reservoir_knob`` (None: its default).
    input_weights: "prior" (the interface's physiological gains) or "random" (random_input_gains from
    ``seed``), times input_scale. Returns what was done, with "knob" naming what scale set."""
    if input_weights not in INPUT_WEIGHTS:
        raise ValueError(f"unknown input_weights {input_weights!r}; choose from {', '.join(INPUT_WEIGHTS)}")
    type(brain).require("reservoir", "a fixed reservoir")
    gains = None if input_weights == "prior" else random_input_gains(brain.io, seed)
    info = brain.make_reservoir(scale, gains, input_scale)
    return {"knob": brain.reservoir_knob, **info}


@dataclass(frozen=True)
class ReadoutConfig:
    """reservoir: the level of the fixed circuit. scale: the value of its reservoir knob (spectral
    radius for rate and spiking; None: the level's default). input_scale, input_weights,
    reservoir_seed: see fix_reservoir. share_weights: passed to the reservoir level's config. init:
    "motor" starts the readout at the interface's neuromuscular map, "zero" at all-zero (every
    muscle 0.5)."""
    reservoir: str = "rate"
    scale: float | None = None
    input_scale: float = 1.0
    input_weights: str = "prior"
    reservoir_seed: int = 0
    share_weights: bool = False
    init: str = "motor"


class ReadoutBrain(Brain):
    """Fixed reservoir (population 1, shared by every member) + per-member linear readout onto the
    muscles: muscles = sigmoid(features @ w_out + b_out). Parameters: w_out (F, 2J), b_out (2J,)."""

    name: ClassVar[str] = "readout"
    differentiable: ClassVar[bool] = True
    outputs_muscles: ClassVar[bool] = True
    param_groups: ClassVar[dict[str, str]] = {"w_out": "readout", "b_out": "bias"}

    @classmethod
    def default_config(cls) -> ReadoutConfig:
        return ReadoutConfig()

    def _build(self) -> None:
        from wormsim.realism_levels import get_level
        cfg = self.config
        if cfg.init not in ("motor", "zero"):
            raise ValueError(f"unknown init {cfg.init!r}; choose from motor, zero")
        inner_cls = get_level(cfg.reservoir)
        inner_cls.require("steps_in_torch", "a trained readout on a fixed reservoir")
        inner_cfg = inner_cls.default_config()
        if cfg.share_weights and "share_weights" in {f.name for f in dataclasses.fields(inner_cfg)}:
            inner_cfg = dataclasses.replace(inner_cfg, share_weights=True)
        inner = inner_cls(self.circuit, self.io, inner_cfg, population=1, device=self.device)
        inner.requires_grad_(False)
        self.reservoir_info = fix_reservoir(inner, cfg.scale, cfg.input_scale, cfg.input_weights,
                                            cfg.reservoir_seed)
        # not a submodule: its parameters must not appear in this brain's flat vector
        object.__setattr__(self, "inner", inner)
        inner.reset(1)
        n_feat = inner.readout_features(inner.step(torch.zeros(1, self.io.n_inputs))).shape[1]
        m = self.io.n_muscles
        w0, b0 = np.zeros((n_feat, m)), np.zeros(m)
        if cfg.init == "motor" and inner.uses_wiring:      # features: the worm's neurons
            w0, b0 = self._motor_map()
        self.add_param("w_out", w0)
        self.add_param("b_out", b0)

    def _motor_map(self) -> tuple[np.ndarray, np.ndarray]:
        """The interface's neuromuscular map as a readout: (motor_gain * NMJ weights, -motor_offset)."""
        from wormsim.envs.layout import ObsLayout
        from wormsim.interface import Interface
        m = self.io.n_muscles
        names = [c[len("task:"):] for c in self.io.channel_names if c.startswith("task:")]
        itf = Interface(self.circuit, ObsLayout(m // 2 + 1, tuple(names)), self.io.control_dt)
        return itf.motor_gain * itf.motor_weights, np.full(m, -itf.motor_offset)

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        self.inner.reset(batch)

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        p = self.population
        batch = inputs.shape[0]
        with torch.no_grad():
            a = self.inner.readout_features(self.inner.step(inputs))
        feat = a.to(self.device, torch.float32).view(p, batch // p, -1)
        muscles = torch.sigmoid(torch.bmm(feat, self.w_out) + self.b_out.unsqueeze(1)).reshape(batch, -1)
        self._record(activity=a)
        return muscles


def readout_class(level: str) -> type[ReadoutBrain]:
    """The ReadoutBrain whose reservoir is ``level``, named ``readout-LEVEL`` (use get_level)."""
    from wormsim.realism_levels import get_level
    inner = get_level(level)
    cfg = ReadoutConfig(reservoir=level)
    return type(f"Readout{inner.__name__}", (ReadoutBrain,), {
        "name": f"readout-{level}", "default_config": classmethod(lambda cls: cfg),
        "uses_wiring": inner.uses_wiring, "__module__": __name__,
        "__doc__": f"ReadoutBrain on the fixed {level} reservoir (see wormsim.realism_levels.readout)."})
