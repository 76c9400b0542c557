"""Reference traces from other simulators of the same circuit, and their replay in wormsim.

c302: OpenWorm's c302 level C1 of the 81-cell motor circuit run in NEURON (examples/c302_reference.py
makes the traces, realism_levels/golden/c302/*.npz holds them, wormsim.reference.c302 replays them in
the conductance level).
"""
