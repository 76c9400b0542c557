"""Rollout videos of a policy, rendered headless (MUJOCO_GL=egl) with the environment's tracking camera."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def record_video(spec, params: np.ndarray, path: str | Path, duration: float | None = None,
                 seed: int = 0, size: tuple[int, int] = (320, 240), fps: int = 25) -> dict:
    """Replay ``params`` of the level in ``spec`` (an EvalSpec) on one worm and write a video.

    path: .mp4 or .gif. duration: simulated seconds (default: the spec's episode). fps: frames per
    simulated second in the video (the environment is rendered every 1/fps s, played in real time).
    Returns {"path", "frames", "speed" (BL/s, mean forward speed over the rollout)}.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    import gymnasium as gym
    import imageio.v2 as imageio
    import torch

    import wormsim  # noqa: F401
    from wormsim.interface import Agent, Interface
    from wormsim.realism_levels import get_level
    from wormsim.rollout import build_circuit, make_level_config, task_env_id

    path = Path(path)
    if path.suffix not in (".mp4", ".gif"):
        raise ValueError(f"video file must end in .mp4 or .gif, got {path.name!r}")
    env_kwargs = dict(spec.env_kwargs)
    if duration is not None:
        env_kwargs["duration"] = float(duration)
    env = gym.make(task_env_id(spec.task), render_mode="rgb_array", width=size[0], height=size[1],
                   **env_kwargs)
    layout = env.unwrapped.layout
    circuit = build_circuit(spec)
    interface = Interface(circuit, layout, control_dt=env.unwrapped.control_dt)
    brain = get_level(spec.level)(circuit, interface.io_spec(),
                                  make_level_config(spec.level, dict(spec.level_kwargs)))
    brain.set_params(np.asarray(params, np.float32))
    agent = Agent(brain, interface)
    every = max(1, int(round(1.0 / (fps * env.unwrapped.control_dt))))
    obs, _ = env.reset(seed=seed)
    agent.reset(1)
    frames, speeds, t = [], [], 0
    done = False
    with torch.no_grad():
        while not done:
            if t % every == 0:
                frames.append(env.render())
            action = agent.act(obs[None])[0]
            obs, _, terminated, truncated, info = env.step(action)
            speeds.append(float(info.get("speed", np.nan)))
            done = terminated or truncated
            t += 1
    frames.append(env.render())
    env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    real_fps = 1.0 / (every * env.unwrapped.control_dt)
    if path.suffix == ".gif":
        imageio.mimsave(tmp, frames, duration=1000.0 / real_fps, loop=0)
    else:
        imageio.mimsave(tmp, frames, fps=real_fps, macro_block_size=8)
    tmp.replace(path)
    return {"path": str(path), "frames": len(frames), "speed": float(np.nanmean(speeds))}
