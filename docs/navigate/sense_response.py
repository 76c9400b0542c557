"""Does a trained navigator use its sense? Clamp the attractant input and watch the body.

    python docs/navigate/sense_response.py RUN [RUN ...] --out docs/navigate/sense_response.md

For every run, its trained circuit swims 4 episodes of 6 s in which the second task input (the sensed
change of the attractant, ``concentration_change``) is held at a fixed value instead of the one the head
senses, and the first (the concentration) is left as sensed. Per value: the mean turning rate of the
head's heading over the last 5 s (rad/s; a circle of diameter D BL at speed v is 2 v / D rad/s) and the
net speed of the centre of mass (its displacement over the episode / 6 s, BL/s: a worm that circles
covers little net distance). Navigate runs only (the clamped input is navigate's). A circuit that chemotaxes the way the animal does turns more and
swims slower when things get worse (klinokinesis, Pierce-Shimomura, Morse & Lockery 1999) and turns less
when they get better; a circuit blind to the attractant gives the same row for every value. The body's
own turning for a dorsal-ventral bias of the muscles is in the last lines (the open-loop wave with the
ventral muscles raised and the dorsal lowered by b).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

VALUES = (-1.0, -0.5, 0.0, 0.5, 1.0)


def _turn_and_speed(heads: np.ndarray, com: np.ndarray, J: int, dt: float) -> tuple[float, float]:
    ang = np.unwrap(np.arctan2(heads[:, :, 2 * J + 3], heads[:, :, 2 * J + 2]), axis=0)
    skip = int(round(1.0 / dt))                      # the first second: the start-up transient
    turn = (ang[-1] - ang[skip]) / ((len(ang) - 1 - skip) * dt)
    speed = np.hypot(*(com[-1] - com[0]).T) / (len(com) * dt)
    return float(turn.mean()), float(speed.mean())


def clamped(run_dir: str, values=VALUES, episodes: int = 4, duration: float = 6.0) -> list[dict]:
    from wormsim.config import TrainConfig
    from wormsim.rollout import Evaluator, run_episodes
    from wormsim.runs import Run
    run = Run.open(run_dir)
    params, _ = run.load_policy()
    cfg = TrainConfig.from_dict({**run.config, "duration": duration})
    ev = Evaluator(cfg.eval_spec(episodes=episodes))
    ev.initial_params()
    ev.brain.set_params(np.asarray(params, np.float32)[None])
    J, dt = ev.interface.layout.n_joints, ev.interface.control_dt
    rows = []
    for v in values:
        def sense(obs, device="cpu", v=v):
            u = ev.interface.sense(obs, device)
            u[:, -1] = v
            return u
        heads = []
        out = run_episodes(ev.brain, ev.interface, ev.env, list(range(episodes)), sense=sense,
                           observe=lambda o, i: heads.append(o.copy()), record=True)
        turn, speed = _turn_and_speed(np.array(heads), out.traces["com"], J, dt)
        rows.append({"value": v, "turn": turn, "speed": speed})
    ev.close()
    return rows


def body_bias(biases=(0.0, 0.05, 0.1, 0.3), n: int = 8, duration: float = 6.0) -> list[dict]:
    """The open-loop wave with a constant dorsal-ventral bias b of the body muscles: the body's turning."""
    from wormsim.envs.vector import NavigateVectorEnv
    from wormsim.envs.waves import TravellingWave
    rows = []
    for b in biases:
        env = NavigateVectorEnv(num_envs=n, duration=duration, head_cpg=2.0, head_cpg_phase="random")
        obs, _ = env.reset(seed=list(range(n)))
        J, dt = env.layout.n_joints, env.task.control_dt
        wave = TravellingWave(n_segments=env.layout.n_segments)
        head = np.flatnonzero(np.arange(1, env.layout.n_segments) / env.layout.n_segments <= 0.2 + 1e-9)
        heads, com = [], []
        for k in range(env.task.max_steps):
            a = np.tile(wave(k * dt), (n, 1)).astype(float)
            a[:, :J] -= b
            a[:, J:] += b
            a[:, np.concatenate([head, J + head])] = 0.5
            obs, _, _, _, info = env.step(np.clip(a, 0, 1).astype(np.float32))
            heads.append(obs.copy())
            com.append(np.stack([info["x_position"], info["y_position"]], 1))
        env.close()
        turn, speed = _turn_and_speed(np.array(heads), np.array(com), J, dt)
        rows.append({"bias": b, "turn": turn, "speed": speed})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="docs/navigate/sense_response.md")
    args = ap.parse_args(argv)
    import wormsim  # noqa: F401
    lines = ["| run | " + " | ".join(f"sensed {v:+.1f}" for v in VALUES) + " |",
             "|---|" + "---|" * len(VALUES)]
    for r in args.runs:
        rows = clamped(r)
        lines.append(f"| {Path(r).name} | " + " | ".join(f"{x['turn']:+.2f} rad/s, {x['speed']:.2f} BL/s"
                                                        for x in rows) + " |")
        print(lines[-1], file=sys.stderr)
    lines += ["", "| open-loop wave, ventral bias b | turn | speed |", "|---|---|---|"]
    lines += [f"| {x['bias']:.2f} | {x['turn']:+.2f} rad/s | {x['speed']:.2f} BL/s |" for x in body_bias()]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
