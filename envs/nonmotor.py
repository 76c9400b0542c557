"""Non-motor tasks: working memory, memory capacity and digit classification, with no body.

    import wormsim.envs    # registers wormsim/Memory-v0, MemoryCapacity-v0, Digits-v0 (envs/tasks.py)
    envs = gymnasium.make_vec("wormsim/Memory-v0", num_envs=64, vectorization_mode="vector_entry_point")

These tasks test the same circuits, at every realism level, on computations other than locomotion
(cf. the memory tasks of bio2art, Goulas et al.). They look exactly like the body tasks to the trainer
and to the sensor/motor interface (wormsim.interface):

- Observation: the body-task layout (envs/layout.py, ``ObsLayout(n_segments, task_names)``), but there
  is no body (no MuJoCo), so proprioception is silent: joint angles, joint velocities and head velocity
  are 0 and head direction is (1, 0) at every step. The task inputs follow and reach the command
  interneurons through the interface, as any task input does. So the same Interface and brains run
  unchanged (the curvature channels simply carry 0).
- Action: (2J,) muscle activations in [0, 1], dorsal joints head to tail then ventral, as for the body
  tasks. The muscle vector (the motor neurons' output through the neuromuscular map) is the readout of
  every task; no readout is trained, so every realism level faces the same fixed readout.
- Attributes ``layout``, ``control_dt``, ``max_steps`` on the single env (``env.unwrapped``) and on the
  vector env (and on their ``.task``). ``control_dt`` (s) is the brain's time per step; the tasks
  themselves count control steps (an episode lasts max_steps * control_dt seconds).
- Episodes have a fixed length and end by truncation (``truncated`` True at step max_steps).
- info["score"], in [0, 1], is the episode's score on the step where the episode ends (truncated True);
  on every earlier step it is 0 (not NaN: Gymnasium's env checker compares infos for equality, and
  NaN != NaN), so read it on the final step only, never average it over steps. An episode ended by a
  bad action (vector env) gets score 0 on that step. ``score_of`` reads it.

Native vector envs (``*VectorEnv``) are numpy-batched over num_envs independent episodes (env i of a
vector env follows exactly the single env with the same seed and actions), with the contract of the
body vector envs (envs/vector.py): reset(seed=int) seeds env i with seed + i, seed=list one per env;
NEXT_STEP autoreset (an ended env's next step resets it, ignores its action, returns its first
observation with reward 0, not terminated, not truncated); infos are dicts of (num_envs,) arrays with
"_key" masks; a NaN/inf action row ends that env's episode only (terminated, reward 0, info["bad_action"]
True), a wrong action shape raises ValueError naming the expected shape. The single env raises
ValueError on NaN/inf. Finite actions outside [0, 1] are clipped (as the body's ctrlrange would).
"""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from wormsim.envs.batched import BatchedVectorEnv, check_action
from wormsim.envs.layout import ObsLayout

# Seeds fixed forever: the digits' train/test split and the digits decoder (changing them changes the task).
DIGITS_SPLIT_SEED = 20240611
DIGITS_TEST_FRACTION = 0.2
DIGITS_DECODER_SEED = 7919
N_CLASSES = 10


def score_of(info: dict) -> np.ndarray | float:
    """info["score"] of a step (float for a single env, (num_envs,) array for a vector env).

    Only the value on the step where an episode ends (terminated or truncated) is the episode's score,
    in [0, 1]; earlier steps give 0 (a placeholder, not a score). An Evaluator-style loop keeps, for each env, the value at its
    first episode end: ``score = np.where(alive & done, score_of(info), score)``.
    """
    s = info["score"]
    return float(s) if np.ndim(s) == 0 else np.asarray(s, dtype=np.float64)


def readout_y(action: np.ndarray) -> np.ndarray:
    """(P, 2J) muscles -> (P,) scalar readout y = mean(dorsal) - mean(ventral), in [-1, 1]."""
    J = action.shape[1] // 2
    return action[:, :J].mean(axis=1) - action[:, J:].mean(axis=1)


# ------------------------------------------------------------------------------------------------------
# Tasks, vectorised over P envs (the single env is P = 1)
# ------------------------------------------------------------------------------------------------------

# Cues and inputs span +-0.75 by default: the readout y = mean(dorsal) - mean(ventral) of a 12-segment
# body can reach only about +-0.79 when driven by the ventral cord circuit, whose motor neurons make no
# synapses onto the two head joints' muscles (they stay at 0.5). Targets beyond that would cap every
# connectome level's R^2 below 1 while the mlp, which drives every muscle, could reach them.
DEFAULT_AMPLITUDE = 0.75

# Working memory's default load: 2 cues, a 5-step (0.1 s) delay. Calibrated so that the grid's default
# ES budget lands in the measurable range (a harder default left every level at 0:
# docs/measurements.md). Two items and a short delay are the easy end of
# bio2art's memory tasks (Goulas et al. 2021), which vary the pattern length and the delay; raise
# n_cues and delay_steps for a harder task.
N_CUES = 2
DELAY_STEPS = 5

class NonMotorTask:
    """What the non-motor tasks share: the silent body observation, the step clock, the score.

    A subclass sets ``task_names``, ``max_steps`` and ``task_low``/``task_high`` in ``_setup`` and
    implements ``_reset_task``, ``_task_inputs`` (t) and ``_evaluate`` (action, t).
    """

    task_names: tuple[str, ...] = ()

    def __init__(self, n_envs: int = 1, n_segments: int = 12, control_dt: float = 0.02) -> None:
        if not (control_dt > 0 and math.isfinite(control_dt)):
            raise ValueError(f"control_dt must be > 0 s, got {control_dt}")
        if int(n_segments) != n_segments or n_segments < 2:
            raise ValueError(f"n_segments must be an integer >= 2, got {n_segments}")
        self.n_envs = int(n_envs)
        self.control_dt = float(control_dt)
        self.layout = ObsLayout(int(n_segments), self.task_names)
        self.steps = np.zeros(self.n_envs, dtype=np.int64)
        self._rows = np.arange(self.n_envs)
        self._setup()
        lay = self.layout
        # Bounds: the body tasks' (angles 2 pi, velocities 1e3, direction 1), the task's own for its inputs.
        high = np.full(lay.obs_dim, 1e3, dtype=np.float32)
        high[lay.angles] = 2 * np.pi
        high[lay.head_direction] = 1.0
        low = -high
        low[lay.task], high[lay.task] = self.task_low, self.task_high
        self.obs_low, self.obs_high = low, high
        self._silent = np.zeros(lay.obs_dim, dtype=np.float32)
        self._silent[lay.head_direction.start] = 1.0        # head direction (cos, sin) = (1, 0)

    def _setup(self) -> None:
        raise NotImplementedError

    # -- episode ----------------------------------------------------------------------------------------
    def reset_envs(self, envs: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Start a new episode for envs ``envs`` (index array), one generator per env."""
        envs = np.asarray(envs, dtype=np.int64)
        if envs.size == 0:
            return
        self.steps[envs] = 0
        self._reset_task(envs, rngs)

    def observe(self) -> np.ndarray:
        """(P, obs_dim) float32: silent proprioception, then the task inputs of the current step."""
        obs = np.empty((self.n_envs, self.layout.obs_dim), dtype=np.float32)
        obs[:] = self._silent
        obs[:, self.layout.task] = self._task_inputs(self.steps)
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """action: (P, 2J) finite in [0, 1]. Returns reward, terminated, truncated, info (P,) arrays."""
        t = np.minimum(self.steps, self.max_steps)          # an ended env (before its autoreset) sits at T
        reward, info = self._evaluate(action, t)
        self.steps += 1
        truncated = self.steps >= self.max_steps
        score = np.zeros(self.n_envs)
        if truncated.any():
            score[truncated] = self._final_score(np.flatnonzero(truncated))
        info["score"] = score
        return reward, np.zeros(self.n_envs, dtype=bool), truncated, info

    # -- hooks ------------------------------------------------------------------------------------------
    def _reset_task(self, envs: np.ndarray, rngs: list[np.random.Generator]) -> None:
        raise NotImplementedError

    def _task_inputs(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _evaluate(self, action: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError

    def _final_score(self, envs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class RegressionTask(NonMotorTask):
    """A scalar target per scored step, read out as y = mean(dorsal) - mean(ventral) (``readout_y``).

    The targets are drawn uniform in [-amplitude, amplitude]: mean 0, variance amplitude^2 / 3, known.
    R^2 is measured against that known mean, the answer of a circuit that has learnt nothing:
    R^2 = 1 - SS_res / SS_ref with SS_ref = sum(target^2) over the episode's scored steps. (Not about
    the episode's own target mean: with a few cues per episode that reference is itself a guess the
    circuit cannot make, it pushes almost every partial recall below 0, and it is undefined for one cue.)

    - score = max(0, R^2) of the episode, in [0, 1] (if SS_ref = 0: 1 if y hits the targets to 1e-12,
      else 0);
    - reward on a scored step = (target^2 - (y - target)^2) / (n_scored * amplitude^2 / 3), 0 otherwise:
      the squared error saved against answering 0, over its expected total. So an episode's return is
      an *unclipped* R^2 (answering 0 gives 0, perfect recall about 1, a wrong answer below 0), and its
      mean over episodes estimates 1 - MSE / Var(target) without bias. One episode's value is not bounded
      by 1: perfect recall scores sum(target^2) / expected, above 1 when its cues are larger than
      average, so a mean over a few fixed episodes (a validation check) can read above 1. Use the return, not the clipped
      score, to compare circuits that fail: the clip makes every failure 0. (This also keeps ES's
      fitness free of the cues' own spread: answering 0 scores exactly 0 whatever the cues were.)

    Subclasses fill ``self.targets`` (P, T + 1) (column T, the post-episode pad, unused), set
    ``self.scored`` (T + 1,) bool and ``self.amplitude`` before ``_alloc()`` in ``_setup``, and call
    ``_targets_ready(envs)`` after a reset.
    """

    def _targets_ready(self, envs: np.ndarray) -> None:
        tg = self.targets[envs][:, self.scored]
        self._ss_tot[envs] = np.square(tg).sum(axis=1)
        self._ss_res[envs] = 0.0

    def _alloc(self) -> None:
        self.targets = np.zeros((self.n_envs, self.max_steps + 1))
        self._ss_tot = np.zeros(self.n_envs)
        self._ss_res = np.zeros(self.n_envs)
        self._ss_expected = int(self.scored.sum()) * self.amplitude ** 2 / 3.0

    @property
    def expected_ss(self) -> float:
        """The expected sum of squared targets over an episode's scored steps (n_scored * amplitude^2 / 3):
        the return's denominator, so a readout scored outside the env can form the same return."""
        return float(self._ss_expected)

    def _evaluate(self, action, t):
        y = readout_y(action)
        target = self.targets[self._rows, t]
        scored = self.scored[t]
        err = np.where(scored, np.square(y - target), 0.0)
        self._ss_res += err
        gain = np.where(scored, np.square(target) - err, 0.0) / self.expected_ss
        return gain, {"readout": y, "target": np.where(scored, target, 0.0), "scored": scored}

    def torch_reward(self, action, info: dict):
        """This step's reward as ``_evaluate`` gave it, as a differentiable function of the muscles
        ``action`` ((P, 2J) torch tensor) given the step's ``info`` ("target", "scored"): for BPTT."""
        import torch
        J = action.shape[1] // 2
        y = action[:, :J].mean(dim=1) - action[:, J:].mean(dim=1)
        target = torch.as_tensor(info["target"], dtype=action.dtype, device=action.device)
        scored = torch.as_tensor(np.asarray(info["scored"], bool), device=action.device)
        gain = target.square() - (y - target).square()
        return torch.where(scored, gain, torch.zeros_like(gain)) / self._ss_expected

    def _final_score(self, envs):
        ss_tot, ss_res = self._ss_tot[envs], self._ss_res[envs]
        tiny = 1e-12
        r2 = 1.0 - ss_res / np.where(ss_tot > tiny, ss_tot, 1.0)
        r2 = np.where(ss_tot > tiny, r2, (ss_res <= tiny).astype(float))
        return np.clip(r2, 0.0, 1.0)


class MemoryTask(RegressionTask):
    """Working memory: K cues shown one at a time, a delay, then recall of each cue in order."""

    task_names = ("cue", "go")

    def __init__(self, n_envs: int = 1, n_cues: int = N_CUES, cue_steps: int = 5,
                 delay_steps: int = DELAY_STEPS, recall_steps: int = 5, amplitude: float = DEFAULT_AMPLITUDE,
                 **kwargs: Any) -> None:
        for name, v, lo in (("n_cues", n_cues, 1), ("cue_steps", cue_steps, 1), ("delay_steps", delay_steps, 0),
                            ("recall_steps", recall_steps, 1)):
            if int(v) != v or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v}")
        if not (0 < amplitude <= 1):
            raise ValueError(f"amplitude must be in (0, 1], got {amplitude}")
        self.n_cues, self.cue_steps, self.delay_steps = int(n_cues), int(cue_steps), int(delay_steps)
        self.recall_steps, self.amplitude = int(recall_steps), float(amplitude)
        super().__init__(n_envs=n_envs, **kwargs)

    def _setup(self) -> None:
        K, C, D, R = self.n_cues, self.cue_steps, self.delay_steps, self.recall_steps
        self.max_steps = T = K * C + D + K * R
        t = np.arange(T + 1)
        # Which cue is shown / recalled at step t; K (a zero pad column) where none.
        self.cue_index = np.where(t < K * C, t // C, K)
        rec = t - (K * C + D)
        self.recall_index = np.where((rec >= 0) & (t < T), rec // R, K)
        self.go = (self.recall_index < K).astype(np.float32)
        self.scored = self.recall_index < K
        self.task_low = np.array([-self.amplitude, 0.0], np.float32)
        self.task_high = np.array([self.amplitude, 1.0], np.float32)
        self.cues = np.zeros((self.n_envs, K + 1))          # column K stays 0
        self._alloc()

    def _reset_task(self, envs, rngs):
        K = self.n_cues
        self.cues[envs, :K] = np.stack([rng.uniform(-self.amplitude, self.amplitude, K) for rng in rngs])
        self.targets[envs] = self.cues[envs][:, self.recall_index]
        self._targets_ready(envs)

    def _task_inputs(self, t):
        return np.stack([self.cues[self._rows, self.cue_index[t]], self.go[t]], axis=1)


class MemoryCapacityTask(RegressionTask):
    """Memory capacity: a random input stream u_t; the readout must report u_{t - lag}."""

    task_names = ("u",)

    def __init__(self, n_envs: int = 1, lag: int = 1, n_steps: int = 200, amplitude: float = DEFAULT_AMPLITUDE,
                 **kwargs: Any) -> None:
        if int(lag) != lag or lag < 1:
            raise ValueError(f"lag must be an integer >= 1, got {lag}")
        if int(n_steps) != n_steps or n_steps < lag + 2:
            raise ValueError(f"n_steps must be an integer >= lag + 2 = {lag + 2}, got {n_steps}")
        if not (0 < amplitude <= 1):
            raise ValueError(f"amplitude must be in (0, 1], got {amplitude}")
        self.lag, self.n_steps, self.amplitude = int(lag), int(n_steps), float(amplitude)
        super().__init__(n_envs=n_envs, **kwargs)

    def _setup(self) -> None:
        self.max_steps = T = self.n_steps
        t = np.arange(T + 1)
        self.scored = (t >= self.lag) & (t < T)             # washout: the first lag steps
        self.task_low = np.array([-self.amplitude], np.float32)
        self.task_high = np.array([self.amplitude], np.float32)
        self.u = np.zeros((self.n_envs, T + 1))             # column T (after the end) stays 0
        self._alloc()

    def _reset_task(self, envs, rngs):
        T, L = self.n_steps, self.lag
        self.u[envs, :T] = np.stack([rng.uniform(-self.amplitude, self.amplitude, T) for rng in rngs])
        self.targets[envs] = 0.0
        self.targets[envs, L:T] = self.u[envs, : T - L]
        self._targets_ready(envs)

    def _task_inputs(self, t):
        return self.u[self._rows, t][:, None]


_DIGITS: dict[str, np.ndarray] = {}


def digits_data() -> dict[str, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no download): "pixels" (1797, 64) float32 in [0, 1],
    "labels" (1797,), and the fixed split "train" / "test" (index arrays, 80/20, disjoint)."""
    if not _DIGITS:
        from sklearn.datasets import load_digits
        d = load_digits()
        n = len(d.target)
        perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(n)
        n_test = int(round(DIGITS_TEST_FRACTION * n))
        _DIGITS.update(pixels=(d.data / 16.0).astype(np.float32), labels=d.target.astype(np.int64),
                       train=np.sort(perm[n_test:]), test=np.sort(perm[:n_test]))
    return _DIGITS


def digits_decoder(n_muscles: int) -> np.ndarray:
    """The fixed (10, n_muscles) decoder: Gaussian rows of unit norm from DIGITS_DECODER_SEED."""
    w = np.random.default_rng([DIGITS_DECODER_SEED, n_muscles]).standard_normal((N_CLASSES, n_muscles))
    return w / np.linalg.norm(w, axis=1, keepdims=True)


class DigitsTask(NonMotorTask):
    """Classify 8x8 digits shown as 64 pixel inputs; the class is read from the muscles by a fixed decoder."""

    task_names = tuple(f"px{i:02d}" for i in range(64))

    def __init__(self, n_envs: int = 1, n_images: int = 10, show_steps: int = 4, respond_steps: int = 2,
                 split: str = "train", gain: float = 4.0, **kwargs: Any) -> None:
        for name, v, lo in (("n_images", n_images, 1), ("show_steps", show_steps, 0),
                            ("respond_steps", respond_steps, 1)):
            if int(v) != v or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v}")
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not (gain > 0 and math.isfinite(gain)):
            raise ValueError(f"gain must be > 0, got {gain}")
        data = digits_data()
        if n_images > len(data[split]):
            raise ValueError(f"n_images must be <= {len(data[split])} (the {split} split), got {n_images}")
        self.n_images, self.show_steps, self.respond_steps = int(n_images), int(show_steps), int(respond_steps)
        self.split, self.gain = split, float(gain)
        self._data = data
        super().__init__(n_envs=n_envs, **kwargs)

    def _setup(self) -> None:
        n, S, R = self.n_images, self.show_steps, self.respond_steps
        period = S + R
        self.max_steps = T = n * period
        t = np.arange(T + 1)
        self.image_of_t = np.where(t < T, t // period, n)   # n: a blank pad image
        self.respond = (t < T) & (t % period >= S)
        self.decide = (t < T) & (t % period == period - 1)  # the last respond step of each image
        self.task_low = np.zeros(64, np.float32)
        self.task_high = np.ones(64, np.float32)
        self.decoder = digits_decoder(self.layout.n_muscles)          # (10, 2J), fixed
        self._pixels = np.concatenate([self._data["pixels"], np.zeros((1, 64), np.float32)])
        self._blank = len(self._pixels) - 1
        self.images = np.full((self.n_envs, n + 1), self._blank, dtype=np.int64)   # dataset rows
        self.labels = np.zeros((self.n_envs, n + 1), dtype=np.int64)
        self._correct = np.zeros(self.n_envs)

    def _reset_task(self, envs, rngs):
        pool = self._data[self.split]
        self.images[envs, : self.n_images] = np.stack(
            [rng.choice(pool, size=self.n_images, replace=False) for rng in rngs])
        self.labels[envs, : self.n_images] = self._data["labels"][self.images[envs, : self.n_images]]
        self._correct[envs] = 0.0

    def _task_inputs(self, t):
        return self._pixels[self.images[self._rows, self.image_of_t[t]]]

    def logits(self, action: np.ndarray) -> np.ndarray:
        """(P, 2J) muscles -> (P, 10) class logits = gain * W (muscles - 0.5)."""
        return self.gain * (action - 0.5) @ self.decoder.T

    def _evaluate(self, action, t):
        z = self.logits(action)
        zmax = z.max(axis=1, keepdims=True)
        logp = z - zmax - np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
        label = self.labels[self._rows, self.image_of_t[t]]
        respond = self.respond[t]
        reward = np.where(respond, logp[self._rows, label], 0.0)
        predicted = z.argmax(axis=1)
        self._correct += self.decide[t] & (predicted == label)
        return reward, {"predicted": predicted, "label": label, "respond": respond}

    def torch_reward(self, action, info: dict):
        """This step's reward as ``_evaluate`` gave it (log-probability of the label on respond steps),
        differentiable in the muscles ``action`` ((P, 2J) torch tensor), from the step's ``info``."""
        import torch
        decoder = torch.as_tensor(self.decoder, dtype=action.dtype, device=action.device)
        logp = torch.log_softmax(self.gain * (action - 0.5) @ decoder.T, dim=1)
        label = torch.as_tensor(np.asarray(info["label"], np.int64), device=action.device)
        respond = torch.as_tensor(np.asarray(info["respond"], bool), device=action.device)
        chosen = logp.gather(1, label[:, None])[:, 0]
        return torch.where(respond, chosen, torch.zeros_like(chosen))

    def _final_score(self, envs):
        return self._correct[envs] / self.n_images


# ------------------------------------------------------------------------------------------------------
# Gymnasium environments
# ------------------------------------------------------------------------------------------------------
class NonMotorEnv(gym.Env):
    """A single env: the P = 1 case of a ``NonMotorTask``. Subclasses set ``task_class``."""

    metadata = {"render_modes": [], "render_fps": 50}
    task_class: type[NonMotorTask] = NonMotorTask

    def __init__(self, render_mode: str | None = None, **task_kwargs: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"{type(self).__name__} has no rendering; render_mode must be None")
        self.render_mode = None
        self.task = self.task_class(n_envs=1, **task_kwargs)
        self.layout: ObsLayout = self.task.layout
        self.control_dt = self.task.control_dt
        self.max_steps = self.task.max_steps
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.control_dt))}
        self.observation_space = spaces.Box(self.task.obs_low, self.task.obs_high, dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, (self.layout.n_muscles,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.task.reset_envs(np.array([0]), [self.np_random])
        return self.task.observe()[0], {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        check_action(a, self.action_space.shape)
        if not (a.min() >= 0.0 and a.max() <= 1.0):
            if not np.isfinite(a).all():
                raise ValueError(f"action contains NaN or inf: {a}")
            a = np.clip(a, 0.0, 1.0)
        reward, terminated, truncated, info = self.task.step(a[None])
        info = {k: v[0] for k, v in info.items()}
        return self.task.observe()[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info


class NonMotorVectorEnv(BatchedVectorEnv):
    """num_envs independent episodes of a ``NonMotorTask``, numpy-batched. Subclasses set ``task_class``.
    Seeding, reset masks, bad action rows and NEXT_STEP autoreset as every wormsim vector env
    (envs/batched.py); a bad row's muscles sit at 0.5 (no answer) and its score is 0."""

    task_class: type[NonMotorTask] = NonMotorTask
    bad_action_fill = 0.5
    zeroed_on_bad = ("score",)

    def __init__(self, num_envs: int = 1, render_mode: str | None = None, **task_kwargs: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"{type(self).__name__} has no rendering; render_mode must be None")
        self.render_mode = None
        self._init_spaces(self.task_class(n_envs=int(num_envs), **task_kwargs), num_envs)

    def _reset_rows(self, rows, rngs) -> None:
        self.task.reset_envs(rows, rngs)


_COMMON_DOC = """
    ## Observation space
    Box(float32, (2J + 4 + n_task,)), finite bounds, laid out by ``env.unwrapped.layout``
    (envs/layout.py). No body: joint angles, joint velocities, head velocity are 0 and head direction
    is (1, 0) at every step (silent proprioception, so the body tasks' interface and brains run
    unchanged); the task inputs follow.

    ## Action space
    Box(0, 1, (2J,), float32): muscle activations, dorsal joints head to tail then ventral. Wrong shape:
    ValueError naming the expected shape; NaN/inf: ValueError (vector env: ends that env's episode,
    info["bad_action"]); finite values outside [0, 1] are clipped.

    ## Episode end
    Truncation after ``max_steps`` control steps (fixed by the arguments); never terminated.
    info["score"] in [0, 1] on that step, 0 on earlier steps (read it on the final step only).

    ## Common arguments
    n_segments=12 (J = n_segments - 1 joints), control_dt=0.02 s (the brain's time per step).
"""


class MemoryEnv(NonMotorEnv):
    """Working memory (wormsim/Memory-v0), as in bio2art's memory tasks (Goulas et al.).

    K = n_cues cue values, uniform in [-amplitude, amplitude] (drawn from the seed), are shown one at a
    time: task input "cue" holds cue k for cue_steps control steps (0 otherwise). Then a delay of
    delay_steps (no input), then recall: K windows of recall_steps each, task input "go" = 1 throughout
    recall (0 otherwise). Episode length K * (cue_steps + recall_steps) + delay_steps (25 by default).

    ## Readout and reward
    y = mean(dorsal muscles) - mean(ventral muscles), in [-1, 1]. On each recall step in window k the
    target is cue k and reward = (cue_k^2 - (y - cue_k)^2) / (K * recall_steps * amplitude^2 / 3); 0 on
    other steps. The return is the episode's unclipped recall R^2 against the cues' known mean 0
    (see RegressionTask): 0 for answering 0, about 1 for perfect recall, below 0 for wrong answers.

    ## Info
    readout (y), target (0 off recall steps), scored (bool, a recall step), score: max(0, R^2) of y
    against the targets over all recall steps of the episode (R^2 about the cues' known mean 0), on
    the last step (0 before).

    ## Arguments
    n_cues=2, cue_steps=5, delay_steps=5, recall_steps=5, amplitude=0.75 (in (0, 1]; see
    DEFAULT_AMPLITUDE and N_CUES).
    """ + _COMMON_DOC

    task_class = MemoryTask

    def __init__(self, n_segments: int = 12, control_dt: float = 0.02, n_cues: int = N_CUES, cue_steps: int = 5,
                 delay_steps: int = DELAY_STEPS, recall_steps: int = 5, amplitude: float = DEFAULT_AMPLITUDE,
                 render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode, n_segments=n_segments, control_dt=control_dt, n_cues=n_cues,
                         cue_steps=cue_steps, delay_steps=delay_steps, recall_steps=recall_steps,
                         amplitude=amplitude)


class MemoryCapacityEnv(NonMotorEnv):
    """Memory capacity (wormsim/MemoryCapacity-v0): recall the input of ``lag`` steps ago.

    Task input "u": u_t uniform in [-amplitude, amplitude], independent each step, for n_steps steps.
    Target y_t = u_{t - lag} (lag >= 1). A memory-capacity curve is this task for lag = 1 .. D.

    ## Readout and reward
    y = mean(dorsal muscles) - mean(ventral muscles); reward = (u_{t-lag}^2 - (y - u_{t-lag})^2) /
    ((n_steps - lag) * amplitude^2 / 3) for t >= lag (the first lag steps are a washout, reward 0): the
    return is the episode's unclipped R^2 against the input's known mean 0 (see RegressionTask).

    ## Info
    readout, target (0 during washout), scored, score: max(0, R^2) of y against the targets over the
    scored steps (about the known mean 0), on the last step (0 before).

    ## Arguments
    lag=1, n_steps=200 (>= lag + 2), amplitude=0.75 (in (0, 1]; see DEFAULT_AMPLITUDE).
    """ + _COMMON_DOC

    task_class = MemoryCapacityTask

    def __init__(self, n_segments: int = 12, control_dt: float = 0.02, lag: int = 1, n_steps: int = 200,
                 amplitude: float = DEFAULT_AMPLITUDE, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode, n_segments=n_segments, control_dt=control_dt, lag=lag,
                         n_steps=n_steps, amplitude=amplitude)


class DigitsEnv(NonMotorEnv):
    """Digit classification (wormsim/Digits-v0) on scikit-learn's bundled 8x8 digits (no download).

    Each episode shows n_images digits drawn without replacement (from the seed) from the split
    ``split``: "train" or "test", a fixed 80/20 split of the 1797 images by a fixed seed
    (DIGITS_SPLIT_SEED), so test images are never trained on. Task inputs "px00".."px63": the pixels
    scaled to [0, 1], row by row. Each image is on for show_steps then respond_steps (pixels still on).
    Episode length n_images * (show_steps + respond_steps) (60 by default).

    ## Readout and reward
    logits = gain * W (muscles - 0.5), W a FIXED (10, 2J) matrix (Gaussian rows of unit norm, drawn
    from DIGITS_DECODER_SEED; ``digits_decoder``). The decoder is not trained: the circuit must learn to
    produce each class's muscle pattern, and every realism level faces the same decoder. (Muscles no
    motor neuron reaches sit at 0.5 and contribute nothing.) Reward on each respond step = log
    softmax(logits)[true class] (minus the cross-entropy, <= 0); 0 on show steps.

    ## Info
    predicted (argmax of logits), label, respond (bool), score: the accuracy over the episode's images
    (argmax at the last respond step of each image), on the last step (0 before).

    ## Arguments
    n_images=10, show_steps=4, respond_steps=2, split="train", gain=4.0.
    """ + _COMMON_DOC

    task_class = DigitsTask

    def __init__(self, n_segments: int = 12, control_dt: float = 0.02, n_images: int = 10, show_steps: int = 4,
                 respond_steps: int = 2, split: str = "train", gain: float = 4.0,
                 render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode, n_segments=n_segments, control_dt=control_dt,
                         n_images=n_images, show_steps=show_steps, respond_steps=respond_steps, split=split,
                         gain=gain)


class MemoryVectorEnv(NonMotorVectorEnv):
    """num_envs episodes of wormsim/Memory-v0 (see MemoryEnv)."""

    task_class = MemoryTask


class MemoryCapacityVectorEnv(NonMotorVectorEnv):
    """num_envs episodes of wormsim/MemoryCapacity-v0 (see MemoryCapacityEnv)."""

    task_class = MemoryCapacityTask


class DigitsVectorEnv(NonMotorVectorEnv):
    """num_envs episodes of wormsim/Digits-v0 (see DigitsEnv)."""

    task_class = DigitsTask
