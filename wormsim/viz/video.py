"""Rollout videos of one worm, rendered headless, with a camera that follows it and a fading trail.

    from wormsim.viz.video import record_video
    info = record_video(spec, params, "swim.mp4", duration=5, size=(320, 240))
    info["speed"], info["frequency"], info["wavelength"]   # BL / s, Hz, BL

What drives the worm (``mode``):

- ``"trained"``: the level in ``spec`` with ``params`` (n_params,), through the shared Interface.
- ``"untrained"``: the same level with its initial, connectome-derived parameters (a reference).
- ``"open-loop"``: no brain; envs.waves.TravellingWave (2 Hz, 1.5 body lengths, head to tail), the
  reference gait of a swimming C. elegans (Fang-Yen et al. 2010, PNAS). Its environment has the head
  oscillator off (the wave drives the head itself).

Only the body tasks (swim, navigate) can be filmed; the non-motor tasks (memory, memory-capacity,
digits) have no body, and ``rollout`` / ``record_video`` refuse them with a ValueError.

Rendering. Frames are drawn with MuJoCo's own ``mujoco.Renderer`` on the environment's model and data
(EGL: set ``MUJOCO_GL=egl`` before mujoco's rendering is first imported; this module sets it if unset).
The camera looks straight down and its look-at point follows the worm's centre of mass (smoothed), so
the worm stays in the middle of the picture; its distance is set from the body length (1 BL) so that
the frame's shorter side spans ``VIEW_SHORT_BL`` = 1.1 BL: in a 4:3 frame (1.47 BL wide) a straight
worm spans 68 % of the width and a swimming one (about 0.7 BL from end to end) about half, and
turned any way it stays inside the frame. What the scene adds after ``update_scene``,
all in 3-D (correct under any camera, no projection to maintain):

- the head segment drawn in ``HEAD_RGBA`` (red), the rest of the worm in its own colour;
- the trail of the centre of mass: GL line segments (``mjv_connector``, mjGEOM_LINE, ``h / 40``
  pixels wide) lying just above the floor, in ``TRAIL_RGB`` (dark violet, apart from both the floor
  and the head), opaque now and fading to alpha 0.15 at ``trail_seconds`` ago (default 8 s: a worm
  swimming 0.2 BL/s clears its own length in ~5 s).

On the pixels (Pillow): the simulated time, the forward speed averaged over the last second (BL/s;
the instantaneous speed swings with every undulation), an optional label, and a scale bar.

A task with a target (navigate: the env's task has ``target`` and its info a ``distance``) is filmed so
that the target and the path are in the picture: the camera looks at the middle of the box holding the
start, the target and the worm, from far enough that the box plus ``TARGET_MARGIN_BL`` fits the frame
(never closer than the swim view), smoothed so that it follows the worm without jumps. The target is
MuJoCo's marker sphere; around it a ring marks the success radius and faint rings every
``ISO_STEP_BL`` BL the attractant's iso-concentration lines (the gradient: the concentration depends on
the distance alone); the trail keeps the whole episode's path; the overlay gives the head's distance
to the target in place of the speed, and the time it arrived.

Running. The brain-driven modes run through ``wormsim.rollout.run_episodes``, the closed-loop runner
that training and the experiment use, on the rendering environment seen as a vector environment of one
worm (``_Recorder``): the recorder takes the body's curvature, centre of mass and speed and the frames
inside its ``step``, so a level with a simulator of its own (conductance: one Brian2 run per episode,
through its ``drive`` hook) is filmed the same way as every other. ``benchmark_render()`` times the
renderer alone (frames per second; the body's physics outside the timing).

Metrics of the rollout (``wave_metrics``: ``wormsim.analysis.gait``, the one gait measure, which
distillation's report uses too; from the body-curvature kymograph after the episode's first quarter):
``speed`` is the environment's forward speed (info["speed"], BL/s) averaged over the control steps, or,
where the task reports none, the net centre-of-mass displacement over time; ``frequency`` is the dominant
frequency (Hz) of the curvature at mid-body; at that frequency each moving joint's curvature has an
amplitude and a phase, and a line fitted to the phases along the body gives the head-to-tail
``phase_lag`` (cycles), the ``wavelength`` (BL) and the ``wave_speed`` (BL/s, positive head to tail);
``amplitude`` is the mid-body curvature amplitude (rad/BL). ``head_cpg`` says whether the body's head
oscillator ran (Hz, 0 = off): with it on, the head bends at its frequency whatever the circuit does, and a
mid-body frequency equal to it only says the body follows the head. A swimming C. elegans: about 2 Hz with a
wavelength of about 1.5 BL, head to tail (Fang-Yen et al. 2010).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormsim.analysis import GAIT_KEYS as WAVE_KEYS, SKIP, STANDING_LAG, gait  # noqa: F401

MODES = ("trained", "untrained", "open-loop")
TRAIL_RGB = (0.42, 0.12, 0.62)       # dark violet: apart from the blue-grey floor and the red head
HEAD_RGBA = (0.85, 0.10, 0.10, 1.0)  # red head segment
VIEW_SHORT_BL = 1.1                  # world extent across the frame's shorter side, body lengths
TRAIL_MIN_ALPHA = 0.15               # the oldest trail point still shown
SPEED_WINDOW_S = 1.0                 # the overlay's speed: the mean over the last second
TARGET_MARGIN_BL = 0.6               # navigate: world margin around start, target and worm in the view
ISO_STEP_BL = 0.5                    # navigate: spacing of the iso-concentration rings, BL
RING_RGBA = (0.85, 0.25, 0.15, 0.9)  # the success radius
ISO_RGBA = (0.85, 0.25, 0.15, 0.25)  # the iso-concentration rings


class NoBodyError(ValueError):
    """The task has no body: nothing to film or to draw a kymograph of."""


def check_filmable(task: str) -> None:
    """NoBodyError (a ValueError) unless ``task`` has a body (the task registry's ``has_body``);
    ValueError for a task that is not registered."""
    from wormsim.envs.tasks import get_task, task_names
    if not get_task(task).has_body:
        raise NoBodyError(f"task {task!r} has no body to film (only {', '.join(task_names(has_body=True))} "
                          f"have a MuJoCo worm); its runs report a score in [0, 1]: `wormsim plot` draws it")


# ---- metrics ----------------------------------------------------------------------------------------
# one gait measure for the whole package (the distillation report uses it too): wormsim.analysis.gait
def undulation_frequency(curvature: np.ndarray, dt: float, joint: int | None = None,
                         skip: float = 0.0) -> float:
    """Dominant frequency (Hz) of the body curvature at one joint (default: mid-body): the frequency of
    ``wormsim.analysis.gait`` (NaN for a joint bending less than 0.05 rad/BL, a flat trace or fewer than
    1.5 periods in the window). curvature: (T, J) rad / BL, one row per ``dt`` s; skip: the fraction of
    rows left out at the start (0: the whole kymograph given).
    """
    curvature = np.asarray(curvature, float)
    if curvature.ndim != 2:
        raise ValueError(f"curvature must be (T, J), got shape {curvature.shape}")
    return float(gait(curvature, dt, joint=joint, skip=skip)["frequency"])


def wave_metrics(curvature: np.ndarray, dt: float, joint_positions: np.ndarray | None = None,
                 skip: float = 0.0) -> dict:
    """The body wave seen in a curvature kymograph (T, J) rad / BL, joints head to tail, one row per
    ``dt`` s: ``wormsim.analysis.gait`` (frequency, phase_lag, wavelength, wave_speed, amplitude,
    amplitude_head as floats, NaN where there is no undulation; direction; profile). joint_positions:
    (J,) body position of each joint (default (j + 1) / (J + 1), the body's joints). skip: the fraction
    of rows left out at the start (0: the whole kymograph given; a whole episode from its reset:
    ``wormsim.analysis.SKIP``, as ``Rollout.wave`` and distillation's report measure it)."""
    curvature = np.asarray(curvature, float)
    if curvature.ndim != 2:
        raise ValueError(f"curvature must be (T, J), got shape {curvature.shape}")
    return gait(curvature, dt, joint_positions, skip=skip)


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or not np.isfinite(v) else format(v, fmt)


def describe_wave(m: dict, short: bool = False) -> list[str] | str:
    """The wave metrics (``wave_metrics``, a ``Rollout.wave`` or a ``record_video`` info dict) in
    words: two lines (the wave; amplitude and head oscillator), or with ``short`` one compact line
    for a figure title."""
    f, lag, cpg = m.get("frequency", np.nan), m.get("phase_lag", np.nan), m.get("head_cpg")
    direction = m.get("direction", "none")
    if short:
        parts = [f"{_num(f, '.2f')} Hz" if np.isfinite(f) else "no undulation at mid-body"]
        if not np.isfinite(f):
            pass
        elif direction == "standing":
            parts.append("standing wave")
        elif np.isfinite(lag):
            parts += [f"λ {_num(m.get('wavelength'), '.2f')} BL",
                      f"wave {_num(m.get('wave_speed'), '+.2f')} BL/s"]
        if np.isfinite(f):
            parts.append(f"mid-body {_num(m.get('amplitude'), '.1f')} rad/BL")
        if cpg is not None:
            parts.append(f"head osc. {format(cpg, 'g') + ' Hz' if cpg > 0 else 'off'}")
        return ", ".join(parts)
    if not np.isfinite(f):
        wave = "body wave: none (no undulation at mid-body)"
    elif direction == "standing" or not np.isfinite(lag):
        wave = (f"body wave: {_num(f, '.2f')} Hz, standing (head-to-tail phase lag "
                f"{_num(lag, '+.2f')} cycles)")
    else:
        wave = (f"body wave: {_num(f, '.2f')} Hz, {direction}, phase lag {_num(lag, '+.2f')} cycles, "
                f"wavelength {_num(m.get('wavelength'), '.2f')} BL, wave speed "
                f"{_num(m.get('wave_speed'), '+.2f')} BL/s  (C. elegans in water: ~2 Hz, ~1.5 BL)")
    amplitude = (f"curvature amplitude: {_num(m.get('amplitude'), '.2f')} rad/BL at mid-body, "
                 f"{_num(m.get('amplitude_head'), '.2f')} at the head")
    if cpg is not None:
        amplitude += ("; head oscillator on (" + format(cpg, "g") + " Hz: it sets the head's rhythm)"
                      if cpg > 0 else "; head oscillator off")
    return [wave, amplitude]


# ---- what a rollout yields ---------------------------------------------------------------------------
@dataclass
class Rollout:
    """One recorded episode of one worm.

    curvature: (T, J) rad / BL, head to tail. com: (T, 2) centre of mass in the world, BL.
    speed: (T,) forward speed reported by the env, BL/s (NaN where it reports none).
    traces: what ``wormsim.rollout.run_episodes`` recorded, each (T, ...) (the worm's row): the brain's
    traces ("activity" always, plus the level's own: "voltage", "spikes", "state", ...) and the
    runner's "u" (inputs), "muscles", "obs"; empty for open-loop. control_dt: s per row.
    frames: rendered frames (H, W, 3) uint8, every ``frame_every`` control steps.
    head_cpg: the body's head oscillator, Hz (0: off).
    distance: (T,) head tip to target, BL, and arrived: s when the head first came within the success
    radius (None: never), for a task with a target (navigate); empty and None otherwise.
    """
    curvature: np.ndarray
    com: np.ndarray
    speed: np.ndarray
    control_dt: float
    traces: dict = field(default_factory=dict)
    frames: list = field(default_factory=list)
    frame_every: int = 1
    head_cpg: float = 0.0
    distance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    arrived: float | None = None

    @property
    def duration(self) -> float:
        return len(self.curvature) * self.control_dt

    @property
    def mean_speed(self) -> float:
        """BL/s: the env's forward speed averaged, or the net displacement / duration."""
        if np.isfinite(self.speed).any():
            return float(np.nanmean(self.speed))
        if len(self.com) < 2:
            return float("nan")
        return float(np.linalg.norm(self.com[-1] - self.com[0]) / max(self.duration, 1e-12))

    @property
    def frequency(self) -> float:
        return self.wave["frequency"]

    @property
    def wave(self) -> dict:
        """``wave_metrics`` of the episode's curvature after its first quarter (analysis.SKIP, the
        transient from the reset posture; distillation's report measures its episodes the same way),
        with head_cpg (Hz)."""
        wave = wave_metrics(self.curvature, self.control_dt, skip=SKIP)
        return {**wave, "head_cpg": float(self.head_cpg)}


# ---- rendering ---------------------------------------------------------------------------------------
def _mujoco_of(env):
    """(model, data) of a wormsim env: on the env itself or on its WormBody."""
    u = env.unwrapped
    for owner in (u, getattr(u, "body", None)):
        if owner is not None and hasattr(owner, "model") and hasattr(owner, "data"):
            return owner.model, owner.data
    raise AttributeError(f"{type(u).__name__} exposes no MuJoCo model/data (env.unwrapped.model or "
                         f".body.model) to render")


def control_dt_of(env) -> float:
    """Seconds per environment step: env.unwrapped.control_dt, or that of its task."""
    u = env.unwrapped
    for owner in (u, getattr(u, "task", None)):
        value = getattr(owner, "control_dt", None) if owner is not None else None
        if value is not None:
            return float(value)
    raise AttributeError(f"{type(u).__name__} states no control_dt (env.unwrapped.control_dt or .task.control_dt)")


def head_cpg_of(env) -> float:
    """The env's head oscillator frequency, Hz (0: off, or an env without one)."""
    u = env.unwrapped
    for owner in (getattr(u, "task", None), u):
        value = getattr(owner, "head_cpg", None) if owner is not None else None
        if value is not None:
            return float(value)
    return 0.0


def _world_com(env) -> np.ndarray:
    """(2,) centre of mass of worm 0 in world coordinates, BL."""
    u = env.unwrapped
    body = getattr(u, "body", None)
    if body is not None and hasattr(body, "com_position"):
        homes = getattr(body, "homes", np.zeros((1, 2)))
        return np.asarray(body.com_position()[0] + homes[0], float)
    _, data = _mujoco_of(env)
    return np.asarray(data.xipos[1:, :2].mean(axis=0), float)


class TrailRenderer:
    """Top-down frames of a MuJoCo worm with a camera following a point, a red head, a fading trail
    and a text overlay (see the module docstring).

    width, height: pixels. trail_seconds: how long a trail point stays visible. label: a line of text
    drawn at the bottom left of every frame (e.g. the level and wiring), or None.
    """

    def __init__(self, model, data, width: int, height: int, trail_seconds: float = 8.0,
                 label: str | None = None):
        os.environ.setdefault("MUJOCO_GL", "egl")
        import mujoco
        self.mujoco = mujoco
        if width < 16 or height < 16:
            raise ValueError(f"video size must be at least 16x16 pixels, got {width}x{height}")
        # The offscreen buffer must hold the frame; the body's MJCF asks for 1280x1280.
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), int(width))
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), int(height))
        self.model, self.data = model, data
        self.width, self.height = int(width), int(height)
        self.renderer = mujoco.Renderer(model, height=self.height, width=self.width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.elevation = -90.0
        self.camera.azimuth = 90.0          # +x to the right, +y up in the picture
        # fovy is the vertical field of view; the body length is 1 BL. Choose the distance so that the
        # shorter side of the frame spans VIEW_SHORT_BL at the worm's plane (z = 0).
        fovy = float(model.vis.global_.fovy)
        self.view_height_bl = VIEW_SHORT_BL * max(1.0, self.height / self.width)
        self.camera.distance = 0.5 * self.view_height_bl / np.tan(np.radians(fovy) / 2)
        self.pixels_per_bl = self.height / self.view_height_bl
        self.trail_seconds = float(trail_seconds)
        self.label = label
        # the head segment's geoms (body "w0_s0", the one carrying the root joints), recoloured per frame
        head = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "w0_s0")
        self._head_geoms = set(np.flatnonzero(model.geom_bodyid == head).tolist()) if head >= 0 else set()
        self._font = None
        self._lookat: np.ndarray | None = None
        self._fovy = fovy
        self._view: float | None = None
        self.min_view_bl = self.view_height_bl

    def _set_view(self, short_side_bl: float) -> None:
        """Camera distance for a frame whose shorter side spans ``short_side_bl`` BL at the worm's plane."""
        self.view_height_bl = short_side_bl * max(1.0, self.height / self.width)
        self.camera.distance = 0.5 * self.view_height_bl / np.tan(np.radians(self._fovy) / 2)
        self.pixels_per_bl = self.height / self.view_height_bl

    def frame(self, com: np.ndarray, trail: np.ndarray, trail_age: np.ndarray,
              text: list[str] | None = None, frame_points: np.ndarray | None = None,
              target: tuple[np.ndarray, float, float] | None = None) -> np.ndarray:
        """com: (2,) the point to follow, BL. trail: (K, 2) positions, trail_age: (K,) s since each.
        text: lines drawn at the top left. frame_points: (K, 2) world points (BL) the view must hold
        (navigate: start, target, worm); the camera then looks at their box's middle from far enough
        to hold the box plus TARGET_MARGIN_BL. target: (position (2,), success radius, distance from
        the start) BL, drawn as rings. Returns (height, width, 3) uint8."""
        # Smooth the look-at point: a swimming worm's centre of mass wobbles at the undulation
        # frequency, and a camera locked to it would shake the whole picture.
        com = np.asarray(com, float)
        if frame_points is not None:
            pts = np.asarray(frame_points, float)
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            com = 0.5 * (lo + hi)
            # the frame's shorter side must hold the box's extent along either axis, scaled by the aspect
            need = max((hi - lo)[1] + 2 * TARGET_MARGIN_BL,
                       ((hi - lo)[0] + 2 * TARGET_MARGIN_BL) * min(1.0, self.height / self.width),
                       self.min_view_bl)
            self._view = need if self._view is None else max(need, 0.9 * self._view + 0.1 * need)
            self._set_view(self._view)
        self._lookat = com if self._lookat is None else 0.8 * self._lookat + 0.2 * com
        self.camera.lookat[:] = (self._lookat[0], self._lookat[1], 0.0)
        self.renderer.update_scene(self.data, camera=self.camera)
        self._colour_head()
        if target is not None:
            self._add_rings(*target)
        self._add_trail(np.asarray(trail, float), np.asarray(trail_age, float))
        pixels = self.renderer.render()
        return self._overlay(pixels, text or [])

    def _colour_head(self) -> None:
        scene, geom = self.renderer.scene, self.mujoco.mjtObj.mjOBJ_GEOM
        for k in range(scene.ngeom):
            g = scene.geoms[k]
            if g.objtype == geom and g.objid in self._head_geoms:
                g.rgba[:] = HEAD_RGBA

    def _line(self, a: np.ndarray, b: np.ndarray, rgba, width: float) -> bool:
        """One GL line segment a -> b (3-D points) in the scene; False when the scene is full."""
        mj, scene = self.mujoco, self.renderer.scene
        if scene.ngeom >= scene.maxgeom:
            return False
        g = scene.geoms[scene.ngeom]
        rgba = np.asarray(rgba, np.float32)
        mj.mjv_initGeom(g, mj.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3), np.eye(3).ravel(), rgba)
        mj.mjv_connector(g, mj.mjtGeom.mjGEOM_LINE, width, a, b)
        g.rgba[:] = rgba
        scene.ngeom += 1
        return True

    def _add_rings(self, centre: np.ndarray, radius: float, reach: float) -> None:
        """The success radius (a ring) and faint iso-concentration rings every ISO_STEP_BL out to the
        start's distance (the attractant depends on the distance to the target alone)."""
        z, k = -0.195, np.linspace(0.0, 2 * np.pi, 49)
        circles = [(radius, RING_RGBA, max(2.0, self.height / 80))]
        circles += [(r, ISO_RGBA, max(1.0, self.height / 160))
                    for r in np.arange(ISO_STEP_BL, reach + 0.5 * ISO_STEP_BL, ISO_STEP_BL)]
        for r, rgba, width in circles:
            pts = np.stack([centre[0] + r * np.cos(k), centre[1] + r * np.sin(k), np.full_like(k, z)], 1)
            for a, b in zip(pts[:-1], pts[1:]):
                if not self._line(a, b, rgba, width):
                    return

    def _add_trail(self, trail: np.ndarray, age: np.ndarray) -> None:
        z = -0.19  # just above the floor (at z = -0.2), below the worm
        # GL lines, not capsules: on a software (llvmpipe) EGL every tessellated capsule is drawn
        # triangle by triangle, and an 8 s trail is 400 of them; lines cost next to nothing. Width in pixels.
        width = max(3.0, self.height / 40)
        for k in range(len(trail) - 1):
            fade = 1.0 - age[k + 1] / self.trail_seconds
            a = np.array([trail[k, 0], trail[k, 1], z])
            b = np.array([trail[k + 1, 0], trail[k + 1, 1], z])
            if fade <= 0.0 or np.linalg.norm(b - a) < 1e-9:
                continue
            if not self._line(a, b, (*TRAIL_RGB, TRAIL_MIN_ALPHA + (1.0 - TRAIL_MIN_ALPHA) * fade), width):
                break

    def _overlay(self, pixels: np.ndarray, text: list[str]) -> np.ndarray:
        """Text lines at the top left, the label at the bottom left, a scale bar at the bottom right,
        each on a translucent white box so it reads over the floor's checker."""
        from PIL import Image, ImageDraw, ImageFont
        h, w = self.height, self.width
        size = max(8, round(h / 18))
        if self._font is None:
            try:                                   # Pillow >= 10.1: a scalable font without files
                self._font = ImageFont.load_default(size=size)
            except TypeError:
                self._font = ImageFont.load_default()
        image = Image.fromarray(pixels).convert("RGBA")
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        pad = max(2, size // 4)

        def box(x, y, lines):
            boxes = [draw.textbbox((0, 0), line, font=self._font) for line in lines]
            tw = max(b[2] for b in boxes)
            lh = max(b[3] for b in boxes) + pad
            draw.rectangle((x, y, x + tw + 2 * pad, y + lh * len(lines) + pad), fill=(255, 255, 255, 170))
            for i, line in enumerate(lines):
                draw.text((x + pad, y + pad + i * lh), line, font=self._font, fill=(20, 20, 20, 255))

        if text:
            box(2, 2, text)
        if self.label:
            box(2, h - size - 3 * pad - 2, [self.label])
        # scale bar: the largest of 0.5, 0.25, 0.1 BL that fits in a fifth of the width
        bar_bl = next((b for b in (0.5, 0.25, 0.1) if b * self.pixels_per_bl <= w / 5), 0.1)
        bar_px = int(round(bar_bl * self.pixels_per_bl))
        caption = f"{bar_bl:g} BL"
        tb = draw.textbbox((0, 0), caption, font=self._font)
        bx1, by = w - 2 - pad, h - 2 - pad
        bx0 = bx1 - max(bar_px, tb[2])
        draw.rectangle((bx0 - pad, by - tb[3] - 3 * pad, bx1 + pad, by + pad), fill=(255, 255, 255, 170))
        draw.rectangle((bx1 - bar_px, by - max(2, size // 5), bx1, by), fill=(20, 20, 20, 255))
        draw.text((bx1 - tb[2], by - tb[3] - 2 * pad), caption, font=self._font, fill=(20, 20, 20, 255))
        return np.asarray(Image.alpha_composite(image, layer).convert("RGB"))

    def close(self) -> None:
        self.renderer.close()


# ---- the rendering env seen as a vector env of one worm --------------------------------------------------
class _Recorder:
    """One (single-worm) environment behind the vector-env interface that ``run_episodes`` steps
    (num_envs 1; batched observations, rewards, flags and info entries with a leading axis of 1),
    recording the body (curvature, world centre of mass, speed) and, with a renderer, a frame every
    ``frame_every`` steps and at the episode's end.

    max_steps: control steps after which the episode is truncated (None: the env's own end).
    Row 0 of the body records is the reset; ``rollout()`` drops it.
    """

    def __init__(self, env, renderer: TrailRenderer | None, frame_every: int, max_steps: int | None):
        self.env = env
        self.num_envs = 1
        self.renderer = renderer
        self.frame_every = max(1, int(frame_every))
        self.max_steps = None if max_steps is None else int(max_steps)
        u = env.unwrapped
        self.layout = u.layout
        self.control_dt = control_dt_of(env)
        self.n_segments = self.layout.n_segments
        self.curvature, self.com, self.speed, self.frames = [], [], [], []
        self.distance: list[float] = []          # head tip to target, BL (tasks with a target)
        self.arrived: float | None = None        # s, when the head first came within the success radius
        self.done = False
        self.t = 0
        task = getattr(u, "task", None)
        # a task with a target (navigate): the view holds start, target and worm; the whole path is kept
        self.has_target = getattr(task, "target", None) is not None
        if self.has_target and renderer is not None and self.max_steps is not None:
            renderer.trail_seconds = max(renderer.trail_seconds, (self.max_steps + 1) * self.control_dt)

    def _target(self) -> tuple[np.ndarray, float, float]:
        """(world position (2,), success radius, start distance) of worm 0's target, BL."""
        task = self.env.unwrapped.task
        home = np.asarray(getattr(task.body, "homes", np.zeros((1, 2)))[0], float)
        return (np.asarray(task.target[0], float) + home, float(task.success_radius),
                float(task.start_distance[0]))

    def _observe(self, obs, info) -> None:
        self.curvature.append(np.asarray(obs, float)[self.layout.angles] * self.n_segments)
        self.com.append(_world_com(self.env))
        self.speed.append(float(np.asarray(info.get("speed", np.nan)).ravel()[0]) if info else np.nan)
        if self.has_target:
            d = info.get("distance") if info else None
            self.distance.append(float(np.asarray(d).ravel()[0]) if d is not None
                                 else float(self.env.unwrapped.task._distance()[0]))
            if self.arrived is None and info and bool(np.asarray(info.get("success", False)).ravel()[0]):
                self.arrived = self.t * self.control_dt

    def _render(self, force: bool = False) -> None:
        if self.renderer is None or (self.t % self.frame_every and not force):
            return
        com = np.array(self.com)
        keep = max(2, int(self.renderer.trail_seconds / self.control_dt))
        trail = com[-keep:]
        age = (len(trail) - 1 - np.arange(len(trail))) * self.control_dt
        # the speed of the last second (row 0 is the reset, which has none)
        recent = np.asarray(self.speed[1:][-max(1, int(round(SPEED_WINDOW_S / self.control_dt))):], float)
        speed = (f"{np.nanmean(recent):+.3f} BL/s" if np.isfinite(recent).any() else "n/a")
        text = [f"t {self.t * self.control_dt:5.2f} s", f"speed {speed} (last {SPEED_WINDOW_S:g} s)"]
        if not self.has_target:
            self.frames.append(self.renderer.frame(com[-1], trail, age, text))
            return
        target = self._target()
        text[1] = f"distance to target {self.distance[-1]:.2f} BL"
        if self.arrived is not None:
            text.append(f"reached at {self.arrived:.2f} s")
        points = np.vstack([com[:1], target[0][None], com[-1:]])
        self.frames.append(self.renderer.frame(com[-1], trail, age, text, frame_points=points, target=target))

    def reset(self, seed=None, **_):
        """seed: an int or a list of one (the vector-env form). Returns obs (1, obs_dim), {}."""
        seed = seed[0] if isinstance(seed, (list, tuple, np.ndarray)) else seed
        obs, info = self.env.reset(seed=None if seed is None else int(seed))
        self.t, self.done, self.arrived = 0, False, None
        self._observe(obs, {})
        self.speed[-1] = np.nan
        self._render(force=True)
        return np.asarray(obs, np.float32)[None], {}

    def step(self, actions):
        """actions: (1, n_muscles) or (n_muscles,). Returns obs (1, obs_dim), reward (1,),
        terminated (1,), truncated (1,) and info with every entry batched (leading axis 1)."""
        action = np.asarray(actions, np.float32).reshape(-1)
        if self.done:   # the episode has ended; hold still until the caller notices
            obs = np.zeros((1, self.layout.obs_dim), np.float32)
            return obs, np.zeros(1), np.ones(1, bool), np.zeros(1, bool), {}
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        self._observe(obs, info)
        truncated = bool(truncated) or (self.max_steps is not None and self.t >= self.max_steps)
        self.done = bool(terminated) or truncated
        self._render(force=self.done)
        return (np.asarray(obs, np.float32)[None], np.array([reward], float),
                np.array([bool(terminated)]), np.array([truncated]),
                {k: np.asarray(v)[None] for k, v in (info or {}).items()})

    def rollout(self, traces: dict) -> Rollout:
        """The recorded episode; traces: each (T, ...) (one worm), aligned with the body rows."""
        # rows: the reset observation, then one per step; drop the reset row so that row k is the
        # body after control step k, aligned with the brain's trace row k
        def rows(x):
            return np.asarray(x[1:] if len(x) > 1 else x)
        return Rollout(curvature=rows(self.curvature), com=rows(self.com), speed=rows(self.speed),
                       control_dt=self.control_dt, traces=traces, frames=self.frames,
                       frame_every=self.frame_every, head_cpg=head_cpg_of(self.env),
                       distance=rows(self.distance) if self.distance else np.zeros(0), arrived=self.arrived)


# ---- rollouts ----------------------------------------------------------------------------------------
def make_env(spec, duration: float | None = None, size: tuple[int, int] | None = None,
             head_cpg: float | None = None):
    """One environment of ``spec``'s task (rendering happens here, not in the env); ``head_cpg``
    overrides the spec's head oscillator (the open-loop wave drives the head itself: 0)."""
    import gymnasium as gym

    import wormsim  # noqa: F401  (registers the environments)
    from wormsim.rollout import task_env_id
    env_kwargs = dict(spec.env_kwargs)
    if duration is not None:
        if duration <= 0:
            raise ValueError(f"duration must be positive seconds, got {duration}")
        env_kwargs["duration"] = float(duration)
    if head_cpg is not None:
        env_kwargs["head_cpg"] = float(head_cpg)
    return gym.make(task_env_id(spec.task), **env_kwargs)


def _build_brain(spec, env):
    """(brain, interface) of ``spec``'s level and circuit for one worm of ``env``, at the level's
    initial (connectome-derived) parameters."""
    from wormsim.interface import Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import build_circuit, make_level_config
    circuit = build_circuit(spec)
    interface = Interface(circuit, env.unwrapped.layout, control_dt=control_dt_of(env),
                          **dict(getattr(spec, "interface_kwargs", ())))
    brain = get_level(spec.level)(circuit, interface.io_spec(),
                                  make_level_config(spec.level, dict(spec.level_kwargs)))
    return brain, interface


def rollout(spec, params: np.ndarray | None = None, mode: str = "trained", seed: int = 0,
            duration: float | None = None, size: tuple[int, int] | None = None, fps: float = 25.0,
            trail_seconds: float = 8.0, env=None, label: str | None = None) -> Rollout:
    """Run one episode of one worm and record it (frames too when ``size`` is given).

    spec: an EvalSpec (level, circuit, task, env_kwargs); its task must have a body (NoBodyError, a
    ValueError, otherwise). params: (n_params,) for mode "trained".
    mode: one of MODES; "trained" and "untrained" run the level through
    ``wormsim.rollout.run_episodes`` (one worm), "open-loop" steps the travelling wave itself.
    duration: simulated seconds (default: the env's episode).
    size: (width, height) pixels, None for no frames. fps: frames per simulated second.
    env: an already built single-worm environment of the task (its own duration applies; ``duration``
    may end the episode sooner).
    label: a line of text on every frame (bottom left), or None.
    """
    from wormsim.rollout import run_episodes
    check_filmable(spec.task)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "trained" and params is None:
        raise ValueError("mode 'trained' needs the policy's parameters")
    own_env = env is None
    env = make_env(spec, duration, head_cpg=0.0 if mode == "open-loop" else None) if own_env else env
    try:
        dt = control_dt_of(env)
        n_steps = int(round(duration / dt)) if duration is not None else _episode_steps(env)
        renderer = None
        if size is not None:
            model, data = _mujoco_of(env)
            renderer = TrailRenderer(model, data, int(size[0]), int(size[1]), trail_seconds, label)
        rec = _Recorder(env, renderer, max(1, int(round(1.0 / (fps * dt)))), n_steps)
        try:
            if mode == "open-loop":
                return _open_loop(rec, env, seed)
            if n_steps is None:
                raise ValueError("the environment states no episode length; pass duration")
            brain, interface = _build_brain(spec, env)
            if mode == "trained":
                brain.set_params(np.asarray(params, np.float32))
            out = run_episodes(brain, interface, rec, [seed], n_steps=n_steps, record=True)
            return rec.rollout({k: np.asarray(v)[:, 0] for k, v in out.traces.items()})
        finally:
            if renderer is not None:
                renderer.close()
    finally:
        if own_env:
            env.close()


def _open_loop(rec: _Recorder, env, seed: int) -> Rollout:
    """The reference gait without a brain: envs.waves.TravellingWave drives the muscles."""
    from wormsim.envs.waves import TravellingWave
    wave = TravellingWave(n_segments=env.unwrapped.layout.n_segments)
    rec.reset(seed=seed)
    k = 0
    while not rec.done:
        rec.step(wave(k * rec.control_dt)[None])
        k += 1
    return rec.rollout({})


def _episode_steps(env) -> int | None:
    """Control steps of one episode of ``env``: its registered max_episode_steps, its (or its task's)
    max_steps, or duration / control_dt; None when it states none."""
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "max_episode_steps", None):
        return int(spec.max_episode_steps)
    u = env.unwrapped
    for owner in (u, getattr(u, "task", None)):
        steps = getattr(owner, "max_steps", None) if owner is not None else None
        if steps is not None:
            return int(steps)
        duration = getattr(owner, "duration", None) if owner is not None else None
        if duration is not None:
            return int(round(float(duration) / control_dt_of(env)))
    return None


def write_video(frames: list, path: str | Path, fps: float) -> Path:
    """Write frames (H, W, 3) uint8 to .mp4 (H.264 through imageio-ffmpeg) or .gif, atomically."""
    import imageio.v2 as imageio
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video file must end in .mp4 or .gif, got {path.name!r}")
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(tmp, frames, duration=1000.0 / fps, loop=0)
        else:
            # macro_block_size=1: keep the asked pixel size exactly (ffmpeg would round up to 16)
            imageio.mimsave(tmp, frames, fps=fps, macro_block_size=1, codec="libx264",
                            pixelformat="yuv420p" if all(s % 2 == 0 for s in frames[0].shape[:2]) else None,
                            ffmpeg_log_level="error")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def record_video(spec, params: np.ndarray | None, path: str | Path, duration: float | None = None,
                 seed: int = 0, size: tuple[int, int] = (320, 240), fps: float = 25.0,
                 episodes: int = 1, mode: str = "trained", trail_seconds: float = 8.0,
                 env=None, label: str | None = None) -> dict:
    """Replay a policy on one worm and write a video of ``episodes`` episodes one after another.

    spec: an EvalSpec of a body task (swim, navigate; NoBodyError, a ValueError, for the others).
    params: (n_params,) of the level (ignored for "untrained" and "open-loop").
    path: .mp4 or .gif. duration: simulated seconds per episode (default: the spec's episode).
    seed: episode e uses seed + e. size: (width, height) pixels. fps: frames per simulated second,
    played in real time. mode: "trained", "untrained" or "open-loop" (see the module docstring).
    label: a line of text on every frame (bottom left), or None.

    Returns {"path", "frames", "size", "fps", "seconds" (simulated, all episodes), "episodes",
    "speed" (BL/s), the wave metrics averaged over the episodes ("frequency" Hz, "phase_lag" cycles,
    "wavelength" BL, "wave_speed" BL/s, "amplitude" and "amplitude_head" rad/BL, "direction"; see
    ``wave_metrics``), "head_cpg" (Hz, 0 = off), "speeds", "frequencies" and "waves" (per episode),
    "wall_time" (s)}; for a task with a target (navigate) also "distances" (each episode's final
    distance of the head to the target, BL) and "arrivals" (s when it came within the success radius,
    None where it never did).
    """
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video file must end in .mp4 or .gif, got {path.name!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    check_filmable(spec.task)
    t0 = time.perf_counter()
    frames, speeds, waves, seconds, real_fps, head_cpg = [], [], [], 0.0, float(fps), 0.0
    distances, arrivals = [], []
    for e in range(episodes):
        r = rollout(spec, params, mode=mode, seed=seed + e, duration=duration, size=size, fps=fps,
                    trail_seconds=trail_seconds, env=env, label=label)
        frames += r.frames
        speeds.append(r.mean_speed)
        waves.append(r.wave)
        seconds += r.duration
        real_fps = 1.0 / (r.frame_every * r.control_dt)
        head_cpg = r.head_cpg
        if len(r.distance):
            distances.append(float(r.distance[-1]))
            arrivals.append(r.arrived)
    write_video(frames, path, real_fps)
    info = {"path": str(path), "frames": len(frames), "size": tuple(int(s) for s in size),
            "fps": real_fps, "seconds": seconds, "episodes": episodes, "speed": _nanmean(speeds)}
    info.update({k: _nanmean([w[k] for w in waves]) for k in WAVE_KEYS})
    lag = info["phase_lag"]
    info["direction"] = ("none" if not np.isfinite(lag) else "standing" if abs(lag) < STANDING_LAG
                         else "head-to-tail" if lag > 0 else "tail-to-head")
    info.update(head_cpg=head_cpg, speeds=speeds, frequencies=[w["frequency"] for w in waves],
                waves=waves, wall_time=time.perf_counter() - t0)
    if distances:
        info.update(distances=distances, arrivals=arrivals)
    return info


def _nanmean(values) -> float:
    v = np.asarray(values, float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def benchmark_render(size: tuple[int, int] = (320, 240), frames: int = 200, n_segments: int = 12) -> float:
    """Frames per second of TrailRenderer alone (scene, head colour, a 75-point trail, GL render,
    pixel read-back and the text overlay) on a bare worm body; the body's physics is outside the
    timing."""
    from wormsim.envs.body import WormBody
    body = WormBody(n_worms=1, n_segments=n_segments)
    r = TrailRenderer(body.model, body.data, *size, label="benchmark")
    trail = np.stack([np.linspace(-1, 0, 75), 0.1 * np.sin(np.linspace(0, 6, 75))], 1)
    age = np.linspace(3, 0, 75)
    text = ["t  1.00 s", "speed +0.100 BL/s (last 1 s)"]
    r.frame(np.zeros(2), trail, age, text)   # warm-up: context creation
    elapsed = 0.0
    for _ in range(frames):
        body.step(np.full((1, body.n_controls), 0.5, np.float32), n_substeps=10)
        t0 = time.perf_counter()
        r.frame(body.com_position()[0], trail, age, text)
        elapsed += time.perf_counter() - t0
    r.close()
    return frames / elapsed
