"""Training a student: full-batch backpropagation through time (Adam) on the teacher's inputs, teacher
forcing on the inputs and a free-running state.

Loss (gradient norm clipped to 1)::

    loss = mean ((a_student - target) / s_a)^2 + muscle_weight * mean ((motor(a_student) - m_target) / s_m)^2

with s the target's per-unit std after the warm-up (floor MIN_STD; normalize=False: s = 1), so that the loss
is what R^2 scores. A level that outputs muscles (no neurons of the worm) is trained on the muscles only. With
data_init the student starts where the level's ``init_from_activity`` puts it (the rate level: its bias and
state at the fixed point of the target's mean activity, which a saturated teacher otherwise leaves out of
reach of a zero bias); a level without such a rule keeps its own start.
"""
from __future__ import annotations

import numpy as np
import torch

from wormsim.distill.config import MIN_STD
from wormsim.distill.record import Setup

# time series (T, B, ...) in a data dict; every other entry is per sequence (B, ...)
SERIES = ("u", "activity", "muscles", "trial_activity", "trial_muscles", "activity2", "muscles2",
          "curvature", "bend_rate", "head_velocity")


def data_start(setup: Setup, data: dict) -> dict | None:
    """The student's data-driven start (the level's init_from_activity rule, which may move its biases):
    at rest at the target's mean activity under the mean input, starting where the teacher is after its
    first step (the teacher's own initial state is unknown). The state (batch 1), or None when the level
    has no such rule or no state."""
    brain = setup.brain
    n, c = data["activity"].shape[-1], data["u"].shape[-1]
    state = brain.init_from_activity(torch.as_tensor(data["activity"].reshape(-1, n).mean(0)),
                                     torch.as_tensor(data["u"].reshape(-1, c).mean(0)),
                                     torch.as_tensor(data["activity"][0].mean(0)))
    return state if state is not None and type(brain).capabilities()["has_state"] else None


def _scale(x: np.ndarray, floor: float) -> torch.Tensor:
    """Per-unit normaliser max(std, floor) of (T, B, K) data, (K,)."""
    return torch.as_tensor(np.maximum(x.reshape(-1, x.shape[-1]).std(0), floor), dtype=torch.float32)


def train_student(setup: Setup, data: dict, epochs: int, lr: float, muscle_weight: float,
                  seed: int, normalize: bool = True, data_init: bool = True,
                  warmup_steps: int = 0) -> list[float]:
    """Full-batch BPTT (Adam) of the student on data["u"] -> data["activity"], data["muscles"]
    (T, B, .), the steps before ``warmup_steps`` left out of the loss. normalize: each unit's error
    in units of the target's std (floor MIN_STD), so that the loss is what R^2 scores. data_init:
    the start from the target's mean activity (data_start), kept in setup.state; without it the
    student's parameters and setup.state are left as they are (fine-tuning).
    Returns the loss per epoch."""
    brain, iface = setup.brain, setup.interface
    purpose = "a distillation student (trained by backpropagation through time)"
    type(brain).require("differentiable", purpose)
    type(brain).require("steps_in_torch", purpose)
    w = int(warmup_steps)
    if data["u"].shape[0] <= w:
        raise ValueError(f"the warm-up ({w} steps) leaves nothing of {data['u'].shape[0]}-step sequences "
                         "to learn from")
    torch.manual_seed(seed)
    if data_init:
        setup.state = data_start(setup, data)
    u = torch.as_tensor(data["u"])
    a_t, m_t = torch.as_tensor(data["activity"][w:]), torch.as_tensor(data["muscles"][w:])
    sa = _scale(data["activity"][w:], MIN_STD) if normalize else torch.ones(a_t.shape[-1])
    sm = _scale(data["muscles"][w:], MIN_STD) if normalize else torch.ones(m_t.shape[-1])
    t, b, _ = u.shape
    opt = torch.optim.Adam([p for p in brain.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(epochs):
        setup.start(b)
        outs = brain.run_open_loop(u, record=False)["output"][w:]
        mus = outs if brain.outputs_muscles else iface.motor(outs.reshape(-1, outs.shape[-1])).reshape(t - w, b, -1)
        if brain.uses_wiring:      # the worm's neurons: their activity and the muscles
            loss = (((outs - a_t) / sa) ** 2).mean() + muscle_weight * (((mus - m_t) / sm) ** 2).mean()
        else:                      # no neurons of the worm (a connectome-free baseline): the muscles only
            loss = (((mus - m_t) / sm) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(brain.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def subset(data: dict, k: int) -> dict:
    """The first k sequences of a data dict."""
    return {key: (v[:, :k] if key in SERIES else v[:k]) for key, v in data.items()}
