"""What every native vector environment of wormsim shares, over a task that steps all its rows at once
(P worms of a body task, P episodes of a non-motor task).

Contract (Gymnasium 1.x VectorEnv):
- reset(seed=int) seeds row i with seed + i (as SyncVectorEnv does); seed=list gives one seed per row;
  options={"reset_mask": (num_envs,) bool} resets only those rows.
- Autoreset mode NEXT_STEP (``metadata["autoreset_mode"]``): after a row's episode ends, the next step()
  resets that row, ignores its action and returns its first observation with reward 0, not terminated,
  not truncated.
- infos: dict of (num_envs, ...) arrays, with a boolean "_key" mask per key.
- A NaN/inf action row ends that row's episode only (terminated, reward 0, info["bad_action"] True; the
  row gets ``bad_action_fill`` for the step); a wrong action shape raises ValueError naming the shape.

A subclass builds its task and calls ``_init_spaces``, and says how rows are reset (``_reset_rows``).
The task answers ``observe() -> (P, obs_dim)`` and ``step(actions) -> (reward, terminated, truncated,
info)`` with (P,) arrays, and has ``layout``, ``control_dt``, ``max_steps``, ``obs_low``, ``obs_high``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space


def check_action(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The action as float64 of ``shape``; ValueError naming the expected shape otherwise."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"action must have shape {shape} (dorsal then ventral muscle activations in "
                         f"[0, 1]), got shape {a.shape}")
    return a


class BatchedVectorEnv(VectorEnv):
    metadata = {"render_modes": [], "render_fps": 50, "autoreset_mode": AutoresetMode.NEXT_STEP}
    bad_action_fill: float = 0.0                 # activation a NaN/inf row gets for its last step
    zeroed_on_bad: tuple[str, ...] = ()          # info keys set to 0 on a bad-action row

    def _init_spaces(self, task, num_envs: int) -> None:
        self.num_envs = int(num_envs)
        self.task = task
        self.layout = task.layout
        self.control_dt = task.control_dt
        self.max_steps = task.max_steps
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / task.control_dt))}
        self.single_observation_space = spaces.Box(task.obs_low, task.obs_high, dtype=np.float32)
        self.single_action_space = spaces.Box(0.0, 1.0, (self.layout.n_muscles,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._action_shape = self.action_space.shape
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def _reset_rows(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        raise NotImplementedError

    def _reset_infos(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Info of the rows just reset (dict of (len(rows), ...) arrays), as the single env's reset
        gives it; none by default."""
        return {}

    def _seeds(self, seed: int | list[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed list must have num_envs={self.num_envs} entries, got {len(seeds)}")
        return seeds

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        """Reset every row (or those in options["reset_mask"], a (num_envs,) bool array)."""
        mask = np.ones(self.num_envs, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        rows = np.flatnonzero(mask)
        if seed is not None:
            seeds = self._seeds(seed)
            for i in rows:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        self._reset_rows(rows, [self._rngs[i] for i in rows])
        self._autoreset[rows] = False
        infos = {}
        for k, v in self._reset_infos(rows).items():
            full = np.zeros((self.num_envs,) + v.shape[1:], v.dtype)
            full[rows] = v
            infos[k], infos["_" + k] = full, mask.copy()
        return self.task.observe(), infos

    def step(self, actions):
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != self._action_shape:
            check_action(a, self._action_shape)          # raises, naming the expected shape
        # Common case first: every activation already in [0, 1] (NaN fails both tests).
        if a.min() >= 0.0 and a.max() <= 1.0:
            bad = np.zeros(self.num_envs, dtype=bool)
            reward, terminated, truncated, info = self.task.step(a)
        else:
            with np.errstate(invalid="ignore"):
                bad = ~np.isfinite(a).all(axis=1)
            # A bad row gets a harmless activation for this step; nothing of it reaches another row.
            a = np.clip(np.where(bad[:, None], self.bad_action_fill, a), 0.0, 1.0)
            reward, terminated, truncated, info = self.task.step(a)
            if bad.any():
                terminated = terminated | bad
                reward = np.where(bad, 0.0, reward)
                for k in self.zeroed_on_bad:
                    info[k] = np.where(bad, 0, info[k])
        info["bad_action"] = bad
        stepped = np.ones(self.num_envs, dtype=bool)    # rows whose info is this step's
        reset_info = {}
        if self._autoreset.any():
            # NEXT_STEP autoreset: rows whose episode ended last step start anew; their action was ignored.
            rows = np.flatnonzero(self._autoreset)
            self._reset_rows(rows, [self._rngs[i] for i in rows])
            reward[rows] = 0.0
            terminated[rows] = False
            truncated[rows] = False
            stepped[rows] = False
            # their info is the reset's, as SyncVectorEnv gives it: this step's keys masked off (and
            # zeroed, so nothing of the discarded step leaks), the reset's own keys on
            for k, v in info.items():
                v = np.array(v)                             # a copy: never write into a task's arrays
                v[rows] = 0
                info[k] = v
            reset_info = self._reset_infos(rows)
        self._autoreset = terminated | truncated
        infos = {}
        for k, v in info.items():
            infos[k] = v
            infos["_" + k] = stepped.copy()
        for k, v in reset_info.items():
            if k not in infos:
                infos[k] = np.zeros((self.num_envs,) + v.shape[1:], v.dtype)
                infos["_" + k] = np.zeros(self.num_envs, dtype=bool)
            infos[k][~stepped] = v
            infos["_" + k][~stepped] = True
        return self.task.observe(), reward.astype(np.float64, copy=False), terminated, truncated, infos
