"""Load a YAML config file, apply `CDP_...` environment overrides, validate with a pydantic model.

Errors name the file, the key and a hint, so `cdp config check` can list every problem at once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

DEFAULTS_DIR = Path(__file__).resolve().parent
ENV_PREFIX = "CDP_"

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem; `problems` lists (file, key, message) triples."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{file}: {key}: {msg}" for file, key, msg in problems]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


def config_dir() -> Path:
    """The folder user config files are read from (defaults to the packaged YAML files)."""
    return Path(os.environ.get("CDP_CONFIG_DIR", DEFAULTS_DIR))


def config_path(name: str) -> Path:
    user = config_dir() / f"{name}.yaml"
    return user if user.exists() else DEFAULTS_DIR / f"{name}.yaml"


def default_home() -> Path:
    """The folder holding the warehouse and its state: `CDP_HOME`, else ./cdp_home."""
    return Path(os.environ.get("CDP_HOME", "cdp_home"))


def _env_overrides(name: str) -> dict[str, Any]:
    """`CDP_IDENTITY__MATCH__THRESHOLD=0.9` -> {"match": {"threshold": 0.9}} for name 'identity'."""
    prefix = f"{ENV_PREFIX}{name.upper()}__"
    out: dict[str, Any] = {}
    for key, value in os.environ.items():
        if not key.startswith(prefix):
            continue
        parts = [p.lower() for p in key[len(prefix):].split("__") if p]
        if not parts:
            continue
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(value) if value != "" else None
    return out


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_raw_config(name: str, path: Path | None = None) -> tuple[dict[str, Any], Path]:
    """The merged mapping of a config file and its env overrides, and the file it came from."""
    path = Path(path) if path else config_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([(str(path), "-", "file not found; copy the default from config/ and edit it")])
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise ConfigError([(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}")])
    if not isinstance(data, dict):
        raise ConfigError([(str(path), "-", "the file must be a mapping of keys to values")])
    return _deep_merge(data, _env_overrides(name)), path


def load_config(name: str, model: type[M], path: Path | None = None) -> M:
    """Validate config file `name` (plus env overrides) against `model`; ConfigError lists every problem."""
    data, path = load_raw_config(name, path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "-"
            hint = err["msg"]
            if err["type"] == "extra_forbidden":
                hint = "unknown key; check its spelling against the default file in config/"
            elif err["type"] == "missing":
                hint = "required key is missing"
            problems.append((str(path), key, hint))
        raise ConfigError(problems) from None
