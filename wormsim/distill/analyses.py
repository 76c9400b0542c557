"""What a distillation measures, on held-out seeds and drives and on the steps after the warm-up: the fit
(with its ceilings and baselines), data efficiency, zero-shot gait, robustness to plasticity and decoding.
R^2 and ridge come from wormsim.analysis, the gait from wormsim.analysis.gait (the measure `wormsim rollout`
prints, so that the report and the video agree about the same worm).
"""
from __future__ import annotations

import numpy as np

from wormsim.analysis import GAIT_KEYS, gait, pooled_r2, r2_per_unit
from wormsim.analysis import ridge_cv as _ridge_cv
from wormsim.distill.config import MIN_STD, RELIABLE, RIDGE_ALPHAS, in_training_range
from wormsim.distill.record import ConstantBrain, Setup, open_loop, trial_means
from wormsim.distill.record import perturb_synapses

CONTROLLERS = ("teacher", "student", "untrained", "constant")


def _f(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


# ---- scores --------------------------------------------------------------------------------------------
def fit(target: np.ndarray, pred: np.ndarray, w: int) -> dict:
    """Scores of pred against target (T, B, K) on the steps after the warm-up w: per_unit R^2 (NaN for a
    target flatter than MIN_STD), its median and mean, n_scored, n_flat, and pooled R^2."""
    r2 = r2_per_unit(target[w:], pred[w:], min_std=MIN_STD)
    ok = np.isfinite(r2)
    return {"median": float(np.median(r2[ok])) if ok.any() else None,
            "mean": float(np.mean(r2[ok])) if ok.any() else None,
            "n_scored": int(ok.sum()), "n_flat": int((~ok).sum()),
            "pooled": pooled_r2(target[w:], pred[w:]), "per_unit": r2}


def pair(target: dict, pred: dict, w: int, has_neurons: bool) -> dict:
    """Pooled and median R^2 of pred's neurons and muscles against target's (activity, muscles)."""
    n = fit(target["activity"], pred["activity"], w) if has_neurons else None
    m = fit(target["muscles"], pred["muscles"], w)
    return {"neuron_pooled": n["pooled"] if n else None, "neuron_median": n["median"] if n else None,
            "muscle_pooled": m["pooled"], "muscle_median": m["median"]}


def lagged(u: np.ndarray, lags: int) -> np.ndarray:
    """(T, B, C) -> (T, B, C * (lags + 1)): u_t, u_{t-1}, ..., u_{t-lags} (zeros before t = 0)."""
    parts = [u]
    for k in range(1, lags + 1):
        s = np.zeros_like(u)
        s[k:] = u[:-k]
        parts.append(s)
    return np.concatenate(parts, axis=-1)


def ridge_cv(x: np.ndarray, y: np.ndarray, w: int, alphas=RIDGE_ALPHAS, standardize: bool = True):
    """wormsim.analysis.ridge_cv from features x (T, B, F) to y (T, B, K) on the steps after the warm-up
    w, cross-validated over blocks of whole sequences (up to 4 folds; a single sequence: its two halves
    in time). standardize: z-scored features, else features in their own units.
    Returns predict(x') -> (T', B', K) and the chosen alpha."""
    x, y = x[w:].astype(np.float64), y[w:].astype(np.float64)
    t, b = x.shape[:2]
    fold = (np.broadcast_to((np.arange(t) >= t // 2)[:, None], (t, b)).astype(int) if b == 1
            else np.broadcast_to(np.arange(b) * min(4, b) // b, (t, b)))
    coef, icpt, alpha = _ridge_cv(x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1]), alphas,
                                  fold.reshape(-1), standardize)

    def predict(xn: np.ndarray) -> np.ndarray:
        return (xn.reshape(-1, xn.shape[-1]).astype(np.float64) @ coef + icpt).reshape(xn.shape[:2] + (-1,))
    return predict, float(alpha)


# ---- held-out fit ----------------------------------------------------------------------------------------
def _ridge_scores(train: dict, test: dict, w: int, has_neurons: bool) -> dict:
    """Ridge on the last w + 1 input steps: the linear benchmark."""
    x_tr, x_te = lagged(train["u"], w), lagged(test["u"], w)
    out = {"neuron_pooled": None, "neuron_median": None}
    for part, key in (("activity", "neuron"), ("muscles", "muscle")):
        if part == "activity" and not has_neurons:
            continue
        predict, alpha = ridge_cv(x_tr, train[part], w)
        f = fit(test[part], predict(x_te), w)
        out.update({f"{key}_pooled": f["pooled"], f"{key}_median": f["median"], f"{key}_alpha": alpha})
    out["history_steps"] = w + 1
    return out


def _reliability(test: dict, student_fit: dict | None, w: int) -> tuple[dict | None, dict | None]:
    """(the target's reliability: R^2 between two independent trial means, the reliable neurons and the
    student's median R^2 on them), or (None, None) without a second trial mean."""
    if "activity2" not in test:
        return None, None
    rel = {"neuron": fit(test["activity"], test["activity2"], w),
           "muscle": fit(test["muscles"], test["muscles2"], w)}
    if student_fit is None:
        return rel, None
    per = rel["neuron"]["per_unit"]
    good = np.isfinite(per) & (per >= RELIABLE)
    r = student_fit["per_unit"][good]
    return rel, {"n": int(good.sum()), "threshold": RELIABLE,
                 "student_median": float(np.nanmedian(r)) if good.any() else None,
                 "reliability_median": float(np.median(per[good])) if good.any() else None}


def _baselines(untrained: Setup | None, train: dict, test: dict, w: int, has_neurons: bool) -> dict:
    """The untrained student and the constant (training mean) predictor."""
    base = {}
    if untrained is not None:
        base["untrained"] = pair(test, open_loop(untrained, test["u"]), w, has_neurons)
    mean_a = train["activity"][w:].reshape(-1, train["activity"].shape[-1]).mean(0)
    mean_m = train["muscles"][w:].reshape(-1, train["muscles"].shape[-1]).mean(0)
    base["constant"] = pair(test, {"activity": np.broadcast_to(mean_a, test["activity"].shape),
                                   "muscles": np.broadcast_to(mean_m, test["muscles"].shape)}, w, has_neurons)
    return base


def heldout(stud: Setup, untrained: Setup | None, train: dict, test: dict, w: int, has_neurons: bool,
            full: bool = True) -> tuple[dict, dict]:
    """The student's held-out scores (neuron, muscle, ridge; with ``full`` also its reliability ceiling,
    its fit on its training data, the single trial and the baselines); and its prediction."""
    pred = open_loop(stud, test["u"])
    out = {"neuron": fit(test["activity"], pred["activity"], w) if has_neurons else None,
           "muscle": fit(test["muscles"], pred["muscles"], w), "ridge": _ridge_scores(train, test, w, has_neurons)}
    if not full:
        return out, pred
    out["reliability"], reliable = _reliability(test, out["neuron"], w)
    if reliable is not None:
        out["reliable_neurons"] = reliable
    out["train_fit"] = pair(train, open_loop(stud, train["u"]), w, has_neurons)
    trial = {"activity": test["trial_activity"], "muscles": test["trial_muscles"]}
    out["single_trial"] = {"student": pair(trial, pred, w, has_neurons),
                           "ceiling": pair(trial, test, w, has_neurons)}
    out["baselines"] = _baselines(untrained, train, test, w, has_neurons)
    return out, pred


def constant_student(study, train: dict) -> Setup:
    """The constant-mean baseline behind the teacher's interface: the training target's mean activity."""
    w = study.warmup_steps
    mean = train["activity"][w:].reshape(-1, train["activity"].shape[-1]).mean(0)
    return Setup(ConstantBrain(mean), study.teacher.interface)


# ---- data efficiency --------------------------------------------------------------------------------------
def data_efficiency(study, train: dict, test: dict, full_fit: dict) -> list[dict]:
    """Student and ridge held-out scores against the number of training sequences (the full set's scores
    are ``full_fit``)."""
    from wormsim.distill.student import subset
    cfg, w, curve = study.cfg, study.warmup_steps, []
    for k in sorted({k for k in cfg.data_sizes if k <= cfg.n_train} | {cfg.n_train}):
        if k == cfg.n_train:
            fk = full_fit
        else:
            s, sub = study.new_student(), subset(train, k)
            study.train(s, sub)
            fk = heldout(s, None, sub, test, w, study.has_neurons, full=False)[0]
        curve.append({"n_sequences": k, "steps": k * (study.n_steps - w),
                      **{f"{part}_{q}": (fk[part][q] if fk[part] else None)
                         for part in ("neuron", "muscle") for q in ("median", "pooled")},
                      "ridge_neuron_pooled": fk["ridge"]["neuron_pooled"],
                      "ridge_muscle_pooled": fk["ridge"]["muscle_pooled"]})
        study.log(f"data efficiency: {curve[-1]}")
    return curve


# ---- zero-shot gait ---------------------------------------------------------------------------------------
def gait_rows(run: dict, control_dt: float, joint_positions) -> list[dict]:
    """Per sequence of a closed-loop recording: speed (BL/s), failed, and wormsim.analysis.gait's measures
    of its curvature kymograph (the numbers `wormsim rollout` prints for the same episode)."""
    g = gait(run["curvature"], control_dt, joint_positions)
    return [{"speed": _f(run["speed"][i]), "failed": bool(run["failed"][i]),
             **{k: _f(g[k][i]) for k in GAIT_KEYS}, "direction": str(g["direction"][i])}
            for i in range(len(run["speed"]))]


def _conditions(study, unseen) -> list[tuple[float, str, np.ndarray]]:
    """(head oscillator, medium, drives): water with the unseen drives, agar (a medium never seen in
    training) with the training drive (1, 0) and the unseen ones; the recording's head oscillator and off."""
    out = []
    for head in sorted({study.head, 0.0}, reverse=True):
        for medium in ("water", "agar"):
            drives = np.array(([(1.0, 0.0)] if medium == "agar" else []) + list(unseen), np.float32)
            if len(drives):
                out.append((head, medium, drives))
    return out


def generalisation(study, controllers: dict) -> list[dict]:
    """Closed-loop gait of every controller in each condition (no input noise), plus the student's
    open-loop R^2 against the teacher's trial mean on the teacher's inputs in that condition."""
    from wormsim.distill.record import closed_loop
    cfg, w, rows = study.cfg, study.warmup_steps, []
    teacher, stud = controllers["teacher"], controllers["student"]
    for head, medium, drives in _conditions(study, cfg.unseen_drives):
        env = study.bodies.get(len(drives), medium, head)
        seeds = study.seeds("gait", len(drives))
        runs = {name: closed_loop(c, env, drives, seeds, 0.0, study.rng) for name, c in controllers.items()}
        gaits = {name: gait_rows(r, study.control_dt, study.layout.joint_positions) for name, r in runs.items()}
        tch = runs["teacher"]
        ref = (trial_means(teacher, tch["u"], cfg.n_replays, cfg.replay_noise, [cfg.seed, 29, int(head * 100)])[0]
               if cfg.n_replays else tch)
        po = open_loop(stud, tch["u"])
        for i, d in enumerate(drives):
            sl = slice(i, i + 1)
            row = {"medium": medium, "head_cpg": float(head), "drive_forward": float(d[0]),
                   "drive_backward": float(d[1]), "seen_drive_range": in_training_range(d),
                   "seen_medium": medium == "water",
                   "open_loop_neuron_r2": (fit(ref["activity"][:, sl], po["activity"][:, sl], w)["pooled"]
                                           if study.has_neurons else None),
                   "open_loop_muscle_r2": fit(ref["muscles"][:, sl], po["muscles"][:, sl], w)["pooled"]}
            rows.append({**row, **{name: gaits[name][i] for name in controllers}})
        study.log(f"generalisation {medium}, head oscillator {head:g} Hz: done")
    return rows


# ---- robustness to plasticity -----------------------------------------------------------------------------
def plasticity(study, stud: Setup, train: dict, test: dict) -> list[dict]:
    """For every fraction p: the teacher's synapses scaled by factors uniform in [1 - p, 1 + p]; the student
    zero-shot, fine-tuned on the perturbed teacher, and the unperturbed teacher as a model of it."""
    rows = []
    for p in study.cfg.perturb:
        rows.append(_plasticity_row(study, stud, float(p), train, test))
        study.log(f"plasticity {p}: {rows[-1]}")
    return rows


def _plasticity_row(study, stud: Setup, p: float, train: dict, test: dict) -> dict:
    cfg, w, teacher, hn = study.cfg, study.warmup_steps, study.teacher, study.has_neurons
    tag = 100 + int(round(p * 1000))
    teacher.brain.set_params(perturb_synapses(teacher.brain, study.t_params, p,
                                              np.random.default_rng([cfg.seed, 13, int(round(p * 1000))])))
    try:
        p_test = study.record(teacher, cfg.n_test, test["drives"], study.seeds("test", cfg.n_test), tag)
        p_train = (study.record(teacher, cfg.n_train, train["drives"], study.seeds("train", cfg.n_train), tag + 1)
                   if cfg.finetune_epochs else None)
    finally:
        teacher.brain.set_params(study.t_params)
    ref = (trial_means(teacher, p_test["u"], cfg.n_replays, cfg.replay_noise, [cfg.seed, 23, tag])[0]
           if cfg.n_replays else open_loop(teacher, p_test["u"]))
    row = {"fraction": p, "zero_shot": pair(p_test, open_loop(stud, p_test["u"]), w, hn),
           "unperturbed_teacher": pair(p_test, ref, w, hn), "finetuned": None,
           "finetune_epochs": cfg.finetune_epochs}
    if cfg.finetune_epochs:
        ft = study.new_student()
        ft.brain.set_params(stud.brain.get_params())
        ft.state = stud.state
        study.train(ft, p_train, epochs=cfg.finetune_epochs, data_init=False)
        row["finetuned"] = pair(p_test, open_loop(ft, p_test["u"]), w, hn)
    return row


# ---- decoding ---------------------------------------------------------------------------------------------
def decoding(controllers: dict, train: dict, test: dict, w: int) -> dict:
    """Ridge decoding of the head's forward velocity after each step (not among the inputs, which
    carry joint angles and drives) from the last ``w + 1`` input steps alone, from those plus a
    source's activity ("with_inputs"; gain = its R^2 minus the inputs' alone), and from the activity
    alone. The teacher's activity is its trial mean (the student's target); the other sources run
    open loop on the teacher's recorded inputs. "transfer": a decoder fitted on the teacher's
    training activity (in its own units, so that near-flat neurons get little weight) applied to each
    source's held-out activity: does the source's activity support the teacher's decoder?"""
    lags = max(w, 1)
    x_tr, x_te = lagged(train["u"], lags), lagged(test["u"], lags)
    acts = {name: ((train["activity"], test["activity"]) if name == "teacher" else
                   (open_loop(c, train["u"])["activity"], open_loop(c, test["u"])["activity"]))
            for name, c in controllers.items()}
    y_tr, y_te = train["head_velocity"][..., :1], test["head_velocity"][..., :1]

    def score(predict, x):
        return pooled_r2(y_te[w:], predict(x)[w:])
    base = score(ridge_cv(x_tr, y_tr, w)[0], x_te)
    teacher_dec = ridge_cv(acts["teacher"][0], y_tr, w, standardize=False)[0]
    sources = {}
    for name, (a_tr, a_te) in acts.items():
        both = score(ridge_cv(np.concatenate([x_tr, a_tr], -1), y_tr, w)[0], np.concatenate([x_te, a_te], -1))
        sources[name] = {"with_inputs": both, "alone": score(ridge_cv(a_tr, y_tr, w)[0], a_te),
                         "gain": None if both is None or base is None else both - base,
                         "transfer": (score(teacher_dec, a_te) if a_te.shape[-1] == acts["teacher"][1].shape[-1]
                                      else None)}
    return {"target": "head forward velocity (BL/s)", "history_steps": lags + 1, "inputs_only": base,
            "sources": sources}


def jsonable(h: dict, names: list[str]) -> dict:
    """heldout with the per-unit arrays turned into named lists."""
    def unit_fit(f, unit_names=None):
        if f is None:
            return None
        d = {k: v for k, v in f.items() if k != "per_unit"}
        vals = [_f(v) for v in f["per_unit"]]
        d["per_unit"] = dict(zip(unit_names, vals)) if unit_names else vals
        return d
    out = dict(h)
    out["neuron"] = unit_fit(h["neuron"], names)
    out["muscle"] = unit_fit(h["muscle"])
    if h.get("reliability"):
        out["reliability"] = {"neuron": unit_fit(h["reliability"]["neuron"], names),
                              "muscle": unit_fit(h["reliability"]["muscle"])}
    return out
