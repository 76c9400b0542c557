"""Worm bodies and tasks as Gymnasium environments (placeholder until the body lands)."""
from wormsim.envs.layout import ObsLayout  # noqa: F401
