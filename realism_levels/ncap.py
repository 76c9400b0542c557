"""NCAP level: the hand-abstracted swimming circuit of Bhattasali, Zador & Engel 2022 ("Neural circuit
architectural priors for embodied control", NeurIPS; Fig. 1B), as a peer of the connectome levels.

NCAP abstracts the worm's forward-locomotion circuit into a few units per body segment, the same in
every segment, with a handful of weights shared by all segments:

- a dorsal and a ventral **B unit** per segment (the B-type motor neurons DB, VB), each excited by the
  bending of the segment *ahead* of it on its own side (proprioception: Wen et al. 2012, Neuron), weight
  ``prop`` >= 0;
- a **head oscillator** that excites the first segment's dorsal and ventral B units in alternation
  (half a period each; NCAP's square wave), weight ``osc`` >= 0;
- **muscles** that take excitation from the B unit on their own side (``ipsi`` >= 0) and inhibition from
  the B unit on the other side (``contra`` <= 0; in the worm through the GABAergic DD/VD cells);
- every unit graded, clipped to [0, 1]. No recurrence: the rhythm comes from the oscillator (or the
  body's head oscillator) and travels down the body through the body itself.

Per step, for a B unit b of side s (+1 dorsal, -1 ventral) whose proprioceptive channel reads the
curvature k ahead of it (the interface's ``curvature[j]`` channel, rad/BL times 0.2 BL/rad, already
O(1); NCAP reads the joint angle over its limit):

    b = clip(prop * clip(s * k, 0, 1) + osc * o_s(t) [first B units only], 0, 1)

**Output stage.** NCAP's own muscle stage is ``muscle_d = clip(ipsi * B_d + contra * B_v, 0, 1)``. Here
the same two weights write the activity of the circuit's motor neurons instead, and the interface's
neuromuscular map (the one every circuit and the mlp baseline use) turns them into muscles:

    DB, VB:  a = clip(ipsi * b, 0, 1)                            (ipsilateral excitation)
    DD, VD:  a = clip(|contra| * b_partner, 0, 1)                 (contralateral inhibition)

where a DD cell's partner is the VB cell nearest its soma and a VD cell's the nearest DB cell (VB -> DD
and DB -> VD are the synapses that carry cross-inhibition in the worm: White et al. 1986; the
interface gives DD/VD their GABAergic sign on the muscles). Every other neuron (A-type, AS, command
cells) is silent: NCAP has no units for backward locomotion. Why this and not NCAP's own muscle stage:
the experiment's fairness rule is one output stage for all (the mlp writes motor neurons for the same
reason, see mlp.py), so every contestant reaches the same muscles the same way, the head joints no
ventral-cord neuron reaches included (they stay passive, moved only by the body's head oscillator).

**The oscillator and the body's head oscillator.** wormsim's bodies carry a head oscillator of their
own (``--head-cpg``, 2 Hz) that moves the head joints, whose bending the most anterior B cells read;
that is NCAP's head oscillator entering through proprioception, the same rhythm every circuit gets.
So ``oscillator_hz`` is 0 by default (no ``osc`` weight: 3 parameters). With ``oscillator_hz`` > 0 the
level carries NCAP's own oscillator (4 parameters, as in the paper), driving the B cells that read the
most anterior curvature channel any B cell reads; use it with ``--head-cpg 0`` to run NCAP as
published, and say so when setting it beside circuits that have no clock.

Parameters (per member): ``prop``, ``ipsi``, ``contra`` (and ``osc``), one value each, shared by every
segment; effective weights are ``|theta|`` with the sign fixed by the role (as every wormsim level
keeps Dale's law: ES may hand over any sign). They start at NCAP's constant initialisation: magnitude 1.
The state is the oscillator's clock ``t`` (control steps since reset, (batch,)). Differentiable in torch
(PPO works; the clips pass gradients inside their range). "activity" (recorded) is every neuron's
output, (batch, N) in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wormsim.realism_levels.base import Brain

B_CLASSES = {"DB": 1.0, "VB": -1.0}          # side: +1 dorsal, -1 ventral
# cross-inhibitor class -> the B class that drives it (VB -> DD inhibits dorsal muscle; DB -> VD ventral)
D_PARTNERS = {"DD": "VB", "VD": "DB"}


@dataclass(frozen=True)
class NCAPConfig:
    """oscillator_hz: frequency of NCAP's own head oscillator (square wave), Hz; 0 = none (the body's
    head oscillator, --head-cpg, plays its part through proprioception)."""
    oscillator_hz: float = 0.0

    def __post_init__(self):
        if not (np.isfinite(self.oscillator_hz) and self.oscillator_hz >= 0):
            raise ValueError(f"oscillator_hz must be >= 0 Hz (0: no oscillator), got {self.oscillator_hz}")


class NCAPBrain(Brain):
    """NCAP (Bhattasali et al. 2022) writing the B- and D-type motor neurons' activity (module docstring)."""

    name = "ncap"
    differentiable = True
    steps_in_torch = True
    uses_wiring = False          # connectome-free: positions and cell classes only, no synapse of the wiring
    outputs_muscles = False      # it writes motor neurons; the interface's neuromuscular map does the rest
    state_names = ("t",)
    param_groups = {"prop": "input", "osc": "input", "ipsi": "synapse", "contra": "synapse"}

    @classmethod
    def default_config(cls) -> NCAPConfig:
        return NCAPConfig()

    def _build(self) -> None:
        c, io = self.circuit, self.io
        cls = np.array(c.cell_class)
        curv = np.array([n.startswith("curvature[") for n in io.channel_names]) if io.channel_names else \
            np.zeros(io.n_inputs, bool)
        b_idx = np.flatnonzero(np.isin(cls, list(B_CLASSES)))
        if b_idx.size == 0:
            raise ValueError(f"the ncap level needs B-type motor neurons (DB, VB); circuit {c.dataset!r} "
                             "has none: use a dataset with the ventral cord (cook2019, openworm, ...)")
        # each B cell's proprioceptive channel: the curvature channel the interface routes to it (the
        # segment ahead, interface.py); -1 where it has none
        mask = np.asarray(io.input_mask, bool)
        chan = np.full(b_idx.size, -1, dtype=np.int64)
        for k, i in enumerate(b_idx):
            hits = np.flatnonzero(mask[:, i] & curv)
            if hits.size:
                chan[k] = hits[0]
        side = np.array([B_CLASSES[cl] for cl in cls[b_idx]])
        # the first B units (NCAP's oscillator targets): those reading the most anterior channel read
        first = np.zeros(b_idx.size, bool)
        if (chan >= 0).any():
            first = chan == chan[chan >= 0].min()
        else:
            first[np.argmin(c.position[b_idx])] = True
        # cross-inhibitors and the B cell each follows: the nearest soma of the driving class
        d_idx, d_src = [], []
        for d_cls, b_cls in D_PARTNERS.items():
            pool = np.flatnonzero(cls[b_idx] == b_cls)
            if pool.size == 0:
                continue
            for i in np.flatnonzero(cls == d_cls):
                d_idx.append(i)
                d_src.append(pool[np.argmin(np.abs(c.position[b_idx[pool]] - c.position[i]))])
        self.register_buffer("_b_idx", torch.as_tensor(b_idx), persistent=False)
        self.register_buffer("_b_chan", torch.as_tensor(np.maximum(chan, 0)), persistent=False)
        self.register_buffer("_b_has", torch.as_tensor(chan >= 0, dtype=torch.float32), persistent=False)
        self.register_buffer("_b_side", torch.as_tensor(side, dtype=torch.float32), persistent=False)
        self.register_buffer("_b_first", torch.as_tensor(first, dtype=torch.float32), persistent=False)
        self.register_buffer("_d_idx", torch.as_tensor(np.array(d_idx, dtype=np.int64)), persistent=False)
        self.register_buffer("_d_src", torch.as_tensor(np.array(d_src, dtype=np.int64)), persistent=False)
        # NCAP's constant initialisation: every excitatory weight 1, every inhibitory -1 (stored as |.|)
        self.add_param("prop", np.ones(1))
        if self.config.oscillator_hz > 0:
            self.add_param("osc", np.ones(1))
        self.add_param("ipsi", np.ones(1))
        self.add_param("contra", np.ones(1))
        self.t: torch.Tensor | None = None

    def reset(self, batch: int) -> None:
        self._episodes_per_member(batch)
        self.t = torch.zeros(batch, device=self.device)

    def _rows(self, p: torch.Tensor, e: int) -> torch.Tensor:
        """(P, 1) per-member magnitude -> (batch, 1), member p's value on its E rows."""
        return p.abs().repeat_interleave(e, dim=0)

    def oscillator(self, t: torch.Tensor) -> torch.Tensor:
        """(batch,) control steps -> (batch,) +1 in the dorsal half period, -1 in the ventral half."""
        phase = torch.remainder(t * (self.io.control_dt * self.config.oscillator_hz), 1.0)
        return torch.where(phase < 0.5, 1.0, -1.0)

    def _episodes(self, inputs: torch.Tensor) -> int:
        """Episodes per member of a step's batch, after checking the inputs' shape against reset's batch."""
        if self.t is None:
            raise RuntimeError("call reset(batch) before step()")
        batch = self.t.shape[0]
        if inputs.shape != (batch, self.io.n_inputs):
            raise ValueError(f"inputs must have shape ({batch}, {self.io.n_inputs}), got {tuple(inputs.shape)}")
        return batch // self.population

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (batch, C) -> activity (batch, N) in [0, 1]: B and D motor neurons, 0 elsewhere."""
        e = self._episodes(inputs)
        x = inputs.to(self.device, torch.float32)
        # proprioception from the segment ahead, on the unit's own side only
        sensed = (x[:, self._b_chan] * self._b_side).clamp(0.0, 1.0) * self._b_has      # (batch, nB)
        drive = self._rows(self.prop, e) * sensed
        if self.config.oscillator_hz > 0:
            o = self.oscillator(self.t)[:, None]                                           # (batch, 1)
            on_side = (o * self._b_side).clamp(min=0.0) * self._b_first                    # (batch, nB)
            drive = drive + self._rows(self.osc, e) * on_side
        b = drive.clamp(0.0, 1.0)
        out = x.new_zeros(x.shape[0], self.circuit.n)
        out = out.index_copy(1, self._b_idx, (self._rows(self.ipsi, e) * b).clamp(0.0, 1.0))
        if self._d_idx.numel():
            out = out.index_copy(1, self._d_idx,
                                 (self._rows(self.contra, e) * b[:, self._d_src]).clamp(0.0, 1.0))
        self.t = self.t + 1.0
        self._record(activity=out)
        return out


class NCAPDirectBrain(NCAPBrain):
    """NCAP with its own output stage, as published: per joint j a dorsal and a ventral B unit (joint j
    reads the curvature of joint j - 1, the segment ahead; joint 0 the oscillator alone) and muscles

        muscle_d[j] = clip(ipsi * B_d[j] - |contra| * B_v[j], 0, 1),   muscle_v[j] likewise mirrored,

    written directly (outputs_muscles), every joint included, the head joints no ventral-cord neuron
    reaches among them. A different output stage from every circuit's (as mlp-direct is from mlp's), so
    it stays outside the experiment's default comparisons; it is the reference for NCAP as published.

    The contralateral weight is not carried: a joint's two B units read the two signs of one bend (or
    the two halves of the oscillator), so they are never active together, and -|contra| * B is always
    clipped away at 0: in the swimming circuit as published it has no effect on any muscle (it acts
    once speed or turn inputs co-activate both sides). Parameters: prop, ipsi (and osc)."""

    name = "ncap-direct"
    outputs_muscles = True

    def _build(self) -> None:
        io = self.io
        names = list(io.channel_names)
        j = io.n_muscles // 2
        chan = [names.index(f"curvature[{k}]") if f"curvature[{k}]" in names else -1 for k in range(j)]
        if j < 1 or min(chan[:-1] or [0]) < 0:
            raise ValueError("the ncap-direct level needs a curvature channel per joint (a task with a body)")
        # B units of joint k read joint k - 1; joint 0 has none (the oscillator's joint)
        ahead = np.array([-1] + chan[:-1])
        self.register_buffer("_ahead", torch.as_tensor(np.maximum(ahead, 0)), persistent=False)
        self.register_buffer("_has", torch.as_tensor(ahead >= 0, dtype=torch.float32), persistent=False)
        first = np.zeros(j, np.float32)
        first[0] = 1.0
        self.register_buffer("_first", torch.as_tensor(first), persistent=False)
        self.add_param("prop", np.ones(1))
        if self.config.oscillator_hz > 0:
            self.add_param("osc", np.ones(1))
        self.add_param("ipsi", np.ones(1))
        self.t: torch.Tensor | None = None
        self.b: torch.Tensor | None = None

    def readout_features(self, output: torch.Tensor) -> torch.Tensor:
        """The B units (batch, 2J): dorsal, then ventral."""
        return self.b

    def step(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: (batch, C) -> muscles (batch, 2J) in [0, 1], dorsal head to tail then ventral."""
        e = self._episodes(inputs)
        k = inputs.to(self.device, torch.float32)[:, self._ahead] * self._has               # (batch, J)
        prop = self._rows(self.prop, e)
        bd, bv = prop * k.clamp(0.0, 1.0), prop * (-k).clamp(0.0, 1.0)
        if self.config.oscillator_hz > 0:
            o = self.oscillator(self.t)[:, None]
            osc = self._rows(self.osc, e) * self._first
            bd, bv = bd + osc * (o > 0), bv + osc * (o < 0)
        bd, bv = bd.clamp(0.0, 1.0), bv.clamp(0.0, 1.0)
        ipsi = self._rows(self.ipsi, e)
        # ipsilateral excitation; the contralateral term -|contra| * B_other is clipped away (docstring)
        muscles = torch.cat([(ipsi * bd).clamp(0.0, 1.0), (ipsi * bv).clamp(0.0, 1.0)], dim=1)
        self.b = torch.cat([bd, bv], dim=1)
        self.t = self.t + 1.0
        self._record(activity=self.b)
        return muscles
