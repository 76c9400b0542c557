"""The Brain contract every realism level obeys, so that a flag swaps the level and nothing else changes.

A Brain is built from a `Circuit` (any wiring) and an `IOSpec` (what the sensor/motor interface feeds
it and reads from it). It holds the parameters of a *population* of P members at once: an evolution
strategies generation is evaluated as one batch, and P = 1 is the ordinary case.

Batch layout: ``reset(batch)`` with batch a multiple of P; rows ``[p*E:(p+1)*E]`` (E = batch // P)
belong to member p, so E episodes per member run side by side.

    brain = get_level("rate")(circuit, io, population=64)
    brain.set_params(theta)            # theta: (64, brain.n_params)
    brain.reset(64)
    activity = brain.step(u)           # u: (64, io.n_inputs) -> activity (64, circuit.n) in [0, 1]

Parameters live on the wiring's edges only: a level stores one value per edge (or per cell-class pair
when ``share_weights``), and the effective weight is ``sign[pre] * |theta|``, so masks and Dale's law
hold before and after any gradient or ES step by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn

from wormsim.circuit import Circuit


class CapabilityError(ValueError):
    """A level was asked for something it cannot do (e.g. PPO on a level that is not differentiable).
    The message names the level, the missing capability and the levels or the way out."""


# what the runner's per-step callback returns: the next control step's inputs (batch, C), or None to stop
StepCallback = Callable[[torch.Tensor], "torch.Tensor | None"]


@dataclass(frozen=True, eq=False)
class IOSpec:
    """What the interface feeds a brain and reads from it.

    input_mask: (C, N) bool; input channel c may reach neuron n only where True (the brain learns a
        signed gain on each True entry).
    n_muscles: number of muscle activations the body takes (2 per joint: dorsal then ventral).
    control_dt: seconds between two brain steps (one environment step).
    channel_names: a name per input channel, for plots and docs.
    input_init: optional (C, N) starting value of each gain (zero off the mask): the interface's
        physiological prior, e.g. a dorsal bend exciting dorsal and inhibiting ventral motor neurons.
        None: every gain starts at the level's default.
    """
    input_mask: np.ndarray
    n_muscles: int
    control_dt: float
    channel_names: tuple[str, ...] = ()
    input_init: np.ndarray | None = None

    def initial_gains(self, default: float) -> np.ndarray:
        """Starting values of the gains on the mask's True entries, in row-major mask order."""
        mask = np.asarray(self.input_mask, bool)
        if self.input_init is None:
            return np.full(int(mask.sum()), float(default))
        return np.asarray(self.input_init, float)[mask] * float(default)

    @property
    def n_inputs(self) -> int:
        return int(self.input_mask.shape[0])


class Brain(nn.Module):
    """Base class of every realism level. Subclasses set the class variables and implement
    ``_build``, ``reset`` and ``step``; parameters are declared with ``add_param``."""

    name: ClassVar[str] = "base"
    # ---- capabilities: what other modules may ask of a level (never its name) ----------------------
    # gradients flow through step() (PPO, BPTT, distillation students)
    differentiable: ClassVar[bool] = True
    # step() is cheap and in torch (a per-step Python loop is fine); False for levels whose own
    # simulator runs a whole episode at once (conductance: one Brian2 run, see drive())
    steps_in_torch: ClassVar[bool] = True
    # the parameters live on the wiring's edges; False for connectome-free baselines (mlp), whose
    # result does not depend on the wiring (an experiment runs them once, not once per wiring)
    uses_wiring: ClassVar[bool] = True
    # False: step() returns the activity of every circuit neuron and the interface maps it onto the
    # muscles. True (the mlp baseline, which has no neurons of the worm): step() returns muscle
    # activations in [0, 1] directly.
    outputs_muscles: ClassVar[bool] = False
    # the recurrent state: attributes, each a (batch, ...) tensor that reset(batch) creates and step()
    # replaces; get_state/set_state read and write them (PPO's truncated BPTT, distillation)
    state_names: ClassVar[tuple[str, ...]] = ()
    # the parameters that are synapses (chemical, then gap junction): distillation's plasticity test
    # perturbs these and nothing else
    synaptic_params: ClassVar[tuple[str, ...]] = ()
    # the config field a fixed reservoir is scaled by ("spectral_radius", "conductance_scale"), or None
    reservoir_knob: ClassVar[str | None] = None
    # parameter groups for ES step sizes: parameter name -> group ("synapse", "bias", "input", "time",
    # "readout", ...); parameters not listed form a group of their own name
    param_groups: ClassVar[dict[str, str]] = {}
    # a group's natural scale in parameter units where it is not the magnitude its parameters start at
    # (see natural_scales): log-parameters (1.0, one e-fold), groups that start at zero
    group_scales: ClassVar[dict[str, float]] = {}
    # the parameter holding one signed gain per True entry of io.input_mask (row-major: channel, then
    # neuron), or None: --init carries its entries over by (channel name, neuron) (wormsim.train.warmstart)
    input_gains: ClassVar[str | None] = None
    # parameters whose first axis is the input channel (a level without per-neuron input gains, e.g. the
    # GRU's input weights): --init carries them over by channel name (wormsim.train.warmstart)
    input_rows: ClassVar[tuple[str, ...]] = ()

    def __init__(self, circuit: Circuit, io: IOSpec, config=None, population: int = 1,
                 device: str | torch.device = "cpu"):
        super().__init__()
        if population < 1:
            raise ValueError(f"population must be >= 1, got {population}")
        if io.input_mask.shape[1] != circuit.n:
            raise ValueError(f"IOSpec.input_mask has {io.input_mask.shape[1]} neurons, the circuit "
                             f"{circuit.n}: build the IOSpec from the same circuit")
        self.circuit = circuit
        self.io = io
        self.config = config if config is not None else self.default_config()
        self.population = int(population)
        self.device = torch.device(device)
        self._param_names: list[str] = []
        self._recording = False
        self._trace: dict[str, list[np.ndarray]] = {}
        self._build()
        self.to(self.device)

    # ---- to implement ------------------------------------------------------------------------------
    @classmethod
    def default_config(cls):
        raise NotImplementedError

    @classmethod
    def check_config(cls, config, circuit) -> None:
        """ValueError (one line) if ``config`` cannot be built on ``circuit``. The CLI calls it before a run
        directory is written; a level whose config names parts of the circuit overrides it."""

    def _build(self) -> None:
        """Declare parameters (add_param) and buffers from self.circuit, self.io and self.config."""
        raise NotImplementedError

    def reset(self, batch: int) -> None:
        """Start fresh episodes for ``batch`` rows (a multiple of population)."""
        raise NotImplementedError

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """Advance one control step (io.control_dt). inputs: (batch, io.n_inputs).
        Returns activity (batch, circuit.n) in [0, 1], or muscles (batch, io.n_muscles) when
        outputs_muscles."""
        raise NotImplementedError

    # ---- parameters --------------------------------------------------------------------------------
    def add_param(self, name: str, init: torch.Tensor | np.ndarray) -> None:
        """Declare a trainable per-member parameter; init has the per-member shape and is copied to
        every member, giving a tensor of shape (population, *init.shape)."""
        init = torch.as_tensor(np.asarray(init), dtype=torch.float32)
        value = init.unsqueeze(0).repeat(self.population, *([1] * init.dim())).clone()
        self.register_parameter(name, nn.Parameter(value, requires_grad=self.differentiable))
        self._param_names.append(name)

    def param_sizes(self) -> dict[str, int]:
        """Per-member size of every declared parameter, in flat-vector order."""
        return {k: int(np.prod(getattr(self, k).shape[1:])) for k in self._param_names}

    @property
    def n_params(self) -> int:
        """Size of one member's flat parameter vector."""
        return sum(self.param_sizes().values())

    def get_params(self) -> torch.Tensor:
        """(population, n_params): every member's flat parameter vector (a detached copy)."""
        return torch.cat([getattr(self, k).detach().reshape(self.population, -1)
                          for k in self._param_names], dim=1).clone()

    @torch.no_grad()
    def set_params(self, theta) -> None:
        """Set every member's parameters from (population, n_params), or one (n_params,) vector
        copied to every member."""
        theta = torch.as_tensor(np.asarray(theta) if not torch.is_tensor(theta) else theta,
                                dtype=torch.float32, device=self.device)
        if theta.dim() == 1:
            theta = theta.unsqueeze(0).expand(self.population, -1)
        if theta.shape != (self.population, self.n_params):
            raise ValueError(f"{self.name} brain expects parameters of shape "
                             f"({self.population}, {self.n_params}) or ({self.n_params},), "
                             f"got {tuple(theta.shape)}")
        if not torch.isfinite(theta).all():
            raise ValueError(f"{self.name} brain parameters contain NaN or infinity")
        start = 0
        for k in self._param_names:
            p = getattr(self, k)
            size = int(np.prod(p.shape[1:]))
            p.copy_(theta[:, start:start + size].reshape(p.shape))
            start += size

    def natural_scales(self) -> dict[str, float]:
        """Each parameter group's natural scale, in parameter units: the group's declared scale
        (``group_scales``) if any, else the root mean square of its starting values (member 0), else
        1.0 for a group that starts at zero. ES step sizes are relative to it (--sigma-scale group), so
        one sigma moves a conductance synapse (starting at 0.1) and a rate synapse (about 2) by the same
        fraction of their magnitude."""
        theta = self.get_params()[0].cpu().numpy().astype(np.float64)
        values: dict[str, list[np.ndarray]] = {}
        start = 0
        for name, size in self.param_sizes().items():
            values.setdefault(self.param_groups.get(name, name), []).append(theta[start:start + size])
            start += size
        scales = {}
        for group, parts in values.items():
            rms = float(np.sqrt(np.mean(np.concatenate(parts) ** 2))) if sum(map(len, parts)) else 0.0
            scales[group] = float(self.group_scales.get(group, rms if rms > 0 else 1.0))
        return scales

    def scale_vector(self) -> np.ndarray:
        """(n_params,): every coordinate's natural scale (its group's, see natural_scales)."""
        scales = self.natural_scales()
        return np.concatenate([np.full(size, scales[self.param_groups.get(name, name)])
                               for name, size in self.param_sizes().items()])

    # ---- batch bookkeeping -------------------------------------------------------------------------
    def _episodes_per_member(self, batch: int) -> int:
        if batch < 1 or batch % self.population:
            raise ValueError(f"batch ({batch}) must be a positive multiple of the population "
                             f"({self.population}): rows [p*E:(p+1)*E] belong to member p")
        return batch // self.population

    # ---- capabilities ----------------------------------------------------------------------------------
    @classmethod
    def capabilities(cls) -> dict[str, bool]:
        """What this level can do, by name: differentiable, steps_in_torch, uses_wiring, outputs_muscles,
        has_state, has_synapses, reservoir."""
        return {"differentiable": cls.differentiable, "steps_in_torch": cls.steps_in_torch,
                "uses_wiring": cls.uses_wiring, "outputs_muscles": cls.outputs_muscles,
                "has_state": bool(cls.state_names), "has_synapses": bool(cls.synaptic_params),
                "reservoir": cls.make_reservoir is not Brain.make_reservoir}

    # how a missing capability reads in an error: "<purpose> needs a level <phrase>"
    _CAPABILITY_PHRASES: ClassVar[dict[str, str]] = {
        "differentiable": "that is differentiable", "steps_in_torch": "that steps in torch",
        "uses_wiring": "on the wiring's edges", "outputs_muscles": "that outputs muscles",
        "has_state": "with a recurrent state", "has_synapses": "with synaptic parameters",
        "reservoir": "with a reservoir rule"}

    @classmethod
    def require(cls, capability: str, purpose: str, way_out: str = "") -> None:
        """CapabilityError unless this level has ``capability`` (a key of capabilities()): one line that
        names the purpose, the levels that can, this level, and ``way_out`` if given."""
        caps = cls.capabilities()
        if capability not in caps:
            raise KeyError(f"unknown capability {capability!r}; choose from {', '.join(caps)}")
        if not caps[capability]:
            from wormsim.realism_levels import levels_with
            able = ", ".join(levels_with(capability)) or "none registered"
            raise CapabilityError(f"{purpose} needs a level {cls._CAPABILITY_PHRASES[capability]} ({able}); "
                                  f"the {cls.name} level is not" + (f": {way_out}" if way_out else ""))

    # ---- state -----------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, torch.Tensor]:
        """The recurrent state, {name: (batch, ...) tensor} (the live tensors; clone to keep them)."""
        type(self).require("has_state", "reading the recurrent state")
        missing = [k for k in self.state_names if getattr(self, k, None) is None]
        if missing:
            raise RuntimeError("call reset(batch) before get_state()")
        return {k: getattr(self, k) for k in self.state_names}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the recurrent state (the dict get_state returns, any batch size)."""
        type(self).require("has_state", "setting the recurrent state")
        bad = sorted(set(state) ^ set(self.state_names))
        if bad:
            raise ValueError(f"{self.name} state has {', '.join(self.state_names)}; got {', '.join(sorted(state))}")
        for k in self.state_names:
            setattr(self, k, state[k])

    def init_from_activity(self, mean_activity: torch.Tensor, mean_input: torch.Tensor,
                           first_activity: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """Data-driven start for a student: move the biases so that the brain rests at
        ``mean_activity`` (N,) under ``mean_input`` (C,), and return the state (batch 1) that gives
        ``first_activity`` (N,), or None when the level has no such rule (its start is left as it is)."""
        return None

    # ---- per-edge weights and synapses ---------------------------------------------------------------------
    def edge_weights(self) -> dict:
        """Member 0's effective magnitudes on the circuit's edges at the current parameters:
        {"chem": (E,) on circuit.chem_edges, "gap": (G,) on circuit.gap_edges, "chem_unit", "gap_unit"},
        all >= 0 (signs are fixed by the presynaptic neuron). Levels on the wiring implement it."""
        type(self).require("uses_wiring", "per-edge weights")
        raise CapabilityError(f"the {self.name} level does not report its per-edge weights: implement "
                              "edge_weights() in its module")

    # ---- reservoir ---------------------------------------------------------------------------------
    def make_reservoir(self, scale: float | None, input_gains: np.ndarray | None,
                       input_scale: float = 1.0) -> dict:
        """Put every member into its fixed-reservoir state in place (nothing is trained afterwards).

        scale: the value of the level's ``reservoir_knob`` (None: the level's default).
        input_gains: gains on the input mask's True entries ((mask entries,), None: the interface's
        prior), times ``input_scale``. Returns what was done (spectral radius before/after, factors)."""
        raise CapabilityError(f"the {self.name} level has no reservoir rule: implement make_reservoir() "
                              "in its module")

    def readout_features(self, output: torch.Tensor) -> torch.Tensor:
        """What a readout reads after a step, (batch, F): the step's output (every neuron's activity)
        by default; a level that outputs muscles returns its hidden state."""
        if self.outputs_muscles:
            raise CapabilityError(f"the {self.name} level outputs muscles: implement readout_features()")
        return output

    # ---- running ---------------------------------------------------------------------------------------
    def drive(self, inputs: torch.Tensor, on_step: StepCallback, n_steps: int) -> None:
        """Run up to ``n_steps`` control steps from ``inputs`` (batch, C) (call reset(batch) first):
        after each step, ``on_step(output)`` gets the step's output and returns the next step's
        inputs, or None to stop. Levels with a simulator of their own (conductance: one Brian2 run
        for the whole episode) override this; the runner (wormsim.rollout) only calls it."""
        for _ in range(int(n_steps)):
            inputs = on_step(self.step(inputs))
            if inputs is None:
                return

    def failed_rows(self) -> np.ndarray | None:
        """(batch,) bool: rows whose own simulation failed (numerically), or None when the level has no
        such notion; the runner ends those episodes as failed."""
        return None

    def run_open_loop(self, inputs, record: bool = True) -> dict[str, np.ndarray]:
        """T control steps driven by given inputs, (T, batch, C) (call reset(batch) first).
        Returns "output" (T, batch, ·) as a torch tensor (with its graph when gradients are on), and,
        when record, every recorded trace (T, batch, ·) as numpy ("activity" always)."""
        u = torch.as_tensor(np.asarray(inputs) if not torch.is_tensor(inputs) else inputs,
                            dtype=torch.float32, device=self.device)
        if record:
            self.start_recording()
        outs: list[torch.Tensor] = []

        def on_step(out: torch.Tensor) -> torch.Tensor | None:
            outs.append(out)
            return u[len(outs)] if len(outs) < len(u) else None

        self.drive(u[0], on_step, len(u))
        out = {"output": torch.stack(outs)}
        if record:
            out.update(self.stop_recording())
        return out

    # ---- recording -----------------------------------------------------------------------------------
    def start_recording(self) -> None:
        """Record every neuron's trace at every control step from now on (see traces())."""
        self._recording = True
        self._trace = {}

    def stop_recording(self) -> dict[str, np.ndarray]:
        self._recording = False
        return self.traces()

    def _record(self, **arrays: torch.Tensor) -> None:
        if self._recording:
            for k, v in arrays.items():
                self._trace.setdefault(k, []).append(v.detach().cpu().numpy().copy())

    def traces(self) -> dict[str, np.ndarray]:
        """Recorded traces, each (T, batch, N): always "activity"; levels add their own
        ("voltage" for conductance, "spikes" and "membrane" for spiking, "state" for rate)."""
        return {k: np.stack(v) for k, v in self._trace.items()}


def edge_groups(circuit: Circuit, edges: np.ndarray, share_weights: bool,
                directed: bool = True) -> tuple[np.ndarray, int]:
    """Which parameter each edge reads. edges: (E, 2) index pairs.

    Without sharing every edge has its own parameter; with sharing all edges between the same pair
    of cell classes (e.g. VB -> DD) read one parameter, as in c302's class-level models. directed:
    chemical synapses key on the ordered pair; gap junctions (directed=False) on the unordered one,
    so DB-VB and VB-DB junctions share a parameter whatever the neurons' order.
    Returns (group index per edge (E,), number of groups).
    """
    if not share_weights:
        return np.arange(len(edges)), len(edges)
    cls = np.array(circuit.cell_class)
    keys = [(cls[i], cls[j]) if directed else tuple(sorted((cls[i], cls[j]))) for i, j in edges]
    uniq = {k: g for g, k in enumerate(dict.fromkeys(keys))}
    return np.array([uniq[k] for k in keys], dtype=np.int64), len(uniq)
