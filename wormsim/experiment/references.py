"""Reference rows a reader needs to place a number from a task with a body: what the body does with no
circuit at all, what a hand-made wave gets out of it, and what the animal does.

- passive body: every muscle at rest (0.5) with the grid's head oscillator on: the speed the oscillator
  alone gets out of the body; a circuit that does no better only relays the imposed rhythm.
- open-loop wave: a travelling wave of muscle activation (envs.waves.TravellingWave: the grid's head
  oscillator frequency, 1.5 body lengths, full amplitude, head oscillator off), the speed a body gets from
  a good hand-made gait.
- the untrained circuit: from each cell's own held-out record (the same episodes as the trained policy),
  in the task's table.
- the animal: the task's TaskSpec.animal (swim: about 0.35 body lengths / s, Sznitman et al. 2010,
  Biophys. J.; its wave is 1.76 Hz, 1.54 body lengths, Fang-Yen et al. 2010, PNAS, Table 1).

Each body reference runs on the grid's held-out episodes (the task's held_out options, eval_episodes x
seeds episodes, seeds of their own) and gives a mean with its 95% t-interval.
"""
from __future__ import annotations

import numpy as np

from wormsim.envs.tasks import get_task
from wormsim.experiment.config import ExperimentConfig

_SEED0 = 3_000_000            # episode seeds of the references, apart from every run's


def open_loop(task: str, seeds: list[int], policy, **env_kwargs) -> tuple[np.ndarray, np.ndarray, float]:
    """One episode of ``task`` per seed (its held_out options, then ``env_kwargs``) under ``policy(t, n) ->
    (n, 2J)``, no circuit: (mean forward speed per episode, BL/s; curvature (T, n, J), rad/BL; the
    control step, s)."""
    import gymnasium as gym
    import wormsim  # noqa: F401  (registers the environments)
    spec = get_task(task)
    n = len(seeds)
    env = gym.make_vec(spec.env_id, num_envs=n, vectorization_mode="vector_entry_point",
                       **{**dict(spec.held_out), **env_kwargs})
    try:
        env.reset(seed=list(seeds))
        dt, steps = float(env.control_dt), int(env.max_steps)
        speed, curvature = np.zeros(n), []
        for k in range(steps):
            _, _, _, _, info = env.step(policy(k * dt, n))
            speed += np.asarray(info.get("speed", np.zeros(n)), float)
            curvature.append(np.asarray(info["curvature"], float))
        return speed / steps, np.stack(curvature), dt
    finally:
        env.close()


def _episodes(cfg: ExperimentConfig, task: str, policy, head_cpg: float) -> np.ndarray:
    """Mean forward speed of every held-out episode of ``task`` under ``policy(t, n) -> (n, 2J)``, BL/s."""
    n = max(2, cfg.eval_episodes * cfg.seeds)
    return open_loop(task, [_SEED0 + k for k in range(n)], policy, duration=float(cfg.duration),
                     head_cpg=float(head_cpg))[0]


def body_references(cfg: ExperimentConfig, task: str) -> list[dict]:
    """Rows {"name", "mean", "ci_low", "ci_high", "n", "source"} for a task with a body ([] otherwise)."""
    from wormsim.envs.waves import TravellingWave
    from wormsim.experiment.stats import mean_ci
    spec = get_task(task)
    if not spec.has_body or spec.metric != "final_speed":
        return []
    import gymnasium as gym
    layout = gym.make_vec(spec.env_id, num_envs=1, vectorization_mode="vector_entry_point").layout
    m = layout.n_muscles
    wave = TravellingWave(n_segments=layout.n_segments, frequency=cfg.head_cpg or 2.0)
    rows = []
    for name, policy, head, source in (
            (f"passive body, head oscillator {cfg.head_cpg:g} Hz", lambda t, n: np.full((n, m), 0.5, np.float32),
             cfg.head_cpg, "muscles at rest; the head oscillator alone"),
            (f"open-loop wave ({wave.frequency:g} Hz, {wave.wavelength:g} BL)",
             lambda t, n: np.repeat(wave(t)[None], n, axis=0), 0.0, "envs.waves.TravellingWave, no circuit")):
        speeds = _episodes(cfg, task, policy, head)
        mean, lo, hi = mean_ci(speeds)
        rows.append({"name": name, "mean": mean, "ci_low": lo, "ci_high": hi, "n": len(speeds), "source": source})
    if spec.animal is not None:
        value, source = spec.animal
        rows.append({"name": "C. elegans", "mean": value, "ci_low": float("nan"), "ci_high": float("nan"),
                     "n": 0, "source": source})
    return rows


# ---- the trained swimmers under conditions they were not trained in -------------------------------------
PROBES = ("head oscillator off", "backward drive")


def _probe_spec(spec, probe: str):
    """The held-out EvalSpec of a cell changed to a probe's condition: the head oscillator off (the circuit
    must make the rhythm itself), or the command drive reversed (AVA, AVD, AVE driven, AVB and PVC not)."""
    import dataclasses
    if probe == "head oscillator off":
        kwargs = tuple((k, 0.0 if k == "head_cpg" else v) for k, v in spec.env_kwargs)
        return dataclasses.replace(spec, env_kwargs=kwargs)
    if probe == "backward drive":
        return dataclasses.replace(spec, drive=(0.0, 1.0))
    raise ValueError(f"unknown probe {probe!r}; choose from {', '.join(PROBES)}")


def trained_swimmer(cell) -> bool:
    """A cell whose circuit was trained by ES to swim forward (a task with a body scored by its speed):
    what the probes and the gait replays replay."""
    task, _, _, train, _ = cell
    spec = get_task(task)
    return train == "weights" and spec.has_body and spec.metric == "final_speed"


def probe_cell(cfg: ExperimentConfig, cell) -> dict:
    """Forward speed of a finished weights cell's trained policy and of its untrained circuit, per held-out
    episode, under each probe; cached in the cell's run directory (probes.json, grid.cell_cache)."""
    from wormsim.experiment.grid import cell_cache, cell_dir, train_config
    from wormsim.rollout import Evaluator
    from wormsim.runs import Run

    def compute() -> dict:
        params, _ = Run.open(cell_dir(cfg, *cell)).load_policy()
        base = train_config(cfg, *cell).eval_spec(episodes=cfg.eval_episodes, held_out=True)
        out = {}
        for probe in PROBES:
            ev = Evaluator(_probe_spec(base, probe))
            pair = np.stack([np.asarray(params, np.float32), ev.initial_params()])
            result = ev.evaluate(pair, seed=_SEED0 + 1000 * int(cell[-1]))
            ev.close()
            out[probe] = {"trained": result.episodes["speed"][0].tolist(),
                          "untrained": result.episodes["speed"][1].tolist()}
        return out
    return cell_cache(cfg, cell, "probes", compute)


def probe_rows(cfg: ExperimentConfig, cells_done: list) -> list[dict]:
    """Per task with a body, level x wiring of the cells trained by ES, and probe: the trained policy's
    mean speed with its interval, the untrained circuit's, and the share of episodes that moved backward."""
    from wormsim.experiment.grid import cell_dir, cell_label
    from wormsim.experiment.stats import mean_ci
    groups: dict = {}
    for cell in cells_done:
        task, level, wiring, train, _ = cell
        if not trained_swimmer(cell):
            continue
        if not (cell_dir(cfg, *cell) / "policy.npz").is_file():     # a row without its run (a reread table)
            continue
        for probe, values in probe_cell(cfg, cell).items():
            g = groups.setdefault((task, cell_label(level, train), wiring, probe), {"trained": [], "untrained": []})
            g["trained"] += values["trained"]
            g["untrained"] += values["untrained"]
    rows = []
    for (task, label, wiring, probe), g in groups.items():
        mean, lo, hi = mean_ci(g["trained"])
        rows.append({"task": task, "level": label, "wiring": wiring, "probe": probe, "mean": mean,
                     "ci_low": lo, "ci_high": hi, "untrained": float(np.mean(g["untrained"])),
                     "backward_share": float(np.mean(np.asarray(g["trained"]) < 0)), "n": len(g["trained"])})
    return rows
