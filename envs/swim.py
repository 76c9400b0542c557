"""wormsim/Swim-v0: swim forward as fast as possible. Also the task plumbing every body task shares.

A task here is vectorised over P worms (``WormTask``); the single Gymnasium environment (``WormEnv``) is
its P = 1 case and the native vector environment (envs/vector.py) its P = num_envs case, so both run the
same code and worm i of a vector env moves exactly like a single env with the same seed and actions.
"""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from wormsim.envs.body import SZNITMAN_EI, WormBody
from wormsim.envs.batched import check_action
from wormsim.envs.layout import ObsLayout
from wormsim.envs.waves import TravellingWave

#: Body length of the head (BL): its muscles are driven by the head motor circuit (SMD, RMD, SMB...),
#: not by the ventral cord motor neurons; in cect's neuromuscular data the ventral cord's first synapses
#: reach the muscle rows at about 0.2 BL.
HEAD_LENGTH = 0.2


class WormTask:
    """What every body task shares, vectorised over P worms: muscles, physics, observation, truncation.

    Subclasses set ``task_names`` and implement ``_reset_task``, ``_task_inputs`` and ``_reward``.
    What a step derives from the state it leaves (Swim: centre of mass and heading) is kept for the next
    step's start; code that writes a worm's state other than through reset_worms or step should call
    ``_state_changed()``.
    """

    task_names: tuple[str, ...] = ()

    def __init__(self, n_worms: int = 1, n_segments: int = 12, medium: str | float = "water",
                 control_dt: float = 0.02, duration: float = 10.0, muscle_tau: float = 0.1,
                 reset_noise_scale: float = 0.05, timestep: float = 0.02, markers: bool = False,
                 nthread: int | None = None, head_cpg: float = 0.0, head_cpg_amplitude: float = 1.0,
                 head_length: float = HEAD_LENGTH, head_cpg_phase: str = "zero",
                 load: float = 1.0, bending_stiffness: float = SZNITMAN_EI) -> None:
        if not (control_dt > 0 and math.isfinite(control_dt)):
            raise ValueError(f"control_dt must be > 0 s, got {control_dt}")
        if not (duration >= control_dt and math.isfinite(duration)):
            raise ValueError(f"duration must be >= control_dt ({control_dt} s), got {duration}")
        if reset_noise_scale < 0:
            raise ValueError(f"reset_noise_scale must be >= 0 rad, got {reset_noise_scale}")
        # The physics step divides the control step exactly; a coarser control step keeps the 10 ms default.
        self.n_substeps = max(1, round(control_dt / timestep))
        self.body = WormBody(n_worms=n_worms, n_segments=n_segments, medium=medium, load=load,
                             bending_stiffness=bending_stiffness, muscle_tau=muscle_tau,
                             timestep=control_dt / self.n_substeps, markers=markers, nthread=nthread)
        self.n_worms = n_worms
        self.control_dt = float(control_dt)
        self.duration = float(duration)
        self.max_steps = max(1, round(duration / control_dt))
        self.reset_noise_scale = float(reset_noise_scale)
        self.layout = ObsLayout(n_segments, self.task_names)
        self.steps = np.zeros(n_worms, dtype=np.int64)
        self._renderer: mujoco.Renderer | None = None
        self._init_head_cpg(head_cpg, head_cpg_amplitude, head_length, head_cpg_phase)

    def _init_head_cpg(self, frequency: float, amplitude: float, head_length: float, phase: str = "zero") -> None:
        """The head's own oscillator (see SwimEnv, "Head oscillator"); frequency 0 turns it off. phase:
        "zero" (every episode starts at phase 0) or "random" (each worm's starting phase drawn from its
        own generator at reset: held-out episodes that do not all start the same way)."""
        if phase not in ("zero", "random"):
            raise ValueError(f"head_cpg_phase must be 'zero' or 'random', got {phase!r}")
        self.head_cpg_phase = phase
        self._head_t0 = np.zeros(self.n_worms)
        if not (math.isfinite(frequency) and frequency >= 0):
            raise ValueError(f"head_cpg must be a frequency >= 0 Hz (0: off), got {frequency}")
        if not 0.0 <= amplitude <= 1.0:
            raise ValueError(f"head_cpg_amplitude must be in [0, 1], got {amplitude}")
        if not 0.0 < head_length < 1.0:
            raise ValueError(f"head_length must be in (0, 1) body lengths, got {head_length}")
        self.head_cpg = float(frequency)
        J = self.layout.n_joints
        # The joints within the head, at least the first one (a 4-segment body has no joint that close).
        head = np.flatnonzero(self.layout.joint_positions <= head_length + 1e-9)
        self.head_joints = head if head.size else np.array([0])
        self._head_columns = np.concatenate([self.head_joints, J + self.head_joints])
        self._head_wave = TravellingWave(n_segments=self.layout.n_segments, frequency=max(frequency, 1e-9),
                                         amplitude=amplitude) if frequency > 0 else None

    def head_drive(self) -> np.ndarray | None:
        """(P, 2 * len(head_joints)) offsets the head oscillator adds this step to the head muscles'
        commands (dorsal joints, then ventral), or None when it is off. The phase runs from each
        worm's reset: t = steps * control_dt."""
        if self._head_wave is None:
            return None
        return self._head_wave(self._head_t0 + self.steps * self.control_dt)[:, self._head_columns] - 0.5

    # -- episode ----------------------------------------------------------------------------------------
    def reset_worms(self, worms: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Start a new episode for worms ``worms`` (index array), drawing from one generator per worm.

        Each worm starts straight, heading +x, with joint angles perturbed by U(-s, s), s =
        reset_noise_scale (rad), drawn from its own generator (so a worm's episode depends on its seed only).
        """
        worms = np.asarray(worms, dtype=np.int64)
        if worms.size == 0:
            return
        J, s = self.layout.n_joints, self.reset_noise_scale
        angles = np.stack([rng.uniform(-s, s, size=J) for rng in rngs])
        if self.head_cpg_phase == "random" and self.head_cpg > 0:
            self._head_t0[worms] = [rng.uniform(0.0, 1.0 / self.head_cpg) for rng in rngs]
        self.body.reset(worms, angles)
        self.steps[worms] = 0
        self._state_changed()
        self._reset_task(worms, rngs)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance every worm one control step. action: (P, 2J) finite, in [0, 1].

        Returns reward (P,), terminated (P,), truncated (P,), info (dict of (P, ...) arrays). A worm whose
        physics diverges (non-finite or huge state) is put back at rest, gets reward 0 and terminated True,
        with info["diverged"] True; the other worms are untouched.
        """
        # A non-finite state must never be stepped (MuJoCo would only warn), so an unhealthy worm is put
        # at rest before the step, and after it. Each worm has its own state (envs/body.py), so nothing of
        # one worm reaches another. The common all-healthy case costs one reduction per array.
        body = self.body
        healthy = None
        if not body.all_healthy():
            healthy = body.healthy()
            body.reset(np.flatnonzero(~healthy))
            self._state_changed()
        before = self._before_step()
        drive = self.head_drive()
        if drive is not None:
            action = action.copy()
            head = action[:, self._head_columns]
            action[:, self._head_columns] = np.clip(head + drive, 0.0, 1.0)
        body.step(action, self.n_substeps)
        if not body.all_healthy():
            after = body.healthy()
            body.reset(np.flatnonzero(~after))
            self._state_changed()
            healthy = after if healthy is None else healthy & after
        reward, terminated, info = self._reward(action, before)
        self.steps += 1
        truncated = self.steps >= self.max_steps
        if healthy is None:
            info["diverged"] = np.zeros(self.n_worms, dtype=bool)
            terminated = terminated.copy()               # never an alias of an info array (callers edit it)
        else:
            reward = np.where(healthy, reward, 0.0)
            terminated = terminated | ~healthy
            info["diverged"] = ~healthy
        return reward, terminated, truncated, info

    def observe(self) -> np.ndarray:
        """(P, obs_dim) float32 observation, laid out by ``self.layout`` (envs/layout.py)."""
        lay = self.layout
        if self.n_worms == 1:
            obs = self._observe_single()
        else:
            obs = self._observe_many()
        if lay.n_task_inputs:
            obs[:, lay.task] = self._task_inputs()
        # Bounds are far beyond anything a healthy worm reaches; clipping only guards the space contract.
        np.minimum(obs, self.obs_high, out=obs)
        return np.maximum(obs, self._obs_low, out=obs)

    def _observe_single(self) -> np.ndarray:
        """observe() of a lone worm without its task inputs: the same numbers as _observe_many, built from
        Python floats (a dozen small numpy calls cost ~3x more than this for one worm)."""
        d = self.body.data
        q, v = d.qpos.tolist(), d.qvel.tolist()
        c, s = math.cos(q[2]), math.sin(q[2])
        row = q[3:] + v[3:] + [c * v[0] + s * v[1], c * v[1] - s * v[0], c, s]
        if self.layout.n_task_inputs:
            row += [0.0] * self.layout.n_task_inputs
        return np.array([row], dtype=np.float32)

    def _observe_many(self) -> np.ndarray:
        q, v, lay = self.body.qpos, self.body.qvel, self.layout
        J = lay.n_joints
        obs = np.empty((self.n_worms, lay.obs_dim), dtype=np.float32)
        obs[:, :J] = q[:, 3:]                              # lay.angles
        obs[:, J:2 * J] = v[:, 3:]                         # lay.velocities
        # Head velocity in the head's frame and head direction (WormBody.head_velocity, .head_direction),
        # inlined: this runs every step and each small numpy call costs about a microsecond.
        th, vx, vy = q[:, 2], v[:, 0], v[:, 1]
        c, s = np.cos(th), np.sin(th)
        obs[:, 2 * J] = c * vx + s * vy
        obs[:, 2 * J + 1] = c * vy - s * vx
        obs[:, 2 * J + 2] = c
        obs[:, 2 * J + 3] = s
        return obs

    @property
    def obs_low(self) -> np.ndarray:
        return -self.obs_high

    @property
    def _obs_low(self) -> np.ndarray:
        if not hasattr(self, "_obs_low_array"):
            self._obs_low_array = -self.obs_high
        return self._obs_low_array

    @property
    def obs_high(self) -> np.ndarray:
        """(obs_dim,) float32 observation bound: angles 2 pi rad, velocities 1e3, direction 1, task 1e3."""
        if not hasattr(self, "_obs_high"):
            lay = self.layout
            high = np.full(lay.obs_dim, 1e3, dtype=np.float32)
            high[lay.angles] = 2 * np.pi
            high[lay.head_direction] = 1.0
            self._obs_high = high
        return self._obs_high

    # -- task hooks -------------------------------------------------------------------------------------
    def _reset_task(self, worms: np.ndarray, rngs: list[np.random.Generator]) -> None:
        pass

    def reset_info(self, worms: np.ndarray) -> dict[str, np.ndarray]:
        """The info a reset of ``worms`` reports (dict of (len(worms), ...) arrays); none by default."""
        return {}

    def _before_step(self) -> Any:
        return None

    def _state_changed(self) -> None:
        """Called whenever worms are put somewhere other than where the last step left them (a reset):
        drop anything derived from the state after the last step."""

    def _task_inputs(self) -> np.ndarray:
        return np.zeros((self.n_worms, 0))

    def _reward(self, action: np.ndarray, before: Any) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    # -- rendering --------------------------------------------------------------------------------------
    def render(self, worm: int = 0, width: int = 480, height: int = 480) -> np.ndarray:
        """(height, width, 3) uint8 frame from the camera that follows worm ``worm`` from above."""
        m = self.body.model
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (width, height):
            self.close()
            self._renderer = mujoco.Renderer(m, height=height, width=width)
        # The worm's state in an MjData of the one-worm model, derived quantities (camera poses) computed;
        # the state and hence the trajectory are unchanged.
        d = self.body.render_data(worm)
        self._renderer.update_scene(d, camera=self.body.camera_name(worm))
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class SwimTask(WormTask):
    """Forward centre-of-mass speed along the body's heading, minus a small muscle cost."""

    def __init__(self, n_worms: int = 1, ctrl_cost_weight: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(n_worms=n_worms, **kwargs)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        n = self.layout.n_muscles
        self._ctrl_weights = np.full(n, -self.ctrl_cost_weight / n)
        self._inv_dt = 1.0 / self.control_dt
        self._after: tuple[np.ndarray, np.ndarray] | None = None   # (com, heading) after the last step

    def _before_step(self) -> tuple[np.ndarray, np.ndarray]:
        # the state before this step is the one the last step left: its centre of mass and heading
        # were computed then (the same numbers; computing them twice cost a tenth of a step)
        if self._after is None:
            self._after = self.body.com_and_heading()
        return self._after

    def _state_changed(self) -> None:
        self._after = None

    def _reward(self, action, before):
        com0, heading = before
        com1, heading1 = self.body.com_and_heading()
        self._after = (com1.copy(), heading1)
        # Mean velocity over the control step (like Swimmer-v5's x_velocity), projected on the heading
        # (centre of mass -> head) at the start of the step.
        com_velocity = (com1 - com0) * self._inv_dt
        speed = np.add.reduce(com_velocity * heading, axis=1)
        # -ctrl_cost_weight * mean(action ** 2) per worm, as one matrix-vector product.
        reward_ctrl = np.square(action) @ self._ctrl_weights
        reward = speed + reward_ctrl
        info = {"reward_forward": speed, "reward_ctrl": reward_ctrl, "speed": speed,
                "com_velocity": com_velocity, "curvature": self.body.curvature(),
                "x_position": com1[:, 0], "y_position": com1[:, 1]}
        return reward, np.zeros(self.n_worms, dtype=bool), info


_min, _max = np.minimum.reduce, np.maximum.reduce  # the ufunc reductions, without ndarray.min's wrapper


class WormEnv(gym.Env):
    """A single worm: the P = 1 case of a ``WormTask``. Subclasses set ``task_class``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    task_class: type[WormTask] = WormTask

    def __init__(self, render_mode: str | None = None, width: int = 480, height: int = 480,
                 **task_kwargs: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; choose from None, 'rgb_array'")
        self.task = self.task_class(n_worms=1, **task_kwargs)
        self.layout: ObsLayout = self.task.layout
        self.control_dt: float = self.task.control_dt    # seconds per step
        self.max_steps: int = self.task.max_steps        # steps per episode (duration / control_dt)
        self.body: WormBody = self.task.body
        self.render_mode, self.width, self.height = render_mode, int(width), int(height)
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.task.control_dt))}
        self.observation_space = spaces.Box(self.task.obs_low, self.task.obs_high, dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, (self.layout.n_muscles,), np.float32)
        self._action_shape = self.action_space.shape

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.task.reset_worms(np.array([0]), [self.np_random])
        return self.task.observe()[0], self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        return {k: v[0] for k, v in self.task.reset_info(np.array([0])).items()}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self._action_shape:
            check_action(a, self._action_shape)          # raises, naming the expected shape
        # Common case first: every activation already in [0, 1] (NaN fails both tests).
        if not (_min(a) >= 0.0 and _max(a) <= 1.0):
            if not np.isfinite(a).all():
                raise ValueError(f"action contains NaN or inf: {a}")
            # Activations outside [0, 1] are clipped, as MuJoCo's ctrlrange would do.
            a = np.clip(a, 0.0, 1.0)
        reward, terminated, truncated, info = self.task.step(a[None])
        info = {k: v[0] for k, v in info.items()}
        return self.task.observe()[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.task.render(0, self.width, self.height)
        return None

    def close(self) -> None:
        self.task.close()


class SwimEnv(WormEnv):
    """Swim forward, head first, as fast as possible (wormsim/Swim-v0).

    A planar C. elegans body of ``n_segments`` capsules (1 body length, BL, long) in a low-Reynolds medium
    with resistive-force drag (envs/body.py). A dorsal and a ventral muscle at each of the J = n_segments - 1
    joints bend it; the reward is the centre of mass's forward speed.

    ## Observation space
    Box(-high, high, (2J + 4,), float32) (high: 2 pi for angles, 1 for the direction, 1e3 else), laid out by ``env.unwrapped.layout`` (envs/layout.py), J joints
    numbered head to tail:

    | index        | observation                                                        | unit   |
    |--------------|--------------------------------------------------------------------|--------|
    | 0 .. J-1     | joint angles, positive = bent toward the dorsal side               | rad    |
    | J .. 2J-1    | joint angular velocities                                           | rad/s  |
    | 2J, 2J+1     | head tip velocity in the head's frame: forward, lateral            | BL/s   |
    | 2J+2, 2J+3   | head direction in the world: cos, sin                              | -      |

    ## Action space
    Box(0, 1, (2J,), float32): muscle activation commands, [0, J) dorsal head to tail, [J, 2J) ventral.
    Each muscle follows its command with first-order dynamics (time constant ``muscle_tau``). A wrong shape
    raises ValueError naming the expected shape; NaN or inf raises ValueError; values outside [0, 1] are
    clipped.

    ## Rewards
    reward = reward_forward + reward_ctrl, each in ``info``:
    - reward_forward: the centre of mass's mean velocity over the step (BL/s), projected on the body's
      heading (unit vector from the centre of mass to the head tip) at the start of the step.
    - reward_ctrl: -ctrl_cost_weight * mean(action ** 2).

    ## Info
    reward_forward, reward_ctrl, speed (= reward_forward, BL/s), com_velocity (2,) BL/s, curvature (J,)
    rad/BL (joint angle * n_segments), x_position, y_position (centre of mass, BL), diverged (bool).

    ## Starting state
    Straight, heading +x, centre of mass at (-0.5, 0), joint angles uniform in +-reset_noise_scale rad.

    ## Episode end
    Truncation after duration / control_dt steps (500 by default), implemented by the environment itself
    (no TimeLimit wrapper is registered, so the duration keyword decides). Termination only if the physics
    diverges (info["diverged"]), which a bounded action should never cause.

    ## Arguments
    n_segments=12 (4..48), medium="water" (the drag ratio c_n / c_t: "water" 2, the animal's swimming
    near a surface; "water-bulk" 1.5; "agar" 10; or a number > 0; envs/body.py MEDIA says why),
    load=1.0 (the medium's viscosity relative to water, 1e-3..1e5: multiplies the drag; Fang-Yen et al.
    2010's load axis), bending_stiffness=2.3 (the body's EI, force BL^2; 28.8 is Fang-Yen et al. 2010's
    whole-animal value; the muscles' strength follows it: envs/body.py BodyParams),
    control_dt=0.02 s, duration=10.0 s, muscle_tau=0.1 s, ctrl_cost_weight=1e-3, reset_noise_scale=0.05 rad,
    timestep=0.02 s (physics step, one per control step by default; control_dt is divided into
    round(control_dt / timestep) steps; 0.01 for +-0.2% accuracy of the swimming speed at twice the cost),
    head_cpg=0.0 Hz (0: off), head_cpg_amplitude=1.0, head_cpg_phase="zero" ("random": each episode's
    starting phase drawn from its seed),
    render_mode=None or "rgb_array" (a camera following the worm from above), width=480, height=480.

    ## Head oscillator
    The ventral cord motor neurons wormsim simulates reach the body-wall muscles from about 0.2 BL back;
    the head's muscles are driven by the head motor circuit (SMD, RMD, SMB and their interneurons), which
    generates the rhythm whose bends the B-type motor neurons propagate down the body through
    proprioception (Wen et al. 2012, Neuron). With ``head_cpg`` > 0 the body carries that oscillator: the
    muscles of the joints within the first 0.2 BL (at least the first joint) receive, on top of their
    commands, the head's share of a travelling wave of ``head_cpg`` Hz (wavelength 1.5 BL, amplitude
    ``head_cpg_amplitude``, zero phase at reset; the offsets of envs.waves.TravellingWave), clipped to
    [0, 1]. A command of 0.5 on a head muscle (what wormsim's interface sends to muscles no simulated neuron
    reaches) leaves the oscillator alone; a policy can still bias or cancel it. wormsim's trainers turn it
    on (``--head-cpg``, 2 Hz, the animal's swimming frequency); the environment's default is off, a bare
    body. The muscle cost counts the activations as applied.

    ## Version history
    v0: first version.
    """

    task_class = SwimTask

    def __init__(self, n_segments: int = 12, medium: str | float = "water", control_dt: float = 0.02,
                 duration: float = 10.0, muscle_tau: float = 0.1, ctrl_cost_weight: float = 1e-3,
                 reset_noise_scale: float = 0.05, timestep: float = 0.02, head_cpg: float = 0.0,
                 head_cpg_amplitude: float = 1.0, head_cpg_phase: str = "zero", render_mode: str | None = None,
                 width: int = 480, height: int = 480, load: float = 1.0,
                 bending_stiffness: float = SZNITMAN_EI) -> None:
        super().__init__(render_mode=render_mode, width=width, height=height, n_segments=n_segments,
                         medium=medium, load=load, bending_stiffness=bending_stiffness, control_dt=control_dt,
                         duration=duration, muscle_tau=muscle_tau,
                         ctrl_cost_weight=ctrl_cost_weight, reset_noise_scale=reset_noise_scale,
                         timestep=timestep, head_cpg=head_cpg, head_cpg_amplitude=head_cpg_amplitude,
                         head_cpg_phase=head_cpg_phase)
