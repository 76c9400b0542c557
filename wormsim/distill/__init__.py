"""Functional distillation across realism levels ("Functional Connectome", Liu, Mavor-Parker & Barry).

A *teacher* brain (any level whose neurons are the worm's, typically the Brian2 conductance level; a
trained swim run or an untrained one) drives the body in closed loop under many drives, input noise and
initial postures; its input channels u_t (batch, C), neural activity a_t (batch, N) and muscle output m_t
are recorded. A fresh *student* of a differentiable level that steps in torch (``student_levels()``: rate
by default, spiking, mlp, or any registered level with those capabilities) on a chosen wiring is trained
by backpropagation through time (Adam) to reproduce the teacher's activity from the same input sequence
(teacher forcing on the inputs, free-running state).

    from wormsim.distill import distill
    metrics = distill("runs/conductance-connectome-swim-s0", student="rate", wiring="connectome",
                      out="runs/distill-rate")

The steps, one module each: config (DistillConfig: every `wormsim distill` flag), record (the teacher in
closed loop through wormsim.rollout.run_episodes, open-loop replays through the level's run_open_loop),
student (BPTT), analyses (held-out fit, data efficiency, zero-shot gait, plasticity, decoding), report
(report.md, metrics.json, dataset.npz and figures, each written atomically). What was measured with it
on real teachers is in docs/distill/README.md.

What the student learns: the teacher's trial-averaged activity
----------------------------------------------------------------
A conductance teacher need not be a smooth function of its inputs, so the target is its response
averaged over trials, like a firing rate:

    target_t = mean over r = 1..n_replays of teacher(u + eps_r)_t,   eps_r ~ N(0, replay_noise^2)

open-loop replays of each recorded sequence on its own inputs (default 16 replays, replay_noise = the
input noise). ``n_replays=0`` trains on the recorded single trial instead. The report measures how
reproducible that target is (the R^2 between two independent trial means) and how far a single trial
lies from it, so a user sees which case a teacher is in. For a smooth teacher trial mean and single
trial nearly coincide.

The first ``warmup`` seconds of every sequence (default 0.2 s) are left out of the loss and of every
score: each teacher episode starts from its resting state, a stereotyped transient the student
(started from the teacher's mean first-step activity) cannot know. With it in the loss, the
normalised error of that transient dominates the gradient. The loss is in wormsim.distill.student.

Report (held-out seeds and drives, steps after the warm-up)
-----------------------------------------------------------
- fit: R^2 of every neuron and muscle against the target (per unit, median; pooled = variance-
  weighted), the target's reliability (R^2 between two independent trial means; neurons with
  reliability >= RELIABLE are "reliable"), the student's R^2 on its own training data (a capacity
  check), R^2 against the single recorded trial with its ceiling (the trial mean's own R^2 on that
  trial), and baselines: an untrained student, a constant-mean predictor, and ridge regression on the
  input history (the last ``warmup`` seconds of inputs, regulariser by cross-validation over
  sequences), a linear benchmark the connectome-constrained student is measured against.
- data efficiency: the same against the number of teacher sequences (student and ridge).
- zero-shot gait: teacher, trained student, untrained student and constant-mean student (muscles
  from the teacher's mean activity) drive the body in closed loop in water with unseen drives and in
  agar (a medium never seen in training) with the training drive (1, 0) and the unseen ones, once with
  the teacher's head oscillator and once with it off (head_cpg 0: the circuit must make its own
  rhythm). Measured by wormsim.analysis.gait, the measure `wormsim rollout` prints: forward speed
  (BL/s), undulation frequency, phase lag, wavelength, wave speed and mid-body amplitude, after the
  episode's first quarter. With the head oscillator on, every controller undulates at its frequency,
  so frequency alone cannot tell a good student from a failed one.
- robustness to plasticity: the teacher's synapses (its level's ``synaptic_params``) scaled by
  independent factors in [1 - p, 1 + p]; the trained student scored zero-shot on the perturbed teacher,
  and after fine-tuning on the perturbed teacher's own training sequences (as Liu et al. retrain),
  beside the unperturbed teacher used as a model of the perturbed one.
- decoding: ridge regression onto the head's forward velocity after the step (the inputs carry
  joint angles and drives, not velocities), from the input history alone and with a source's activity
  added (teacher's trial mean, trained student, untrained student, constant), reported as gain over
  the inputs alone; and "transfer": a decoder fitted on the teacher's activity applied to each
  source's activity, which a student reproducing the teacher passes and an untrained one need not
  (any rich enough activity gains over the inputs alone).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

from wormsim.distill.analyses import (constant_student, data_efficiency, decoding, generalisation, heldout,
                                      jsonable, plasticity, ridge_cv)
from wormsim.distill.config import (MIN_STD, RELIABLE, TRAIN_DRIVE_RANGE, UNSEEN_DRIVES, DistillConfig,
                                    student_levels)
from wormsim.distill.record import (Bodies, ConstantBrain, Setup, closed_loop, make_setup, open_loop,
                                    perturb_synapses, trial_means, with_targets)
from wormsim.distill.report import write_outputs
from wormsim.distill.student import train_student
from wormsim.distill.study import Study


def distill(teacher_run: str | Path | None, student: str = "rate", wiring: str = "connectome",
            out: str | Path = "runs/distill", *, teacher_level: str = "conductance",
            teacher_perturb: float = 0.0, head_cpg: float | None = None, dataset: str = "cook2019",
            wiring_seed: int | None = None, n_train: int = 8, n_test: int = 4, duration: float = 2.0,
            input_noise: float = 0.05, reset_noise: float = 0.3, n_replays: int = 16,
            replay_noise: float | None = None, warmup: float = 0.2, epochs: int = 300,
            lr: float = 0.03, muscle_weight: float = 1.0, data_sizes: Sequence[int] = (1, 2, 4, 8),
            perturb: Sequence[float] = (0.1, 0.3), finetune_epochs: int | None = None,
            unseen_drives: Sequence[tuple[float, float]] = UNSEEN_DRIVES,
            normalize: bool = True, data_init: bool = True,
            student_kwargs: dict | None = None, seed: int = 0, command: str | None = None,
            progress: bool = False) -> dict:
    """Distil a teacher brain into a student of level ``student`` on ``wiring``; write the report.

    teacher_run: a trained run directory (its policy, level, wiring and body), or None for an
        untrained ``teacher_level`` teacher (connectome; its initial parameters, with every parameter
        scaled by factors uniform in [1 - teacher_perturb, 1 + teacher_perturb], biases shifted by
        +-teacher_perturb, so that a teacher of the student's level differs from a fresh student).
    head_cpg: the body's head oscillator (Hz) while recording; None: the teacher run's own (0, off,
        for an untrained teacher). The gait comparison also runs with it off.
    wiring_seed: seed of the student's null wiring; None: ``seed``.
    n_train, n_test: teacher sequences (episodes of ``duration`` s) for training and held-out testing
        (unseen seeds and drives). Drives are drawn uniformly in TRAIN_DRIVE_RANGE; each input channel
        gets Gaussian noise of std ``input_noise``; initial joint angles uniform in +-reset_noise rad.
    n_replays, replay_noise: the target is the teacher's mean over n_replays open-loop replays of a
        sequence with extra input noise of std replay_noise (None: input_noise); 0: the recorded trial.
    warmup: seconds at the start of every sequence left out of the loss and the scores.
    epochs, lr, muscle_weight: full-batch BPTT with Adam. normalize, data_init: see train_student.
    data_sizes: training-set sizes of the data-efficiency curve (those <= n_train). perturb: fractions
        of the plasticity test; finetune_epochs: epochs of fine-tuning on each perturbed teacher
        (None: epochs // 3; 0: zero-shot only). unseen_drives: (forward, backward) drives of the
        zero-shot test (water and agar).
    Returns the metrics (also in out/metrics.json).
    """
    cfg = DistillConfig(
        teacher_run=None if teacher_run is None else str(teacher_run), student=student, wiring=wiring,
        out=None if out is None else str(out), teacher_level=teacher_level, teacher_perturb=teacher_perturb,
        head_cpg=head_cpg, dataset=dataset, wiring_seed=wiring_seed, n_train=n_train, n_test=n_test,
        duration=duration, input_noise=input_noise, reset_noise=reset_noise, n_replays=n_replays,
        replay_noise=replay_noise, warmup=warmup, epochs=epochs, lr=lr, muscle_weight=muscle_weight,
        data_sizes=list(data_sizes), perturb=list(perturb), finetune_epochs=finetune_epochs,
        unseen_drives=list(unseen_drives), normalize=normalize, data_init=data_init,
        student_kwargs=student_kwargs, seed=seed, command_line=command, progress=progress)
    return run(cfg)


def run(cfg: DistillConfig) -> dict:
    """The whole distillation of ``cfg`` (checked first): record, train, analyse, write. Returns the metrics."""
    cfg.check()
    cfg = cfg.resolved()
    # the settings as run (defaults resolved), which `wormsim distill --config OUT/distill.json` reruns
    from wormsim.configfile import write_config_file
    write_config_file(Path(cfg.out) / "distill.json", dataclasses.replace(cfg, command_line=None, progress=False))
    t_start = time.perf_counter()
    study = Study.build(cfg)
    try:
        return _run(study, t_start)
    finally:
        study.bodies.close()


def _run(study: Study, t_start: float) -> dict:
    cfg, w, log = study.cfg, study.warmup_steps, study.log
    # 1. the teacher's data: training and held-out sequences (different seeds and drives)
    log(f"teacher: {study.t_desc}; recording {cfg.n_train} + {cfg.n_test} sequences of {cfg.duration} s, "
        f"{cfg.n_replays} replays each")
    teacher = study.teacher
    n_tr, n_te = cfg.n_train, cfg.n_test
    train = study.record(teacher, n_tr, study.drives_uniform(n_tr), study.seeds("train", n_tr), 0)
    test = study.record(teacher, n_te, study.drives_uniform(n_te), study.seeds("test", n_te), 1,
                        reliability=cfg.n_replays > 0)
    t_record = time.perf_counter() - t_start
    # 2. the student
    log(f"training a {cfg.student} student on {cfg.wiring} ({cfg.epochs} epochs)")
    t0 = time.perf_counter()
    stud = study.new_student()
    losses = study.train(stud, train)
    t_train = time.perf_counter() - t0
    held, pred = heldout(stud, study.new_student(), train, test, w, study.has_neurons)
    log(f"held-out: neurons pooled {held['neuron']['pooled'] if study.has_neurons else None}, "
        f"muscles pooled {held['muscle']['pooled']}")
    # 3. what the student can do beyond its training data
    curve = data_efficiency(study, train, test, held)
    controllers = {"teacher": study.teacher, "student": stud, "untrained": study.new_student(),
                   "constant": constant_student(study, train)}
    gen = generalisation(study, controllers)
    plast = plasticity(study, stud, train, test)
    dec = decoding(controllers, train, test, w)
    names = list(study.s_circuit.names)
    metrics = _metrics(study, stud, train, test, losses, t_train, held, names)
    metrics.update(data_efficiency=curve, generalisation=gen, plasticity=plast, decoding=dec, seed=cfg.seed,
                   wall_time_s={"record_teacher": round(t_record, 1),
                                "total": round(time.perf_counter() - t_start, 1)})
    write_outputs(Path(cfg.out), metrics, train, test, pred, held, names, cfg.command_line, losses)
    if cfg.tensorboard:
        _tensorboard(cfg, metrics, losses)
    return metrics


def _tensorboard(cfg: DistillConfig, metrics: dict, losses: list) -> None:
    """The distillation in TensorBoard (event files in cfg.out): ``loss/train`` per epoch, the held-out
    R^2 as ``final/*`` scalars, and the settings with them as the hparams entry."""
    from wormsim.runs import HPARAMS_SKIP
    from wormsim.tblog import EventLog, hparam_values, remove_events
    out = Path(cfg.out)
    remove_events(out)                        # a distillation run again into its --out replaces it
    log = EventLog(out)
    try:
        for epoch, loss in enumerate(losses, 1):
            log.scalars({"loss/train": loss}, epoch)
        held = metrics["heldout"]
        finals = {f"final/{unit}_r2_{k}": held[unit][k] for unit in ("neuron", "muscle") if held.get(unit)
                  for k in ("pooled", "median") if isinstance(held[unit].get(k), (int, float))}
        finals["final/n_params"] = metrics["student"]["n_params"]
        log.scalars(finals, len(losses))
        skip = HPARAMS_SKIP + ("command_line", "progress", "student_kwargs", "unseen_drives", "data_sizes")
        log.hparams(hparam_values(dataclasses.asdict(cfg), skip=skip), finals)
    finally:
        log.close()


def _metrics(study: Study, stud: Setup, train: dict, test: dict, losses: list, t_train: float, held: dict,
             names: list[str]) -> dict:
    """The set-up part of metrics.json: teacher, student, data, training and the held-out fit."""
    cfg, spec = study.cfg, study.spec
    return {
        "teacher": {"description": study.t_desc, "level": spec.level, "wiring": spec.wiring,
                    "run": cfg.teacher_run, "head_cpg": study.head,
                    "failed_sequences": int(train["failed"].sum() + test["failed"].sum())},
        "student": {"level": cfg.student, "wiring": cfg.wiring, "wiring_seed": cfg.wiring_seed,
                    "n_params": int(stud.brain.n_params)},
        "data": {"n_train": cfg.n_train, "n_test": cfg.n_test, "duration_s": cfg.duration,
                 "steps_per_sequence": study.n_steps, "warmup_s": cfg.warmup, "warmup_steps": study.warmup_steps,
                 "control_dt": study.control_dt, "n_inputs": int(train["u"].shape[2]),
                 "n_neurons": int(train["activity"].shape[2]), "n_muscles": int(train["muscles"].shape[2]),
                 "input_noise": cfg.input_noise, "reset_noise_rad": cfg.reset_noise,
                 "target": ("trial mean" if cfg.n_replays else "single trial"), "n_replays": cfg.n_replays,
                 "replay_noise": cfg.replay_noise if cfg.n_replays else None, "drive_range": TRAIN_DRIVE_RANGE,
                 "train_drives": train["drives"].tolist(), "test_drives": test["drives"].tolist()},
        "training": {"epochs": cfg.epochs, "lr": cfg.lr, "muscle_weight": cfg.muscle_weight,
                     "normalized_loss": cfg.normalize, "data_init": cfg.data_init,
                     "loss_first": losses[0], "loss_last": losses[-1], "losses": losses,
                     "wall_time_s": round(t_train, 2)},
        "heldout": jsonable(held, names),
    }


__all__ = ["Bodies", "ConstantBrain", "DistillConfig", "MIN_STD", "RELIABLE", "Setup", "Study",
           "TRAIN_DRIVE_RANGE", "UNSEEN_DRIVES", "closed_loop", "distill", "make_setup", "open_loop",
           "perturb_synapses", "ridge_cv", "run", "student_levels", "train_student", "trial_means",
           "with_targets"]
