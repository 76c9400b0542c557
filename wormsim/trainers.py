"""The trainer registry: which trainer takes which level and task (the trainers live in wormsim/train/).

Each trainer is one module with a function ``train(config, run, resume=False, progress=True) -> summary``
and declares itself here once: the level capabilities it needs and the tasks it takes. The CLI's
--algo choices, the experiment's training axis and the checks before a run starts all read this
registry, so a new trainer is its module and one ``register_trainer`` line.

    es     CMA-ES on the flat parameter vector: every level, every task
    ppo    PPO with the recurrent brain as actor: differentiable levels that step in torch
    bptt   backpropagation through time: differentiable levels on tasks without a body
    ridge  reservoir mode (--train readout) on tasks without a body: a closed-form ridge readout
           on the fixed circuit (the level must have a reservoir rule)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainerSpec:
    """name: the --algo value. entry: "module:function" of the training function. needs: level
    capabilities (keys of Brain.capabilities()) the trainer requires. body: True = tasks with a body
    only, False = tasks without one only, None = any. readout: the trainer of --train readout (it fits
    a readout on tasks whose TaskSpec.readout says how) rather than an --algo choice. budget: what
    --budget counts."""
    name: str
    entry: str
    title: str = ""
    needs: tuple[str, ...] = ()
    body: bool | None = None
    readout: bool = False
    budget: str = "generations"
    body_reason: str = ""        # why the body restriction holds, "{task}" filled in

    def load(self):
        module, fn = self.entry.split(":")
        return getattr(importlib.import_module(module), fn)

    def check(self, level: str, task: str) -> None:
        """CapabilityError / ValueError naming what is missing, when this trainer cannot train ``level``
        on ``task``."""
        from wormsim.envs.tasks import get_task, task_names
        from wormsim.realism_levels import get_level
        spec = get_task(task)
        if self.readout and spec.readout is None:
            raise ValueError(f"{self.title or self.name} fits a readout on tasks that declare one "
                             f"({', '.join(t for t in task_names() if get_task(t).readout)}), not {task!r}")
        if self.body is not None and spec.has_body != self.body:
            where = "with" if self.body else "without"
            why = f": {self.body_reason.format(task=task)}" if self.body_reason else f", not {task!r}"
            raise ValueError(f"{self.title or self.name} trains on tasks {where} a body "
                             f"({', '.join(task_names(has_body=self.body))}){why}"
                             + ("; use --algo es" if self.name != "es" else ""))
        cls = get_level(level)
        for cap in self.needs:
            cls.require(cap, self.title or self.name, "" if self.readout else f"use --algo es for {level}")


TRAINERS: dict[str, TrainerSpec] = {}


def register_trainer(spec: TrainerSpec, replace: bool = False) -> None:
    if spec.name in TRAINERS and not replace:
        raise ValueError(f"trainer {spec.name!r} is registered already (replace=True to replace it)")
    TRAINERS[spec.name] = spec


def get_trainer(name: str) -> TrainerSpec:
    if name not in TRAINERS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(algo_names())}")
    return TRAINERS[name]


def algo_names() -> list[str]:
    """The --algo choices (the readout trainer is chosen by --train readout instead)."""
    return [n for n, t in TRAINERS.items() if not t.readout]


def trainer_for(config) -> TrainerSpec:
    """The trainer of a TrainConfig: --train readout on a task that declares a readout picks the
    readout trainer; otherwise --algo (an ES-trained readout on a body task is ES on readout-LEVEL).
    Checked against the level and the task (a clear error, before anything runs)."""
    from wormsim.envs.tasks import get_task
    if config.train == "readout":
        if config.algo != "es":
            raise ValueError("--train readout fits a ridge readout in closed form (tasks without a body) or "
                             "trains one by ES (tasks with a body); use --algo es")
        if get_task(config.task).readout is not None:
            spec = next(t for t in TRAINERS.values() if t.readout)
            spec.check(config.level, config.task)
            return spec
    spec = get_trainer(config.algo)
    spec.check(config.level, config.task)
    if getattr(config, "init", None) and spec.name != "es":
        raise ValueError(f"--init starts ES from another run's policy; {spec.title or spec.name} does not take it")
    if getattr(config, "also_at", None) and spec.name != "es":
        raise ValueError(f"--also-at trains by ES across loads (one fitness over every condition); "
                         f"{spec.title or spec.name} trains in one medium: drop --also-at or use --algo es")
    return spec


register_trainer(TrainerSpec("es", "wormsim.train.es:train_es", "CMA-ES"))
register_trainer(TrainerSpec("ppo", "wormsim.train.ppo:train_ppo", "PPO", needs=("differentiable", "steps_in_torch"),
                             budget="iterations"))
register_trainer(TrainerSpec("bptt", "wormsim.train.bptt:train_bptt", "BPTT",
                             needs=("differentiable", "steps_in_torch"), body=False, budget="gradient steps",
                             body_reason="the body of {task} is not differentiable"))
register_trainer(TrainerSpec("ridge", "wormsim.reservoir:train_readout", "the ridge readout (--train readout)",
                             needs=("reservoir",), body=False, readout=True, budget="(closed form)"))
