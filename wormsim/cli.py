"""The `wormsim` command.

    wormsim circuit --dataset cook2019 --wiring shuffled --seed 3 [--save circuit.png] [--json]
    wormsim train   [--level rate --wiring connectome --task swim --algo es ...]
    wormsim resume  runs/NAME
    wormsim rollout runs/NAME --video swim.mp4
    wormsim plot    runs/NAME [runs/OTHER ...]
    wormsim gait    runs/NAME [--loads 1 10 100 1000 10000 --agar-loads 3000 --head-cpg trained|off|both]
    wormsim experiment --levels rate mlp --wirings connectome shuffled --tasks swim memory --seeds 5
    wormsim distill --teacher runs/COND --student rate --wiring connectome --out runs/NAME
    wormsim atlas   runs/NAME [--levels rate spiking conductance --wirings connectome shuffled --seeds 8]

Every flag has help text; a wrong value is rejected with the list of valid ones. Errors a user can fix
print one line naming the problem and the way out, and exit with status 2 (no traceback;
set WORMSIM_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import warnings


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


# ---- wormsim circuit ---------------------------------------------------------------------------------
def _add_circuit(sub) -> None:
    from wormsim.connectome import CIRCUITS, DATASETS
    from wormsim.wiring import WIRINGS
    p = sub.add_parser("circuit", help="print (and draw) the motor circuit of a dataset and wiring",
                       description="Print a table of the motor circuit: neurons by class, chemical and "
                       "gap edges, excitatory and inhibitory counts, density, reciprocity, clustering, "
                       "mean shortest path and small-world coefficients; side by side with the "
                       "connectome when a null wiring is asked.")
    p.add_argument("--dataset", default="cook2019", choices=sorted(DATASETS),
                   help="connectome dataset read through cect (default: cook2019)")
    p.add_argument("--wiring", default="connectome", choices=list(WIRINGS),
                   help="the real connectome or a null model (default: connectome)")
    p.add_argument("--seed", type=int, default=0, help="seed of the null model (default: 0)")
    p.add_argument("--circuit", default="motor", choices=list(CIRCUITS),
                   help="which neurons: motor (default) or motor+head (plus the head's steering circuit: "
                   "SMD, RMD, SMB, RIV, RME and the interneurons AIY, AIB, AIZ, RIA)")
    p.add_argument("--save", metavar="FILE", help="draw the circuit along the body axis into FILE "
                   "(.png, .svg or .pdf)")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(func=cmd_circuit)


_ROWS = [("neurons", "neurons"), ("chemical_edges", "chemical edges"),
         ("chemical_synapses", "chemical synapses"), ("excitatory_edges", "excitatory edges"),
         ("inhibitory_edges", "inhibitory edges"), ("inhibitory_share", "inhibitory share"),
         ("inhibitory_synapse_share", "inhibitory share (synapses)"),
         ("command_motor_edges", "command -> motor edges"), ("gap_pairs", "gap-junction pairs"),
         ("gap_junctions", "gap junctions"), ("gap_degree_mean", "gap degree (mean)"),
         ("gap_degree_motor", "gap degree (motor neurons)"), ("density", "density (chemical)"),
         ("reciprocity", "reciprocity"), ("clustering", "clustering"),
         ("mean_shortest_path", "mean shortest path"), ("small_world_sigma", "small-world sigma"),
         ("small_world_omega", "small-world omega"), ("self_loops", "self-loops")]
_LABEL = max(len(label) for _, label in _ROWS) + 2


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.0f}" if v == int(v) and abs(v) >= 10 else f"{v:.3f}"
    return str(v)


def format_circuit_table(stats: list[dict]) -> str:
    """The statistics side by side, one column per wiring (the connectome first), and a note for every
    wiring that changes the number of excitatory or inhibitory chemical edges (the E/I balance)."""
    heads = [s["wiring"] for s in stats]
    width = max(12, *(len(h) + 2 for h in heads))
    lines = [f"{'':{_LABEL}s}" + "".join(f"{h:>{width}s}" for h in heads)]
    for key, label in _ROWS:
        lines.append(f"{label:{_LABEL}s}" + "".join(f"{_fmt(s.get(key)):>{width}s}" for s in stats))
    lines.append("")
    lines.append("neurons by class: " + ", ".join(f"{c} {k}" for c, k in stats[0]["neurons_by_class"].items()))
    lines.append(f"signs: {stats[0]['sign_rule']}")
    lines.append(f"muscle map: {stats[0]['nmj_source']}")
    base = stats[0]
    for s in stats[1:]:
        if (s["excitatory_edges"], s["inhibitory_edges"]) != (base["excitatory_edges"], base["inhibitory_edges"]):
            lines.append(f"note: {s['wiring']} does not keep the excitatory and inhibitory edge counts "
                         f"(inhibitory share {base['inhibitory_share']:.1%} -> {s['inhibitory_share']:.1%}): "
                         "a difference from the connectome may be one of E/I balance, not of topology")
    return "\n".join(lines)


def cmd_circuit(args) -> int:
    from wormsim.connectome import load_circuit
    from wormsim.wiring import rewire
    if args.save:                                 # a wrong file name fails before any work is done
        from pathlib import Path

        from wormsim.viz.plots import check_figure_path
        check_figure_path(args.save)
        if not Path(args.save).resolve().parent.is_dir():
            raise UserError(f"--save: the folder {Path(args.save).resolve().parent} does not exist")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        base = load_circuit(args.dataset, circuit=getattr(args, "circuit", "motor"))
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    circuits = [base] if args.wiring == "connectome" else [base, rewire(base, args.wiring, args.seed)]
    stats = [c.stats() for c in circuits]
    if args.json:
        # always a list: the connectome first, then the null wiring when one is asked
        print(json.dumps(stats, indent=2))
    else:
        print(f"{base.dataset}: {base.n} neurons" + (f" (missing {len(base.missing)})" if base.missing else ""))
        print(format_circuit_table(stats))
        for note in base.notes:
            print(f"note: {note}")
    if args.save:
        from wormsim.viz.circuit import draw_circuit
        path = draw_circuit(circuits[-1], args.save)
        print(f"circuit drawn to {path}", file=sys.stderr if args.json else sys.stdout)
    return 0


# ---- wormsim train / resume ------------------------------------------------------------------------------
def _add_train(sub) -> None:
    from wormsim.config import TrainConfig, add_arguments
    p = sub.add_parser("train", help="train a realism level on a task (default: rate level, connectome, swim)",
                       description="Train a realism level on a wiring and a task with CMA-ES (every level), "
                       "PPO (--algo ppo: differentiable levels) or BPTT (--algo bptt: differentiable levels "
                       "on the tasks without a body); ends by printing the final speed (body lengths / s) "
                       "or the task's score, and the run directory.")
    add_arguments(p, TrainConfig)
    p.add_argument("--overwrite", action="store_true", help="start afresh in an --out that holds a run")
    _add_config_option(p, TrainConfig, "a run's config.json (runs/NAME/config.json) or a TOML file")
    p.set_defaults(func=cmd_train)

    r = sub.add_parser("resume", help="continue a run from its last checkpoint",
                       description="Continue a killed or finished run from its last checkpoint; "
                       "--budget raises the number of generations.")
    r.add_argument("run", help="run directory (runs/NAME)")
    r.add_argument("--budget", type=int, help="new total number of generations")
    r.add_argument("--workers", type=int, help="evaluation processes for the rest of the run")
    r.add_argument("--video", action=argparse.BooleanOptionalAction, default=None,
                   help="record a video of the final policy")
    r.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=None,
                   help="write TensorBoard event files (default: as the run was started)")
    r.set_defaults(func=cmd_resume)


def _add_config_option(p, cls, what: str, ignore: tuple[str, ...] = ()) -> None:
    """--config FILE: the file's settings (wormsim.configfile) become the defaults of ``p``'s flags, so
    a flag given on the command line overrides the file; fields without a flag reach the config as
    they are (``ignore``: those the command sets itself)."""
    p.add_argument("--config", metavar="FILE", help=f"take every setting from FILE ({what}); a flag "
                   "given with it overrides the file")
    p.set_defaults(_config=(p, cls, ignore))


def _with_config_file(parser, args, argv):
    """``args`` parsed again with the --config file's settings as defaults (every key and value checked
    first: a bad one is a ValueError naming it, before anything runs); the settings that have no flag
    are left in ``args._config_extra``."""
    args._config_extra = {}
    if not getattr(args, "config", None):
        return args
    from wormsim.configfile import load_config_file
    sub, cls, ignore = args._config
    values = load_config_file(cls, args.config, ignore=ignore)
    flagged = {k: v for k, v in values.items() if hasattr(args, k)}
    sub.set_defaults(**flagged)
    args = parser.parse_args(argv)
    args._config_extra = {k: v for k, v in values.items() if k not in flagged}
    return args


def _finish(config, run, summary) -> int:
    from wormsim.envs.tasks import get_task
    took = f"{summary['generations']} iterations, {summary['wall_time']:.0f} s"
    if summary.get("converged") is not None:   # the trainers with the plateau rule
        took += (f", converged at {summary['converged_at']}" if summary["converged"] else
                 f", not converged within --budget {summary.get('budget', summary['generations'])}")
    body = get_task(config.task).has_body
    fmt = lambda x: "n/a" if x is None else format(x, ".3f")  # noqa: E731
    if body and summary.get("final_speed") is not None:
        print(f"final speed: {fmt(summary['final_speed'])} body lengths/s "
              f"(untrained {fmt(summary.get('untrained_speed'))}; {took})")
        if summary.get("final_speed_by_condition"):
            print("final speed by condition (medium:load): " + ", ".join(
                f"{k} {fmt(v)}" for k, v in summary["final_speed_by_condition"].items()))
    elif summary.get("final_score") is not None:
        print(f"final score: {fmt(summary['final_score'])} ({config.task}; {took})")
    else:
        print(f"final return: {fmt(summary.get('final_return'))} ({config.task}; {took})")
    if get_task(config.task).episode_scores and summary.get("heldout"):
        summary["episode_scores"] = _episode_scores(get_task(config.task), summary["heldout"])
        run.write_summary(summary)
        print(_episode_scores_line(summary["episode_scores"]))
    if config.video and body:
        from wormsim.viz.video import record_video
        params, _ = run.load_policy()
        video = record_video(config.eval_spec(), params, run.path / "swim.mp4", seed=config.seed)
        summary.update(video=video["path"], video_frequency=video.get("frequency"))   # Hz, the video's episode
        run.write_summary(summary)
        print(f"video: {video['path']}")
    print(f"run: {run.path}")
    return 0


def _episode_scores(spec, heldout: dict) -> dict:
    """{"trained": {words: mean}, "untrained": {...}, "episodes": n} over the held-out episodes of a
    summary's ``heldout`` record, for the metric ("score") and the task's ``episode_scores``; a mean
    over the episodes that have a value (navigate's time to target: those that arrived), None if none."""
    import numpy as np
    keys = (("score", spec.metric_label),) + tuple(spec.episode_scores)

    def means(record):
        out = {}
        for key, words in keys:
            v = np.array([np.nan if x is None else x for x in record.get(key) or []], float)
            v = v[np.isfinite(v)]
            out[words] = float(v.mean()) if v.size else None
        return out
    return {"trained": means(heldout.get("trained", {})), "untrained": means(heldout.get("untrained", {})),
            "episodes": len(heldout.get("trained", {}).get("score") or [])}


def _episode_scores_line(scores: dict) -> str:
    fmt = lambda x: "n/a" if x is None else format(x, ".3f")  # noqa: E731
    parts = [f"{words} {fmt(v)} (untrained {fmt(scores['untrained'].get(words))})"
             for words, v in scores["trained"].items()]
    return f"held-out ({scores['episodes']} episodes): " + "; ".join(parts)


def _check_config(config):
    """Every value a run needs, checked before any file is written (a bad one leaves no half-made run).
    Returns the trainer (from the trainer registry) that takes this level, task and training mode."""
    from wormsim.config import check_bounds, medium_value
    from wormsim.envs.body import MAX_SEGMENTS, MIN_SEGMENTS, check_load, drag_ratio
    from wormsim.realism_levels import get_level
    from wormsim.rollout import build_circuit, make_level_config
    from wormsim.trainers import trainer_for
    check_bounds(config)
    if not MIN_SEGMENTS <= config.n_segments <= MAX_SEGMENTS:
        raise UserError(f"--n-segments must be in {MIN_SEGMENTS}..{MAX_SEGMENTS}, got {config.n_segments}")
    drag_ratio(medium_value(config.medium))   # "water", "agar" or a number > 0, else a ValueError naming them
    check_load(config.load)                   # a viscosity relative to water within range, else one line
    trainer = trainer_for(config)             # a level, task or mode the trainer cannot take
    spec = config.eval_spec()                 # rejects level/task/training combinations before any file
    circuit = build_circuit(spec)             # and a circuit that cannot do the task
    level_cfg = make_level_config(spec.level, dict(spec.level_kwargs))   # the level's own checks
    get_level(spec.level).check_config(level_cfg, circuit)
    return trainer


def cmd_train(args) -> int:
    from wormsim.config import TrainConfig, from_args
    from wormsim.runs import Run
    config = from_args(TrainConfig, args)
    trainer = _check_config(config)
    config.out = config.run_dir()
    run = Run.create(config.out, config, overwrite=args.overwrite)
    summary = trainer.load()(config, run)
    return _finish(config, run, summary)


def cmd_resume(args) -> int:
    from wormsim.runs import Run, atomic_write_text
    from wormsim.config import TrainConfig
    run = Run.open(args.run)
    config = TrainConfig.from_dict(run.config)
    for key in ("budget", "workers", "video", "tensorboard"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))
    run.tensorboard = config.tensorboard
    trainer = _check_config(config)
    done = max((r.get("iteration", 0) for r in run.metrics()), default=0)
    if args.budget is not None and args.budget < done:
        raise UserError(f"--budget {args.budget} is below the {done} iterations {run.path} has finished; "
                        f"give a budget of at least {done}")
    if args.budget is not None:
        import json
        raw = json.loads((run.path / "config.json").read_text())
        raw["config"]["budget"] = config.budget
        atomic_write_text(run.path / "config.json", json.dumps(raw, indent=2))
    summary = trainer.load()(config, run, resume=True)
    return _finish(config, run, summary)


# ---- wormsim experiment --------------------------------------------------------------------------------
def _add_experiment(sub) -> None:
    from wormsim.config import add_arguments
    from wormsim.experiment import ExperimentConfig
    p = sub.add_parser("experiment", help="the grid of levels x wirings x tasks x seeds, with its report",
                       description="Train every level on every wiring and task over several seeds; skips "
                       "finished cells, resumes interrupted ones, refuses cells made with another "
                       "configuration (or retrains them with --rerun-stale); runs independent cells "
                       "concurrently (--workers processes, or Ray tasks with --backend ray); writes "
                       "tables, tests, curves and report.md into --out.")
    add_arguments(p, ExperimentConfig)
    _add_config_option(p, ExperimentConfig, "an experiment's OUT/experiment.json or a TOML file")
    p.add_argument("--quick", action="store_true",
                   help="a tiny preset (rate and mlp, connectome and shuffled, swim, memory and digits, 2 "
                   "seeds, 3 generations of 6) that runs in a minute or two; a flag given with it "
                   "overrides the preset (e.g. --levels, --tasks, --wirings)")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args) -> int:
    import dataclasses

    from wormsim.config import check_bounds, from_args
    from wormsim.experiment import ExperimentConfig, command_line, run_experiment
    cfg = from_args(ExperimentConfig, args)    # every bound of the config checked, one-line errors
    command = command_line(cfg)
    if args.quick:
        # the preset, with every flag the user set (a value other than its default) on top of it
        default = ExperimentConfig()
        given = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                 if getattr(cfg, f.name) != getattr(default, f.name)}
        cfg = dataclasses.replace(ExperimentConfig.quick(args.out), **given)
        check_bounds(cfg)
        command = command_line(cfg, only=set(given) | {"out"}, prefix=("wormsim", "experiment", "--quick"))
    if "connectome" not in cfg.wirings:
        raise UserError("--wirings must include connectome: every null wiring is compared with it")
    report = run_experiment(cfg, command=command)   # the report names the command that made it
    print(f"report: {report}")
    if cfg.report_only:                             # nothing was trained, so no cell could fail
        return 0
    import csv
    with open(report.parent / "cells.csv", newline="") as f:
        failed = sum(row.get("status") == "failed" for row in csv.DictReader(f))
    if failed:
        print(f"wormsim experiment: {failed} cell(s) failed (listed in the report); run the same command "
              "again to retry them", file=sys.stderr)
        return 3
    return 0


# ---- wormsim distill -----------------------------------------------------------------------------------
def _add_distill(sub) -> None:
    from wormsim.config import add_arguments
    from wormsim.distill import UNSEEN_DRIVES, DistillConfig
    from wormsim.distill.config import drives_text

    def drive_pair(text: str) -> tuple[float, float]:
        try:
            f, b = (float(x) for x in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"a drive is FORWARD,BACKWARD (two numbers), got {text!r}") from None
        return f, b

    p = sub.add_parser("distill", help="train a student level to reproduce a teacher run's circuit",
                       description="Record a teacher's neural activity and body under many drives and "
                       "perturbations, train a student level by backpropagation through time to reproduce "
                       "its trial-averaged activity, and report held-out R^2 (with ceilings and "
                       "baselines), data efficiency, zero-shot gait (agar, unseen drives, head oscillator "
                       "on and off), robustness to the teacher's plasticity and decoding.")
    # every flag from DistillConfig; --unseen-drives takes FORWARD,BACKWARD pairs and --out is required
    add_arguments(p, DistillConfig, skip=("unseen_drives", "out"))
    help_of = {f: DistillConfig.__dataclass_fields__[f].metadata["help"] for f in ("unseen_drives", "out")}
    p.add_argument("--unseen-drives", dest="unseen_drives", type=drive_pair, nargs="*", metavar="F,B",
                   default=[tuple(d) for d in UNSEEN_DRIVES],
                   help=f"{help_of['unseen_drives']} (default: {drives_text(UNSEEN_DRIVES)})")
    p.add_argument("--out", help=help_of["out"] + " (required, here or in --config)")
    _add_config_option(p, DistillConfig, "a distillation's OUT/distill.json or a TOML file",
                       ignore=("command_line", "progress"))
    p.set_defaults(func=cmd_distill)


def cmd_distill(args) -> int:
    from wormsim.config import from_args
    from wormsim.distill import DistillConfig, run
    if not args.out:
        raise UserError("--out is required (the report's directory), on the command line or in --config")
    cfg = from_args(DistillConfig, args, command_line="wormsim " + " ".join(sys.argv[1:]), progress=True,
                    **args._config_extra)
    result = run(cfg)
    held = result["heldout"]
    fmt = lambda x: "n/a" if x is None else format(x, ".3f")  # noqa: E731
    neuron = held["neuron"] or {}
    print(f"held-out R^2 (pooled / median): neurons {fmt(neuron.get('pooled'))} / {fmt(neuron.get('median'))}, "
          f"muscles {fmt(held['muscle']['pooled'])} / {fmt(held['muscle']['median'])}")
    print(f"report: {args.out}/report.md")
    return 0


# ---- entry point -------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with the error on one line (which names the valid values) and a pointer to --help,
    instead of the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wormsim", description="The C. elegans motor circuit at graded biophysical realism, "
        "driving a simulated swimming worm.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_circuit(sub)
    _add_train(sub)
    from wormsim.viz.commands import add_gait, add_plot, add_rollout
    add_rollout(sub)
    add_plot(sub)
    add_gait(sub)
    _add_experiment(sub)
    _add_distill(sub)
    from wormsim.atlas import add_atlas
    add_atlas(sub)
    return parser


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that a stop unwinds the
    same way: workers killed, files left whole (every file is written atomically), one line printed."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _stop_on_sigterm():
    """SIGTERM raises `Stopped` while the command runs (Python's default would end the process at once,
    with no cleanup: a pool's workers, a Ray cluster left behind); a second SIGTERM during the
    cleanup is ignored. Only the main thread can set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Stopped(signum)
    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _how_to_continue(args) -> str:
    """What a stopped command leaves and the command that continues it ('' if there is nothing to say)."""
    from pathlib import Path
    if args.command in ("train", "resume"):
        if args.command == "resume":
            run = args.run
        else:
            try:
                from wormsim.config import TrainConfig, from_args
                run = from_args(TrainConfig, args).run_dir()
            except Exception:
                return ""
        if not (Path(run) / "config.json").is_file():
            return ""
        return f"; {run} keeps its last finished iteration: continue with `wormsim resume {run}`"
    if args.command == "experiment":
        return ("; finished cells are kept and interrupted ones resume from their checkpoints: run the "
                "same command again to continue")
    return ""


def main(argv: list[str] | None = None) -> int:
    """Run one `wormsim` command; returns its exit status: 0 done; 2 a problem the user can fix (one
    line, no traceback); 3 a run's worker processes died on every retry (one line: what died, how
    often, the `wormsim resume` command that continues), or an experiment finished with cells that kept
    failing (listed in its report; the same command retries them); 130 stopped by Ctrl-C (SIGINT), 143 by
    SIGTERM (workers stopped, the last checkpoint whole, one line saying how to continue)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        args = _with_config_file(parser, args, argv)
        with _stop_on_sigterm():
            return int(args.func(args) or 0)
    except (UserError, ValueError, FileNotFoundError, KeyError) as exc:  # RunError is a ValueError
        if os.environ.get("WORMSIM_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"wormsim {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        print(f"wormsim {args.command}: stopped by {signal.Signals(signum).name}{_how_to_continue(args)}",
              file=sys.stderr)
        return 128 + signum
    except Exception as exc:
        # a worker that died on every retry; wormsim.parallel is loaded if one of its workers ran
        lost = getattr(sys.modules.get("wormsim.parallel"), "WorkerLost", None)
        if lost is None or not isinstance(exc, lost) or os.environ.get("WORMSIM_DEBUG"):
            raise
        print(f"wormsim {args.command}: error: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
