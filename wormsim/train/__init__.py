"""Trainers: one module each (es, ppo, bptt; the ridge readout in wormsim/reservoir.py), declared in the
trainer registry (wormsim/trainers.py, re-exported here), which says which levels and tasks each takes."""
from __future__ import annotations

from contextlib import contextmanager

from wormsim.trainers import (TRAINERS, TrainerSpec, algo_names, get_trainer, register_trainer,  # noqa: F401
                              trainer_for)


@contextmanager
def torch_threads(n: int | None):
    """torch's CPU threads set to ``n`` inside the block (None: left as it is), restored after it."""
    import torch
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
