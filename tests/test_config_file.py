"""Reruns from a file: `wormsim train --config runs/X/config.json` (or TOML) reruns a run, a flag given with
it overriding the file; `wormsim experiment` and `wormsim distill` take their own files; an unknown
key or a bad value is refused on one line that names it, before anything runs."""
import dataclasses
import json
from pathlib import Path

import pytest

from wormsim.cli import _with_config_file, build_parser, main
from wormsim.config import from_args

TINY = ["--task", "memory", "--popsize", "4", "--eval-episodes", "1", "--no-video", "--workers", "1"]


def rows(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def final(run):
    s = json.loads((Path(run) / "summary.json").read_text())
    return {k: s[k] for k in ("final_score", "final_return", "n_params", "heldout")}


def parsed(argv):
    """The namespace `wormsim ARGV` runs with, --config applied (nothing run)."""
    parser = build_parser()
    return _with_config_file(parser, parser.parse_args(argv), argv)


def test_a_rerun_from_a_runs_config_reproduces_its_metrics_and_a_flag_overrides_it(tmp_path):
    a = tmp_path / "a"
    assert main(["train", "--budget", "2", "--seed", "3", "--out", str(a), *TINY]) == 0
    b = tmp_path / "b"
    assert main(["train", "--config", str(a / "config.json"), "--out", str(b)]) == 0
    assert rows(b) == rows(a) and final(b) == final(a)

    def stored(run):
        return {k: v for k, v in json.loads((run / "config.json").read_text())["config"].items() if k != "out"}
    assert stored(b) == stored(a)
    # a flag given with the file wins
    from wormsim.config import TrainConfig
    cfg = from_args(TrainConfig, parsed(["train", "--config", str(a / "config.json"), "--budget", "1",
                                         "--out", str(tmp_path / "c")]))
    assert (cfg.budget, cfg.seed, cfg.task, cfg.out) == (1, 3, "memory", str(tmp_path / "c"))


def test_a_toml_file_sets_the_flags_and_the_command_line_overrides_it(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('level = "spiking"\nwiring = "shuffled"\nbudget = 7\nmedium = 1.4\nvideo = false\n'
                    'n-segments = 10\n')
    from wormsim.config import TrainConfig
    cfg = from_args(TrainConfig, parsed(["train", "--config", str(toml), "--budget", "2"]))
    assert (cfg.level, cfg.wiring, cfg.budget, cfg.medium, cfg.video, cfg.n_segments) == \
        ("spiking", "shuffled", 2, "1.4", False, 10)
    assert cfg.seed == 0 and cfg.task == "swim"            # what the file leaves out keeps its default


@pytest.mark.parametrize("content, named", [
    ({"config": {"levle": "rate"}}, "unknown key 'levle' (did you mean 'level'?)"),
    ({"level": "hodgkin"}, "level: 'hodgkin' is not one of"),
    ({"budget": "many"}, "budget must be a whole number, got 'many'"),
    ({"budget": 0}, "budget must be >= 1, got 0"),
    ({"sigma": -0.1}, "sigma must be positive"),
    ({"video": "yes"}, "video must be true or false"),
    ({"seed": None}, "seed may not be empty"),
])
def test_a_bad_key_or_value_is_refused_on_one_line_before_anything_runs(tmp_path, capsys, content, named):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    out = tmp_path / "never"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wormsim train: error: --config ") and named in err and "\n" not in err
    assert not out.exists()


def test_unreadable_files_are_refused(tmp_path, capsys):
    (tmp_path / "broken.toml").write_text("level = \n")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "conf.yaml").write_text("level: rate\n")
    for name, says in (("broken.toml", "is not valid TOML"), ("list.json", "must hold a table"),
                       ("conf.yaml", "ends in .json or .toml"), ("missing.json", "no such file")):
        assert main(["train", "--config", str(tmp_path / name)]) == 2
        assert says in capsys.readouterr().err


def test_an_experiment_reruns_from_its_experiment_json(tmp_path, capsys):
    from wormsim.experiment import ExperimentConfig
    cfg = dataclasses.replace(ExperimentConfig.quick(str(tmp_path / "q")), seeds=3, trains=["weights"])
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(dataclasses.asdict(cfg)))        # as the grid writes OUT/experiment.json
    assert from_args(ExperimentConfig, parsed(["experiment", "--config", str(path)])) == cfg
    again = from_args(ExperimentConfig, parsed(["experiment", "--config", str(path), "--seeds", "5"]))
    assert again == dataclasses.replace(cfg, seeds=5)
    (tmp_path / "e.toml").write_text('train = ["weights", "readout"]\nlevels = ["rate"]\n')   # --train's name
    assert from_args(ExperimentConfig, parsed(["experiment", "--config", str(tmp_path / "e.toml")])).trains == \
        ["weights", "readout"]
    path.write_text(json.dumps({"levels": "rate"}))
    assert main(["experiment", "--config", str(path), "--out", str(tmp_path / "never")]) == 2
    assert "levels must be a list" in capsys.readouterr().err and not (tmp_path / "never").exists()


def test_a_distillation_reruns_from_its_distill_json(tmp_path, capsys):
    from wormsim.configfile import write_config_file
    from wormsim.distill import DistillConfig
    cfg = DistillConfig(student="spiking", wiring="shuffled", out=str(tmp_path / "d"), epochs=12,
                        unseen_drives=[(0.0, 1.0)], reset_noise=0.1, seed=4).resolved()
    write_config_file(tmp_path / "distill.json", cfg)           # as wormsim.distill.run writes OUT/distill.json
    args = parsed(["distill", "--config", str(tmp_path / "distill.json")])
    again = from_args(DistillConfig, args, command_line=None, progress=False, **args._config_extra)
    assert again == cfg                                          # a field without a flag (reset_noise) too
    (tmp_path / "x.json").write_text(json.dumps({"epochs": 5, "studnet": "rate"}))
    assert main(["distill", "--config", str(tmp_path / "x.json"), "--out", str(tmp_path / "never")]) == 2
    assert "unknown key 'studnet'" in capsys.readouterr().err and not (tmp_path / "never").exists()
    assert main(["distill", "--epochs", "3"]) == 2
    assert "--out is required" in capsys.readouterr().err
