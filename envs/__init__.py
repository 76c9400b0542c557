"""Worm bodies and tasks as Gymnasium environments, registered under the ``wormsim/`` namespace.

    import gymnasium, wormsim
    env = gymnasium.make("wormsim/Swim-v0", n_segments=12, medium="water")
    envs = gymnasium.make_vec("wormsim/Swim-v0", num_envs=64, vectorization_mode="vector_entry_point")

Every task is declared once in the task registry (envs/tasks.py: its environment, whether it has a
body, its score and chance level), which also registers its environment with Gymnasium.
Episodes are truncated by the environments themselves after duration / control_dt steps (no
max_episode_steps is registered, so the ``duration`` keyword decides).
"""
from wormsim.envs.layout import ObsLayout  # noqa: F401
from wormsim.envs.tasks import TASKS, TaskSpec, get_task, register_task, task_names  # noqa: F401
