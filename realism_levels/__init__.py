"""Realism levels: one module per level, a registry from name to class.

    from wormsim.realism_levels import get_level, level_names
    Brain = get_level("rate")
    Brain.capabilities()       # {"differentiable": True, "steps_in_torch": True, "uses_wiring": True, ...}

A new level is one module (a subclass of `Brain`, see base.py, declaring its capabilities) and one
``register_level`` call (here for the shipped levels, or in the user's own code). Nothing outside
this package branches on a level's name: trainers, the reservoir, distillation, plots and the
experiment ask the class what it can do. Classes are imported on first use, so that importing wormsim
does not import Brian2 or snnTorch.

``readout-LEVEL`` names a derived level: LEVEL's circuit fixed as a reservoir, only a linear readout
onto the muscles trained (``--train readout`` on a body task; realism_levels/readout.py). It exists for
every registered level that steps in torch and is not listed among the realism levels.
"""
from __future__ import annotations

import importlib

from wormsim.realism_levels.base import Brain, CapabilityError, IOSpec, edge_groups

# name -> "module:Class" or the class itself, most to least biophysical
LEVELS: dict[str, str | type[Brain]] = {
    "conductance": "wormsim.realism_levels.conductance:ConductanceBrain",
    "spiking": "wormsim.realism_levels.spiking:SpikingBrain",
    "rate": "wormsim.realism_levels.rate:RateBrain",
    "mlp": "wormsim.realism_levels.mlp:MLPBrain",
    # the mlp writing the muscles directly, not through the neuromuscular map: a different output stage
    "mlp-direct": "wormsim.realism_levels.mlp:MLPDirectBrain",
    # the hand-abstracted swimming circuit of Bhattasali, Zador & Engel 2022 (no connectome)
    "ncap": "wormsim.realism_levels.ncap:NCAPBrain",
    # NCAP with its own muscle stage, as published: a different output stage, outside the default comparisons
    "ncap-direct": "wormsim.realism_levels.ncap:NCAPDirectBrain",
    # the conductance level's ladder of detail (conductance.LADDER): one mechanism less or more than
    # "conductance" per rung, outside the default comparisons
    "conductance-passive": "wormsim.realism_levels.conductance:PassiveConductanceBrain",
    "conductance-ca-inactivation": "wormsim.realism_levels.conductance:CaInactivationConductanceBrain",
    "conductance-synaptic-kinetics": "wormsim.realism_levels.conductance:SynapticKineticsConductanceBrain",
}
# derived levels "PREFIX-LEVEL": prefix -> "module:function" that returns the class for LEVEL
DERIVED: dict[str, str] = {"readout": "wormsim.realism_levels.readout:readout_class"}


def level_names() -> list[str]:
    """The registered realism levels, in registry order (derived levels such as readout-rate not listed)."""
    return list(LEVELS)


def register_level(name: str, cls: str | type[Brain], *, replace: bool = False) -> None:
    """Add a realism level: ``cls`` a Brain subclass or its "module:Class" path. An existing name is
    an error unless ``replace``."""
    if not replace and name in LEVELS:
        raise ValueError(f"level {name!r} is registered already (replace=True to replace it)")
    if "-" in name and name.split("-", 1)[0] in DERIVED:
        raise ValueError(f"level names starting with {name.split('-', 1)[0]}- are derived levels")
    LEVELS[name] = cls
    ADDED[name] = cls
    _CLASSES.pop(name, None)


def unregister_level(name: str) -> None:
    LEVELS.pop(name, None)
    ADDED.pop(name, None)
    _CLASSES.pop(name, None)


# the levels registered at run time (not shipped): worker processes register them too (wormsim.extensions)
ADDED: dict[str, str | type[Brain]] = {}


_CLASSES: dict[str, type[Brain]] = {}


def _load(target: str):
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def get_level(name: str) -> type[Brain]:
    """The Brain class of a realism level (or of a derived level such as readout-rate) by name."""
    if name in _CLASSES:
        return _CLASSES[name]
    if name in LEVELS:
        entry = LEVELS[name]
        cls = _load(entry) if isinstance(entry, str) else entry
    else:
        prefix, _, inner = name.partition("-")
        if prefix not in DERIVED or inner not in LEVELS:
            raise ValueError(f"unknown level {name!r}; choose from {', '.join(sorted(LEVELS))}")
        cls = _load(DERIVED[prefix])(inner)
    _CLASSES[name] = cls
    return cls


def levels_with(capability: str, value: bool = True) -> list[str]:
    """The registered realism levels whose ``capability`` (a key of Brain.capabilities()) is value."""
    return [name for name in LEVELS if get_level(name).capabilities().get(capability) == value]


__all__ = ["Brain", "CapabilityError", "DERIVED", "IOSpec", "LEVELS", "edge_groups", "get_level",
           "level_names", "levels_with", "register_level", "unregister_level"]
