"""The worm body: a generated MuJoCo model of one or many planar segment chains in a viscous medium.

Units: lengths in body lengths (BL, the worm is 1 long), time in seconds, angles in radians. Forces are in an
arbitrary unit fixed by the tangential drag coefficient (``drag_tangential`` = 1 force / (BL/s) per BL of
body); every other force-like parameter is quoted relative to it.

The body is a chain of ``n_segments`` capsules joined by ``n_segments - 1`` hinges about the vertical axis,
head first. The head segment carries the root joints (slide x, slide y, hinge z), so the head tip's world
position, heading and velocity are read straight from ``qpos``/``qvel``. Every joint has a dorsal muscle
(gear +1) and a ventral muscle (gear -1): MuJoCo ``general`` actuators with first-order activation dynamics
(``dyntype="filterexact"``, time constant ``muscle_tau``), control range [0, 1]. The body is a Kelvin-Voigt
beam: bending stiffness ``bending_stiffness`` (EI, force BL^2) becomes a joint stiffness EI * n_segments, and
a joint damping with relaxation time ``body_relaxation_time``.

Drag: resistive force theory (Gray & Hancock 1955). A segment of length l moving with velocity v_t along its
axis and v_n across it, and turning at rate w, feels f_t = -c_t l v_t, f_n = -c_n l v_n and a torque
-c_n l^3 w / 12, with c_n = K c_t and K the medium's drag ratio (about 1.5 in water, about 10 on agar;
Fang-Yen et al. 2010, PNAS). MuJoCo's own fluid model cannot express this (its viscous term is isotropic), so
the drag is built into the model as *passive actuators with site transmission*: one per segment and axis
(tangential, normal, rotational), with zero gain and an affine bias -c * velocity, where the actuator
velocity is the segment-centre site's velocity along that local axis and the force acts along the same axis.
MuJoCo then computes all drag in C inside ``mj_step`` (no Python per physics step), and the
``implicitfast`` integrator treats it implicitly, as it does joint damping, so a large timestep stays
stable. tests/test_body.py checks these forces against an explicit numpy RFT computation.

Many worms: ``WormBody(n_worms=P)`` puts P identical worms in ONE model on a grid (``spacing`` BL apart, so
none touches another; there are no contacts anyway). Worm p's state is row p of ``qpos`` / ``qvel`` / ``act``
views of shape (P, ...), and every question the body answers is vectorised over worms. Positions are reported
relative to each worm's home on the grid, so worm p of a population moves exactly like a lone worm.

Actuator order: the P * 2J muscles first (worm-major, then dorsal joints head to tail, then ventral), then
the 3 * P * n_segments drag actuators, which are never part of an action.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

#: Drag ratio c_n / c_t by medium name (Fang-Yen et al. 2010, PNAS: ~1.5 in water, ~10 on agar).
MEDIA: dict[str, float] = {"water": 1.5, "agar": 10.0}

MIN_SEGMENTS, MAX_SEGMENTS = 4, 48
N_ROOT = 3  # root degrees of freedom per worm: slide x, slide y, hinge z

# A worm whose state leaves these bounds has diverged: it is reset on its own (see WormBody.healthy).
_MAX_QVEL = 1e4   # rad/s or BL/s; a swimming worm stays below ~1e2
_MAX_QPOS = 1e6   # BL or rad


def drag_ratio(medium: str | float) -> float:
    """c_n / c_t for a medium name ("water" 1.5, "agar" 10) or a positive number."""
    if isinstance(medium, str):
        if medium not in MEDIA:
            raise ValueError(f"unknown medium {medium!r}; choose from {', '.join(sorted(MEDIA))} "
                             "or give a drag ratio > 0")
        return MEDIA[medium]
    try:
        k = float(medium)
    except (TypeError, ValueError):
        raise ValueError(f"medium must be one of {', '.join(sorted(MEDIA))} or a number > 0, "
                         f"got {medium!r}") from None
    if not math.isfinite(k) or k <= 0:
        raise ValueError(f"drag ratio must be a finite number > 0, got {medium!r}")
    return k


@dataclass(frozen=True)
class BodyParams:
    """Physical parameters of one worm (every worm of a model shares them).

    n_segments: segments of the chain, 4..48; J = n_segments - 1 joints.
    medium: "water", "agar" or a drag ratio c_n/c_t > 0.
    muscle_tau: muscle activation time constant, s.
    drag_tangential: c_t, force / (BL/s) per BL of body; sets the force unit.
    bending_stiffness: EI, force * BL^2; joint stiffness is EI * n_segments.
    body_relaxation_time: Kelvin-Voigt damping / stiffness of the body, s. It also bounds the fastest
        bending mode's relaxation time from below, which keeps the explicit spring stable at ``timestep``.
    muscle_strength: joint torque at full dorsal-minus-ventral activation, force * BL; the static curvature
        it produces is muscle_strength / EI (rad/BL).
    mass: whole-worm mass; small, so the worm is overdamped (inertial time mass / c_t = 0.01 s).
    radius: capsule radius, BL (visual only; C. elegans is ~1 mm long and ~80 um wide).
    timestep: physics timestep, s.
    actuator: "muscle" (dorsal/ventral muscles, action in [0, 1]) or "servo" (one stiff position servo
        per joint, ctrl = target joint angle in rad; for prescribing kinematics in tests and analysis).
    servo_kp: servo stiffness, force * BL / rad.
    """
    n_segments: int = 12
    medium: str | float = "water"
    muscle_tau: float = 0.1
    drag_tangential: float = 1.0
    bending_stiffness: float = 0.1
    body_relaxation_time: float = 0.02
    muscle_strength: float = 1.0
    mass: float = 0.01
    radius: float = 0.04
    timestep: float = 0.01
    actuator: str = "muscle"
    servo_kp: float = 20.0

    def __post_init__(self) -> None:
        n = self.n_segments
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_SEGMENTS <= n <= MAX_SEGMENTS:
            raise ValueError(f"n_segments must be an integer in {MIN_SEGMENTS}..{MAX_SEGMENTS}, got {n!r}")
        drag_ratio(self.medium)
        if self.actuator not in ("muscle", "servo"):
            raise ValueError(f"unknown actuator {self.actuator!r}; choose from muscle, servo")
        for name in ("muscle_tau", "drag_tangential", "bending_stiffness", "body_relaxation_time",
                     "muscle_strength", "mass", "radius", "timestep", "servo_kp"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")

    @property
    def n_joints(self) -> int:
        return self.n_segments - 1

    @property
    def drag_ratio(self) -> float:
        return drag_ratio(self.medium)


def _f(x: float) -> str:
    return f"{x:.10g}"


def _worm_xml(p: int, home: tuple[float, float], bp: BodyParams,
              marker: bool) -> tuple[str, str, str, str]:
    """MJCF of worm p: (worldbody chain, marker body, muscle actuators, drag actuators)."""
    n, l, r = bp.n_segments, 1.0 / bp.n_segments, bp.radius
    m_seg = bp.mass / n
    k_joint = bp.bending_stiffness * n
    b_joint = k_joint * bp.body_relaxation_time
    c_t = bp.drag_tangential
    c_n = bp.drag_ratio * c_t
    # The capsule spans the segment minus its end caps, so the whole worm is exactly 1 BL long.
    half_cap = min(r, 0.45 * l)
    geom = (f'<geom type="capsule" fromto="{_f(-half_cap)} 0 0 {_f(-l + half_cap)} 0 0" '
            f'size="{_f(half_cap)}" mass="{_f(m_seg)}" material="worm"/>')
    body, close = [], []
    for s in range(n):
        pos = f"{_f(home[0])} {_f(home[1])} 0" if s == 0 else f"{_f(-l)} 0 0"
        body.append(f'<body name="w{p}_s{s}" pos="{pos}">')
        if s == 0:
            body.append(f'<joint name="w{p}_x" type="slide" axis="1 0 0"/>'
                        f'<joint name="w{p}_y" type="slide" axis="0 1 0"/>'
                        f'<joint name="w{p}_yaw" type="hinge" axis="0 0 1"/>'
                        # trackcom: the camera follows the worm's centre of mass, looking straight down.
                        f'<camera name="w{p}_track" mode="trackcom" pos="-0.5 0 1.6" xyaxes="1 0 0 0 1 0"/>')
        else:
            body.append(f'<joint name="w{p}_j{s - 1}" type="hinge" axis="0 0 1" '
                        f'stiffness="{_f(k_joint)}" damping="{_f(b_joint)}"/>')
        body.append(geom)
        body.append(f'<site name="w{p}_c{s}" pos="{_f(-l / 2)} 0 0" size="{_f(0.5 * r)}"/>')
        close.append("</body>")
    world = "".join(body) + "".join(close)
    marker_xml = ""
    if marker:
        marker_xml = (f'<body name="w{p}_target" mocap="true" pos="{_f(home[0])} {_f(home[1])} 0">'
                  f'<geom type="sphere" size="0.06" rgba="0.9 0.3 0.2 0.6"/></body>')
    J = bp.n_joints
    if bp.actuator == "muscle":
        dyn = f'dyntype="filterexact" dynprm="{_f(bp.muscle_tau)}"'
        gain = f'gaintype="fixed" gainprm="{_f(bp.muscle_strength)}" biastype="none" ctrlrange="0 1"'
        muscles = "".join(f'<general name="w{p}_dorsal{j}" joint="w{p}_j{j}" gear="1" {dyn} {gain}/>'
                          for j in range(J))
        muscles += "".join(f'<general name="w{p}_ventral{j}" joint="w{p}_j{j}" gear="-1" {dyn} {gain}/>'
                           for j in range(J))
    else:
        kv = bp.servo_kp * 0.01  # damping keeps the stiff servo stable with the explicit position term
        muscles = "".join(f'<position name="w{p}_servo{j}" joint="w{p}_j{j}" kp="{_f(bp.servo_kp)}" '
                          f'kv="{_f(kv)}" ctrlrange="-3 3"/>' for j in range(J))
    drag = []
    for s in range(n):
        for axis, gear, c in (("t", "1 0 0 0 0 0", c_t * l), ("n", "0 1 0 0 0 0", c_n * l),
                              ("r", "0 0 0 0 0 1", c_n * l ** 3 / 12.0)):
            drag.append(f'<general name="w{p}_drag{axis}{s}" site="w{p}_c{s}" gear="{gear}" '
                        f'gaintype="fixed" gainprm="0" biastype="affine" biasprm="0 0 {_f(-c)}"/>')
    return world, marker_xml, muscles, "".join(drag)


def worm_homes(n_worms: int, spacing: float = 2.0) -> np.ndarray:
    """(P, 2) home positions of the worms' heads on a square grid, ``spacing`` BL apart, BL."""
    cols = max(1, math.ceil(math.sqrt(n_worms)))
    idx = np.arange(n_worms)
    return np.stack([(idx % cols) * spacing, -(idx // cols) * spacing], axis=1).astype(float)


def build_mjcf(params: BodyParams, n_worms: int = 1, spacing: float = 2.0, markers: bool = False) -> str:
    """The MJCF text of ``n_worms`` identical worms in one model.

    markers: add one mocap sphere per worm (e.g. a navigation target); it has no physical effect.
    """
    if isinstance(n_worms, bool) or not isinstance(n_worms, (int, np.integer)) or n_worms < 1:
        raise ValueError(f"n_worms must be an integer >= 1, got {n_worms!r}")
    if spacing < 1.5:
        raise ValueError(f"spacing must be >= 1.5 BL so that no worm touches another, got {spacing}")
    homes = worm_homes(n_worms, spacing)
    parts = [_worm_xml(p, tuple(homes[p]), params, markers) for p in range(n_worms)]
    # Every worm's chain first, then the markers, so worm bodies are 1 .. P*n in order.
    world = "".join(w for w, _, _, _ in parts) + "".join(k for _, k, _, _ in parts)
    # Muscles of every worm first, then every drag actuator, so ctrl[:P*2J] is the whole action.
    actuators = "".join(m for _, _, m, _ in parts) + "".join(d for _, _, _, d in parts)
    extent = float(np.abs(homes).max()) + 20.0
    return f"""<mujoco model="wormsim_worm">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{_f(params.timestep)}" integrator="implicitfast" gravity="0 0 0">
    <flag contact="disable" autoreset="disable"/>
  </option>
  <visual><global offwidth="1280" offheight="1280"/><quality shadowsize="0"/></visual>
  <default><geom contype="0" conaffinity="0"/><site rgba="0 0 0 0"/></default>
  <asset>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.82 0.86 0.9" rgb2="0.72 0.77 0.82"
             width="256" height="256"/>
    <material name="grid" texture="grid" texrepeat="1 1" texuniform="true"/>
    <material name="worm" rgba="0.85 0.72 0.55 1"/>
  </asset>
  <worldbody>
    <light pos="0 0 10" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="{_f(extent)} {_f(extent)} 0.1" pos="0 0 -0.2" material="grid"/>
    {world}
  </worldbody>
  <actuator>{actuators}</actuator>
</mujoco>"""


class WormBody:
    """P identical worms in one MuJoCo model, and the questions a task asks about them.

    Every query returns arrays whose first axis is the worm (P). Positions are relative to each worm's home.

        body = WormBody(n_worms=4, n_segments=12, medium="water")
        body.reset()
        body.step(actions)            # actions: (P, 2J) in [0, 1]
        body.curvature()              # (P, J), rad / BL
    """

    def __init__(self, n_worms: int = 1, n_segments: int = 12, medium: str | float = "water",
                 muscle_tau: float = 0.1, spacing: float = 2.0, markers: bool = False, **params) -> None:
        self.params = BodyParams(n_segments=n_segments, medium=medium, muscle_tau=muscle_tau, **params)
        self.n_worms = int(n_worms)
        self.xml = build_mjcf(self.params, self.n_worms, spacing, markers)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        P, n, J = self.n_worms, self.n_segments, self.n_joints
        self.nq_worm = N_ROOT + J
        self.n_controls = 2 * J if self.params.actuator == "muscle" else J
        self.homes = worm_homes(P, spacing)
        # Views (no copies) onto MuJoCo's state, one row per worm.
        self.qpos = self.data.qpos.reshape(P, self.nq_worm)
        self.qvel = self.data.qvel.reshape(P, self.nq_worm)
        self.act = self.data.act.reshape(P, -1)
        self.ctrl = self.data.ctrl[:P * self.n_controls].reshape(P, self.n_controls)
        # Worm bodies are 1 .. P*n in order (body 0 is the world); markers, if any, come after.
        self._xipos = self.data.xipos[1:1 + P * n].reshape(P, n, 3)
        self.marker_pos = self.data.mocap_pos.reshape(P, 3) if markers else None
        self.head_body_ids = 1 + n * np.arange(P)
        self.time = np.zeros(P)  # seconds since each worm's last reset
        self.reset()

    # -- sizes ----------------------------------------------------------------------------------------
    @property
    def n_segments(self) -> int:
        return self.params.n_segments

    @property
    def n_joints(self) -> int:
        return self.params.n_joints

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    # -- state ------------------------------------------------------------------------------------------
    def reset(self, worms: np.ndarray | slice | None = None, joint_angles: np.ndarray | None = None) -> None:
        """Put the chosen worms (index array, bool mask or slice; default all) at home, at rest, muscles off.

        joint_angles: (len(worms), J) initial joint angles, rad (default 0: straight).
        """
        sel = slice(None) if worms is None else worms
        self.qpos[sel] = 0.0
        self.qvel[sel] = 0.0
        if self.act.shape[1]:
            self.act[sel] = 0.0
        self.ctrl[sel] = 0.0
        if joint_angles is not None:
            self.qpos[sel, N_ROOT:] = joint_angles
        self.time[sel] = 0.0
        # The step counter in mjData is shared, so per-worm time is kept in self.time instead.
        mujoco.mj_kinematics(self.model, self.data)

    def step(self, controls: np.ndarray, n_substeps: int = 1) -> None:
        """Hold ``controls`` (P, n_controls) for ``n_substeps`` physics steps (one C call, no Python per step)."""
        self.ctrl[:] = controls
        mujoco.mj_step(self.model, self.data, nstep=n_substeps)
        # Positions after the step, for the centre-of-mass queries (mj_step leaves them one step behind).
        mujoco.mj_kinematics(self.model, self.data)
        self.time += n_substeps * self.timestep

    def healthy(self) -> np.ndarray:
        """(P,) bool: state finite and within bounds. A False worm has diverged and should be reset."""
        q, v = self.qpos, self.qvel
        ok = np.isfinite(q).all(1) & np.isfinite(v).all(1)
        if self.act.shape[1]:
            ok &= np.isfinite(self.act).all(1)
        with np.errstate(invalid="ignore"):
            ok &= (np.abs(v) < _MAX_QVEL).all(1) & (np.abs(q) < _MAX_QPOS).all(1)
        return ok

    # -- questions (dm_control Physics style), vectorised over worms ------------------------------------
    def joint_angles(self) -> np.ndarray:
        """(P, J) joint angles head to tail, rad; positive = bent toward the dorsal side."""
        return self.qpos[:, N_ROOT:].copy()

    def joint_velocities(self) -> np.ndarray:
        """(P, J) joint angular velocities, rad/s."""
        return self.qvel[:, N_ROOT:].copy()

    def curvature(self) -> np.ndarray:
        """(P, J) body curvature at each joint, rad / BL (joint angle * n_segments)."""
        return self.qpos[:, N_ROOT:] * self.n_segments

    def muscle_activation(self) -> np.ndarray:
        """(P, 2J) current muscle activations in [0, 1]: dorsal head to tail, then ventral."""
        return self.act.copy()

    def head_position(self) -> np.ndarray:
        """(P, 2) head tip position relative to the worm's home, BL."""
        return self.qpos[:, 0:2].copy()

    def head_angle(self) -> np.ndarray:
        """(P,) heading of the head segment in the world, rad (0 = +x, the initial heading)."""
        return self.qpos[:, 2].copy()

    def head_direction(self) -> np.ndarray:
        """(P, 2) unit vector of the head segment's heading in the world frame: cos, sin."""
        th = self.qpos[:, 2]
        return np.stack([np.cos(th), np.sin(th)], axis=1)

    def head_velocity(self) -> np.ndarray:
        """(P, 2) head tip velocity in the head's own frame: forward, lateral; BL/s."""
        th, vx, vy = self.qpos[:, 2], self.qvel[:, 0], self.qvel[:, 1]
        c, s = np.cos(th), np.sin(th)
        return np.stack([c * vx + s * vy, -s * vx + c * vy], axis=1)

    def segment_positions(self) -> np.ndarray:
        """(P, n_segments, 2) segment centres (centres of mass) head to tail, relative to home, BL."""
        return self._xipos[:, :, :2] - self.homes[:, None, :]

    def com_position(self) -> np.ndarray:
        """(P, 2) centre of mass relative to the worm's home, BL (segments have equal mass)."""
        return self._xipos[:, :, :2].mean(axis=1) - self.homes

    def com_velocity(self) -> np.ndarray:
        """(P, 2) instantaneous centre-of-mass velocity in the world frame, BL/s."""
        m, d = self.model, self.data
        mujoco.mj_comPos(m, d)
        mujoco.mj_comVel(m, d)
        mujoco.mj_subtreeVel(m, d)
        return d.subtree_linvel[self.head_body_ids, :2].copy()

    def heading(self) -> np.ndarray:
        """(P, 2) unit vector from the centre of mass to the head tip: the body's heading."""
        v = self.qpos[:, 0:2] - self.com_position()
        norm = np.linalg.norm(v, axis=1, keepdims=True)
        return np.divide(v, norm, out=np.tile([1.0, 0.0], (len(v), 1)), where=norm > 1e-9)

    # -- rendering --------------------------------------------------------------------------------------
    def camera_name(self, worm: int) -> str:
        """Name of the camera that follows worm ``worm`` from above."""
        return f"w{worm}_track"
