"""Replay c302's reference scenarios in wormsim's conductance level and measure the difference.

The traces (realism_levels/golden/c302/<scenario>.npz) are c302 0.12.1 level C1 of the 81-cell motor
circuit run in NEURON at dt = 0.005 ms (examples/c302_reference.py). Each holds the voltages of every cell
sampled every 1 ms, the stimulus (one current pulse into some cells) and the synapse and gap-junction
weights c302 wrote, so a replay can check that both sides wired the same circuit.

    from wormsim.reference.c302 import load_scenario, replay, compare
    ref = load_scenario("quiet")
    v = replay(ref, "c302-C1")                        # (T, 81) mV, wormsim's Brian2 level
    compare(ref, v)                                    # errors: point by point, per cell, oscillations

Needs nothing beyond the default install (c302 is only needed to make the traces).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wormsim.realism_levels import conductance as _cond

REFERENCE_DIR = Path(_cond.__file__).resolve().parent / "golden" / "c302"
# a cell "oscillates" in a trace when its voltage, after the first 100 ms, has a peak-to-peak range above
# this and at least two local maxima standing that far above the minima around them (find_peaks)
OSC_RANGE_MV = 2.0


def pack_voltage(v_mV: np.ndarray) -> np.ndarray:
    """Voltages (T, N) in mV as int32 steps of 1 uV along time (the first row from 0): smooth traces
    compress ~6x better so than as float32, and 1 uV is far below every tolerance the tests use."""
    v = np.asarray(v_mV, np.float64)
    if not np.isfinite(v).all() or np.abs(v).max() > 2e6:
        raise ValueError("voltages must be finite and within +-2e6 mV to pack")
    q = np.round(v * 1e3).astype(np.int64)
    return np.diff(q, axis=0, prepend=0).astype(np.int32)


def unpack_voltage(steps: np.ndarray) -> np.ndarray:
    """Inverse of pack_voltage: (T, N) mV."""
    return np.cumsum(np.asarray(steps, np.int64), axis=0) * 1e-3


def scenarios() -> list[str]:
    """The stored scenarios, by name."""
    return sorted(p.stem for p in REFERENCE_DIR.glob("*.npz"))


def load_scenario(name: str) -> dict[str, np.ndarray]:
    path = REFERENCE_DIR / f"{name}.npz"
    if not path.is_file():
        raise ValueError(f"unknown c302 scenario {name!r}; choose from {', '.join(scenarios())} "
                         f"(examples/c302_reference.py makes them)")
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["voltage_mV"] = unpack_voltage(out.pop("voltage_uV_steps"))
    return out


def stimulus(ref: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    """(T, N) pA held over each sample interval [t_k, t_k+1): c302's pulse on its cells."""
    t = np.asarray(ref["t_ms"], float)[:-1]
    on = (t >= float(ref["stim_delay_ms"]) - 1e-9) & \
         (t < float(ref["stim_delay_ms"]) + float(ref["stim_duration_ms"]) - 1e-9)
    cur = np.zeros((len(t), len(names)))
    cells = [names.index(str(c)) for c in ref["stim_cells"]]
    cur[np.ix_(on, cells)] = float(ref["stim_pA"])
    return cur


def replay(ref: dict[str, np.ndarray], parameter_set: str = "c302-C1", dt_ms: float = 0.1,
           circuit=None, **overrides) -> np.ndarray:
    """Run the scenario in wormsim's conductance level set up as ``parameter_set`` (one member, no
    sensory input, c302's stimulus as an injected current). Returns voltages (T, N) in mV on the
    reference's time grid, in the reference's cell order (which is wormsim's)."""
    from wormsim.connectome import load_circuit
    from wormsim.realism_levels.base import IOSpec

    circuit = load_circuit("cook2019") if circuit is None else circuit
    names = tuple(str(n) for n in ref["names"])
    if tuple(circuit.names) != names:
        raise ValueError("the reference's cells are not this circuit's (remake the traces with "
                         "examples/c302_reference.py)")
    sample_s = float(ref["t_ms"][1] - ref["t_ms"][0]) * 1e-3
    io = IOSpec(input_mask=np.zeros((1, circuit.n), bool), n_muscles=2, control_dt=sample_s)
    cfg = _cond.parameter_set(parameter_set, dt_ms=dt_ms, **overrides)
    brain = _cond.ConductanceBrain(circuit, io, config=cfg)
    brain.reset(1)
    v = brain.run_current_clamp(stimulus(ref, names)[:, None, :])
    return v[:, 0, :]


@dataclass(frozen=True)
class Comparison:
    """Differences of a replay from the reference, mV unless said."""
    max_abs: float              # largest |dV| over cells and times
    median_abs: float           # median |dV| over cells and times
    p99_abs: float              # 99th percentile of |dV|
    mean_err_max: float         # largest |difference of a cell's time-mean voltage|
    mean_err_median: float      # median over cells of that
    std_err_max: float          # largest |difference of a cell's temporal standard deviation|
    cells_over_1mV: int         # cells whose |dV| ever exceeds 1 mV
    oscillating: tuple[str, ...]          # cells that oscillate in the reference
    osc_range_err_max: float    # largest |difference of their peak-to-peak range|
    osc_peaks_err_max: int      # largest |difference of their number of peaks|

    def row(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "oscillating"} | \
            {"n_oscillating": len(self.oscillating)}


def _peaks(x: np.ndarray) -> int:
    from scipy.signal import find_peaks
    return len(find_peaks(x, prominence=OSC_RANGE_MV)[0])


def compare(ref: dict[str, np.ndarray], v: np.ndarray, skip_ms: float = 100.0) -> Comparison:
    """Compare voltages v (T, N) with the reference's: point by point over the whole trace; per cell
    (time mean and standard deviation) and per oscillating cell (range, peaks) after ``skip_ms``."""
    r = np.asarray(ref["voltage_mV"], float)
    if v.shape != r.shape:
        raise ValueError(f"replay has shape {v.shape}, the reference {r.shape}")
    d = np.abs(v - r)
    late = np.asarray(ref["t_ms"]) >= skip_ms
    rl, vl = r[late], v[late]
    names = [str(n) for n in ref["names"]]
    osc = [k for k in range(r.shape[1])
           if np.ptp(rl[:, k]) > OSC_RANGE_MV and _peaks(rl[:, k]) >= 2]
    return Comparison(
        max_abs=float(np.nanmax(d)) if np.isfinite(d).all() else float("inf"),
        median_abs=float(np.median(d)), p99_abs=float(np.percentile(d, 99)),
        mean_err_max=float(np.max(np.abs(vl.mean(0) - rl.mean(0)))),
        mean_err_median=float(np.median(np.abs(vl.mean(0) - rl.mean(0)))),
        std_err_max=float(np.max(np.abs(vl.std(0) - rl.std(0)))),
        cells_over_1mV=int((d.max(0) > 1.0).sum()),
        oscillating=tuple(names[k] for k in osc),
        osc_range_err_max=float(max((abs(np.ptp(vl[:, k]) - np.ptp(rl[:, k])) for k in osc), default=0.0)),
        osc_peaks_err_max=int(max((abs(_peaks(vl[:, k]) - _peaks(rl[:, k])) for k in osc), default=0)),
    )


__all__ = ["Comparison", "REFERENCE_DIR", "compare", "load_scenario", "replay", "scenarios", "stimulus"]
