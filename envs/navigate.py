"""wormsim/Navigate-v0: reach a target by chemotaxis, sensing only the attractant concentration at the head."""
from __future__ import annotations

from typing import Any

import numpy as np

from wormsim.envs.swim import WormEnv, WormTask


class NavigateTask(WormTask):
    """Approach a target placed at a random bearing; the attractant is exp(-distance / gradient_length).

    Besides the reward, every step reports the episode's navigation scores so far (``SCORES``), so the
    values at an episode's last step are that episode's scores (the rollout keeps ``score`` and every
    ``score_*`` key at each episode's end)."""

    task_names = ("concentration", "concentration_change")

    def __init__(self, n_worms: int = 1, target_distance: float = 1.0, success_radius: float = 0.3,
                 gradient_length: float = 2.0, success_bonus: float = 5.0, sensory_tau: float = 0.5,
                 sensory_gain: float = 5.0, **kwargs: Any) -> None:
        if not target_distance > success_radius > 0:
            raise ValueError(f"need target_distance > success_radius > 0 (BL), got {target_distance}, "
                             f"{success_radius}")
        if not gradient_length > 0:
            raise ValueError(f"gradient_length must be > 0 BL, got {gradient_length}")
        if not (sensory_tau > 0 and sensory_gain > 0):
            raise ValueError(f"sensory_tau and sensory_gain must be > 0 (s), got {sensory_tau}, {sensory_gain}")
        super().__init__(n_worms=n_worms, markers=True, **kwargs)
        self.target_distance = float(target_distance)
        self.success_radius = float(success_radius)
        self.gradient_length = float(gradient_length)
        self.success_bonus = float(success_bonus)
        self.sensory_tau = float(sensory_tau)
        self.sensory_gain = float(sensory_gain)
        self.target = np.zeros((n_worms, 2))          # BL, relative to each worm's home
        self.concentration = np.zeros(n_worms)
        self.concentration_rate = np.zeros(n_worms)   # 1/s, dc/dt over the last step
        self.concentration_change = np.zeros(n_worms) # the sensory response (sensory_response), dimensionless
        # per-episode bookkeeping of the scores: start (head tip, centre of mass), path of the centre of
        # mass, step of arrival (-1: not yet)
        self.start_distance = np.zeros(n_worms)
        self.start_head = np.zeros((n_worms, 2))
        self.start_com = np.zeros((n_worms, 2))
        self.last_com = np.zeros((n_worms, 2))
        self.path_length = np.zeros(n_worms)
        self.arrival_step = np.full(n_worms, -1, dtype=np.int64)

    def _distance(self) -> np.ndarray:
        d = self.body.qpos[:, 0:2] - self.target       # head tip relative to the target (qpos: head tip)
        return np.hypot(d[:, 0], d[:, 1])

    def _reset_task(self, worms, rngs):
        # The bearing is drawn after the posture noise, from the same per-worm generator.
        bearing = np.array([rng.uniform(0.0, 2 * np.pi) for rng in rngs])
        head = self.body.head_position()[worms]
        self.target[worms] = head + self.target_distance * np.stack([np.cos(bearing), np.sin(bearing)], 1)
        self.body.marker_pos[worms, :2] = self.target[worms] + self.body.homes[worms]
        dist = self._distance()[worms]
        self.concentration[worms] = np.exp(-dist / self.gradient_length)
        self.concentration_rate[worms] = 0.0
        self.concentration_change[worms] = 0.0
        self.start_distance[worms] = dist
        self.start_head[worms] = head
        com = self.body.com_position()[worms]
        self.start_com[worms] = com
        self.last_com[worms] = com
        self.path_length[worms] = 0.0
        self.arrival_step[worms] = -1

    def reset_info(self, worms):
        return {"distance": self._distance()[np.asarray(worms)]}

    def _before_step(self) -> np.ndarray:
        return self._distance()

    def _task_inputs(self) -> np.ndarray:
        return np.stack([self.concentration, self.concentration_change], axis=1)

    def _reward(self, action, before):
        dist = self._distance()
        c = np.exp(-dist / self.gradient_length)
        self.concentration_rate = (c - self.concentration) / self.control_dt
        # d ln c / dt of c = exp(-d / L) is -(d - d_before) / (L dt), exact
        self.concentration_change = sensory_response(self.concentration_change, (before - dist) /
                                                     (self.gradient_length * self.control_dt),
                                                     self.control_dt, self.sensory_tau, self.sensory_gain)
        self.concentration = c
        success = dist < self.success_radius
        reward_approach = before - dist
        reward_success = self.success_bonus * success
        com = self.body.com_position()
        self.path_length += np.hypot(*(com - self.last_com).T)
        self.last_com = com
        # self.steps is incremented after _reward: this step is number steps + 1
        self.arrival_step = np.where(success & (self.arrival_step < 0), self.steps + 1, self.arrival_step)
        arrived = self.arrival_step >= 0
        info = {"reward_approach": reward_approach, "reward_success": reward_success, "distance": dist,
                "success": success, "concentration": c.copy(), "curvature": self.body.curvature(),
                "x_position": com[:, 0], "y_position": com[:, 1],
                # the episode's scores so far (see SCORES); at its last step, the episode's own
                "score": arrived.astype(float),
                "score_distance": dist,
                "score_time": np.where(arrived, self.arrival_step * self.control_dt, np.inf),
                "score_efficiency": path_efficiency(self.start_distance, dist, self.path_length),
                "score_chemotaxis": chemotaxis_index(self.start_head, self.body.head_position(), self.target)}
        return reward_approach + reward_success, success, info


#: The navigation scores of an episode, as the rollout records them at its end (info key -> what it is).
#: A run's summary and the CLI show each one's mean over held-out episodes (``time``: over the episodes
#: that reached the target).
SCORES = {
    "score": "success: 1 if the head tip came within success_radius of the target, else 0",
    "score_distance": "final distance of the head tip to the target, BL",
    "score_time": "time to reach the target, s (inf: not reached; inf, not NaN, so that equal episodes "
                  "have equal infos)",
    "score_efficiency": "path efficiency: (start distance - final distance) / path length of the centre "
                        "of mass, in [-1, 1]; 1 is a straight run to the target",
    "score_chemotaxis": "chemotaxis index of the episode: +1 the head ended on the target's side of the start "
                        "(nearer the target than the control spot mirrored through the start), -1 on the "
                        "other; its mean over episodes is the plate assay's (A - C) / (A + C) "
                        "(Bargmann, Hartwieg & Horvitz 1993)",
}


def sensory_response(response, log_rate, dt: float, tau: float = 0.5, gain: float = 5.0) -> np.ndarray:
    """One step of the attractant sense: the relative rate of change of the concentration,
    d ln c / dt (1/s), times ``gain`` (s), low-passed with time constant ``tau`` (s); returns the new
    response (dimensionless, + rising, - falling).

    What a chemosensory neuron of the head passes on. AWC's calcium response to a fluctuating odour
    is a near-linear, biphasic (differentiating) filter of the stimulus, faster than 1 s (Kato et al.
    2014, Neuron, Figs. 3-4): it reports changes, not levels, on a sub-second time scale; tau 0.5 s.
    The response depends on the fold change (Weber's law of AWA and AWC: Larsch et al. 2015, Cell
    Rep.; Levy & Bargmann 2020, Neuron), hence ln c. The gain brings it to O(1), the scale every
    input of the interface has (curvature is scaled likewise): a worm swimming at 0.3 BL/s straight
    up this gradient (L = 2 BL) senses d ln c / dt = 0.15 /s, a response of 0.75. The raw rate was
    ~0.1 /s once the head's sweep averages out, too small beside a command interneuron's synaptic drive
    (O(1)) for a trainer that starts its input gains at O(1) (docs/navigate/README.md)."""
    a = 1.0 - np.exp(-dt / tau)
    return response + (gain * np.asarray(log_rate, float) - response) * a


def chemotaxis_index(start, end, target) -> np.ndarray:
    """Each episode's vote in the chemotaxis index of the plate assay: +1 if the worm ended nearer the
    attractant than the control, -1 if nearer the control, 0 exactly between.

    The assay (Ward 1973, PNAS; in the form of Bargmann, Hartwieg & Horvitz 1993, Cell, methods) starts
    worms between an attractant spot and a control spot equidistant from them and scores
    CI = (A - C) / (A + C), A and C the animals that end at the attractant and at the control. A lone
    simulated worm is one animal of that assay, its control spot the mirror image of the target
    through its starting point: it counts for A if it ends on the target's side of the line through the
    start perpendicular to the gradient, for C on the other side. The mean of the votes over episodes is
    the assay's CI: +1 all attracted, 0 for a worm that ignores the attractant (a random walk, or a
    straight swim in a random direction), -1 all repelled.
    start, end, target: (..., 2) positions, BL. Returns (...) float in {-1, 0, 1}.
    """
    start, end, target = (np.asarray(x, float) for x in (start, end, target))
    return np.sign(np.sum((end - start) * (target - start), axis=-1))


def path_efficiency(start_distance, final_distance, path_length) -> np.ndarray:
    """Net approach to the target per unit of path travelled, (start - final distance) / path length, in
    [-1, 1] (1: a straight run at the target; 0: no net approach or no path yet). The path is the
    centre of mass's (a head tip's path length counts every lateral sweep of the undulation).
    All arguments (...) BL."""
    s, f, L = (np.asarray(x, float) for x in (start_distance, final_distance, path_length))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(L > 1e-9, np.clip((s - f) / np.where(L > 1e-9, L, 1.0), -1.0, 1.0), 0.0)


def summarize_scores(record: dict) -> dict:
    """The means over episodes of a ``heldout`` record ({"score": [...], "score_distance": [...], ...},
    one value per episode, None where undefined: score_time of an episode that never arrived):
    {"success_rate", "distance", "time_to_target" (over the episodes that arrived), "path_efficiency",
    "chemotaxis_index", "episodes"}; None where no episode gives a value."""
    def mean(key):
        v = np.array([np.nan if x is None else x for x in record.get(key) or []], float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else None
    n = len(record.get("score") or [])
    return {"success_rate": mean("score"), "distance": mean("score_distance"),
            "time_to_target": mean("score_time"), "path_efficiency": mean("score_efficiency"),
            "chemotaxis_index": mean("score_chemotaxis"), "episodes": n}


class NavigateEnv(WormEnv):
    """Reach a target a few body lengths away, sensing only the attractant at the head (wormsim/Navigate-v0).

    The worm body of wormsim/Swim-v0 (see SwimEnv). At reset a target is placed ``target_distance`` BL from
    the head tip at a bearing drawn uniformly from the seed. The attractant concentration at a point d BL
    from the target is exp(-d / gradient_length), in (0, 1]. The worm never sees the target; it senses the
    concentration at its head and, as a chemosensory neuron reports it, the concentration's relative change
    (``sensory_response``).

    ## Observation space
    Box(-high, high, (2J + 6,), float32) (as Swim-v0; 1e3 for the task inputs), laid out by ``env.unwrapped.layout`` (envs/layout.py):

    | index        | observation                                                        | unit   |
    |--------------|--------------------------------------------------------------------|--------|
    | 0 .. J-1     | joint angles, positive = bent toward the dorsal side               | rad    |
    | J .. 2J-1    | joint angular velocities                                           | rad/s  |
    | 2J, 2J+1     | head tip velocity in the head's frame: forward, lateral            | BL/s   |
    | 2J+2, 2J+3   | head direction in the world: cos, sin                              | -      |
    | 2J+4         | "concentration": attractant at the head tip                        | [0, 1] |
    | 2J+5         | "concentration_change": the head's sense of its change:            | -      |
    |              | d ln c / dt x sensory_gain, low-passed over sensory_tau            |        |
    |              | (``sensory_response``: AWC's sub-second filter, Kato et al. 2014)  |        |

    ## Action space
    Box(0, 1, (2J,), float32), as in Swim-v0: [0, J) dorsal, [J, 2J) ventral activations, head to tail.

    ## Rewards
    reward = reward_approach + reward_success, each in ``info``:
    - reward_approach: decrease of the head-target distance over the step, BL.
    - reward_success: success_bonus on the step the head comes within success_radius.

    ## Info
    reward_approach, reward_success, distance (BL), success (bool), concentration, curvature (J,) rad/BL,
    x_position, y_position (centre of mass, BL), diverged (bool), and the episode's navigation scores so
    far (``SCORES``; their values at the episode's last step are the episode's): score (success, 0/1),
    score_distance (BL), score_time (s to reach the target, inf until then), score_efficiency (net
    approach / path length of the centre of mass), score_chemotaxis (+1 the head ended on the target's
    side of the start, -1 on the other: the plate assay's vote, ``chemotaxis_index``).

    ## Steering
    The body steers by a dorsal-ventral imbalance of the ventral cord's motor neurons: a sustained bias
    of the body muscles bends the swimming path (0.1 of muscle activation toward one side turns it into
    circles about 0.4 BL across). That is the body the animal turns with: the deep ventral bend of a
    pirouette's omega turn is body-wall muscle (Pierce-Shimomura, Morse & Lockery 1999, J. Neurosci.,
    klinokinesis: pirouettes grow frequent where the concentration falls). The head oscillator (head_cpg)
    keeps making the rhythm around the head's midline and the circuit's bias acts behind it, so the two
    never compete for the same muscles. Weathervaning (klinotaxis, Iino & Yoshida 2009, J. Neurosci.)
    bends the head toward the side where the concentration rises within each head sweep; it is made by
    head and neck motor neurons (SMB, SMD, RMD) that the simulated ventral cord circuit does not contain,
    so here only its effect through the body is open to a circuit. A hand-made rule of this kind (the
    travelling wave, plus a ventral bias while the sensed concentration change is negative;
    ``reference_policy("hand-made klinokinesis")``) reaches the target in most episodes
    (tests/test_navigate.py); random muscle commands never do.

    ## Episode end
    Terminated on success (head within success_radius BL of the target) or divergence; truncated after
    duration / control_dt steps (implemented by the environment, no TimeLimit wrapper).

    ## Arguments
    n_segments=12, medium="water", control_dt=0.02 s, duration=10.0 s, muscle_tau=0.1 s,
    target_distance=1.0 BL (the body swims about 0.18 BL/s with the open-loop wave, so the target is a
    few seconds of straight swimming away), success_radius=0.3 BL, gradient_length=2.0 BL, success_bonus=5.0,
    sensory_tau=0.5 s and sensory_gain=5.0 s (the attractant sense, ``sensory_response``),
    reset_noise_scale=0.05 rad, timestep=0.02 s, head_cpg=0.0 Hz and head_cpg_amplitude=1.0 (the head
    oscillator of Swim-v0), render_mode=None or "rgb_array", width=480, height=480.

    ## Version history
    v0: first version (target 3 BL away until the navigation scores came: out of reach in an episode;
    the second input was the raw dc/dt until the sense of ``sensory_response`` replaced it).
    """

    task_class = NavigateTask

    def __init__(self, n_segments: int = 12, medium: str | float = "water", control_dt: float = 0.02,
                 duration: float = 10.0, muscle_tau: float = 0.1, target_distance: float = 1.0,
                 success_radius: float = 0.3, gradient_length: float = 2.0, success_bonus: float = 5.0,
                 sensory_tau: float = 0.5, sensory_gain: float = 5.0, reset_noise_scale: float = 0.05, timestep: float = 0.02, head_cpg: float = 0.0,
                 head_cpg_amplitude: float = 1.0, head_cpg_phase: str = "zero", render_mode: str | None = None,
                 width: int = 480, height: int = 480) -> None:
        super().__init__(render_mode=render_mode, width=width, height=height, n_segments=n_segments,
                         medium=medium, control_dt=control_dt, duration=duration, muscle_tau=muscle_tau,
                         target_distance=target_distance, success_radius=success_radius,
                         gradient_length=gradient_length, success_bonus=success_bonus,
                         sensory_tau=sensory_tau, sensory_gain=sensory_gain, reset_noise_scale=reset_noise_scale, timestep=timestep, head_cpg=head_cpg,
                         head_cpg_amplitude=head_cpg_amplitude, head_cpg_phase=head_cpg_phase)



# ---- reference policies: what a navigator's numbers are set beside ---------------------------------------
#: name -> what it is; ``reference_policy(name, ...)`` builds each, ``reference_scores`` runs them.
REFERENCES = {
    "random muscle commands": "every muscle command uniform in [0, 1], drawn afresh every step; no circuit",
    "passive body": "every muscle at rest (0.5); the head oscillator alone",
    "blind swimmer": "the open-loop travelling wave (2 Hz, 1.5 BL) on the body, the head to its oscillator: "
                     "swims straight whatever the attractant does, so it reaches only targets it happens to face",
    "hand-made klinokinesis": "the blind swimmer plus a ventral bias of 0.3 on every body joint while the "
                              "sensed change of the attractant (its input concentration_change, low-passed over "
                              "0.5 s) is negative (turn while things get worse: Pierce-Shimomura, Morse & "
                              "Lockery 1999); what this body allows a simple rule",
}


def reference_policy(name: str, n_segments: int = 12, head_length: float = 0.2, seed: int = 0):
    """A policy ``(t, obs) -> actions (B, 2J)`` of the references (REFERENCES); stateful (make one per
    batch of episodes). The head joints (within ``head_length`` BL) get 0.5, as the interface gives the
    muscles no simulated neuron reaches, so the body's head oscillator drives them."""
    from wormsim.envs.waves import TravellingWave
    if name not in REFERENCES:
        raise ValueError(f"unknown reference {name!r}; choose from {', '.join(REFERENCES)}")
    J = n_segments - 1
    head = np.flatnonzero(np.arange(1, n_segments) / n_segments <= head_length + 1e-9)
    cols = np.concatenate([head, J + head])
    wave = TravellingWave(n_segments=n_segments)
    rng = np.random.default_rng(seed)

    def policy(t: float, obs: np.ndarray) -> np.ndarray:
        B = len(obs)
        if name == "random muscle commands":
            return rng.uniform(0.0, 1.0, (B, 2 * J)).astype(np.float32)
        a = np.full((B, 2 * J), 0.5) if name == "passive body" else np.tile(wave(t), (B, 1)).astype(float)
        if name == "hand-made klinokinesis":
            sensed = obs[:, -1].astype(float)        # concentration_change, the last observation
            bias = np.where(sensed < 0, 0.3, 0.0)[:, None]
            a[:, :J] -= bias
            a[:, J:] += bias
        a[:, cols] = 0.5
        return np.clip(a, 0.0, 1.0).astype(np.float32)
    return policy


def reference_scores(name: str, episodes: int, seed: int = 0, **env_kwargs: Any) -> dict[str, np.ndarray]:
    """Run reference ``name`` on ``episodes`` navigate episodes (seeds seed .. seed + episodes - 1; the
    environment's keyword arguments, e.g. duration, head_cpg and the held-out options) and return each
    episode's scores: {"score", "score_distance", "score_time", "score_efficiency", "score_chemotaxis"}
    -> (episodes,) arrays, as the rollout records a circuit's."""
    from wormsim.envs.vector import NavigateVectorEnv
    env = NavigateVectorEnv(num_envs=int(episodes), **env_kwargs)
    try:
        obs, _ = env.reset(seed=[int(seed) + k for k in range(episodes)])
        policy = reference_policy(name, env.layout.n_segments, seed=seed)
        done = np.zeros(episodes, bool)
        out = {k: np.full(episodes, np.nan) for k in SCORES}
        for k in range(env.task.max_steps):
            obs, _, term, trunc, info = env.step(policy(k * env.task.control_dt, obs))
            ended = ~done & (np.asarray(term) | np.asarray(trunc))
            for key in SCORES:
                out[key][ended] = np.asarray(info[key], float)[ended]
            done |= ended
            if done.all():
                break
        return out
    finally:
        env.close()
