"""Native vector environments: P worms, each a state of one MuJoCo worm model, stepped together.

``gymnasium.make_vec("wormsim/Swim-v0", num_envs=64, vectorization_mode="vector_entry_point")`` returns a
``SwimVectorEnv``. Worm i runs the same task code as the single environment (envs/swim.py, the P = 1 case),
so with the same seed and actions it follows the same trajectory.

Contract: Gymnasium 1.x's VectorEnv with NEXT_STEP autoreset, per-worm seeds and infos as dicts of
arrays (envs/batched.py, shared with the non-motor tasks). A NaN/inf action row ends that worm's episode
only (its muscles get 0 for the step); a worm whose physics diverges is put back at rest and terminated
(info["diverged"]).
- render(): the worm ``render_worm`` (int) seen by its following camera, or with render_worm=None a 2x2
  tiled view of the first four worms.

Speed: each worm is its own MuJoCo state of one one-worm model, and all are advanced by ``mujoco.rollout``
(envs/body.py), so a step costs O(num_envs) (one model of P worms cost O(P^2)). ``nthread=`` (a task
keyword) sets rollout's worker threads; the default is 0 below 32 worms and 2 from 32 on.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from wormsim.envs.batched import BatchedVectorEnv
from wormsim.envs.navigate import NavigateTask
from wormsim.envs.swim import SwimTask, WormTask


class WormVectorEnv(BatchedVectorEnv):
    """num_envs worms; subclasses set ``task_class``. Keyword arguments go to the task."""

    metadata = {**BatchedVectorEnv.metadata, "render_modes": ["rgb_array"]}
    task_class: type[WormTask] = WormTask
    bad_action_fill = 0.0

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, width: int = 480, height: int = 480,
                 render_worm: int | None = 0, **task_kwargs: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unknown render_mode {render_mode!r}; choose from None, 'rgb_array'")
        self._init_spaces(self.task_class(n_worms=int(num_envs), **task_kwargs), num_envs)
        self.body = self.task.body
        self.render_mode, self.width, self.height = render_mode, int(width), int(height)
        self.render_worm = render_worm

    def _reset_rows(self, rows, rngs) -> None:
        self.task.reset_worms(rows, rngs)

    def _reset_infos(self, rows) -> dict[str, np.ndarray]:
        return self.task.reset_info(rows)

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self.render_worm is not None:
            return self.task.render(int(self.render_worm), self.width, self.height)
        # Tiled view: the first four worms in a 2x2 grid, each tile half the size.
        h, w = self.height // 2, self.width // 2
        tiles = [self.task.render(i, w, h) if i < self.num_envs else np.zeros((h, w, 3), np.uint8)
                 for i in range(4)]
        frame = np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:], 1)], 0)
        # an odd width or height: pad the last row / column, so the frame has the size asked for
        return np.pad(frame, ((0, self.height - 2 * h), (0, self.width - 2 * w), (0, 0)))

    def close_extras(self, **kwargs: Any) -> None:
        self.task.close()
        self.body.close()


class SwimVectorEnv(WormVectorEnv):
    """num_envs worms of wormsim/Swim-v0 (see envs/swim.py SwimEnv for spaces, reward, arguments)."""

    task_class = SwimTask


class NavigateVectorEnv(WormVectorEnv):
    """num_envs worms of wormsim/Navigate-v0 (see envs/navigate.py NavigateEnv)."""

    task_class = NavigateTask
