"""wormsim/Navigate-v0: reach a target by chemotaxis, sensing only the attractant concentration at the head."""
from __future__ import annotations

from typing import Any

import numpy as np

from wormsim.envs.swim import WormEnv, WormTask


class NavigateTask(WormTask):
    """Approach a target placed at a random bearing; the attractant is exp(-distance / gradient_length)."""

    task_names = ("concentration", "concentration_rate")

    def __init__(self, n_worms: int = 1, target_distance: float = 3.0, success_radius: float = 0.3,
                 gradient_length: float = 2.0, success_bonus: float = 5.0, **kwargs: Any) -> None:
        if not target_distance > success_radius > 0:
            raise ValueError(f"need target_distance > success_radius > 0 (BL), got {target_distance}, "
                             f"{success_radius}")
        if not gradient_length > 0:
            raise ValueError(f"gradient_length must be > 0 BL, got {gradient_length}")
        super().__init__(n_worms=n_worms, markers=True, **kwargs)
        self.target_distance = float(target_distance)
        self.success_radius = float(success_radius)
        self.gradient_length = float(gradient_length)
        self.success_bonus = float(success_bonus)
        self.target = np.zeros((n_worms, 2))          # BL, relative to each worm's home
        self.concentration = np.zeros(n_worms)
        self.concentration_rate = np.zeros(n_worms)   # 1/s

    def _distance(self) -> np.ndarray:
        d = self.body.qpos[:, 0:2] - self.target       # head tip relative to the target (qpos: head tip)
        return np.hypot(d[:, 0], d[:, 1])

    def _reset_task(self, worms, rngs):
        # The bearing is drawn after the posture noise, from the same per-worm generator.
        bearing = np.array([rng.uniform(0.0, 2 * np.pi) for rng in rngs])
        head = self.body.head_position()[worms]
        self.target[worms] = head + self.target_distance * np.stack([np.cos(bearing), np.sin(bearing)], 1)
        self.body.marker_pos[worms, :2] = self.target[worms] + self.body.homes[worms]
        self.concentration[worms] = np.exp(-self._distance()[worms] / self.gradient_length)
        self.concentration_rate[worms] = 0.0

    def reset_info(self, worms):
        return {"distance": self._distance()[np.asarray(worms)]}

    def _before_step(self) -> np.ndarray:
        return self._distance()

    def _task_inputs(self) -> np.ndarray:
        return np.stack([self.concentration, self.concentration_rate], axis=1)

    def _reward(self, action, before):
        dist = self._distance()
        c = np.exp(-dist / self.gradient_length)
        self.concentration_rate = (c - self.concentration) / self.control_dt
        self.concentration = c
        success = dist < self.success_radius
        reward_approach = before - dist
        reward_success = self.success_bonus * success
        info = {"reward_approach": reward_approach, "reward_success": reward_success, "distance": dist,
                "success": success, "concentration": c.copy(), "curvature": self.body.curvature()}
        return reward_approach + reward_success, success, info


class NavigateEnv(WormEnv):
    """Reach a target a few body lengths away, sensing only the attractant at the head (wormsim/Navigate-v0).

    The worm body of wormsim/Swim-v0 (see SwimEnv). At reset a target is placed ``target_distance`` BL from
    the head tip at a bearing drawn uniformly from the seed. The attractant concentration at a point d BL
    from the target is exp(-d / gradient_length), in (0, 1]. The worm never sees the target; it senses the
    concentration at its head and the concentration's rate of change (a klinotaxis-style cue).

    ## Observation space
    Box(-high, high, (2J + 6,), float32) (as Swim-v0; 1e3 for the task inputs), laid out by ``env.unwrapped.layout`` (envs/layout.py):

    | index        | observation                                                        | unit   |
    |--------------|--------------------------------------------------------------------|--------|
    | 0 .. J-1     | joint angles, positive = bent toward the dorsal side               | rad    |
    | J .. 2J-1    | joint angular velocities                                           | rad/s  |
    | 2J, 2J+1     | head tip velocity in the head's frame: forward, lateral            | BL/s   |
    | 2J+2, 2J+3   | head direction in the world: cos, sin                              | -      |
    | 2J+4         | "concentration": attractant at the head tip                        | [0, 1] |
    | 2J+5         | "concentration_rate": its change over the last step / control_dt   | 1/s    |

    ## Action space
    Box(0, 1, (2J,), float32), as in Swim-v0: [0, J) dorsal, [J, 2J) ventral activations, head to tail.

    ## Rewards
    reward = reward_approach + reward_success, each in ``info``:
    - reward_approach: decrease of the head-target distance over the step, BL.
    - reward_success: success_bonus on the step the head comes within success_radius.

    ## Info
    reward_approach, reward_success, distance (BL), success (bool), concentration, curvature (J,) rad/BL,
    diverged (bool).

    ## Episode end
    Terminated on success (head within success_radius BL of the target) or divergence; truncated after
    duration / control_dt steps (implemented by the environment, no TimeLimit wrapper).

    ## Arguments
    n_segments=12, medium="water", control_dt=0.02 s, duration=10.0 s, muscle_tau=0.1 s,
    target_distance=3.0 BL, success_radius=0.3 BL, gradient_length=2.0 BL, success_bonus=5.0,
    reset_noise_scale=0.05 rad, timestep=0.02 s, head_cpg=0.0 Hz and head_cpg_amplitude=1.0 (the head
    oscillator of Swim-v0), render_mode=None or "rgb_array", width=480, height=480.

    ## Version history
    v0: first version.
    """

    task_class = NavigateTask

    def __init__(self, n_segments: int = 12, medium: str | float = "water", control_dt: float = 0.02,
                 duration: float = 10.0, muscle_tau: float = 0.1, target_distance: float = 3.0,
                 success_radius: float = 0.3, gradient_length: float = 2.0, success_bonus: float = 5.0,
                 reset_noise_scale: float = 0.05, timestep: float = 0.02, head_cpg: float = 0.0,
                 head_cpg_amplitude: float = 1.0, head_cpg_phase: str = "zero", render_mode: str | None = None,
                 width: int = 480, height: int = 480) -> None:
        super().__init__(render_mode=render_mode, width=width, height=height, n_segments=n_segments,
                         medium=medium, control_dt=control_dt, duration=duration, muscle_tau=muscle_tau,
                         target_distance=target_distance, success_radius=success_radius,
                         gradient_length=gradient_length, success_bonus=success_bonus,
                         reset_noise_scale=reset_noise_scale, timestep=timestep, head_cpg=head_cpg,
                         head_cpg_amplitude=head_cpg_amplitude, head_cpg_phase=head_cpg_phase)

