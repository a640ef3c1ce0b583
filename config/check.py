"""Check every config file at once: each `config/*.yaml` through its package's model.

`cdp config check` is meant to be run before a deploy, so it reports EVERY problem it finds (file,
key, hint) instead of stopping at the first, and says which files it could only parse because no
model for them exists yet.

A file `NAME.yaml` is validated by the model of module `config.NAME`: the module's `CONFIG_MODEL`
attribute when it sets one, else the one pydantic model defined there that no other model of the
module uses as a field (the root of the file). Modules are imported defensively: one that fails to
import is a problem of its own, not a crash of the check.
"""
from __future__ import annotations

import importlib
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from config.loader import DEFAULTS_DIR, ConfigError, config_dir, load_config, load_raw_config

# Keys whose value must never be written in a committed file.
_SECRET_KEY = re.compile(r"(^|_)(password|passwd|secret|token|api_key|apikey|private_key)$", re.I)
# A URL with a password in it: scheme://user:password@host
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/:@\s]+:[^/@\s]+@", re.I)


@dataclass
class FileCheck:
    """The outcome for one config file."""

    name: str
    path: Path
    model: str | None  # dotted name of the model used, None when the file was only parsed
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (file, key, hint)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def config_names(directory: Path | None = None) -> list[str]:
    """Names of the config files in the user config folder and the packaged defaults."""
    folders = {DEFAULTS_DIR, Path(directory) if directory else config_dir()}
    names = {p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")}
    return sorted(names)


def _models_used_as_fields(models: list[type[BaseModel]]) -> set[type[BaseModel]]:
    """Models that appear inside another model's field annotations (so are not a file's root)."""
    used: set[type[BaseModel]] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            used.add(annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    for model in models:
        for info in model.model_fields.values():
            walk(info.annotation)
    return used


def find_model(name: str) -> tuple[type[BaseModel] | None, str]:
    """The root model of config file `name`, or None and why not."""
    module_name = f"config.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None, f"no model module {module_name} yet: the file was only parsed as YAML"
        raise
    explicit = getattr(module, "CONFIG_MODEL", None)
    if isinstance(explicit, type) and issubclass(explicit, BaseModel):
        return explicit, ""
    local = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__
    ]
    roots = [m for m in local if m not in _models_used_as_fields(local)]
    if len(roots) > 1:
        # Prefer the conventional names of a file's root model.
        preferred = [m for m in roots if m.__name__.lower().endswith(("settings", "config", "file"))]
        roots = preferred if len(preferred) == 1 else roots
    if len(roots) == 1:
        return roots[0], ""
    if not roots:
        return None, f"{module_name} defines no pydantic model: the file was only parsed as YAML"
    names = ", ".join(sorted(m.__name__ for m in roots))
    return None, (
        f"{module_name} has several root models ({names}); set CONFIG_MODEL in it to say which "
        "validates the file: the file was only parsed as YAML"
    )


def _secret_problems(data: Any, file: str, prefix: str = "") -> list[tuple[str, str, str]]:
    """Literal secrets in a config file: they belong in the environment, named by the file."""
    problems = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict, list)):
                problems += _secret_problems(value, file, path)
            elif isinstance(value, str) and value.strip():
                if _SECRET_KEY.search(str(key)):
                    problems.append((file, path, "a secret written in the file; put it in an "
                                     "environment variable and name that variable here instead"))
                elif _URL_WITH_PASSWORD.match(value.strip()):
                    problems.append((file, path, "a URL with a password in it; put the URL in an "
                                     "environment variable and name that variable here instead"))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            problems += _secret_problems(item, file, f"{prefix}.{index}" if prefix else str(index))
    return problems


def _env_override_keys(name: str) -> dict[str, str]:
    """Dotted keys set by `CDP_NAME__A__B` variables -> the variable, to point problems at them."""
    prefix = f"CDP_{name.upper()}__"
    return {
        ".".join(p.lower() for p in var[len(prefix):].split("__") if p): var
        for var in os.environ
        if var.startswith(prefix)
    }


def _blame_env(problems: list[tuple[str, str, str]], name: str) -> list[tuple[str, str, str]]:
    """Say so when a bad value came from an environment variable rather than the file."""
    overrides = _env_override_keys(name)
    out = []
    for file, key, hint in problems:
        var = next((v for k, v in overrides.items() if key == k or key.startswith(k + ".")), None)
        out.append((file, key, f"{hint} (value set by environment variable {var})" if var else hint))
    return out


def _semantic_problems(name: str, loaded: Any, file: str) -> list[tuple[str, str, str]]:
    """Problems the model cannot see alone: a segment's fields against the profile's fields."""
    if name != "segments":
        return []
    from profiles.fields import condition_field_problems, customer_fields

    try:
        from config.profiles import load_profiles_config

        profiles = load_profiles_config()
    except ConfigError:
        profiles = None  # reported by its own file's check; declared traits unknown here
    fields = customer_fields(profiles)
    problems = []
    for segment, definition in loaded.segments.items():
        for key, hint in condition_field_problems(definition.where, fields, f"segments.{segment}"):
            if profiles is None and hint.startswith("unknown field"):
                continue
            problems.append((file, key, hint))
    return problems


def check_file(name: str) -> FileCheck:
    """Parse, validate and scan one config file; never raises for a problem in the file."""
    try:
        data, path = load_raw_config(name)
    except ConfigError as exc:
        first = exc.problems[0][0] if exc.problems else name
        return FileCheck(name, Path(first), None, list(exc.problems))
    result = FileCheck(name, path, None)
    try:
        model, note = find_model(name)
    except Exception as exc:  # a broken model module is a problem to report, not a crash
        result.problems.append((str(path), "-", f"config.{name} failed to import: "
                                f"{type(exc).__name__}: {exc}"))
        return result
    result.note = note
    if model is not None:
        result.model = f"{model.__module__}.{model.__name__}"
        try:
            loaded = load_config(name, model)
            result.problems.extend(_blame_env(_semantic_problems(name, loaded, str(path)), name))
        except ConfigError as exc:
            result.problems.extend(_blame_env(exc.problems, name))
        except Exception as exc:  # a validator that raises something else still names the file
            result.problems.append((str(path), "-", f"{type(exc).__name__}: {exc}"))
    result.problems.extend(_secret_problems(data, str(path)))
    return result


def check_all(names: list[str] | None = None) -> list[FileCheck]:
    """Check every config file found (or the ones named)."""
    return [check_file(name) for name in (names or config_names())]
