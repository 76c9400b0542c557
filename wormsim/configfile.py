"""Config files: `wormsim train --config runs/X/config.json` reruns a run, any flag given with it
overriding the file (the same for `wormsim experiment` and `wormsim distill`).

A file is JSON or TOML (by its suffix: .json, .toml). It holds a config's fields by name, flat, or
under a "config" key as a run's config.json does (its "versions" block is ignored):

    runs/X/config.json           {"config": {"level": "rate", "budget": 100, ...}, "versions": {...}}
    results/quick/experiment.json  {"levels": ["rate", "mlp"], "seeds": 2, ...}
    OUT/distill.json             {"student": "rate", "epochs": 300, ...}
    mine.toml                    level = "spiking"
                                 budget = 20

Every key and value is checked against the config dataclass before anything runs, and the first bad
one is refused on one line that names it: an unknown key (with the nearest known one), a value of the
wrong type, a value outside its choices or below its bound. Keys are field names (``n_segments``);
a flag's spelling (``n-segments``, ``train`` for ``trains``) is taken too. argparse knows nothing of
files, so the check is here; the values then become the subcommand's defaults, which the flags on the
command line override.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from pathlib import Path

from wormsim.config import _field_type, choices_of


class ConfigFileError(ValueError):
    """A config file that cannot be used: unreadable, an unknown key, a bad value (one line)."""


def read_config_file(path: str | Path) -> dict:
    """The mapping a JSON or TOML config file holds (a run's config.json: its "config")."""
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(f"--config {path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib
            data = tomllib.loads(path.read_text())
        elif suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise ConfigFileError(f"--config {path}: a config file ends in .json or .toml")
    except (json.JSONDecodeError, ValueError) as exc:      # tomllib.TOMLDecodeError is a ValueError
        if isinstance(exc, ConfigFileError):
            raise
        raise ConfigFileError(f"--config {path} is not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"--config {path} must hold a table of settings, not {type(data).__name__}")
    if isinstance(data.get("config"), dict) and set(data) <= {"config", "versions"}:
        data = data["config"]
    return data


def _check_value(cls, f, value, where: str):
    """``value`` as field ``f`` of ``cls`` takes it; ConfigFileError naming ``where`` (file: key)."""
    kind, is_list, optional = _field_type(cls, f)
    default = f.default if f.default is not dataclasses.MISSING else None
    if value is None:
        if optional or default is None:
            return None
        raise ConfigFileError(f"{where} may not be empty (null)")

    def one(x):
        if kind is bool:
            if not isinstance(x, bool):
                raise ConfigFileError(f"{where} must be true or false, got {x!r}")
            return x
        if kind is int:
            if isinstance(x, bool) or not isinstance(x, int):
                raise ConfigFileError(f"{where} must be a whole number, got {x!r}")
            return x
        if kind is float:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise ConfigFileError(f"{where} must be a finite number, got {x!r}")
            return float(x)
        if kind is dict:
            if not isinstance(x, dict):
                raise ConfigFileError(f"{where} must be a table of settings, got {x!r}")
            return x
        if kind is str:
            if isinstance(x, bool) or not isinstance(x, (str, int, float)):
                raise ConfigFileError(f"{where} must be text, got {x!r}")
            return str(x)               # e.g. medium = 1.4, a drag ratio, as --medium 1.4 gives it
        if typing.get_origin(kind) is tuple:
            if not isinstance(x, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           for v in x):
                raise ConfigFileError(f"{where} must hold lists of numbers, got {x!r}")
            return tuple(float(v) for v in x)
        return x

    if is_list:
        if not isinstance(value, list):
            raise ConfigFileError(f"{where} must be a list, got {value!r}")
        out = [one(x) for x in value]
    else:
        out = one(value)
    if "choices" in f.metadata:
        valid = [str(c) for c in choices_of(f.metadata["choices"])]
        for x in (out if is_list else [out]):
            if str(x) not in valid:
                raise ConfigFileError(f"{where}: {x!r} is not one of {', '.join(valid)}")
    for x in (out if is_list else [out]):
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            if "low" in f.metadata and x < f.metadata["low"]:
                raise ConfigFileError(f"{where} must be >= {f.metadata['low']}, got {x}")
            if f.metadata.get("positive") and not x > 0:
                raise ConfigFileError(f"{where} must be positive, got {x}")
    return out


def load_config_file(cls, path: str | Path, ignore: tuple[str, ...] = ()) -> dict:
    """{field: value} of the config file at ``path`` for the dataclass ``cls``, every key and value
    checked (ConfigFileError naming the first bad one); ``ignore``: keys the command sets itself
    (dropped without a word)."""
    data = read_config_file(path)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    flags = {f.metadata["flag"].replace("-", "_"): f.name for f in fields.values() if "flag" in f.metadata}
    out = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        name = flags.get(name, name)              # a flag's own name: train for trains, teacher for teacher_run
        if name in ignore:
            continue
        if name not in fields:
            near = difflib.get_close_matches(name, list(fields), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigFileError(f"--config {path}: unknown key {key!r}{hint}; the keys are the flags "
                                  f"of the command's --help, with underscores")
        out[name] = _check_value(cls, fields[name], value, f"--config {path}: {key}")
    return out


def write_config_file(path: str | Path, config) -> None:
    """A config dataclass as a flat JSON file that `--config` reads back (written atomically)."""
    from wormsim.runs import _jsonable, atomic_write_text
    atomic_write_text(Path(path), json.dumps(dataclasses.asdict(config), indent=2, default=_jsonable))
