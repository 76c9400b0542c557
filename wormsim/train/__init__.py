"""Trainers: evolution strategies for every level, PPO for the differentiable ones."""
