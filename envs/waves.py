"""An open-loop travelling wave of muscle activation: the reference gait, no brain.

Joint j (0 head .. J-1 tail) sits at body position s_j = (j + 1) / n_segments. Its phase at time t is

    phase_j(t) = 2 pi (frequency * t - direction * s_j / wavelength)

so with direction = +1 a crest travels from head to tail (the worm swims forward, head first) and with
direction = -1 from tail to head (backward). Dorsal activation 0.5 + 0.5 * amplitude * sin(phase), ventral
0.5 - 0.5 * amplitude * sin(phase): the action layout of envs/layout.py, (2J,) in [0, 1].

    wave = TravellingWave(n_segments=12, frequency=2.0, wavelength=1.5)
    action = wave(t)            # t: float -> (2J,);  t: (B,) -> (B, 2J)
    wave = animal_wave("swim")  # the animal's measured swimming wave (ANIMAL_GAITS), full amplitude

The defaults (2 Hz, 1.5 BL) are the head oscillator's and the project's reference open-loop wave; the
animal's own gaits are in ANIMAL_GAITS.
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


@dataclass(frozen=True)
class AnimalGait:
    """A forward gait of C. elegans as measured: frequency (Hz), wavelength (body lengths), the medium
    of wormsim's body it is measured in (envs/body.py MEDIA), the forward speed (BL/s) where a source
    gives one, and the sources."""
    frequency: float
    wavelength: float
    medium: str
    speed: float | None
    source: str

    @property
    def wave_speed(self) -> float:
        """Speed of the body wave along the body, BL/s."""
        return self.frequency * self.wavelength

    @property
    def slip(self) -> float | None:
        """Forward speed / wave speed (1: no slip, the body follows its own track)."""
        return None if self.speed is None else self.speed / self.wave_speed


#: The animal's gaits at the two ends of the load axis. Frequency and wavelength: Fang-Yen et al. 2010
#: (PNAS 107:20323), the water (1 mPa s) and agar ends of their gait-against-viscosity measurements
#: (Fig. 2). Swimming speed: Sznitman et al. 2010 (Biophys. J. 98:617), about 0.35 mm/s for a ~1 mm
#: worm. Crawling speed: no single source gives it at these kinematics (speed ~0.2 BL/s at 0.30 Hz and
#: 0.65 BL would be a slip of 1, faster than the body's own wave allows), so it is left out.
ANIMAL_GAITS: dict[str, AnimalGait] = {
    "swim": AnimalGait(1.76, 1.54, "water", 0.35,
                       "Fang-Yen et al. 2010 (frequency, wavelength); Sznitman et al. 2010 (speed)"),
    "crawl": AnimalGait(0.30, 0.65, "agar", None, "Fang-Yen et al. 2010 (frequency, wavelength)"),
}


def animal_wave(gait: str, n_segments: int = 12, amplitude: float = 1.0, direction: int = 1) -> TravellingWave:
    """The open-loop muscle wave at the animal's frequency and wavelength for ``gait`` ("swim", "crawl")."""
    if gait not in ANIMAL_GAITS:
        raise ValueError(f"unknown gait {gait!r}; choose from {', '.join(ANIMAL_GAITS)}")
    g = ANIMAL_GAITS[gait]
    return TravellingWave(n_segments=n_segments, frequency=g.frequency, wavelength=g.wavelength,
                          amplitude=amplitude, direction=direction)
