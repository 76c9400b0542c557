"""One distillation's working set: the resolved config, the bodies, the teacher (built and parameterised),
the student's circuit, the random stream and the recording conventions every step shares."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from wormsim.distill.config import TRAIN_DRIVE_RANGE, DistillConfig
from wormsim.distill.record import (Bodies, Setup, closed_loop, make_setup, perturb_teacher, teacher_spec,
                                    with_targets)
from wormsim.distill.student import train_student


@dataclass
class Study:
    """What every step of one distillation shares; built by ``Study.build(cfg)``, closed by closing
    ``bodies``."""
    cfg: DistillConfig            # resolved (DistillConfig.resolved)
    bodies: Bodies
    layout: object
    control_dt: float             # s per control step
    warmup_steps: int             # steps at the start of every sequence left out of loss and scores
    n_steps: int                  # steps per sequence
    spec: object                  # the teacher's EvalSpec
    t_params: np.ndarray          # the teacher's parameters (n_params,)
    t_desc: str
    head: float                   # the head oscillator while recording, Hz
    teacher: Setup
    s_circuit: object             # the student's circuit (its wiring)
    rng: np.random.Generator
    log: Callable

    @classmethod
    def build(cls, cfg: DistillConfig) -> "Study":
        """The teacher (from its run, or untrained and perturbed), the bodies and the student's circuit;
        ValueError for a set-up that cannot be distilled (before any recording)."""
        from wormsim.connectome import load_circuit
        from wormsim.realism_levels import get_level
        from wormsim.rollout import build_circuit, layout_control_dt
        from wormsim.wiring import rewire
        torch.set_num_threads(1)
        rng = np.random.default_rng([cfg.seed, 7])
        spec, t_params, t_desc = teacher_spec(cfg.teacher_run, cfg.teacher_level, cfg.dataset, 12)
        if cfg.perturb:
            get_level(spec.level).require("has_synapses", "the plasticity test (--perturb; give none to skip it)")
        env_kw = dict(spec.env_kwargs)
        head = float(env_kw.get("head_cpg", 0.0)) if cfg.head_cpg is None else float(cfg.head_cpg)
        bodies = Bodies(int(env_kw.get("n_segments", 12)), cfg.duration, cfg.reset_noise, head_cpg=head)
        try:
            env0 = bodies.get(cfg.n_train, "water")
            layout, control_dt = env0.layout, layout_control_dt(env0)
            w, n_steps = int(round(cfg.warmup / control_dt)), int(round(cfg.duration / control_dt))
            if n_steps - w < 2:
                raise ValueError(f"{cfg.duration} s sequences leave {n_steps - w} steps after the {cfg.warmup} s "
                                 "warm-up")
            teacher = make_setup(spec.level, build_circuit(spec), layout, control_dt, dict(spec.level_kwargs))
            if t_params is None:
                t_params = teacher.brain.get_params()[0].cpu().numpy()
                if cfg.teacher_perturb > 0:
                    t_params = perturb_teacher(teacher.brain, t_params, cfg.teacher_perturb,
                                               np.random.default_rng([cfg.seed, 11]))
            t_params = np.asarray(t_params, np.float32)
            teacher.brain.set_params(t_params)
            s_circuit = rewire(load_circuit(spec.dataset), cfg.wiring, cfg.wiring_seed)
            if tuple(s_circuit.names) != tuple(teacher.brain.circuit.names):
                raise ValueError("teacher and student circuits have different neurons; use the same dataset")
        except BaseException:
            bodies.close()
            raise
        log = (lambda *a: print("[distill]", *a, flush=True)) if cfg.progress else (lambda *a: None)
        return cls(cfg, bodies, layout, control_dt, w, n_steps, spec, t_params, t_desc, head, teacher,
                   s_circuit, rng, log)

    # ---- conventions every step shares -------------------------------------------------------------
    @property
    def has_neurons(self) -> bool:
        """Whether the student reports the worm's neurons (a connectome-free baseline does not)."""
        from wormsim.realism_levels import get_level
        return get_level(self.cfg.student).uses_wiring

    def new_student(self) -> Setup:
        return make_setup(self.cfg.student, self.s_circuit, self.layout, self.control_dt,
                          dict(self.cfg.student_kwargs or {}))

    def seeds(self, split: str, n: int) -> list[int]:
        """Environment seeds of the training ("train"), held-out ("test") and gait ("gait") episodes."""
        offset = {"train": 0, "test": 50_000, "gait": 90_000}[split]
        return [self.cfg.seed * 100_003 + offset + i for i in range(n)]

    def drives_uniform(self, n: int) -> np.ndarray:
        """(n, 2) drives uniform in TRAIN_DRIVE_RANGE."""
        (f0, f1), (b0, b1) = TRAIN_DRIVE_RANGE
        return np.stack([self.rng.uniform(f0, f1, n), self.rng.uniform(b0, b1, n)], 1)

    def record(self, setup: Setup, n: int, drives, seeds, tag: int, reliability: bool = False) -> dict:
        """n closed-loop sequences in water with input noise, and their targets (trial means)."""
        cfg = self.cfg
        d = closed_loop(setup, self.bodies.get(n, "water"), drives, seeds, cfg.input_noise, self.rng)
        return with_targets(setup, d, cfg.n_replays, cfg.replay_noise, [cfg.seed, 19, tag], reliability)

    def train(self, setup: Setup, data: dict, epochs: int | None = None, data_init: bool | None = None) -> list:
        cfg = self.cfg
        return train_student(setup, data, cfg.epochs if epochs is None else epochs, cfg.lr, cfg.muscle_weight,
                             cfg.seed, cfg.normalize, cfg.data_init if data_init is None else data_init,
                             self.warmup_steps)
