"""Figures: the circuit along the body, rollouts, kymographs, neural activity, learning curves."""
