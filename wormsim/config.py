"""Run configurations as dataclasses, and command-line flags generated from them.

A config dataclass is the whole set-up of a command (CleanRL's Args): every field carries its help text
and, where it has a fixed set of values, the name of the registry its choices come from
(``opt(default, help, choices="levels")``). ``add_arguments`` makes one flag per field (underscores
become dashes, booleans get --x/--no-x, lists take several values); ``from_args`` builds the config back.
`wormsim train`, `wormsim experiment` and `wormsim distill` are generated this way.

TrainConfig lives here, below the trainers, so that the modules that only read a set-up (rollout,
reservoir, viz, distill) need not import a trainer.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import asdict, dataclass, field, fields


def opt(default, help: str, **meta):
    """A config field: its default, its help text, and optionally choices= (a list or a registry name:
    "levels", "wirings", "datasets", "tasks", "algos"), low= (the smallest allowed number), positive=True,
    flag= (another flag name), list fields take a default list (copied)."""
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def choices_of(key) -> list:
    """The valid values named by ``key``: a registry name or an explicit list."""
    if not isinstance(key, str):
        return list(key)
    if key == "levels":
        from wormsim.realism_levels import level_names
        return level_names()
    if key == "wirings":
        from wormsim.wiring import available_wirings
        return available_wirings()
    if key == "circuits":
        from wormsim.connectome import CIRCUITS
        return list(CIRCUITS)
    if key == "datasets":
        from wormsim.connectome import DATASETS
        return sorted(DATASETS)
    if key == "tasks":
        from wormsim.envs.tasks import task_names
        return task_names()
    if key == "algos":
        from wormsim.trainers import algo_names
        return algo_names()
    raise KeyError(f"no registry named {key!r} for choices")


def _field_type(cls, f) -> tuple[type, bool, bool]:
    """(element type, is a list, is optional) of a field, from its annotation."""
    hints = typing.get_type_hints(cls)
    t = hints[f.name]
    optional = False
    args = typing.get_args(t)
    if type(None) in args:
        optional = True
        t = next(a for a in args if a is not type(None))
    if typing.get_origin(t) is list:
        return typing.get_args(t)[0], True, optional
    return t, False, optional


def add_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of the dataclass ``cls``, with its default and help."""
    defaults = cls()
    for f in fields(cls):
        if f.name in skip or "help" not in f.metadata:
            continue
        flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
        default = getattr(defaults, f.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        help_text = f.metadata["help"] + (f" (default: {shown})" if default is not None else "")
        kind, is_list, _ = _field_type(cls, f)
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        choices = choices_of(f.metadata["choices"]) if "choices" in f.metadata else None
        parser.add_argument(flag, dest=f.name, type=kind if kind in (int, float) else str, default=default,
                            choices=choices, help=help_text,
                            **({"nargs": f.metadata.get("nargs", "+")} if is_list else {}))


def from_args(cls, args: argparse.Namespace, **extra):
    """The config ``cls`` from parsed flags (fields without a flag keep their defaults); list fields are
    de-duplicated in order; every bound declared with low= or positive= is checked."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    for f in fields(cls):
        if isinstance(values.get(f.name), list):
            values[f.name] = list(dict.fromkeys(values[f.name]))
    cfg = cls(**values, **extra)
    check_bounds(cfg)
    return cfg


def check_bounds(cfg) -> None:
    """ValueError naming the flag of the first field outside its declared bound (low=, positive=)."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        flag = "--" + f.metadata.get("flag", f.name.replace("_", "-"))
        if value is None or isinstance(value, (list, bool)):
            continue
        if "low" in f.metadata and value < f.metadata["low"]:
            raise ValueError(f"{flag} must be >= {f.metadata['low']}, got {value}")
        if f.metadata.get("positive") and not value > 0:
            raise ValueError(f"{flag} must be positive, got {value}")


def config_from_dict(cls, d: dict):
    """``cls`` from a stored dict; keys it does not know (a field since removed) are ignored, fields
    added since take their defaults."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in known})


def medium_value(m):
    """--medium as the body takes it: a drag ratio given as a number, else the medium's name."""
    try:
        return float(m)
    except (TypeError, ValueError):
        return m


def level_options(level: str, items: list[str], cfg) -> tuple:
    """``--level-option NAME=VALUE`` items as (name, value) pairs typed by the level config's field
    annotations (an optional field also takes "none"); a bad item is a one-line ValueError naming it and the
    way out."""
    if not items:
        return ()
    known = {f.name: f for f in fields(cfg)} if dataclasses.is_dataclass(cfg) else {}
    out = []
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--level-option {item!r}: write NAME=VALUE, e.g. curvature_scale_nS=0.5")
        if name not in known:
            raise ValueError(f"--level-option {item!r}: the {level} level's config has no field {name!r}; "
                             f"choose from {', '.join(sorted(known)) or '(none)'}")
        kind, is_list, optional = _field_type(type(cfg), known[name])
        if is_list or kind not in (bool, int, float, str):
            raise ValueError(f"--level-option {item!r}: {name} is not a number, a switch or a word, which this "
                             "flag cannot set; build the level's config in Python instead")
        try:
            if optional and text.lower() == "none":
                value = None
            elif kind is bool:
                value = {"true": True, "1": True, "false": False, "0": False}[text.lower()]
            else:
                value = kind(text)
        except (KeyError, ValueError):
            raise ValueError(f"--level-option {item!r}: {name} takes a {kind.__name__} "
                             f"(now {getattr(cfg, name)!r}), not {text!r}") from None
        out.append((name, value))
    return tuple(out)


@dataclass
class TrainConfig:
    """Every field is a flag of `wormsim train` (underscores become dashes)."""
    level: str = opt("rate", "realism level", choices="levels")
    wiring: str = opt("connectome", "the real connectome or a null model", choices="wirings")
    dataset: str = opt("cook2019", "connectome dataset read through cect", choices="datasets")
    circuit: str = opt("motor", "which neurons: motor (the ventral cord motor neurons and the command "
                       "interneurons, as always) or motor+head (plus the head's steering circuit: the head "
                       "motor neurons SMD, RMD, SMB, RIV, RME, which bend the head joints, and the "
                       "interneurons AIY, AIB, AIZ, RIA; the task inputs also reach AIY and AIB)",
                       choices="circuits")
    task: str = opt("swim", "task environment", choices="tasks")
    algo: str = opt("es", "training algorithm: es (CMA-ES, every level), ppo (differentiable levels; "
                    "--budget counts PPO iterations) or bptt (differentiable levels on the tasks "
                    "without a body; --budget counts gradient steps)", choices="algos")
    seed: int = opt(0, "seed of the trainer, the null wiring and the episodes", low=0)
    budget: int = opt(100, "most ES generations (PPO: iterations; BPTT: gradient steps); with --stop "
                      "plateau a run ends earlier once converged", low=1)
    stop: str = opt("plateau", "plateau: stop once the validation score has stopped improving (see "
                    "--patience), within --budget; budget: run the whole budget (the summary still says "
                    "when the rule would have fired)", choices=("plateau", "budget"))
    patience: int = opt(30, "plateau rule: iterations over which the validation score must gain more than "
                        "--plateau-tol of its gain so far (and more than its standard error)", low=1)
    plateau_tol: float = opt(0.02, "plateau rule: the smallest gain over --patience iterations, as a "
                             "fraction of the validation score's gain since the untrained policy", low=0)
    val_every: int = opt(5, "iterations between validation checks of the current policy (ES: the "
                         "distribution mean) on fixed episodes of the training distribution", low=1)
    val_episodes: int = opt(4, "episodes of each validation check", low=1)
    popsize: int = opt(32, "candidates per generation", low=2)
    sigma: float = opt(0.2, "initial step size of CMA-ES: a fraction of each parameter group's natural "
                       "scale (--sigma-scale group), or in parameter units (none)", positive=True)
    lr: float | None = opt(None, "learning rate of PPO and BPTT (default: the trainer's own, PPO 1e-3, "
                           "BPTT 3e-2)", positive=True)
    sigma_scale: str = opt("group", "group: ES steps relative to each parameter group's natural scale as the "
                           "level declares it (synapses, biases, gains, time constants), fair to every "
                           "level; none: one step size in parameter units for all", choices=("group", "none"))
    episodes: int = opt(1, "episodes per candidate, averaged", low=1)
    duration: float = opt(5.0, "simulated seconds per training episode (swim, navigate)", positive=True)
    n_segments: int = opt(12, "body segments of the worm")
    medium: str = opt("water", "the drag ratio (normal / tangential) of the medium: water (2, near a "
                      "surface, as the animal is measured), water-bulk (1.5), agar (10), or a number")
    load: float = opt(1.0, "the medium's viscosity relative to water's (Fang-Yen et al. 2010's load axis: "
                      "multiplies the drag; 1e-3..1e5)", positive=True)
    also_at: list[str] = opt([], "MEDIUM:LOAD: a further condition of the body (e.g. water:1000 agar:10000), "
                             "trained beside --medium/--load with the same parameters and episodes; the fitness "
                             "is then the mean over all conditions of log10(0.001 + speed), so that a 10%% gain "
                             "counts the same at every load (swim; docs/body/self-rhythm.md section 3)",
                             nargs="+")
    bending_stiffness: float = opt(2.3, "the body's bending stiffness EI (force BL^2; the muscles' strength "
                                   "follows it, 10 rad/BL at full activation): 2.3, Sznitman et al. 2010's, from "
                                   "swimming kinematics; 28.8, Fang-Yen et al. 2010's, 12.5-fold stiffer "
                                   "(envs/body.py BodyParams)", positive=True)
    head_cpg: float = opt(2.0, "frequency (Hz) of the head's own oscillator, which drives the head "
                          "muscles no simulated motor neuron reaches (swim, navigate; 0: off, the "
                          "circuit must make its own rhythm)", low=0)
    share_weights: bool = opt(False, "one weight per cell-class pair instead of one per edge")
    bistable_gain: float = opt(0.0, "rate level: intrinsic positive feedback on the B-type motor neurons "
                               "(DB, VB); above 4 they are bistable, with hysteresis (Boyle, Berri & Cohen "
                               "2012); 0: off, the level as it always was", low=0)
    implicit_gaps: bool = opt(False, "rate level: integrate each neuron's gap-junction leak exactly with its "
                              "membrane leak (stable for any gap magnitude; the default's explicit gap term "
                              "lets a strongly coupled pair oscillate to NaN; realism_levels/rate.py); off: "
                              "as always")
    own_stretch: bool = opt(False, "the B-type motor neurons also sense the bending of the body their own "
                            "muscles bend, as stretch receptors of their own side (Boyle, Berri & Cohen "
                            "2012), besides the body ahead of them (Wen et al. 2012); off: as always")
    anterior_reach: int = opt(1, "segments ahead of its soma that a B-type motor neuron's anterior "
                              "stretch entry reads (Wen et al. 2012's anterior receptive field; 1: as always)",
                              low=1)
    anterior_field: int = opt(1, "segments of the body ahead of its soma that a B-type motor neuron's "
                              "anterior field spans (Wen et al. 2012: about 200 um, 2-3 segments); the entries "
                              "beyond the first start at gain 0 (1: one entry, as always)", low=1)
    stretch_field: int = opt(1, "with --own-stretch: joints a B-type motor neuron's own-side stretch field "
                             "spans, from its NMJs' centre tailward (Boyle, Berri & Cohen 2012: about half "
                             "the body); its gain starts spread evenly over them (1: one joint, as always)",
                             low=1)
    head_stretch: bool = opt(False, "with --circuit motor+head: the SMD head motor neurons sense the stretch "
                             "of the head's own side, as SMDD does through TRP-1/TRP-2 (Yeon et al. 2018), so "
                             "the head can bend with the body's wave; off: as always")
    level_option: list[str] = opt([], "NAME=VALUE: set a field of the level's config (its dataclass in "
                                  "realism_levels/, e.g. curvature_scale_nS=0.5 for conductance), repeatable; "
                                  "a field the level has no flag for", nargs="+")
    train: str = opt("weights", "weights: train the circuit; readout: keep the circuit at its "
                     "connectome-derived values (reservoir) and fit only a linear readout (ridge "
                     "regression on the tasks without a body, ES on swim and navigate)",
                     choices=("weights", "readout"))
    spectral_radius: float = opt(0.9, "reservoir mode: spectral radius of the fixed chemical weights "
                                 "(levels whose reservoir knob it is: rate, spiking)", positive=True)
    ridge_alpha: float = opt(1.0, "reservoir mode: ridge regularisation of the readout", low=0)
    conductance_scale: float = opt(1.0, "reservoir mode, conductance level: factor on every chemical and "
                                   "gap conductance of the fixed circuit", positive=True)
    diagonal_above: int = opt(200, "use separable CMA-ES above this many parameters")
    workers: int = opt(2, "evaluation processes (or Ray actors)", low=1)
    backend: str = opt("local", "where episodes run: local processes or a Ray cluster",
                       choices=("local", "ray"))
    ray_address: str | None = opt(None, "address of a running Ray cluster (default: start a local one)")
    eval_episodes: int = opt(4, "episodes of the final evaluation of the best policy", low=1)
    video: bool = opt(True, "record a video of the final policy into the run directory")
    tensorboard: bool = opt(True, "write TensorBoard event files into the run directory (scalars per "
                            "iteration, hparams, weight histograms, the video): tensorboard --logdir runs")
    out: str | None = opt(None, "run directory (default: runs/LEVEL-WIRING-TASK-sSEED)")
    init: str | None = opt(None, "ES: start from the trained policy of this run (same level, dataset, "
                           "wiring and seed; e.g. a swimmer for navigate) instead of the connectome-derived "
                           "parameters; inputs the run did not have start at 0 (wormsim/train/warmstart.py)")

    # what a resumed run may change; everything else is its set-up, kept in every checkpoint
    RESUMABLE = ("budget", "workers", "video", "tensorboard", "backend", "ray_address", "out")
    # fields added after runs were made: left out of fingerprints (and the experiment's config hashes)
    # while unset, so that those runs still resume and their cells stay done
    OMITTED_UNSET = {"init": None, "bistable_gain": 0.0, "own_stretch": False, "anterior_reach": 1,
                     "anterior_field": 1, "stretch_field": 1, "bending_stiffness": 2.3, "circuit": "motor",
                     "implicit_gaps": False, "level_option": [], "also_at": [], "head_stretch": False}

    def run_dir(self) -> str:
        return self.out or f"runs/{self.level}-{self.wiring}-{self.task}-s{self.seed}"

    def level_kwargs(self) -> tuple:
        """Config overrides of the level: share_weights where the level has such an option."""
        from wormsim.realism_levels import get_level
        cfg = get_level(self.level).default_config()
        names = {f.name for f in fields(cfg)} if dataclasses.is_dataclass(cfg) else set()
        out = (("share_weights", True),) if self.share_weights and "share_weights" in names else ()
        if self.bistable_gain:   # only when set: runs made before the option keep their set-up
            if "bistable_gain" not in names:
                if self.level.startswith("conductance"):
                    raise ValueError(f"--bistable-gain: the {self.level} level has no such switch (rate has): its "
                                     "neurons are bistable already through their Ca current, a plateau with "
                                     "hysteresis within a window of bias (docs/body/self-rhythm.md section 5)")
                raise ValueError(f"--bistable-gain: the {self.level} level has no bistable neurons (rate has)")
            out += (("bistable_gain", float(self.bistable_gain)),)
        if self.implicit_gaps:   # likewise
            if "implicit_gaps" not in names:
                raise ValueError(f"--implicit-gaps: the {self.level} level has no such integrator (rate has)")
            out += (("implicit_gaps", True),)
        return out + level_options(self.level, self.level_option, cfg)

    def eval_spec(self, episodes: int | None = None, held_out: bool = False):
        """The EvalSpec of this set-up. held_out: the final judgement, on data training never saw (the
        task's held_out environment options: digits' test images, a body task's random oscillator phase
        and wider starting posture; every task draws fresh episodes from new seeds)."""
        from wormsim.envs.tasks import get_task
        from wormsim.realism_levels import get_level
        from wormsim.rollout import EvalSpec
        if self.stretch_field != 1 and not self.own_stretch:
            raise ValueError(f"--stretch-field {self.stretch_field} spreads the B cells' own-segment stretch "
                             "entry, which is off: add --own-stretch")
        if self.head_stretch and self.circuit != "motor+head":
            raise ValueError(f"--head-stretch gives the SMD head motor neurons a stretch entry, and the "
                             f"{self.circuit} circuit has none: add --circuit motor+head")
        task = get_task(self.task)
        also_at = self.conditions()[1:]
        if also_at and task.metric != "final_speed":
            raise ValueError(f"--also-at trains swimming across loads by its speed; the {self.task} task has no "
                             "speed: drop --also-at or use --task swim")
        level, level_kwargs = self.level, self.level_kwargs()
        if self.train == "readout" and task.has_body:
            inner = get_level(self.level)
            inner.require("steps_in_torch", "--train readout on a task with a body (an ES-trained readout)")
            level = f"readout-{self.level}"
            scale = getattr(self, inner.reservoir_knob, None) if inner.reservoir_knob else None
            level_kwargs = level_kwargs + (("scale", None if scale is None else float(scale)),)
        env_kwargs = (("n_segments", self.n_segments),)
        if task.has_body:  # tasks without a body have a fixed trial structure
            env_kwargs += (("medium", medium_value(self.medium)), ("duration", float(self.duration)),
                           ("head_cpg", float(self.head_cpg)))
            if self.load != 1.0:   # only when set: runs made before --load keep their set-up
                env_kwargs += (("load", float(self.load)),)
            if self.bending_stiffness != 2.3:   # likewise
                env_kwargs += (("bending_stiffness", float(self.bending_stiffness)),)
        if held_out:
            env_kwargs += tuple(task.held_out)
        return EvalSpec(level=level, dataset=self.dataset, wiring=self.wiring,
                        wiring_seed=self.seed, task=self.task, episodes=episodes or self.episodes,
                        env_kwargs=env_kwargs, level_kwargs=level_kwargs,
                        interface_kwargs=((("own_stretch", True),) if self.own_stretch else ())
                        + ((("anterior_reach", int(self.anterior_reach)),) if self.anterior_reach != 1 else ())
                        + ((("anterior_field", int(self.anterior_field)),) if self.anterior_field != 1 else ())
                        + ((("stretch_field", int(self.stretch_field)),) if self.stretch_field != 1 else ())
                        + ((("head_stretch", True),) if self.head_stretch else ()),
                        circuit=self.circuit, also_at=tuple(also_at))

    def conditions(self) -> list[tuple]:
        """[(medium, load)] the body trains in: --medium at --load, then each --also-at (checked: a
        ValueError naming the bad item and the way out)."""
        from wormsim.envs.body import check_load, drag_ratio
        out = [(medium_value(self.medium), float(self.load))]
        for item in self.also_at:
            medium, sep, load = str(item).rpartition(":")
            try:
                if not sep or not medium:
                    raise ValueError("write MEDIUM:LOAD")
                drag_ratio(medium_value(medium))
                cond = (medium_value(medium), check_load(load))
            except ValueError as exc:
                raise ValueError(f"--also-at {item!r}: {exc} (e.g. --also-at water:1000 agar:10000)") from None
            if cond in out:
                raise ValueError(f"--also-at {item!r}: that condition is trained already; give each one once")
            out.append(cond)
        return out

    def fingerprint(self) -> dict:
        """The set-up a checkpoint belongs to: every field but those a resume may change."""
        return {k: v for k, v in asdict(self).items() if k not in self.RESUMABLE
                and not (k in self.OMITTED_UNSET and v == self.OMITTED_UNSET[k])}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return config_from_dict(cls, d)
