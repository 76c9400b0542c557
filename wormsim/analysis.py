"""The one place where wormsim measures: R^2 and ridge regression (and the gait of a curvature kymograph),
used by the reservoir, distillation, the video and the experiment, so that two reports never disagree
about the same numbers.

Argument order everywhere: ``(target, prediction)`` for scores, ``(x, y)`` for fits.
"""
from __future__ import annotations

import warnings

import numpy as np

MIN_REL_STD = 1e-2   # ridge_fit drops features whose training std is below this fraction of the RMS std


# ---- R^2 ----------------------------------------------------------------------------------------------
def r2_per_unit(target: np.ndarray, pred: np.ndarray, min_std: float = 0.0) -> np.ndarray:
    """(..., K) arrays -> (K,) R^2 of each unit over all leading axes (time, sequences), about each
    unit's own mean; NaN where the target's std is below ``min_std`` (or it is flat)."""
    y = np.asarray(target, np.float64).reshape(-1, np.shape(target)[-1])
    p = np.asarray(pred, np.float64).reshape(-1, np.shape(target)[-1])
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    ss_res = ((y - p) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    r2[(y.std(0) < min_std) | (ss_tot <= 0)] = np.nan
    return r2


def pooled_r2(target: np.ndarray, pred: np.ndarray) -> float | None:
    """R^2 of all units at once (variance-weighted; each unit about its own mean), or None when the
    target is flat. A 1-d target is one unit."""
    y = np.asarray(target, np.float64)
    y = y.reshape(-1, 1) if y.ndim == 1 else y.reshape(-1, y.shape[-1])
    p = np.asarray(pred, np.float64).reshape(y.shape)
    ss_tot = ((y - y.mean(0)) ** 2).sum()
    return float(1.0 - ((y - p) ** 2).sum() / ss_tot) if ss_tot > 0 else None


def r2_about(target: np.ndarray, pred: np.ndarray, reference: float = 0.0) -> float:
    """R^2 with the total sum of squares about a known ``reference`` (the tasks' known target mean 0),
    not the sample's own mean: 1 - SS_res / SS_ref; where SS_ref is 0, 1 if the prediction hits the
    target (to 1e-12), else 0."""
    y, p = np.asarray(target, np.float64), np.asarray(pred, np.float64)
    ss_ref = np.square(y - reference).sum()
    ss_res = np.square(p - y).sum()
    return float(1.0 - ss_res / ss_ref) if ss_ref > 1e-12 else float(ss_res <= 1e-12)


# ---- ridge regression -------------------------------------------------------------------------------
def ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float, standardize: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge with an unpenalised intercept. x (S, F), y (S,) or (S, K) -> (w (F,) or (F, K),
    b scalar or (K,)) in the original feature units: prediction = x @ w + b.

    standardize: every feature z-scored on the training samples first, so that ``alpha`` means the same
    for every level whatever the scale of its activity; features that (nearly) did not move in training
    (std below MIN_REL_STD of the RMS std of all features) are dropped: z-scoring would blow such a
    feature (a spiking neuron silent but for a transient) up into a huge weight, which its held-out
    activity turns into a huge prediction. Without standardize: centred features in their own units (a
    unit with tiny variance gets a small weight)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    if standardize:
        sx = x.std(axis=0)
        keep = sx > max(1e-9, MIN_REL_STD * float(np.sqrt(np.mean(np.square(sx)))))
        inv = np.where(keep, 1.0 / np.where(keep, sx, 1.0), 0.0)
    else:
        inv = np.ones(x.shape[1])
    xc, yc = (x - mx) * inv, y - my
    a = xc.T @ xc + float(alpha) * np.eye(x.shape[1])
    w = np.linalg.lstsq(a, xc.T @ yc, rcond=None)[0]
    w = w * (inv[:, None] if w.ndim == 2 else inv)
    return w, my - mx @ w


def ridge_cv(x: np.ndarray, y: np.ndarray, alphas, folds: np.ndarray, standardize: bool = True):
    """Ridge from x (S, F) to y (S, K), its regulariser chosen from ``alphas`` by cross-validation over
    the given fold id of every sample (S,). Returns (w, b, alpha)."""
    scores = []
    for alpha in alphas:
        ss_res = 0.0
        for k in np.unique(folds):
            w, b = ridge_fit(x[folds != k], y[folds != k], alpha, standardize)
            ss_res += ((x[folds == k] @ w + b - y[folds == k]) ** 2).sum()
        scores.append(ss_res)
    alpha = float(alphas[int(np.argmin(scores))])
    w, b = ridge_fit(x, y, alpha, standardize)
    return w, b, alpha


# ---- gait: the body wave of a curvature kymograph -------------------------------------------------------
GAIT_KEYS = ("frequency", "phase_lag", "wavelength", "wave_speed", "amplitude", "amplitude_head")
SKIP = 0.25            # fraction of a kymograph left out at its start: the transient from the reset posture
MIN_AMPLITUDE = 0.05   # rad / BL: a joint bending less has no phase worth fitting; a mid-body below it, no gait
MIN_PERIODS = 1.5      # a spectral peak of fewer periods in the window is a drift or a held bend
STANDING_LAG = 0.05    # |head-to-tail phase lag| below this (cycles): a standing wave
PAD = 8                # zero-padding factor of the spectrum (a finer peak than 1 / (T dt))


def dominant_frequency(x: np.ndarray, dt: float) -> float:
    """Frequency (Hz) of the spectral peak of one trace x (T,) sampled every ``dt`` s: the mean removed,
    a Hann window applied, the spectrum zero-padded PAD times, the DC bin left out. NaN for fewer than 8
    samples, a flat trace, or a peak of fewer than MIN_PERIODS periods in the window."""
    x = np.asarray(x, np.float64)
    if len(x) < 8 or not np.all(np.isfinite(x)) or np.ptp(x) < 1e-9:
        return float("nan")
    x = (x - x.mean()) * np.hanning(len(x))
    n = PAD * len(x)
    power = np.abs(np.fft.rfft(x, n)) ** 2
    power[0] = 0.0
    f = float(np.fft.rfftfreq(n, dt)[int(np.argmax(power))])
    return f if f * len(x) * dt >= MIN_PERIODS else float("nan")


def _no_wave(n_joints: int) -> dict:
    out = {k: float("nan") for k in GAIT_KEYS}
    out.update(direction="none", profile=np.full(n_joints, np.nan))
    return out


def _gait_one(k: np.ndarray, dt: float, s: np.ndarray, skip: float, min_amplitude: float,
              joint: int | None) -> dict:
    """gait() of one kymograph k (T, J)."""
    n_j = k.shape[1]
    k = k[int(len(k) * skip):]
    out = _no_wave(n_j)
    if len(k) < 8 or n_j == 0:
        return out
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # an all-NaN joint: its mean is NaN
        x = np.nan_to_num(k - np.nanmean(k, axis=0), nan=0.0, posinf=0.0, neginf=0.0)
    amp = np.sqrt(2.0) * x.std(axis=0)                          # a sinusoid's amplitude, (J,)
    ref = n_j // 2 if joint is None else int(joint)
    out.update(profile=amp, amplitude=float(amp[ref]), amplitude_head=float(amp[0]))
    f = dominant_frequency(x[:, ref], dt) if amp[ref] >= min_amplitude else float("nan")
    out["frequency"] = f
    if not np.isfinite(f):
        return out
    moving = np.flatnonzero(amp >= min_amplitude)
    if len(moving) < 3:
        return out
    w = np.hanning(len(x))
    t = np.arange(len(x)) * dt
    z = (x[:, moving] * (w * np.exp(-2j * np.pi * f * t))[:, None]).sum(axis=0) * 2.0 / w.sum()
    # unwrapped head to tail: each step between neighbouring moving joints taken in (-pi, pi]
    phase = np.concatenate([[0.0], np.cumsum(np.angle(z[1:] * np.conj(z[:-1])))])
    sw, sm = np.abs(z) / np.abs(z).sum(), s[moving]
    mean_s, mean_p = (sw * sm).sum(), (sw * phase).sum()
    slope = float((sw * (sm - mean_s) * (phase - mean_p)).sum() / (sw * (sm - mean_s) ** 2).sum())
    lag = -slope * (s[-1] - s[0]) / (2 * np.pi)
    standing = abs(lag) < STANDING_LAG
    wavelength = 2 * np.pi / abs(slope) if slope != 0 else float("inf")
    out.update(phase_lag=float(lag), wavelength=float(wavelength),
               wave_speed=float("nan") if standing else float(np.sign(lag) * f * wavelength),
               direction="standing" if standing else "head-to-tail" if lag > 0 else "tail-to-head")
    return out


def gait(curvature: np.ndarray, dt: float, joint_positions: np.ndarray | None = None, skip: float = SKIP,
         min_amplitude: float = MIN_AMPLITUDE, joint: int | None = None) -> dict:
    """The body wave of a curvature kymograph: THE gait measure of wormsim (the video, `wormsim rollout`,
    distillation and the experiment all call it, so they agree about the same worm).

    curvature: (T, J) or (T, B, J), rad / BL, joints head to tail, one row per ``dt`` s (B sequences).
    joint_positions: (J,) body position of each joint (0 head .. 1 tail; default (j + 1) / (J + 1), the
    body's joints). skip: the fraction of rows left out at the start (the transient from the reset
    posture). joint: the reference joint of frequency and amplitude (default mid-body, J // 2).

    Returns, per sequence (floats for (T, J); (B,) arrays for (T, B, J)):

    - amplitude (rad/BL): sqrt(2) x the std over time of the reference joint's curvature (a sinusoid's
      amplitude; 0 for a still body, defined with or without a wave); amplitude_head: the same at the
      first joint; profile (J,) or (B, J): the same along the body.
    - frequency (Hz): the spectral peak of the reference joint (``dominant_frequency``: Hann window,
      zero-padded, at least MIN_PERIODS periods in the window, so that a drift or a held bend is no
      undulation); NaN, and no wave, when that joint's amplitude is below ``min_amplitude``.
    - The wave: at that frequency each joint's complex amplitude z_j (Hann-windowed Fourier
      coefficient). Over the joints that move (amplitude >= min_amplitude, at least three), the phases
      are unwrapped head to tail (each step between neighbours in (-pi, pi]) and fitted by a line
      against body position, weighted by |z_j|; slope k (rad / BL).
      phase_lag (cycles): -k (s_last - s_first) / 2 pi, how far the last joint lags the first; positive
      for a wave running head to tail (forward swimming). wavelength (BL): 2 pi / |k|.
      wave_speed (BL/s): frequency x wavelength, signed like phase_lag; NaN for a standing wave.
      direction: "head-to-tail", "tail-to-head", "standing" (|phase_lag| < STANDING_LAG) or "none".

    Why this algorithm. Two used to coexist: the video's (a weighted phase fit giving wavelength and
    direction, the MIN_PERIODS check) and distillation's (an FFT peak in a band above 0.1 Hz, an
    unweighted phase fit over the joints moving at least 0.05 rad/BL, the first quarter skipped). The
    video's is the more careful and is kept; from distillation's, the rule of which joints count: a joint
    that hardly moves has a phase of no meaning, and unwrapping through it can add a spurious 2 pi to
    every joint behind it, which no weight in the fit undoes; and the skipped transient.
    """
    k = np.asarray(curvature, np.float64)
    if k.ndim not in (2, 3):
        raise ValueError(f"curvature must be (T, J) or (T, B, J), got shape {k.shape}")
    n_j = k.shape[-1]
    s = (np.arange(1, n_j + 1) / (n_j + 1) if joint_positions is None
         else np.asarray(joint_positions, np.float64))
    if s.shape != (n_j,):
        raise ValueError(f"joint_positions must be ({n_j},), got shape {s.shape}")
    if joint is not None and not 0 <= joint < n_j:
        raise ValueError(f"joint must be in 0..{n_j - 1}, got {joint}")
    if k.ndim == 2:
        return _gait_one(k, dt, s, skip, min_amplitude, joint)
    rows = [_gait_one(k[:, i], dt, s, skip, min_amplitude, joint) for i in range(k.shape[1])]
    out = {key: np.array([r[key] for r in rows], np.float64) for key in GAIT_KEYS}
    out["direction"] = np.array([r["direction"] for r in rows], dtype=object)
    out["profile"] = np.stack([r["profile"] for r in rows]) if rows else np.zeros((0, n_j))
    return out


# ---- muscle power ---------------------------------------------------------------------------------------
def muscle_power(controls: np.ndarray, curvature: np.ndarray, dt: float, muscle_tau: float,
                 muscle_strength: float, skip: float = SKIP) -> dict:
    """The muscles' mechanical power, reconstructed from what a rollout records: (B,) arrays.

    controls: (T, B, 2J) the muscle commands of each control step (dorsal head to tail, then ventral; held
    for the step, clipped to [0, 1] as the body's ctrlrange does); curvature: (T, B, J) rad / BL after
    each step (joint angle x n_segments, J + 1 segments; envs/body.py ``curvature``); dt: the
    control step, s; muscle_tau, muscle_strength: the body's (BodyParams). The body's muscles are
    first-order filters of their commands (MuJoCo ``filterexact``) whose torque on joint j is
    muscle_strength x (dorsal_j - ventral_j). Per step, the step-mean activation (the exact mean of the
    exponential approach, from rest at the reset) times the joint's mean angular velocity over the step;
    summed over joints. Rows before ``skip`` of the sequence are left out, as ``gait`` leaves out the
    transient.

    Returns "net" (the mean of sum_j torque_j x omega_j: in a periodic gait, the power the body and its
    load dissipate, since the elastic energy returns each cycle) and "positive" (the mean of sum_j
    max(torque_j x omega_j, 0): the work each joint's net muscle torque does where it moves the joint, no
    credit where the joint is driven against it; elastic bending counts, co-contraction does not),
    in force x BL x rad / s (the body's force unit: water's drag; envs/body.py). Why reconstructed: the
    body steps many physics substeps per control step inside ``mujoco.rollout``, and keeping the exact
    work there would cost every rollout; at the 20 ms control step this estimate is within a few percent
    of the exact one (tests/test_gait.py).
    """
    u = np.clip(np.asarray(controls, np.float64), 0.0, 1.0)
    k = np.asarray(curvature, np.float64)
    if u.ndim == 2:
        u, k = u[:, None], k[:, None]
    T, B, two_j = u.shape
    n_j = k.shape[-1]
    if two_j != 2 * n_j or k.shape[:2] != (T, B):
        raise ValueError(f"controls (T, B, 2J) and curvature (T, B, J) must match, got {u.shape} and {k.shape}")
    n_segments = n_j + 1
    decay = np.exp(-dt / muscle_tau)
    mean_weight = muscle_tau / dt * (1.0 - decay)          # exact step mean of the exponential approach
    a = np.zeros((B, two_j))
    torque = np.empty((T, B, n_j))
    for t in range(T):
        mean_a = u[t] + (a - u[t]) * mean_weight
        torque[t] = muscle_strength * (mean_a[:, :n_j] - mean_a[:, n_j:])
        a = u[t] + (a - u[t]) * decay
    omega = np.diff(k / n_segments, axis=0) / dt           # (T-1, B, J): step t+1's mean angular velocity
    p = torque[1:] * omega
    start = min(int(round(skip * T)), T - 2)
    net = p[start:].sum(-1).mean(0)
    positive = np.maximum(p[start:], 0.0).sum(-1).mean(0)
    return {"net": net, "positive": positive}
