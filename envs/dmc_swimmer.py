"""wormsim/DMCSwim-v0: dm_control's n-link swimmer as a second body for every realism level.

The body is dm_control's own swimmer (Tassa et al. 2018, "DeepMind Control Suite"; the body of NCAP,
Bhattasali, Zador & Engel 2022): the MJCF that ``dm_control.suite.swimmer.get_model_and_assets(n)``
generates for n links, unchanged, with its physics (links 0.1 m, 2 ms steps, MuJoCo's inertia-based
fluid drag at density 3000, joint limits +-360/n degrees, one torque motor per joint, gear 5e-4,
control in [-1, 1]) and dm_control's control step (0.03 s). wormsim steps that model with the
``mujoco`` bindings directly: dm_control's Python ``Physics`` wrapper (1.0.50, the newest on PyPI) does
not load under MuJoCo 4 (``AttributeError: 'MjModel' object has no attribute 'flex_vertedge'``), while
its model generator and the model itself do.

The task is wormsim's Swim (envs/swim.py: the same reward, info, head oscillator, episode structure and
observation layout, envs/layout.py), so the one sensor/motor interface and every level drive it
unchanged:

- **Muscles to torques.** The action is wormsim's, a dorsal and a ventral muscle activation per joint in
  [0, 1]; joint j's motor gets ``dorsal_j - ventral_j`` in [-1, 1], NCAP's own antagonistic rule
  (torque = muscle_d - muscle_v). dm_control's motors act at once: no muscle activation dynamics.
- **Dorsal** is the side of positive joint angles (the body is planar and symmetric).
- **Lengths** are in body lengths: BL = n x 0.1 m, the chain of links. Speed is the centre of mass's
  velocity along the heading (centre of mass -> nose), BL/s, as on wormsim's body.
- **Observation**: joint angles (rad), joint velocities (rad/s), the velocity of the head's hinge point
  in the head's frame (forward, lateral; BL/s) and the head's direction (cos, sin) in the world.
- **Start**: straight but for joint angles U(+-reset_noise_scale) rad (wormsim's rule; dm_control's
  own task draws every angle over its whole range), nose along -y.

Arguments: n_segments=6 (links, 4..48; dm_control's swimmer6), medium="water" (the only value: the
model's own fluid), control_dt=0.03 s, duration=10 s, ctrl_cost_weight=1e-3, reset_noise_scale=0.05 rad,
head_cpg=0 Hz, head_cpg_amplitude=1, head_cpg_phase="zero" (envs/swim.py SwimEnv for the last three),
render_mode None or "rgb_array" (dm_control's tracking camera).

Install: ``pip install -e ".[dmc]"`` (dm_control from PyPI).
"""
from __future__ import annotations

import math
from typing import Any

import mujoco
import numpy as np

from wormsim.envs.swim import SwimTask, WormEnv
from wormsim.envs.vector import WormVectorEnv

LINK_LENGTH = 0.1                # m, dm_control/suite/swimmer.py: each child body sits 0.1 m down the chain
CONTROL_DT = 0.03                # s, dm_control's _CONTROL_TIMESTEP for the swimmer
_MAX_QVEL, _MAX_QPOS = 1e4, 1e4  # beyond these a worm has diverged (far past any swimming state)


def swimmer_model(n_links: int) -> tuple[bytes, dict]:
    """dm_control's swimmer MJCF for ``n_links`` links and its assets (textures, materials)."""
    import warnings
    try:
        with warnings.catch_warnings():
            # dm_control probes its OpenGL back-ends on import (GLFW warns without a display); wormsim
            # renders through mujoco.Renderer and uses only dm_control's model generator
            warnings.simplefilter("ignore")
            from dm_control.suite import swimmer
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("the dm_control swimmer needs dm_control: pip install -e \".[dmc]\"") from err
    return swimmer.get_model_and_assets(int(n_links))


class DMCSwimmerBody:
    """P dm_control swimmers of n links, each its own MjData of one model, and the questions the Swim
    task asks of a body (the subset of envs/body.py WormBody's interface it uses), in body lengths."""

    def __init__(self, n_worms: int = 1, n_segments: int = 6) -> None:
        if isinstance(n_worms, bool) or not isinstance(n_worms, (int, np.integer)) or n_worms < 1:
            raise ValueError(f"n_worms must be an integer >= 1, got {n_worms!r}")
        if not isinstance(n_segments, (int, np.integer)) or n_segments < 3:
            raise ValueError(f"the dm_control swimmer has >= 3 links, got n_segments={n_segments!r}")
        xml, assets = swimmer_model(n_segments)
        self.model = m = mujoco.MjModel.from_xml_string(xml, assets)
        self.n_worms, self.n_segments, self.n_joints = int(n_worms), int(n_segments), int(n_segments) - 1
        self.body_length = LINK_LENGTH * self.n_segments
        self.datas = [mujoco.MjData(m) for _ in range(self.n_worms)]
        self.data = self.datas[0]
        self.timestep = float(m.opt.timestep)
        self._head = m.body("head").id
        self._segments = np.arange(self._head, m.nbody)                 # head and every link
        self._nose = m.geom("nose").id
        self._render_data: mujoco.MjData | None = None
        self.reset()

    # -- state ------------------------------------------------------------------------------------------
    @property
    def qpos(self) -> np.ndarray:
        """(P, 3 + J): x, y (m), yaw (rad), joint angles (rad)."""
        return np.stack([d.qpos for d in self.datas])

    @property
    def qvel(self) -> np.ndarray:
        return np.stack([d.qvel for d in self.datas])

    def reset(self, worms: np.ndarray | None = None, joint_angles: np.ndarray | None = None) -> None:
        """Put the chosen worms (index array; default all) at the origin, at rest; joint_angles (len, J)."""
        idx = np.arange(self.n_worms) if worms is None else np.asarray(worms, dtype=np.int64)
        for k, w in enumerate(idx):
            d = self.datas[w]
            mujoco.mj_resetData(self.model, d)
            if joint_angles is not None:
                d.qpos[3:] = joint_angles[k]
            mujoco.mj_kinematics(self.model, d)

    def step(self, controls: np.ndarray, n_substeps: int = 1) -> None:
        """Hold muscle activations ``controls`` (P, 2J) in [0, 1] for n_substeps physics steps: joint j's
        motor gets dorsal_j - ventral_j."""
        J = self.n_joints
        torque = np.clip(controls[:, :J] - controls[:, J:], -1.0, 1.0)
        m = self.model
        for d, u in zip(self.datas, torque):
            d.ctrl[:] = u
            mujoco.mj_step(m, d, nstep=int(n_substeps))
            mujoco.mj_kinematics(m, d)        # positions after the step (mj_step leaves them one behind)

    def all_healthy(self) -> bool:
        return bool(self.healthy().all())

    def healthy(self) -> np.ndarray:
        q, v = self.qpos, self.qvel
        with np.errstate(invalid="ignore"):
            return (np.isfinite(q).all(1) & np.isfinite(v).all(1) & (np.abs(v) < _MAX_QVEL).all(1)
                    & (np.abs(q) < _MAX_QPOS).all(1))

    def close(self) -> None:
        pass

    # -- questions, in body lengths ---------------------------------------------------------------------
    def curvature(self) -> np.ndarray:
        """(P, J) joint angle * n_segments, rad / BL (as on wormsim's body)."""
        return self.qpos[:, 3:] * self.n_segments

    def com_and_heading(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, 2) centre of mass (BL; every link has the same mass) and (P, 2) unit heading, centre of
        mass -> nose."""
        com = np.empty((self.n_worms, 2))
        nose = np.empty((self.n_worms, 2))
        m = self.model
        mass = m.body_mass[self._segments]
        for k, d in enumerate(self.datas):
            com[k] = mass @ d.xipos[self._segments, :2] / mass.sum()
            nose[k] = d.geom_xpos[self._nose, :2]
        v = nose - com
        heading = v / np.maximum(np.hypot(v[:, 0], v[:, 1]), 1e-12)[:, None]
        return com / self.body_length, heading

    def head_frame(self) -> tuple[np.ndarray, np.ndarray]:
        """(P, 2) head velocity in its frame (forward, lateral; BL/s) and (P, 2) head direction (cos, sin):
        the head looks along its body's -y axis."""
        q, v = self.qpos, self.qvel
        th = q[:, 2]
        fwd = np.stack([np.sin(th), -np.cos(th)], axis=1)
        lat = np.stack([np.cos(th), np.sin(th)], axis=1)
        vel = v[:, 0:2] / self.body_length
        return np.stack([(vel * fwd).sum(1), (vel * lat).sum(1)], axis=1), fwd

    # -- rendering --------------------------------------------------------------------------------------
    def render_data(self, worm: int = 0) -> mujoco.MjData:
        if not 0 <= worm < self.n_worms:
            raise IndexError(f"worm must be in 0..{self.n_worms - 1}, got {worm}")
        d = self.datas[worm]
        mujoco.mj_forward(self.model, d)
        return d

    def camera_name(self, worm: int = 0) -> str:
        return "tracking1"


class DMCSwimTask(SwimTask):
    """wormsim's Swim task (envs/swim.py) on dm_control's swimmer (module docstring)."""

    def __init__(self, n_worms: int = 1, n_segments: int = 6, medium: str | float = "water",
                 control_dt: float = CONTROL_DT, **kwargs: Any) -> None:
        if isinstance(n_segments, bool) or not isinstance(n_segments, (int, np.integer)) or \
                not 4 <= n_segments <= 48:
            raise ValueError(f"n_segments (links of dm_control's swimmer) must be an integer in 4..48 "
                             f"(wormsim's layout), got {n_segments!r}")
        if medium != "water":
            raise ValueError(f"the dm_control swimmer swims in its model's own fluid (MuJoCo's inertia-based "
                             f"drag, density 3000); --medium must stay 'water', got {medium!r}")
        for key in ("muscle_tau", "timestep", "load", "bending_stiffness", "markers", "nthread"):
            kwargs.pop(key, None)     # wormsim body options; dm_control's body has its own physics
        # SwimTask builds wormsim's body for n_segments; the task's plumbing (head oscillator, reward,
        # truncation, divergence) is kept and the body swapped for dm_control's before any step.
        super().__init__(n_worms=n_worms, n_segments=n_segments, control_dt=control_dt, **kwargs)
        self.body.close()
        self.body = DMCSwimmerBody(n_worms=n_worms, n_segments=n_segments)
        self.n_substeps = max(1, round(control_dt / self.body.timestep))
        if not math.isclose(self.n_substeps * self.body.timestep, control_dt, rel_tol=1e-6):
            raise ValueError(f"control_dt must be a multiple of the swimmer's physics step "
                             f"({self.body.timestep} s), got {control_dt}")

    def _observe_single(self) -> np.ndarray:
        return self._observe_many()

    def _observe_many(self) -> np.ndarray:
        lay, b = self.layout, self.body
        obs = np.zeros((self.n_worms, lay.obs_dim), dtype=np.float32)
        q, v = b.qpos, b.qvel
        obs[:, lay.angles] = q[:, 3:]
        obs[:, lay.velocities] = v[:, 3:]
        vel, direction = b.head_frame()
        obs[:, lay.head_velocity] = vel
        obs[:, lay.head_direction] = direction
        return obs


class DMCSwimEnv(WormEnv):
    """One dm_control swimmer under wormsim's Swim task (wormsim/DMCSwim-v0; module docstring)."""

    task_class = DMCSwimTask


class DMCSwimVectorEnv(WormVectorEnv):
    """num_envs dm_control swimmers of wormsim/DMCSwim-v0 (module docstring)."""

    task_class = DMCSwimTask
