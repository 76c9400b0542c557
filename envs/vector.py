"""Native vector environments: P worms, each a state of one MuJoCo worm model, stepped together.

``gymnasium.make_vec("wormsim/Swim-v0", num_envs=64, vectorization_mode="vector_entry_point")`` returns a
``SwimVectorEnv``. Worm i runs the same task code as the single environment (envs/swim.py, the P = 1 case),
so with the same seed and actions it follows the same trajectory.

Contract (Gymnasium 1.x VectorEnv):
- reset(seed=int) seeds worm i with seed + i (as SyncVectorEnv does); seed=list gives one seed per worm.
- Autoreset mode NEXT_STEP (``metadata["autoreset_mode"]``): after a worm's episode ends, the next step()
  resets that worm, ignores its action and returns its first observation with reward 0, not terminated,
  not truncated.
- infos: dict of (num_envs, ...) arrays, with a boolean "_key" mask per key.
- A NaN/inf action row ends that worm's episode only (terminated, info["bad_action"] True; its muscles get
  0 for the step); a worm whose physics diverges is put back at rest and terminated (info["diverged"]).
  A wrong action shape raises ValueError naming the expected shape.
- render(): the worm ``render_worm`` (int) seen by its following camera, or with render_worm=None a 2x2
  tiled view of the first four worms.

Speed: each worm is its own MuJoCo state of one one-worm model, and all are advanced by ``mujoco.rollout``
(envs/body.py), so a step costs O(num_envs) (one model of P worms cost O(P^2)). ``nthread=`` (a task
keyword) sets rollout's worker threads; the default is 0 below 32 worms and 2 from 32 on.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from wormsim.envs.navigate import NavigateTask
from wormsim.envs.swim import SwimTask, WormTask, check_action


class WormVectorEnv(VectorEnv):
    """num_envs worms in one model; subclasses set ``task_class``. Keyword arguments go to the task."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50, "autoreset_mode": AutoresetMode.NEXT_STEP}
    task_class: type[WormTask] = WormTask

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, width: int = 480, height: int = 480,
                 render_worm: int | None = 0, **task_kwargs: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; choose from None, 'rgb_array'")
        self.num_envs = int(num_envs)
        self.task = self.task_class(n_worms=self.num_envs, **task_kwargs)
        self.layout = self.task.layout
        self.body = self.task.body
        self.render_mode, self.width, self.height = render_mode, int(width), int(height)
        self.render_worm = render_worm
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.task.control_dt))}
        self.single_observation_space = spaces.Box(self.task.obs_low, self.task.obs_high, dtype=np.float32)
        self.single_action_space = spaces.Box(0.0, 1.0, (self.layout.n_muscles,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._action_shape = self.action_space.shape
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

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
        """Reset every worm (or those in options["reset_mask"], a (num_envs,) bool array)."""
        mask = np.ones(self.num_envs, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask must have shape ({self.num_envs},), got {mask.shape}")
        worms = np.flatnonzero(mask)
        seeds = self._seeds(seed)
        for i in worms:
            if seed is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        self.task.reset_worms(worms, [self._rngs[i] for i in worms])
        self._autoreset[worms] = False
        return self.task.observe(), {}

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
            # A bad row drives that worm's muscles to 0 for this step; nothing of it reaches another worm.
            a = np.clip(np.where(bad[:, None], 0.0, a), 0.0, 1.0)
            reward, terminated, truncated, info = self.task.step(a)
            if bad.any():
                terminated = terminated | bad
                reward = np.where(bad, 0.0, reward)
        info["bad_action"] = bad
        done = self._autoreset
        if done.any():
            # NEXT_STEP autoreset: worms whose episode ended last step start anew; their action was ignored.
            worms = np.flatnonzero(done)
            self.task.reset_worms(worms, [self._rngs[i] for i in worms])
            reward[worms] = 0.0
            terminated[worms] = False
            truncated[worms] = False
            info["bad_action"][worms] = False
            info["diverged"][worms] = False
        self._autoreset = terminated | truncated
        infos = {}
        every = np.ones(self.num_envs, dtype=bool)
        for k, v in info.items():
            infos[k] = v
            infos["_" + k] = every.copy()
        return self.task.observe(), reward.astype(np.float64, copy=False), terminated, truncated, infos

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self.render_worm is not None:
            return self.task.render(int(self.render_worm), self.width, self.height)
        # Tiled view: the first four worms in a 2x2 grid, each tile half the size.
        h, w = self.height // 2, self.width // 2
        tiles = [self.task.render(i, w, h) if i < self.num_envs else np.zeros((h, w, 3), np.uint8)
                 for i in range(4)]
        return np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)

    def close_extras(self, **kwargs: Any) -> None:
        self.task.close()
        self.body.close()


class SwimVectorEnv(WormVectorEnv):
    """num_envs worms of wormsim/Swim-v0 (see envs/swim.py SwimEnv for spaces, reward, arguments)."""

    task_class = SwimTask


class NavigateVectorEnv(WormVectorEnv):
    """num_envs worms of wormsim/Navigate-v0 (see envs/navigate.py NavigateEnv)."""

    task_class = NavigateTask
