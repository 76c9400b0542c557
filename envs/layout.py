"""The observation and action layout every wormsim body task shares.

The sensor/motor interface (wormsim.interface) reads observations through this layout and never by
hard-coded offsets, so a task that adds sensory inputs changes nothing else.

Observation, J = n_segments - 1 joints numbered head to tail:

    [0, J)          joint angles, rad; positive = bent toward the dorsal side
    [J, 2J)         joint angular velocities, rad/s
    [2J, 2J+2)      head velocity in the head's own frame: forward, lateral; body lengths/s
    [2J+2, 2J+4)    head direction in the world frame: cos, sin
    [2J+4, ...)     task inputs, named by ``task_names`` (Swim: none; Navigate: attractant
                    concentration at the head and its sensed relative change)

Action, (2J,) in [0, 1]: [0, J) dorsal muscle activations head to tail, [J, 2J) ventral. A dorsal
muscle bends its joint toward positive angles, a ventral one toward negative angles.

Body curvature at joint j (rad per body length) is ``angle_j * n_segments``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObsLayout:
    n_segments: int
    task_names: tuple[str, ...] = ()

    @property
    def n_joints(self) -> int:
        return self.n_segments - 1

    @property
    def angles(self) -> slice:
        return slice(0, self.n_joints)

    @property
    def velocities(self) -> slice:
        return slice(self.n_joints, 2 * self.n_joints)

    @property
    def head_velocity(self) -> slice:
        return slice(2 * self.n_joints, 2 * self.n_joints + 2)

    @property
    def head_direction(self) -> slice:
        return slice(2 * self.n_joints + 2, 2 * self.n_joints + 4)

    @property
    def task(self) -> slice:
        return slice(2 * self.n_joints + 4, self.obs_dim)

    @property
    def n_task_inputs(self) -> int:
        return len(self.task_names)

    @property
    def obs_dim(self) -> int:
        return 2 * self.n_joints + 4 + self.n_task_inputs

    @property
    def n_muscles(self) -> int:
        return 2 * self.n_joints

    @property
    def joint_positions(self):
        """Body position (0 head .. 1 tail) of each joint."""
        import numpy as np
        return np.arange(1, self.n_segments) / self.n_segments
