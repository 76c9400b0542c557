"""Rollout videos of one worm, rendered headless, with a camera that follows it and a fading trail.

    from wormsim.viz.video import record_video
    info = record_video(spec, params, "swim.mp4", duration=5, size=(320, 240))
    info["speed"], info["frequency"]       # body lengths / s, Hz

What drives the worm (``mode``):

- ``"trained"``: the level in ``spec`` with ``params`` (n_params,), through the shared Interface.
- ``"untrained"``: the same level with its initial, connectome-derived parameters (a reference).
- ``"open-loop"``: no brain; envs.waves.TravellingWave (2 Hz, 1.5 body lengths, head to tail), the
  reference gait of a swimming C. elegans (Fang-Yen et al. 2010, PNAS).

Rendering. Frames are drawn with MuJoCo's own ``mujoco.Renderer`` on the environment's model and data
(EGL: set ``MUJOCO_GL=egl`` before mujoco's rendering is first imported; this module sets it if unset).
The camera looks straight down and its look-at point follows the worm's centre of mass (smoothed), so
the worm stays in the middle of the picture. The trail is part of the 3-D scene: after
``update_scene`` the recent centre-of-mass positions are added to ``renderer.scene.geoms`` as line
segments (``mjv_connector``, mjGEOM_LINE) whose alpha fades from 0.9 (now) to 0 (``trail_seconds`` ago, default 8 s: a worm swimming 0.2 BL/s clears its own length in ~5 s), lying just
above the floor. Drawing into the scene rather than onto the pixels keeps the trail correct under any
camera (no projection to maintain) and lets it pass under the worm.

Cost. Rendering dominates on a CPU-only EGL: measured here ~13 frames/s at 320x240 with a 3 s trail,
reading the pixels back being most of it (``benchmark_render`` measures it). The conductance level's per-step ``Brain.step`` costs one Brian2
``Network.run`` per control step (~0.3 s each), so this module runs it through its fast path
``run_closed_loop`` on a one-worm adapter of the rendering environment (frames are taken inside the
adapter's ``step``); a 5 s conductance video still takes minutes rather than seconds.

Metrics of the rollout: ``speed`` is the environment's forward speed (info["speed"], body lengths / s)
averaged over the control steps, or, where the task reports none, the net centre-of-mass displacement
over time; ``frequency`` is the dominant frequency (Hz) of the body curvature at mid-body
(``undulation_frequency``). A swimming C. elegans: about 2 Hz (Fang-Yen et al. 2010).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODES = ("trained", "untrained", "open-loop")
TRAIL_RGBA = (0.95, 0.45, 0.10)      # orange, visible on the blue-grey checker floor
VIEW_HEIGHT_BL = 2.4                 # world extent shown vertically, body lengths


# ---- metrics ----------------------------------------------------------------------------------------
def undulation_frequency(curvature: np.ndarray, dt: float, joint: int | None = None) -> float:
    """Dominant frequency (Hz) of the body curvature at one joint (default: mid-body).

    curvature: (T, J) rad / BL, one row per control step of ``dt`` seconds. The mean is removed,
    a Hann window applied and the spectrum zero-padded (8x) before taking the peak, so the estimate
    is finer than 1 / (T dt). NaN when fewer than 8 samples, a flat trace, or a peak of less than 1.5
    periods in the window (a slow drift or a held bend is no undulation).
    """
    curvature = np.asarray(curvature, float)
    if curvature.ndim != 2:
        raise ValueError(f"curvature must be (T, J), got shape {curvature.shape}")
    T, J = curvature.shape
    if T < 8 or J == 0:
        return float("nan")
    x = curvature[:, J // 2 if joint is None else joint]
    x = x[np.isfinite(x)]
    if len(x) < 8 or np.ptp(x) < 1e-9:
        return float("nan")
    x = (x - x.mean()) * np.hanning(len(x))
    n = 8 * len(x)
    power = np.abs(np.fft.rfft(x, n)) ** 2
    freqs = np.fft.rfftfreq(n, dt)
    power[0] = 0.0
    f = float(freqs[int(np.argmax(power))])
    # a peak below 1.5 periods in the window is a drift or a bend held still, not an undulation
    return f if f * len(x) * dt >= 1.5 else float("nan")


# ---- what a rollout yields ---------------------------------------------------------------------------
@dataclass
class Rollout:
    """One recorded episode of one worm.

    curvature: (T, J) rad / BL, head to tail. com: (T, 2) centre of mass in the world, BL.
    speed: (T,) forward speed reported by the env, BL/s (NaN where it reports none).
    traces: the brain's recorded traces, each (T, N) (empty for open-loop). control_dt: s per row.
    frames: rendered frames (H, W, 3) uint8, every ``frame_every`` control steps.
    """
    curvature: np.ndarray
    com: np.ndarray
    speed: np.ndarray
    control_dt: float
    traces: dict = field(default_factory=dict)
    frames: list = field(default_factory=list)
    frame_every: int = 1

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
        return undulation_frequency(self.curvature, self.control_dt)


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
    """Top-down frames of a MuJoCo worm with a camera following a point and a fading trail.

    width, height: pixels. trail_seconds: how long a trail point stays visible.
    """

    def __init__(self, model, data, width: int, height: int, trail_seconds: float = 8.0):
        os.environ.setdefault("MUJOCO_GL", "egl")
        import mujoco
        self.mujoco = mujoco
        if width < 16 or height < 16:
            raise ValueError(f"video size must be at least 16x16 pixels, got {width}x{height}")
        # The offscreen buffer must hold the frame; the body's MJCF asks for 1280x1280.
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), int(width))
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), int(height))
        self.model, self.data = model, data
        self.renderer = mujoco.Renderer(model, height=int(height), width=int(width))
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.elevation = -90.0
        self.camera.azimuth = 90.0          # +x to the right, +y up in the picture
        fovy = float(model.vis.global_.fovy)
        self.camera.distance = 0.5 * VIEW_HEIGHT_BL / np.tan(np.radians(fovy) / 2)
        self.trail_seconds = float(trail_seconds)
        self._lookat: np.ndarray | None = None

    def frame(self, com: np.ndarray, trail: np.ndarray, trail_age: np.ndarray) -> np.ndarray:
        """com: (2,) the point to follow, BL. trail: (K, 2) positions, trail_age: (K,) s since each.
        Returns (height, width, 3) uint8."""
        # Smooth the look-at point: a swimming worm's centre of mass wobbles at the undulation
        # frequency, and a camera locked to it would shake the whole picture.
        com = np.asarray(com, float)
        self._lookat = com if self._lookat is None else 0.8 * self._lookat + 0.2 * com
        self.camera.lookat[:] = (self._lookat[0], self._lookat[1], 0.0)
        self.renderer.update_scene(self.data, camera=self.camera)
        self._add_trail(np.asarray(trail, float), np.asarray(trail_age, float))
        return self.renderer.render().copy()

    def _add_trail(self, trail: np.ndarray, age: np.ndarray) -> None:
        mj = self.mujoco
        scene = self.renderer.scene
        z = -0.19  # just above the floor (at z = -0.2), below the worm
        # GL lines, not capsules: on a software (llvmpipe) EGL a tessellated capsule costs ~3 ms
        # each, and a 3 s trail is 150 of them; lines cost next to nothing. Width in pixels.
        width = max(2.0, self.renderer.height / 80)
        for k in range(len(trail) - 1):
            if scene.ngeom >= scene.maxgeom:
                break
            alpha = 0.9 * max(0.0, 1.0 - age[k + 1] / self.trail_seconds)
            a = np.array([trail[k, 0], trail[k, 1], z])
            b = np.array([trail[k + 1, 0], trail[k + 1, 1], z])
            if alpha <= 0.0 or np.linalg.norm(b - a) < 1e-9:
                continue
            g = scene.geoms[scene.ngeom]
            rgba = np.array([*TRAIL_RGBA, alpha], np.float32)
            mj.mjv_initGeom(g, mj.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3), np.eye(3).ravel(), rgba)
            mj.mjv_connector(g, mj.mjtGeom.mjGEOM_LINE, width, a, b)
            g.rgba[:] = rgba
            scene.ngeom += 1

    def close(self) -> None:
        self.renderer.close()


# ---- a one-worm env seen as a vector env (for the conductance level's fast path) ----------------------
class _Recorder:
    """Steps one rendering env, batched as a vector env of one, recording body and frames."""

    def __init__(self, env, renderer: TrailRenderer | None, frame_every: int, max_steps: int):
        self.env = env
        self.num_envs = 1
        self.renderer = renderer
        self.frame_every = max(1, int(frame_every))
        self.max_steps = int(max_steps)
        u = env.unwrapped
        self.layout = u.layout
        self.control_dt = control_dt_of(env)
        self.n_segments = self.layout.n_segments
        self.curvature, self.com, self.speed, self.frames = [], [], [], []
        self.done = False
        self.t = 0

    def _observe(self, obs, info) -> None:
        self.curvature.append(np.asarray(obs, float)[self.layout.angles] * self.n_segments)
        self.com.append(_world_com(self.env))
        self.speed.append(float(np.asarray(info.get("speed", np.nan)).ravel()[0]) if info else np.nan)

    def _render(self, force: bool = False) -> None:
        if self.renderer is None or (self.t % self.frame_every and not force):
            return
        com = np.array(self.com)
        keep = max(2, int(self.renderer.trail_seconds / self.control_dt))
        trail = com[-keep:]
        age = (len(trail) - 1 - np.arange(len(trail))) * self.control_dt
        self.frames.append(self.renderer.frame(com[-1], trail, age))

    def reset(self, seed=None, **_):
        seed = seed[0] if isinstance(seed, (list, tuple, np.ndarray)) else seed
        obs, info = self.env.reset(seed=None if seed is None else int(seed))
        self.t, self.done = 0, False
        self._observe(obs, {})
        self.speed[-1] = np.nan
        self._render(force=True)
        return np.asarray(obs, np.float32)[None], {}

    def step(self, actions):
        action = np.asarray(actions, np.float32).reshape(-1)
        if self.done:   # the batch has ended; hold still until the caller notices
            obs = np.zeros((1, self.layout.obs_dim), np.float32)
            return obs, np.zeros(1), np.ones(1, bool), np.zeros(1, bool), {}
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.t += 1
        self._observe(obs, info)
        self.done = bool(terminated or truncated or self.t >= self.max_steps)
        self._render(force=self.done)
        return (np.asarray(obs, np.float32)[None], np.array([reward], float),
                np.array([bool(terminated)]), np.array([bool(truncated or self.t >= self.max_steps)]),
                {k: np.asarray(v)[None] for k, v in (info or {}).items() if np.ndim(v) == 0})

    def rollout(self, traces: dict) -> Rollout:
        # rows: the reset observation, then one per step; drop the reset row so that row k is the
        # body after control step k, aligned with the brain's trace row k
        def rows(x):
            return np.asarray(x[1:] if len(x) > 1 else x)
        one = {k: np.asarray(v)[:, 0] if np.ndim(v) == 3 else np.asarray(v) for k, v in traces.items()}
        return Rollout(curvature=rows(self.curvature), com=rows(self.com), speed=rows(self.speed),
                       control_dt=self.control_dt, traces=one, frames=self.frames,
                       frame_every=self.frame_every)


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
    from wormsim.interface import Agent, Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import build_circuit, make_level_config
    u = env.unwrapped
    circuit = build_circuit(spec)
    interface = Interface(circuit, u.layout, control_dt=control_dt_of(env))
    brain = get_level(spec.level)(circuit, interface.io_spec(),
                                  make_level_config(spec.level, dict(spec.level_kwargs)))
    return brain, interface, Agent(brain, interface)


def rollout(spec, params: np.ndarray | None = None, mode: str = "trained", seed: int = 0,
            duration: float | None = None, size: tuple[int, int] | None = None, fps: float = 25.0,
            trail_seconds: float = 8.0, env=None) -> Rollout:
    """Run one episode of one worm and record it (frames too when ``size`` is given).

    spec: an EvalSpec (level, circuit, task, env_kwargs). params: (n_params,) for mode "trained".
    mode: one of MODES. duration: simulated seconds (default: the env's episode).
    size: (width, height) pixels, None for no frames. fps: frames per simulated second.
    env: an already built environment of the task (its own duration applies).
    """
    import torch
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "trained" and params is None:
        raise ValueError("mode 'trained' needs the policy's parameters")
    own_env = env is None
    env = make_env(spec, duration, head_cpg=0.0 if mode == "open-loop" else None) if own_env else env
    try:
        u = env.unwrapped
        dt = control_dt_of(env)
        max_steps = int(round(duration / dt)) if duration is not None else 10**9
        renderer = None
        if size is not None:
            model, data = _mujoco_of(env)
            renderer = TrailRenderer(model, data, int(size[0]), int(size[1]), trail_seconds)
        every = max(1, int(round(1.0 / (fps * dt))))
        rec = _Recorder(env, renderer, every, max_steps)
        try:
            if mode == "open-loop":
                from wormsim.envs.waves import TravellingWave
                wave = TravellingWave(n_segments=u.layout.n_segments)
                rec.reset(seed=seed)
                k = 0
                while not rec.done:
                    rec.step(wave(k * dt)[None])
                    k += 1
                return rec.rollout({})
            brain, interface, agent = _build_brain(spec, env)
            if mode == "trained":
                brain.set_params(np.asarray(params, np.float32))
            if hasattr(brain, "run_closed_loop"):     # conductance: the one-Brian2-run fast path
                steps = max_steps if max_steps < 10**9 else _episode_steps(env)
                out = brain.run_closed_loop(rec, interface, n_steps=steps, record=True, seed=seed)
                traces = {k: out[k] for k in ("voltage", "activity") if k in out}
                return rec.rollout(traces)
            obs, _ = rec.reset(seed=seed)
            agent.reset(1)
            brain.start_recording()
            with torch.no_grad():
                while not rec.done:
                    obs, *_ = rec.step(agent.act(obs))
            return rec.rollout(brain.stop_recording())
        finally:
            if renderer is not None:
                renderer.close()
    finally:
        if own_env:
            env.close()


def _episode_steps(env) -> int:
    spec = getattr(env, "spec", None)
    if spec is not None and spec.max_episode_steps:
        return int(spec.max_episode_steps)
    u = env.unwrapped
    for owner in (u, getattr(u, "task", None)):
        duration = getattr(owner, "duration", None) if owner is not None else None
        if duration is not None:
            return int(round(float(duration) / control_dt_of(env)))
    raise ValueError("the environment states no episode length; pass duration")


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
                 env=None) -> dict:
    """Replay a policy on one worm and write a video of ``episodes`` episodes one after another.

    spec: an EvalSpec. params: (n_params,) of the level (ignored for "untrained" and "open-loop").
    path: .mp4 or .gif. duration: simulated seconds per episode (default: the spec's episode).
    seed: episode e uses seed + e. size: (width, height) pixels. fps: frames per simulated second,
    played in real time. mode: "trained", "untrained" or "open-loop" (see the module docstring).

    Returns {"path", "frames", "size", "fps", "seconds" (simulated, all episodes), "episodes",
    "speed" (BL/s), "frequency" (Hz, mid-body curvature), "speeds", "frequencies" (per episode),
    "wall_time" (s)}.
    """
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"video file must end in .mp4 or .gif, got {path.name!r}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    t0 = time.perf_counter()
    frames, speeds, freqs, seconds, real_fps = [], [], [], 0.0, float(fps)
    for e in range(episodes):
        r = rollout(spec, params, mode=mode, seed=seed + e, duration=duration, size=size, fps=fps,
                    trail_seconds=trail_seconds, env=env)
        frames += r.frames
        speeds.append(r.mean_speed)
        freqs.append(r.frequency)
        seconds += r.duration
        real_fps = 1.0 / (r.frame_every * r.control_dt)
    write_video(frames, path, real_fps)
    return {"path": str(path), "frames": len(frames), "size": tuple(int(s) for s in size),
            "fps": real_fps, "seconds": seconds, "episodes": episodes,
            "speed": float(np.nanmean(speeds)) if np.isfinite(speeds).any() else float("nan"),
            "frequency": float(np.nanmean(freqs)) if np.isfinite(freqs).any() else float("nan"),
            "speeds": speeds, "frequencies": freqs, "wall_time": time.perf_counter() - t0}


def benchmark_render(size: tuple[int, int] = (320, 240), frames: int = 30, n_segments: int = 12) -> float:
    """Frames per second of TrailRenderer on a bare worm body (with a 75-point trail)."""
    from wormsim.envs.body import WormBody
    body = WormBody(n_worms=1, n_segments=n_segments)
    r = TrailRenderer(body.model, body.data, *size)
    trail = np.stack([np.linspace(-1, 0, 75), 0.1 * np.sin(np.linspace(0, 6, 75))], 1)
    age = np.linspace(3, 0, 75)
    r.frame(np.zeros(2), trail, age)   # warm-up: context creation
    t0 = time.perf_counter()
    for _ in range(frames):
        body.step(np.full((1, body.n_controls), 0.5, np.float32), n_substeps=10)
        r.frame(body.com_position()[0], trail, age)
    fps = frames / (time.perf_counter() - t0)
    r.close()
    return fps
