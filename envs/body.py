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
-c_n l^3 w / 12, with c_n = K c_t and K the medium's drag ratio (MEDIA below: 2 for water as the animal is
measured in it, near a surface; 10 on agar). The medium's viscosity relative to water (``load``, Fang-Yen et al.
2010's axis) multiplies both coefficients. MuJoCo's own fluid model cannot express this (its viscous term is isotropic), so
the drag is built into the model as *passive actuators with site transmission*: one per segment and axis
(tangential, normal, rotational), with zero gain and an affine bias -c * velocity, where the actuator
velocity is the segment-centre site's velocity along that local axis and the force acts along the same axis.
MuJoCo then computes all drag in C inside ``mj_step`` (no Python per physics step), and the
``implicitfast`` integrator treats it implicitly, as it does joint damping, so a large timestep stays
stable. tests/test_body.py checks these forces against an explicit numpy RFT computation.

Many worms: ``WormBody(n_worms=P)`` keeps ONE compiled model of one worm and P states of it (rows of
``qpos`` / ``qvel`` / ``act``, shape (P, ...)), advanced together by ``mujoco.rollout``; every question the
body answers is vectorised over worms. (One model holding all P worms costs O(P^2) per step, because MuJoCo
computes each site-transmission actuator's moment from a Jacobian dense over every DoF of the model; see
WormBody.) Positions are relative to each worm's home (``homes``, a grid ``spacing`` BL apart, used only to
lay worms out for drawing), so worm p of a population moves exactly like a lone worm, bit for bit.
``build_mjcf(params, n_worms=P)`` still builds a model of P worms on that grid (e.g. to draw them together).

Actuator order (of a model built for P worms; WormBody's model has P = 1): the P * 2J muscles first
(worm-major, then dorsal joints head to tail, then ventral), then the 3 * P * n_segments drag actuators,
which are never part of an action.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

#: Drag ratio K = c_n / c_t by medium name. Why these values (docs/body/README.md has the measurements):
#: - "water-bulk" 1.5: a slender body far from any wall in a Newtonian fluid, resistive-force theory
#:   (Gray & Hancock 1955, J. Exp. Biol. 32:802; Lighthill 1976, SIAM Rev. 18:161: c_n / c_t -> 2 only
#:   as the body's aspect ratio -> infinity, about 1.5 for a worm of aspect ratio ~15); Sznitman et al.
#:   2010 (Phys. Fluids 22:121901) estimate ~1.4 for C. elegans.
#: - "water" 2.0: the same fluid next to a plane wall, where the animal's swimming is measured (worms
#:   swim at the bottom of a drop or in shallow chambers; Sznitman et al. 2010 image them in thin
#:   channels). A slender body parallel to a wall at a distance small against its length has
#:   c_t = 2 pi mu / ln(2h/a) and c_n = 4 pi mu / ln(2h/a), so K -> 2 (Katz, Blake & Paveri-Fontana
#:   1975, J. Fluid Mech. 72:529); between two walls K is larger still, and bead-model hydrodynamics
#:   of C. elegans's own gait give about twice the unconfined speed under strong confinement (Bilbao
#:   et al. 2013, Phys. Fluids 25:081902). With K = 1.5 no curvature amplitude of the animal's
#:   swimming wave reaches its speed (an independent continuum RFT computation peaks at a slip of
#:   0.07, the animal's is ~0.13; docs/body/README.md).
#: - "agar" 10: a worm crawling on an agar surface, from its kinematics and lubrication theory
#:   (Shen et al. 2012, Biophys. J. 102:2772: c_n ~ 220, c_t ~ 22 in their units, ratio ~10).
#: The viscosity of the medium (``load``) scales c_n and c_t alike, leaving K; see BodyParams.load.
MEDIA: dict[str, float] = {"water": 2.0, "water-bulk": 1.5, "agar": 10.0}

#: The load axis: the medium's viscosity relative to water's. Fang-Yen et al. (2010, PNAS 107:20323,
#: Fig. 2) vary it from water (1 mPa s) over about four orders of magnitude in Newtonian solutions;
#: agar imposes about 10,000-fold the resistance of water (their abstract).
MIN_LOAD, MAX_LOAD = 1e-3, 1e5

MIN_SEGMENTS, MAX_SEGMENTS = 4, 48
N_ROOT = 3  # root degrees of freedom per worm: slide x, slide y, hinge z

# A worm whose state leaves these bounds has diverged: it is reset on its own (see WormBody.healthy).
_MAX_QVEL = 1e4   # rad/s or BL/s; a swimming worm stays below ~1e2
_MAX_QPOS = 1e6   # BL or rad


def check_load(load) -> float:
    """The load (viscosity relative to water) as a float; ValueError naming the range otherwise."""
    try:
        x = float(load)
    except (TypeError, ValueError):
        raise ValueError(f"load must be a number (the medium's viscosity relative to water, "
                         f"{MIN_LOAD:g}..{MAX_LOAD:g}), got {load!r}") from None
    if isinstance(load, bool) or not (math.isfinite(x) and MIN_LOAD <= x <= MAX_LOAD):
        raise ValueError(f"load must be the medium's viscosity relative to water, in {MIN_LOAD:g}..{MAX_LOAD:g} "
                         f"(1: water; agar resists ~1e4-fold, Fang-Yen et al. 2010), got {load!r}")
    return x


def drag_ratio(medium: str | float) -> float:
    """c_n / c_t for a medium name (MEDIA: "water" 2, "water-bulk" 1.5, "agar" 10) or a positive number."""
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


#: Bending stiffness EI (force * BL^2, BodyParams): Sznitman et al. 2010's, from swimming kinematics (the
#: default), and Fang-Yen et al. 2010's whole-animal value (12.5-fold stiffer).
SZNITMAN_EI = 2.3
FANG_YEN_EI = 28.8
#: Static curvature (rad/BL) of full dorsal-minus-ventral activation: muscle_strength = this * EI by default.
STATIC_CURVATURE = 10.0


@dataclass(frozen=True)
class BodyParams:
    """Physical parameters of one worm (every worm of a model shares them).

    n_segments: segments of the chain, 4..48; J = n_segments - 1 joints.
    medium: a name of MEDIA ("water", "water-bulk", "agar") or a drag ratio c_n/c_t > 0.
    load: the medium's viscosity relative to water (Fang-Yen et al. 2010's axis), in MIN_LOAD..MAX_LOAD;
        it multiplies both drag coefficients (resistive-force coefficients are linear in viscosity),
        so the body's stiffness and muscles meet a load-fold external resistance. 1 by default for
        every medium, agar included: with the body's stiffness and muscle strength, the open loop
        wave of crawling barely bends the body at agar's ~1e4 (docs/body/README.md).
    muscle_tau: muscle activation time constant, s.
    drag_tangential: c_t in water (load 1), force / (BL/s) per BL of body; sets the force unit.
    bending_stiffness: EI, force * BL^2; joint stiffness is EI * n_segments. The force unit is water's
        tangential drag on 1 BL moving at 1 BL/s: by resistive-force theory c_t = 2 pi mu / ln(2q / a),
        q = 0.09 wavelength (Lighthill 1976, SIAM Rev. 18:161), ~3.3e-3 N s / m^2 for mu = 1 mPa s and a
        1.5 mm wave, so 1 force unit = 3.3e-9 N and 1 force BL^2 = 3.3e-15 N m^2 for a 1 mm worm.
        2.3 (the default, ``SZNITMAN_EI``): Sznitman et al. (2010, Biophys. J. 98:617) infer a Young's
        modulus E ~ 3.77 kPa from the swimming kinematics and a beam model; with a body radius a ~ 40 um,
        EI = E pi a^4 / 4 ~ 7.6e-15 N m^2 ~ 2.3. (The old value 0.1 made the body 20x softer against
        water: water's drag then shortened and flattened the commanded swimming wave, amplitude 5.7
        instead of 6.4 rad/BL, 0.29 instead of 0.33 BL/s; docs/body/README.md.) 28.8 (``FANG_YEN_EI``):
        Fang-Yen et al. (2010, PNAS 107:20323) give EI = 9.5e-14 N m^2 for the whole animal, 12.5-fold
        stiffer (as the Cohen lab's model code quotes it, minimal-worm's experiments; the paper's own
        text was not readable here); Backholm, Ryu & Dalnoki-Veress (2013, PNAS 110:4528), bending whole
        worms with a micropipette, find 3e-14 to 3e-13 N m^2 (as the same code lists them). A stiffer
        body keeps its wave against a heavier load: the load at which drag's torque meets the body's
        own moves up in proportion (docs/body/README.md).
    muscle_strength: joint torque at full dorsal-minus-ventral activation, force * BL; the static curvature
        it produces is muscle_strength / EI (rad/BL). None (default): 10 EI, 10 rad/BL whatever the
        stiffness (23 at the default EI, the ratio the body always had), about the animal's deepest
        regular bends (crawling).
    body_relaxation_time: Kelvin-Voigt damping / stiffness of the body, s. It also bounds the fastest
        bending mode's relaxation time from below, which keeps the explicit spring stable at ``timestep``.
    mass: whole-worm mass; small, so the worm is overdamped (inertial time mass / c_t = 1 ms): the
        low-Reynolds worm has no inertia to speak of.
    radius: capsule radius, BL (visual only; C. elegans is ~1 mm long and ~80 um wide).
    timestep: physics (midpoint) step, s; 20 ms by default, one step per control step (its accuracy
        against a 2.5 ms step: docs/measurements.md; see WormBody.step).
    actuator: "muscle" (dorsal/ventral muscles, action in [0, 1]) or "servo" (one stiff position servo
        per joint, ctrl = target joint angle in rad; for prescribing kinematics in tests and analysis).
    servo_kp: servo stiffness, force * BL / rad.
    """
    n_segments: int = 12
    medium: str | float = "water"
    load: float = 1.0
    muscle_tau: float = 0.1
    drag_tangential: float = 1.0
    bending_stiffness: float = SZNITMAN_EI
    body_relaxation_time: float = 0.02
    muscle_strength: float | None = None
    mass: float = 0.001
    radius: float = 0.04
    timestep: float = 0.02
    actuator: str = "muscle"
    servo_kp: float = 20.0

    def __post_init__(self) -> None:
        n = self.n_segments
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_SEGMENTS <= n <= MAX_SEGMENTS:
            raise ValueError(f"n_segments must be an integer in {MIN_SEGMENTS}..{MAX_SEGMENTS}, got {n!r}")
        drag_ratio(self.medium)
        check_load(self.load)
        if self.actuator not in ("muscle", "servo"):
            raise ValueError(f"unknown actuator {self.actuator!r}; choose from muscle, servo")
        if self.muscle_strength is None:
            object.__setattr__(self, "muscle_strength", STATIC_CURVATURE * self.bending_stiffness
                               if isinstance(self.bending_stiffness, (int, float)) else None)
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
    c_t = bp.drag_tangential * bp.load
    c_n = bp.drag_ratio * c_t
    # The capsule's axis spans the whole segment, joint to joint, so neighbours overlap at the joints and
    # the worm is drawn as one smooth body (1 BL between the end joints; the round tips add r at each end).
    # Visual only: contacts are off and the mass is explicit; its centre stays at mid-segment.
    geom = (f'<geom type="capsule" fromto="0 0 0 {_f(-l)} 0 0" size="{_f(r)}" mass="{_f(m_seg)}" '
            f'material="worm"/>')
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
  <option timestep="{_f(params.timestep / 2)}" integrator="implicitfast" gravity="0 0 0">
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


def _default_nthread(n_worms: int) -> int:
    """Rollout worker threads for a population: none below 32 worms, else one per core, at most 2.

    Threads pay only for large populations and only while a core is free (docs/measurements.md).
    Override with ``WormBody(nthread=...)`` (0 = step on the calling thread)."""
    if n_worms < 32:
        return 0
    return max(0, min(2, (os.cpu_count() or 1)))


class WormBody:
    """P identical worms, each with its own MuJoCo state, and the questions a task asks about them.

    Every query returns arrays whose first axis is the worm (P). Positions are relative to each worm's home.

        body = WormBody(n_worms=4, n_segments=12, medium="water")
        body.reset()
        body.step(actions)            # actions: (P, 2J) in [0, 1]
        body.curvature()              # (P, J), rad / BL

    Why not one model with all P worms: MuJoCo computes each site-transmission (drag) actuator's moment
    from a Jacobian dense over every DoF of the model, so one model of P worms costs O(P^2) per step
    (docs/measurements.md). Here ``model`` is the ONE-worm model and the
    population is P states of it: row p of ``state`` is worm p's MuJoCo state in mjSTATE_FULLPHYSICS
    layout (time, qpos, qvel, act), and ``qpos`` / ``qvel`` / ``act`` are (P, ...) views of its columns.
    A step advances all P states with ``mujoco.rollout`` (one C call per half-step pair, optionally on a
    thread pool; linear in P), and the midpoint update is one numpy operation over the population.
    (Chunks of a few worms per model were no faster; rollout over one-worm states needs no Python per
    chunk, can use a thread pool, and keeps a diverged worm's NaNs out of every other worm's arithmetic
    by construction.)

    A single worm (P = 1) is stepped by mj_step directly on ``data`` (cheaper than a rollout call), so
    ``data`` then always holds the live state with its kinematics; for P > 1 ``data`` is not a worm's live
    state: draw worm p from ``render_data(p)``.

    Centre-of-mass queries are planar forward kinematics in numpy (exact for this chain: segment k has
    heading yaw + the sum of the joint angles before it), not MuJoCo calls, so they read the current state
    whatever wrote it. ``render_data(worm)`` puts a worm's state into an MjData of ``model`` for drawing.
    """

    def __init__(self, n_worms: int = 1, n_segments: int = 12, medium: str | float = "water",
                 muscle_tau: float = 0.1, spacing: float = 2.0, markers: bool = False,
                 nthread: int | None = None, **params) -> None:
        self.params = BodyParams(n_segments=n_segments, medium=medium, muscle_tau=muscle_tau, **params)
        if isinstance(n_worms, bool) or not isinstance(n_worms, (int, np.integer)) or n_worms < 1:
            raise ValueError(f"n_worms must be an integer >= 1, got {n_worms!r}")
        self.n_worms = P = int(n_worms)
        n, J = self.n_segments, self.n_joints
        self.homes = worm_homes(P, spacing)
        # The model of ONE worm at the origin; every worm of the population is a state of it.
        self.xml = build_mjcf(self.params, 1, spacing, markers)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.nq_worm = nq = N_ROOT + J
        self.n_controls = nc = 2 * J if self.params.actuator == "muscle" else J
        na = m.na
        self.nstate = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        assert self.nstate == 1 + 2 * nq + na, "unexpected MuJoCo state layout"
        self._qp = slice(1, 1 + nq)
        self._qv = slice(1 + nq, 1 + 2 * nq)
        self._single = P == 1
        if self._single:
            # Views (no copies) onto the one MjData: mj_step works on them in place.
            d = self.data
            self.state = None
            self.qpos = d.qpos.reshape(1, nq)
            self.qvel = d.qvel.reshape(1, nq)
            self.act = d.act.reshape(1, na)
            self.ctrl = d.ctrl[:nc].reshape(1, nc)
            self.marker_pos = d.mocap_pos.reshape(1, 3) if markers else None
            self.nthread = 0
        else:
            self.state = np.zeros((P, self.nstate))
            self.qpos = self.state[:, self._qp]
            self.qvel = self.state[:, self._qv]
            self.act = self.state[:, 1 + 2 * nq:]
            self._control = np.zeros((P, 2, m.nu))       # rollout controls: 2 half steps, every actuator
            self.ctrl = np.zeros((P, nc))
            self._out = np.empty((P, 2, self.nstate))      # rollout output states
            self._sensordata = np.empty((P, 2, 0))
            self._q0 = np.empty((P, nq))
            self.marker_pos = np.zeros((P, 3)) if markers else None
            if markers:
                self.marker_pos[:, :2] = self.homes
            self.nthread = _default_nthread(P) if nthread is None else int(nthread)
            self._rollout = None
            self._rollout_pid = 0
            self._models = [m] * P
            self._datas = [mujoco.MjData(m) for _ in range(max(1, self.nthread))]
        # Forward kinematics constants, read from the compiled model (agreeing with MuJoCo's to rounding):
        # segment k's joint sits l behind joint k-1 and its centre of mass c behind its joint, so the centre
        # of mass is head tip - sum_k w_k u_k, u_k the unit heading of segment k, w_k = ((n-1-k) l + c) / n.
        self._l = -float(m.body_pos[2, 0])
        self._c = -float(m.body_ipos[1, 0])
        self._w = ((n - 1 - np.arange(n)) * self._l + self._c) / n
        self._w_list = self._w.tolist()
        self._q0_single = np.empty(nq)
        self._render_data: mujoco.MjData | None = None
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
        """Physics step, s (MuJoCo's own timestep is half of it: a midpoint step is two half steps)."""
        return self.params.timestep

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
        if self._single:
            self.data.time = 0.0
            # Keep data's derived quantities current: renderers draw straight from it.
            mujoco.mj_kinematics(self.model, self.data)
        else:
            self.state[sel, 0] = 0.0

    def step(self, controls: np.ndarray, n_substeps: int = 1) -> None:
        """Hold ``controls`` (P, n_controls) for ``n_substeps`` physics steps of ``timestep`` s each.

        Each physics step is a midpoint (second-order) step of the overdamped dynamics: MuJoCo takes two
        half steps (drag implicit, muscle activation exact), so qvel becomes the velocity at the midpoint
        configuration, and the positions are then advanced from the start by a full step at that velocity.
        Why: a swimmer's net progress is a small, second-order effect of large undulations, and the
        first-order position update of a plain semi-implicit step biases it by O(timestep) (here +90% in
        water at 2 ms; the midpoint step is within 3% at 20 ms and 0.2% at 10 ms). All qpos entries are slides and hinges,
        so the position update is a plain addition. Vectorised over every worm; no Python per worm.
        """
        h = self.timestep
        if self._single:
            m, d = self.model, self.data
            self.ctrl[:] = controls
            qpos, qvel, q0 = d.qpos, d.qvel, self._q0_single
            for _ in range(n_substeps):
                q0[:] = qpos
                mujoco.mj_step(m, d, nstep=2)
                np.multiply(qvel, h, out=qpos)
                qpos += q0
            # Positions after the step, for renderers drawing from data (mj_step leaves them one step behind).
            mujoco.mj_kinematics(m, d)
        else:
            self.ctrl[:] = controls
            self._control[:, :, :self.n_controls] = self.ctrl[:, None, :]
            if self._rollout is None or self._rollout_pid != os.getpid():
                # (Re)start the pool lazily, and in a forked child, whose copy of the pool has no threads.
                self._rollout = rollout.Rollout(nthread=self.nthread)
                self._rollout_pid = os.getpid()
            state, out, q0 = self.state, self._out, self._q0
            last = out[:, 1]
            for _ in range(n_substeps):
                np.copyto(q0, self.qpos)
                self._rollout.rollout(self._models, self._datas, state, self._control, skip_checks=True,
                                      nstep=2, state=out, sensordata=self._sensordata)
                state[:] = last
                np.multiply(self.qvel, h, out=self.qpos)
                self.qpos += q0
        self.time += n_substeps * h

    def all_healthy(self) -> bool:
        """True if every worm is healthy (see ``healthy``): the per-step fast path, one reduction per array."""
        if self._single:
            # Cheaper sufficient test first: |v|_2 < bound implies every |v_i| < bound (NaN fails it).
            v, q = self.data.qvel, self.data.qpos
            if v.dot(v) < _MAX_QVEL ** 2 and q.dot(q) < _MAX_QPOS ** 2:
                return True
        return bool(np.abs(self.qvel).max() < _MAX_QVEL and np.abs(self.qpos).max() < _MAX_QPOS)

    def healthy(self) -> np.ndarray:
        """(P,) bool: state finite and within bounds. A False worm has diverged and should be reset."""
        q, v = self.qpos, self.qvel
        # Fast path for the common case (one reduction each); NaN makes max() NaN and the test False.
        if self.all_healthy():
            return np.ones(self.n_worms, dtype=bool)
        ok = np.isfinite(q).all(1) & np.isfinite(v).all(1)
        if self.act.shape[1]:
            ok &= np.isfinite(self.act).all(1)
        with np.errstate(invalid="ignore"):
            ok &= (np.abs(v) < _MAX_QVEL).all(1) & (np.abs(q) < _MAX_QPOS).all(1)
        return ok

    def close(self) -> None:
        """Stop the rollout thread pool, if any (also done when the body is garbage collected)."""
        r = getattr(self, "_rollout", None)
        if r is not None:
            if self._rollout_pid == os.getpid():
                r.close()
            self._rollout = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

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

    def segment_angles(self) -> np.ndarray:
        """(P, n_segments) heading of each segment in the world, head to tail, rad."""
        return np.cumsum(self.qpos[:, N_ROOT - 1:], axis=1)

    def segment_positions(self) -> np.ndarray:
        """(P, n_segments, 2) segment centres (centres of mass) head to tail, relative to home, BL."""
        th = self.segment_angles()
        u = np.stack([np.cos(th), np.sin(th)], axis=-1)                 # (P, n, 2)
        joints = np.cumsum(u, axis=1) - u                               # sum of the segments before
        return self.qpos[:, None, 0:2] - self._l * joints - self._c * u

    def _com_offset_single(self) -> tuple[float, float]:
        """Head tip minus centre of mass of the lone worm (P = 1), BL, in plain Python floats.

        The same sum as com_position, for one worm: on a dozen numbers a Python loop costs a third of the
        numpy calls (3 us vs 9 us here), and a single env asks for it twice per step.
        """
        q = self.data.qpos.tolist()
        th = cx = cy = 0.0
        cos, sin = math.cos, math.sin
        for qk, wk in zip(q[N_ROOT - 1:], self._w_list):
            th += qk
            cx += wk * cos(th)
            cy += wk * sin(th)
        return cx, cy

    def com_and_heading(self) -> tuple[np.ndarray, np.ndarray]:
        """(com_position(), heading()) together, sharing the forward kinematics: (P, 2) each."""
        if self._single:
            cx, cy = self._com_offset_single()
            q = self.data.qpos
            norm = math.hypot(cx, cy)
            heading = np.array([[cx / norm, cy / norm]]) if norm > 1e-9 else np.array([[1.0, 0.0]])
            return np.array([[float(q[0]) - cx, float(q[1]) - cy]]), heading
        com = self.com_position()
        return com, self._heading(com)

    def com_position(self) -> np.ndarray:
        """(P, 2) centre of mass relative to the worm's home, BL (segments have equal mass)."""
        if self._single:
            cx, cy = self._com_offset_single()
            q = self.data.qpos
            return np.array([[float(q[0]) - cx, float(q[1]) - cy]])
        q = self.qpos
        # sum_k w_k (cos, sin)(theta_k) as one complex product: fewest numpy calls (this runs every step).
        z = np.exp(1j * q[:, N_ROOT - 1:].cumsum(axis=1)) @ self._w
        return q[:, 0:2] - z.view(np.float64).reshape(-1, 2)

    def com_velocity(self) -> np.ndarray:
        """(P, 2) instantaneous centre-of-mass velocity in the world frame, BL/s."""
        th = np.cumsum(self.qpos[:, N_ROOT - 1:], axis=1)
        om = np.cumsum(self.qvel[:, N_ROOT - 1:], axis=1) * self._w      # w_k * d(theta_k)/dt
        out = self.qvel[:, 0:2].copy()
        out[:, 0] += np.einsum("pk,pk->p", np.sin(th), om)
        out[:, 1] -= np.einsum("pk,pk->p", np.cos(th), om)
        return out

    def heading(self) -> np.ndarray:
        """(P, 2) unit vector from the centre of mass to the head tip: the body's heading."""
        return self.com_and_heading()[1]

    def _heading(self, com: np.ndarray) -> np.ndarray:
        v = self.qpos[:, 0:2] - com
        norm = np.hypot(v[:, 0], v[:, 1])[:, None]
        if norm.min() > 1e-9:
            v /= norm
            return v
        return np.divide(v, norm, out=np.tile([1.0, 0.0], (len(v), 1)), where=norm > 1e-9)

    # -- rendering --------------------------------------------------------------------------------------
    def render_data(self, worm: int = 0) -> mujoco.MjData:
        """An MjData of ``model`` holding worm ``worm``'s current state, kinematics computed (for drawing).

        The worm is drawn at the origin (its positions are relative to its home); its marker, if any, is
        placed relative to the same home. For a single worm this is ``data`` itself.
        """
        if not 0 <= worm < self.n_worms:
            raise IndexError(f"worm must be in 0..{self.n_worms - 1}, got {worm}")
        if self._single:
            d = self.data
        else:
            if self._render_data is None:
                self._render_data = mujoco.MjData(self.model)
            d = self._render_data
            mujoco.mj_setState(self.model, d, self.state[worm], mujoco.mjtState.mjSTATE_FULLPHYSICS)
            if self.marker_pos is not None:
                d.mocap_pos[0] = self.marker_pos[worm]
                d.mocap_pos[0, :2] -= self.homes[worm]
        mujoco.mj_forward(self.model, d)   # derived quantities only; the state is unchanged
        return d

    def camera_name(self, worm: int = 0) -> str:
        """Name of the camera of ``model`` that follows the worm drawn by ``render_data(worm)`` from above."""
        return "w0_track"


def rft_swimming_speed(curvature, frequency: float, drag_ratio: float, n_points: int = 200,
                       steps_per_period: int = 200, periods: int = 2) -> float:
    """Mean speed (BL/s) of a free, inextensible body of length 1 whose curvature is prescribed, by
    resistive-force theory in the continuum limit: the reference the MuJoCo body is checked against
    (tests/test_gait.py) and the calibration argues with (docs/body/README.md).

    curvature(s, t) -> rad/BL at body positions s (0 head .. 1 tail, an array) and time t (s).
    At every instant the shape (in a frame fixed to the body's centroid and mean heading) is integrated
    from the curvature; the body's rigid velocity (two translations and a rotation) is the one that
    makes the total drag force and torque zero (no inertia at low Reynolds number), with f = -c_t v_t
    t - c_n v_n n per unit length and c_n / c_t = drag_ratio; the lab-frame position is integrated
    over ``periods`` periods of 1 / frequency. Written by hand: it is a few lines of linear algebra, and
    no library computes the free swimming of a prescribed curvature (MuJoCo is what it is checked against).
    """
    if not (frequency > 0 and drag_ratio > 0):
        raise ValueError(f"frequency and drag_ratio must be > 0, got {frequency}, {drag_ratio}")
    ds = 1.0 / n_points
    s = (np.arange(n_points) + 0.5) * ds
    eps = 1e-6

    def shape(t):
        th = np.cumsum(curvature(s, t)) * ds
        th = th - th.mean()
        r = np.stack([np.cumsum(np.cos(th)), np.cumsum(np.sin(th))], 1) * ds
        return r - r.mean(0), th

    dt = 1.0 / (frequency * steps_per_period)
    pos, phi = np.zeros(2), 0.0
    eye = np.eye(2)
    for i in range(steps_per_period * periods):
        t = i * dt
        r, th = shape(t)
        u = (shape(t + eps)[0] - r) / eps                                  # shape velocity, body frame
        tang = np.stack([np.cos(th), np.sin(th)], 1)
        tt = tang[:, :, None] * tang[:, None, :]
        D = tt + drag_ratio * (eye - tt)                                   # drag per unit c_t, (N, 2, 2)
        perp = np.stack([-r[:, 1], r[:, 0]], 1)                            # velocity of a unit rotation
        cross = lambda f: r[:, 0] * f[..., 1] - r[:, 1] * f[..., 0]      # z torque of forces at r
        A = np.empty((3, 3))
        A[:2, :2] = D.sum(0) * ds
        A[2, :2] = [cross(D[:, :, j]).sum() * ds for j in range(2)]     # torque of a unit velocity
        Dp = np.einsum("nij,nj->ni", D, perp)
        A[:2, 2] = Dp.sum(0) * ds
        A[2, 2] = cross(Dp).sum() * ds
        Du = np.einsum("nij,nj->ni", D, u)
        b = -np.concatenate([Du.sum(0), [cross(Du).sum()]]) * ds
        vx, vy, w = np.linalg.solve(A, b)
        c, si = math.cos(phi), math.sin(phi)
        pos += dt * np.array([c * vx - si * vy, si * vx + c * vy])
        phi += dt * w
    return float(np.linalg.norm(pos) * frequency / periods)
