"""The one sensor/motor interface every realism level shares: body observation -> input channels ->
neurons, and neuron activity -> muscle activations.

    interface = Interface(circuit, layout)           # layout: envs.layout.ObsLayout of the task
    brain = get_level("rate")(circuit, interface.io_spec())
    agent = Agent(brain, interface)
    agent.reset(batch=1)
    action = agent.act(obs)                          # obs (1, obs_dim) -> action (1, n_muscles)

Input channels (C = J + 2 + n_task, J = n_segments - 1 joints, in this order):

- ``curvature[j]`` for every joint j, head to tail: body curvature at the joint,
  ``angle_j * n_segments`` (rad per body length, positive = bent toward the dorsal side), times
  ``proprio_scale`` (default 0.2 BL/rad) so that it is O(1): swimming worms bend with curvature
  amplitudes of a few rad per body length (the curvature kymographs of Fang-Yen et al. 2010, PNAS).
  It reaches the B-type (DB, VB) and A-type (DA, VA) motor neurons as stretch-receptor feedback:
  B-type neurons sense the bending of the body *anterior* to them (Wen et al. 2012, Neuron), so a
  B neuron reads the joint one segment ahead of its soma; A-type neurons carry the mirror-image
  coupling for backward locomotion (Xu et al. 2018, PNAS), reading the joint one segment behind.
  (Rule: the joint nearest to ``position -/+ 1/n_segments``, clamped to the body.) The starting gain
  has the sign of the side for the B-type cells: a dorsal bend excites DB and inhibits VB, the sign
  that propagates a bend along the body (``IOSpec.input_init``); the A-type cells' gains start at 0
  (their coupling is shown for backward locomotion, Xu et al. 2018); training may change either. AS, DD and VD are left out: no proprioceptive role has been
  shown for them (AS take their input from the command interneurons; DD/VD are GABAergic
  followers of the A/B cells). PDA and PDB (single preanal cells) are left out for the same reason; pass
  ``proprio_classes`` to change the rule.
- opt-in, off by default (``own_stretch``): the B-type cells (DB, VB) also read the joint their own
  neuromuscular junctions bend most (a second entry on the mask, the joint of their NMJ-weighted centre),
  as stretch receptors of their own side: a dorsal bend compresses the dorsal side and stretches the
  ventral one, so the gain starts at -1 into DB and +1 into VB (negative feedback on the cell's own bend).
  Boyle, Berri & Cohen 2012 (Front. Comput. Neurosci. 6:10) give each B-class neuron a stretch-receptive
  field over the body its processes run along (posterior of the soma, where its NMJs are); with bistable
  B cells (the rate level's ``bistable_gain``) that loop is a relaxation oscillator whose period grows
  with the load. The anterior entry (Wen et al. 2012) stays as it is.
- opt-in, default 1 (``anterior_reach``): how many segments ahead of its soma a B cell's anterior entry
  reads. The B cells' proprioceptive field lies anterior to the soma, along their long anterior
  processes (Wen et al. 2012); how far it reaches is not pinned down here. A bend sensed d ahead of the
  NMJs it drives, with a loop delay tau, travels tailward at about d / tau, so at a given frequency f the
  wavelength d / (tau f) grows with the reach (docs/body/self-rhythm.md section 6).
- opt-in, default 1 (``anterior_field``): how many segments of the body ahead of the soma a B cell's
  anterior field spans: its entry at ``anterior_reach`` as always, plus one entry for each of the next
  ``anterior_field - 1`` segments further ahead, each a learnable gain that starts at 0 (so the starting
  circuit is the default one, and training decides how far the field reaches). Wen et al. 2012 (Neuron
  76:750, Fig. 3D-E) found that the bending of a posterior region needs the active bending of an
  anterior region extending about 200 um, about 0.2 of the young adult's length, 2-3 of the body's 12
  segments; the default field reads one segment (83 um).
- opt-in, default 1 (``stretch_field``; needs ``own_stretch``): how many joints the B cells' own-side
  stretch field spans, from the joint their NMJs bend most tailward. Boyle, Berri & Cohen 2012 give each
  B-class unit a stretch-receptive field posterior of it, about half the body long (units i to i+5 of 12,
  the authors' public model code), along the processes the B cells run posteriorly (White et al. 1986);
  the field's length sets their model's wavelength. The own-stretch gain is spread evenly over the field
  (each of its k entries starts at -1/k into DB, +1/k into VB), so a uniform bend still drives the
  starting circuit as with one entry; the default reads one joint, as always.
- opt-in, off by default (``head_stretch``; needs the circuit with the head's steering circuit,
  ``motor+head``): the SMD head motor neurons read the head joints (those no ventral cord motor neuron
  reaches: the first two of a 12-segment body) as stretch receptors of their own side, one entry per
  joint, the gain starting at -1/k into SMDD and +1/k into SMDV over the k head joints (the own-stretch
  sign: a ventral bend stretches the dorsal side and excites SMDD). Yeon et al. 2018 (PLoS Biol.
  16:e2004929) found that SMDD senses the stretch of the head muscles through the TRPC channels TRP-1 and
  TRP-2 and orchestrates the dorsal head muscles' contractions; SMDV is given the mirror entry by symmetry.
  Without it nothing couples the head motor neurons to the body's wave (docs/body/self-rhythm.md
  section 9).
- ``drive_forward``: a constant (``drive[0]``), reaching AVB and PVC (the forward command
  interneurons; Chalfie et al. 1985).
- ``drive_backward``: a constant (``drive[1]``), reaching AVA, AVD and AVE (backward command).
- ``task:<name>`` for every ``layout.task_names`` input (raw value): reaches every command
  interneuron (role "command"), the only neurons of the default circuit that receive sensory input in
  the worm (through the head interneurons it lacks). On the circuit with the head's steering circuit
  (``load_circuit(circuit="motor+head")``) it also reaches AIY and AIB (``SENSORY_CLASSES``), the
  interneurons that receive most synapses of the amphid chemosensory neurons AWC and ASE (White et al.
  1986; Cook et al. 2019), where an attractant enters the worm's klinotaxis and klinokinesis pathways
  (Chalasani et al. 2007, Nature; Iino & Yoshida 2009, J. Neurosci.).

Each True entry of ``input_mask`` is a learnable signed gain inside the brain.

Motor mapping (N neurons -> M = 2J muscles, dorsal joints head to tail, then ventral, the order of
the layout's action): ``circuit.segment_map(n_segments)`` gives NMJ counts n[i, side, j]. For each
muscle k,

    exc_k = sum_{i cholinergic} n_ik a_i / sum_{i cholinergic} n_ik      (0 where that sum is 0)
    inh_k = sum_{i GABAergic}   n_ik a_i / sum_{i GABAergic}   n_ik      (DD, VD: sign -1)
    muscle_k = sigmoid(motor_gain * (exc_k - inh_k) - motor_offset)

so both terms are NMJ-weighted means of activity in [0, 1], the drive lies in [-1, 1], and the
normalisation makes every muscle's range the same whatever its synapse count (a wiring null model
changes no NMJ, so the map is the same across wirings). Defaults motor_gain = 4, motor_offset = 0:
the drive range [-1, 1] maps onto [0.018, 0.982], never saturated, and a quiet or balanced circuit
(exc = inh) gives 0.5 on both sides of a joint, i.e. no net bending. A muscle no motor neuron reaches
(the first two joints of a 12-segment body lie in the head, whose motor neurons are out of scope)
sits at 0.5 on both sides: passive. With the head's steering circuit the head motor neurons (SMD, RMD,
SMB, RIV; RME inhibitory) reach those head joints through the dataset's neuromuscular synapses, and the
body's head oscillator adds its sweep around the midline they set. Everything is a torch op, differentiable w.r.t. activity.

For brains with ``outputs_muscles`` (mlp-direct, readout-LEVEL) the Agent takes the brain's output as the
muscle activations and never calls ``motor``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from wormsim.circuit import Circuit
from wormsim.envs.layout import ObsLayout
from wormsim.realism_levels.base import Brain, IOSpec

PROPRIO_CLASSES: tuple[str, ...] = ("DA", "DB", "VA", "VB")
ANTERIOR_SENSING: tuple[str, ...] = ("DB", "VB")      # Wen et al. 2012
POSTERIOR_SENSING: tuple[str, ...] = ("DA", "VA")     # Xu et al. 2018
VENTRAL_PROPRIO: tuple[str, ...] = ("VA", "VB")
HEAD_STRETCH_CLASSES: tuple[str, ...] = ("SMD",)     # Yeon et al. 2018: SMDD senses head-muscle stretch
FORWARD_CLASSES: tuple[str, ...] = ("AVB", "PVC")
BACKWARD_CLASSES: tuple[str, ...] = ("AVA", "AVD", "AVE")
# head interneurons the task inputs reach besides the command interneurons (only on a circuit that has them)
SENSORY_CLASSES: tuple[str, ...] = ("AIY", "AIB")
# A swimming worm bends a few rad/BL (Fang-Yen et al. 2010, PNAS): 0.2 BL/rad brings that to O(1).
PROPRIO_SCALE = 0.2
MOTOR_GAIN = 4.0
MOTOR_OFFSET = 0.0


def _whole_segments(name: str, value) -> int:
    """``value`` as a whole number of segments >= 1, or a ValueError naming ``name``."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a whole number of segments >= 1, got {value!r}")
    return int(value)


class Interface:
    """Sensors -> input channels -> neurons, and neuron activity -> muscles (see the module docstring).

    circuit: any wiring of the motor circuit. layout: the task's observation/action layout.
    control_dt: seconds per environment step (one brain step). drive: (forward, backward) constant
    values of the two drive channels.
    """

    def __init__(self, circuit: Circuit, layout: ObsLayout, control_dt: float = 0.02,
                 drive: tuple[float, float] = (1.0, 0.0),
                 proprio_classes: Sequence[str] = PROPRIO_CLASSES, proprio_scale: float = PROPRIO_SCALE,
                 motor_gain: float = MOTOR_GAIN, motor_offset: float = MOTOR_OFFSET,
                 own_stretch: bool = False, anterior_reach: int = 1, anterior_field: int = 1,
                 stretch_field: int = 1, head_stretch: bool = False):
        if control_dt <= 0:
            raise ValueError(f"control_dt must be > 0 s, got {control_dt}")
        if len(drive) != 2:
            raise ValueError(f"drive must be (forward, backward), got {drive!r}")
        self.circuit = circuit
        self.layout = layout
        self.control_dt = float(control_dt)
        self.drive = (float(drive[0]), float(drive[1]))
        self.proprio_classes = tuple(proprio_classes)
        self.proprio_scale = float(proprio_scale)
        self.motor_gain = float(motor_gain)
        self.motor_offset = float(motor_offset)
        self.n_joints = layout.n_joints
        self.n_muscles = layout.n_muscles
        self.own_stretch = bool(own_stretch)
        self.anterior_reach = _whole_segments("anterior_reach", anterior_reach)
        self.anterior_field = _whole_segments("anterior_field", anterior_field)
        self.stretch_field = _whole_segments("stretch_field", stretch_field)
        if self.stretch_field > 1 and not self.own_stretch:
            raise ValueError(f"stretch_field {self.stretch_field} spreads the own-segment stretch entry of the "
                             "B cells; switch it on with own_stretch (--own-stretch)")

        self.head_stretch = bool(head_stretch)
        if self.head_stretch and not len(circuit.indices(classes=HEAD_STRETCH_CLASSES)):
            raise ValueError("head_stretch gives the SMD head motor neurons a stretch entry, and this circuit "
                             "has none: use the circuit with the head's steering circuit (--circuit motor+head)")

        self.proprio_joint = self._proprio_joints()
        self.field_joints = self._field_joints()
        self.own_joint = self._own_joints() if self.own_stretch else np.full(circuit.n, -1, np.int64)
        self.stretch_joints = self._stretch_joints()
        self.head_joints = self._head_joints() if self.head_stretch else np.zeros(0, np.int64)
        self.input_mask, self.channel_names = self._input_mask()
        self.motor_weights = self._motor_weights()         # (N, M), signed, normalised
        self._motor_cache: dict[torch.device, torch.Tensor] = {}

    # ---- construction -----------------------------------------------------------------------------
    def _proprio_joints(self) -> np.ndarray:
        """(N,) joint index whose curvature reaches each neuron, -1 for neurons without proprioception.
        B-type cells read ``anterior_reach`` segments (default one) anterior to the soma, A-type cells one
        segment posterior."""
        cls = np.array(self.circuit.cell_class)
        shift = np.where(np.isin(cls, ANTERIOR_SENSING), -float(self.anterior_reach),
                         np.where(np.isin(cls, POSTERIOR_SENSING), 1.0, 0.0))
        nearest = self._joint_at(shift)
        out = np.full(self.circuit.n, -1, dtype=np.int64)
        idx = self.circuit.indices(classes=self.proprio_classes)
        out[idx] = nearest[idx]
        return out

    def _field_joints(self) -> np.ndarray:
        """(N, anterior_field - 1) the joints of each B cell's anterior field beyond its first entry
        (``anterior_reach + k`` segments ahead, k = 1 ..), -1 for other cells and where that joint is one
        the cell reads already (near the head the field is clamped to the body)."""
        extra = self.anterior_field - 1
        ahead = [self._joint_at(-float(self.anterior_reach + 1 + k)) for k in range(extra)]   # (N,) each
        return self._new_joints(ahead, [self.proprio_joint])

    def _joint_at(self, shift) -> np.ndarray:
        """(N,) the joint nearest to each soma moved by ``shift`` segments (negative: toward the head),
        clamped to the body."""
        where = np.clip(self.circuit.position + np.asarray(shift, float) / self.layout.n_segments, 0.0, 1.0)
        return np.abs(where[:, None] - self.layout.joint_positions[None, :]).argmin(axis=1)

    def _nmj_centres(self) -> np.ndarray:
        """(N,) the joint each B-type cell's NMJs bend most (NMJ-weighted centre over the joints), -1 for
        other cells and for B cells that reach no muscle."""
        per_joint = self.circuit.segment_map(self.layout.n_segments).sum(axis=1)     # (N, J)
        out = np.full(self.circuit.n, -1, dtype=np.int64)
        for i in self.circuit.indices(classes=ANTERIOR_SENSING):
            total = per_joint[i].sum()
            if total > 0:
                out[i] = int(np.rint((per_joint[i] * np.arange(self.n_joints)).sum() / total))
        return out

    def _own_joints(self) -> np.ndarray:
        """(N,) each B-type cell's NMJ centre (``_nmj_centres``), -1 for other cells, for B cells that reach
        no muscle and for those whose centre is the joint they read anyway."""
        out = self._nmj_centres()
        out[out == self.proprio_joint] = -1
        return out

    def _stretch_joints(self) -> np.ndarray:
        """(N, stretch_field - 1) the joints of each B cell's own-side stretch field beyond its NMJ centre
        (1, 2, .. joints tailward of it), -1 for other cells and where that joint is one the cell reads
        already (near the tail the field is clamped to the body)."""
        centres = self._nmj_centres()
        behind = [np.where(centres >= 0, np.minimum(centres + 1 + k, self.n_joints - 1), -1)
                  for k in range(self.stretch_field - 1)]                                  # (N,) each
        return self._new_joints(behind, [self.proprio_joint, self.own_joint, *self.field_joints.T])

    def _head_joints(self) -> np.ndarray:
        """The head joints: those that no ventral cord motor neuron (role "motor", not a head cell) bends,
        head to tail. The SMD cells read them with ``head_stretch``."""
        from wormsim.connectome import HEAD_MOTOR_NEURONS
        cord = [i for i in self.circuit.indices(role="motor") if self.circuit.names[i] not in HEAD_MOTOR_NEURONS]
        reached = self.circuit.segment_map(self.layout.n_segments)[cord].sum(axis=(0, 1)) > 0      # (J,)
        head = np.flatnonzero(~reached)
        head = head[head < (np.flatnonzero(reached)[0] if reached.any() else self.n_joints)]      # the head end only
        if not len(head):
            raise ValueError("head_stretch: every joint of this body is bent by the ventral cord motor neurons, "
                             "so there is no head joint for the SMD cells to read; use more --n-segments")
        return head

    def _head_cells(self) -> tuple[np.ndarray, np.ndarray]:
        """(cells, signs) of the SMD cells and their own-side sign: -1 into SMDD, +1 into SMDV."""
        from wormsim.connectome import head_side
        cells = self.circuit.indices(classes=HEAD_STRETCH_CLASSES)
        signs = np.array([1.0 if head_side(self.circuit.names[i]) == 1 else -1.0 for i in cells])
        return cells, signs

    def _new_joints(self, candidates: list, read: list) -> np.ndarray:
        """(N, len(candidates)) for each B cell with a proprioceptive entry, its candidate joints in order
        (each an (N,) array, -1: none), -1 where a joint is one the cell reads already (``read``: (N,)
        arrays) or an earlier candidate; -1 for every other cell."""
        out = np.full((self.circuit.n, len(candidates)), -1, dtype=np.int64)
        for i in self.circuit.indices(classes=ANTERIOR_SENSING):
            if self.proprio_joint[i] < 0:
                continue
            seen = {int(r[i]) for r in read}
            for k, cand in enumerate(candidates):
                j = int(cand[i])
                if j >= 0 and j not in seen:
                    out[i, k] = j
                    seen.add(j)
        return out

    def _input_init(self) -> np.ndarray:
        """(C, N) starting gains: +1 everywhere on the mask except proprioception into the ventral
        B cells (VB), -1: a dorsal bend excites the dorsal side and inhibits the ventral side; and 0 for
        proprioception into the A-type cells (DA, VA). Their stretch-receptor coupling is shown for
        backward locomotion (Xu et al. 2018, PNAS), not for forward: a circuit starts without it and
        training may recruit it (the entries stay on the mask)."""
        init = self.input_mask.astype(float)
        cls = np.array(self.circuit.cell_class)
        init[: self.n_joints, np.isin(cls, VENTRAL_PROPRIO)] *= -1.0
        init[: self.n_joints, np.isin(cls, POSTERIOR_SENSING)] = 0.0
        own = np.flatnonzero(self.own_joint >= 0)
        # own-segment stretch: a dorsal bend inhibits DB and excites VB (the opposite of the anterior sign)
        init[self.own_joint[own], own] *= -1.0
        # the own-side stretch field: the own entry's sign, spread evenly over the field's entries
        for i in np.flatnonzero((self.stretch_joints >= 0).any(axis=1)):
            sign = -1.0 if self.circuit.cell_class[i] not in VENTRAL_PROPRIO else 1.0
            joints = [int(j) for j in self.stretch_joints[i] if j >= 0]
            joints += [int(self.own_joint[i])] if self.own_joint[i] >= 0 else []
            init[joints, i] = sign / len(joints)
        # the anterior field beyond its first entry starts silent: the starting circuit is the default one
        rows, cols = np.nonzero(self.field_joints >= 0)
        fj = self.field_joints[rows, cols]
        new = fj != self.own_joint[rows]
        init[fj[new], rows[new]] = 0.0
        # the SMD cells' head stretch: the own-stretch sign, spread evenly over the head joints
        if self.head_stretch:
            cells, signs = self._head_cells()
            init[np.ix_(self.head_joints, cells)] = signs[None, :] / len(self.head_joints)
        return init

    def _input_mask(self) -> tuple[np.ndarray, tuple[str, ...]]:
        c, j = self.circuit, self.n_joints
        names = [f"curvature[{k}]" for k in range(j)] + ["drive_forward", "drive_backward"]
        names += [f"task:{t}" for t in self.layout.task_names]
        mask = np.zeros((len(names), c.n), dtype=bool)
        has = self.proprio_joint >= 0
        mask[self.proprio_joint[has], np.flatnonzero(has)] = True
        own = self.own_joint >= 0
        mask[self.own_joint[own], np.flatnonzero(own)] = True
        rows, cols = np.nonzero(self.field_joints >= 0)
        mask[self.field_joints[rows, cols], rows] = True
        rows, cols = np.nonzero(self.stretch_joints >= 0)
        mask[self.stretch_joints[rows, cols], rows] = True
        if self.head_stretch:
            mask[np.ix_(self.head_joints, self._head_cells()[0])] = True
        mask[j, c.indices(classes=FORWARD_CLASSES)] = True
        mask[j + 1, c.indices(classes=BACKWARD_CLASSES)] = True
        mask[j + 2:, c.indices(role="command")] = True
        mask[j + 2:, c.indices(classes=SENSORY_CLASSES)] = True
        return mask, tuple(names)

    def _motor_weights(self) -> np.ndarray:
        nmj = self.circuit.segment_map(self.layout.n_segments).reshape(self.circuit.n, -1)  # (N, 2J)
        exc = self.circuit.sign > 0
        w = np.zeros_like(nmj)
        for rows, sgn in ((exc, 1.0), (~exc, -1.0)):
            total = nmj[rows].sum(axis=0)
            # A muscle without synapses of this kind gets no term (avoid 0/0), not a NaN.
            w[rows] = sgn * nmj[rows] / np.where(total > 0, total, 1.0)
        return w

    # ---- the contract the brain sees --------------------------------------------------------------
    def io_spec(self) -> IOSpec:
        return IOSpec(input_mask=self.input_mask.copy(), n_muscles=self.n_muscles,
                      control_dt=self.control_dt, channel_names=self.channel_names,
                      input_init=self._input_init())

    @property
    def n_inputs(self) -> int:
        return len(self.channel_names)

    def sense(self, obs, device: str | torch.device = "cpu") -> torch.Tensor:
        """obs: (batch, obs_dim) numpy or torch -> input channels (batch, C) float32 on ``device``."""
        obs = torch.as_tensor(obs, dtype=torch.float32, device=device)
        if obs.dim() != 2 or obs.shape[1] != self.layout.obs_dim:
            raise ValueError(f"obs must have shape (batch, {self.layout.obs_dim}), got {tuple(obs.shape)}")
        lay = self.layout
        curvature = obs[:, lay.angles] * (lay.n_segments * self.proprio_scale)
        drive = torch.tensor(self.drive, dtype=torch.float32, device=obs.device).expand(obs.shape[0], 2)
        return torch.cat([curvature, drive, obs[:, lay.task]], dim=1)

    def motor(self, activity: torch.Tensor) -> torch.Tensor:
        """activity: (batch, N) in [0, 1] -> muscles (batch, n_muscles) in (0, 1), dorsal then ventral."""
        if activity.dim() != 2 or activity.shape[1] != self.circuit.n:
            raise ValueError(f"activity must have shape (batch, {self.circuit.n}), "
                             f"got {tuple(activity.shape)}")
        w = self._motor_cache.get(activity.device)
        if w is None:
            w = torch.as_tensor(self.motor_weights, dtype=torch.float32, device=activity.device)
            self._motor_cache[activity.device] = w
        return torch.sigmoid(self.motor_gain * (activity @ w) - self.motor_offset)

    def describe(self) -> dict[str, list[str]]:
        """Channel name -> names of the neurons it reaches (for docs and plots)."""
        return {ch: [self.circuit.names[i] for i in np.flatnonzero(row)]
                for ch, row in zip(self.channel_names, self.input_mask)}


class Agent:
    """A brain behind the interface: observations in, muscle activations out.

    reset(batch) starts ``batch`` episodes (a multiple of the brain's population). act() runs without
    a graph and returns numpy; act_torch() keeps the graph for BPTT or PPO.
    """

    def __init__(self, brain: Brain, interface: Interface):
        if brain.io.input_mask.shape != interface.input_mask.shape:
            raise ValueError("brain and interface disagree on the input channels: build the brain from "
                             "interface.io_spec()")
        if brain.io.n_muscles != interface.n_muscles:
            raise ValueError(f"brain expects {brain.io.n_muscles} muscles, interface {interface.n_muscles}")
        self.brain = brain
        self.interface = interface

    def reset(self, batch: int = 1) -> None:
        self.brain.reset(batch)

    def act_torch(self, obs) -> torch.Tensor:
        """obs: (batch, obs_dim) -> muscles (batch, n_muscles) in [0, 1], a torch tensor with graph."""
        u = self.interface.sense(obs, device=self.brain.device)
        out = self.brain.step(u)
        return out if self.brain.outputs_muscles else self.interface.motor(out)

    def act(self, obs) -> np.ndarray:
        """obs: (batch, obs_dim) numpy -> muscles (batch, n_muscles) float32 numpy in [0, 1]."""
        with torch.no_grad():
            return self.act_torch(obs).cpu().numpy().astype(np.float32)
