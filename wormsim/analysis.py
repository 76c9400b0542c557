"""The one place where wormsim measures: R^2 and ridge regression (and the gait of a curvature kymograph),
used by the reservoir, distillation, the video and the experiment, so that two reports never disagree
about the same numbers.

Argument order everywhere: ``(target, prediction)`` for scores, ``(x, y)`` for fits.
"""
from __future__ import annotations

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
