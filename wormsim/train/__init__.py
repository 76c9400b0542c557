"""Trainers: evolution strategies for every level; PPO for the differentiable ones; BPTT for those on the non-motor tasks."""
from __future__ import annotations

from contextlib import contextmanager


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
