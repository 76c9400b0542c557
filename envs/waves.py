"""An open-loop travelling wave of muscle activation: the reference gait, no brain.

Joint j (0 head .. J-1 tail) sits at body position s_j = (j + 1) / n_segments. Its phase at time t is

    phase_j(t) = 2 pi (frequency * t - direction * s_j / wavelength)

so with direction = +1 a crest travels from head to tail (the worm swims forward, head first) and with
direction = -1 from tail to head (backward). Dorsal activation 0.5 + 0.5 * amplitude * sin(phase), ventral
0.5 - 0.5 * amplitude * sin(phase): the action layout of envs/layout.py, (2J,) in [0, 1].

    wave = TravellingWave(n_segments=12, frequency=2.0, wavelength=1.5)
    action = wave(t)            # t: float -> (2J,);  t: (B,) -> (B, 2J)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TravellingWave:
    """Open-loop muscle wave.

    n_segments: body segments (J = n_segments - 1 joints).
    frequency: undulation frequency, Hz (C. elegans swims at ~2 Hz; Fang-Yen et al. 2010).
    wavelength: wavelength, body lengths (~1.5 in water).
    amplitude: in [0, 1]; 1 drives dorsal and ventral muscles between 0 and 1 in antiphase.
    direction: +1 head -> tail (forward), -1 tail -> head (backward).
    phase: phase offset, rad.
    """
    n_segments: int = 12
    frequency: float = 2.0
    wavelength: float = 1.5
    amplitude: float = 1.0
    direction: int = 1
    phase: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.amplitude <= 1.0:
            raise ValueError(f"amplitude must be in [0, 1], got {self.amplitude}")
        if self.direction not in (1, -1):
            raise ValueError(f"direction must be +1 (head->tail) or -1 (tail->head), got {self.direction}")
        if self.wavelength <= 0:
            raise ValueError(f"wavelength must be > 0 body lengths, got {self.wavelength}")
        if self.n_segments < 2:
            raise ValueError(f"n_segments must be >= 2, got {self.n_segments}")

    @property
    def n_joints(self) -> int:
        return self.n_segments - 1

    @property
    def joint_positions(self) -> np.ndarray:
        """(J,) body position of each joint, 0 head .. 1 tail."""
        return np.arange(1, self.n_segments) / self.n_segments

    def phases(self, t: float | np.ndarray) -> np.ndarray:
        """Phase of every joint at time(s) t (s): float -> (J,), (B,) -> (B, J); rad."""
        t = np.asarray(t, dtype=float)
        return 2 * np.pi * (self.frequency * t[..., None]
                            - self.direction * self.joint_positions / self.wavelength) + self.phase

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        """Muscle activations at time(s) t (s): float -> (2J,), (B,) -> (B, 2J); dorsal then ventral, in [0, 1]."""
        s = 0.5 * self.amplitude * np.sin(self.phases(t))
        return np.concatenate([0.5 + s, 0.5 - s], axis=-1).astype(np.float32)
