"""Worm bodies and tasks as Gymnasium environments, registered under the ``wormsim/`` namespace.

    import gymnasium, wormsim
    env = gymnasium.make("wormsim/Swim-v0", n_segments=12, medium="water")
    envs = gymnasium.make_vec("wormsim/Swim-v0", num_envs=64, vectorization_mode="vector_entry_point")

Episodes are truncated by the environments themselves after duration / control_dt steps (no
max_episode_steps is registered, so the ``duration`` keyword decides).
"""
from gymnasium.envs.registration import register, registry

from wormsim.envs.layout import ObsLayout  # noqa: F401
from wormsim.envs.nonmotor import register_nonmotor

for _name in ("Swim", "Navigate"):
    _id = f"wormsim/{_name}-v0"
    if _id not in registry:
        register(id=_id, entry_point=f"wormsim.envs.{_name.lower()}:{_name}Env",
                 vector_entry_point=f"wormsim.envs.vector:{_name}VectorEnv")

register_nonmotor()  # wormsim/Memory-v0, wormsim/MemoryCapacity-v0, wormsim/Digits-v0
