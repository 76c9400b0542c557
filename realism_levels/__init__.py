"""Realism levels: one module per level, a registry from name to class.

    from wormsim.realism_levels import get_level, LEVELS
    Brain = get_level("rate")

A new level is one new module (a subclass of `Brain`, see base.py) and one line in LEVELS. Classes are
imported on first use, so that importing wormsim does not import Brian2 or snnTorch.
"""
from __future__ import annotations

import importlib

from wormsim.realism_levels.base import Brain, IOSpec, edge_groups

# name -> "module:Class", most to least biophysical
LEVELS: dict[str, str] = {
    "conductance": "wormsim.realism_levels.conductance:ConductanceBrain",
    "spiking": "wormsim.realism_levels.spiking:SpikingBrain",
    "rate": "wormsim.realism_levels.rate:RateBrain",
    "mlp": "wormsim.realism_levels.mlp:MLPBrain",
    # reservoir mode (`--train readout`): the level's circuit fixed at connectome-derived values, only a
    # linear readout onto the muscles trained; not levels of their own, so the CLI hides them
    "readout-rate": "wormsim.reservoir:ReadoutRateBrain",
    "readout-spiking": "wormsim.reservoir:ReadoutSpikingBrain",
    "readout-mlp": "wormsim.reservoir:ReadoutMLPBrain",
}
REALISM_LEVELS = tuple(k for k in LEVELS if not k.startswith("readout-"))


def get_level(name: str) -> type[Brain]:
    """The Brain class of a realism level by name."""
    if name not in LEVELS:
        raise ValueError(f"unknown level {name!r}; choose from {', '.join(sorted(REALISM_LEVELS))}")
    module, cls = LEVELS[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["Brain", "IOSpec", "LEVELS", "REALISM_LEVELS", "edge_groups", "get_level"]
