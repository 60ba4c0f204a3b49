"""Load ``config.yaml``, apply ``LOCKERS_<SECTION>__<KEY>`` overrides, validate, explain errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from lockers.config.schema import Settings
from lockers.errors import ConfigError

ENV_PREFIX = "LOCKERS_"
CONFIG_ENV = "LOCKERS_CONFIG"
DEFAULT_FILE = "config.yaml"


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The file to read: ``explicit``, else ``$LOCKERS_CONFIG``, else ``./config.yaml`` if present.

    Raises:
        ConfigError: a file was named explicitly (flag or environment) but does not exist.
    """
    named = explicit if explicit is not None else os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            origin = "--config" if explicit is not None else CONFIG_ENV
            raise ConfigError(
                f"config file {path} (from {origin}) does not exist",
                hint="pass the path of an existing config.yaml, or unset it to use ./config.yaml",
            )
        return path
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_settings(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read and validate the configuration.

    Args:
        path: config file; ``None`` looks at ``$LOCKERS_CONFIG`` then ``./config.yaml``, and
            uses built-in defaults when neither exists.
        env: environment to read overrides from (default ``os.environ``).

    Raises:
        ConfigError: with one line per problem (key path, value, what is allowed).
    """
    env = os.environ if env is None else env
    file = find_config_file(path)
    data: dict[str, Any] = _read_yaml(file) if file else {}
    overrides = _env_overrides(env)
    for keys, (value, _name) in overrides.items():
        _set_path(data, keys, value, file)
    base_dir = file.resolve().parent if file else Path.cwd()
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        where = str(file) if file else "built-in defaults"
        problems = [_describe(err, data, overrides) for err in exc.errors()]
        raise ConfigError(
            f"invalid configuration in {where}:\n" + "\n".join(f"  - {p}" for p in problems),
            hint="fix the keys listed above (see config.yaml in the repository for every key)",
            problems=problems,
        ) from None


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"config file {file} is not valid YAML{at}: {problem}",
            hint="check indentation and quoting around that line",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {file} must hold a mapping of sections, not a {type(data).__name__}",
            hint="start the file with keys such as 'camera:' and 'recognition:'",
        )
    return data


def _env_overrides(env: Mapping[str, str]) -> dict[tuple[str, ...], tuple[Any, str]]:
    """``LOCKERS_RECOGNITION__THRESHOLD=0.6`` → ``{("recognition", "threshold"): (0.6, name)}``."""
    out: dict[tuple[str, ...], tuple[Any, str]] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        keys = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(keys) or keys[0] not in Settings.model_fields:
            continue  # other LOCKERS_* variables (e.g. LOCKERS_CONFIG) are not config keys
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        # Numbers and booleans come from YAML; a bare string stays a string.
        out[keys] = (value, name)
    return out


def _set_path(data: dict[str, Any], keys: tuple[str, ...], value: Any, file: Path | None) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"environment override {ENV_PREFIX}{'__'.join(k.upper() for k in keys)} needs "
                f"'{key}' to be a section, but {file or 'the config'} gives it a value",
            )
        node = child
    node[keys[-1]] = value


def _describe(
    err: Any, data: dict[str, Any], overrides: dict[tuple[str, ...], tuple[Any, str]]
) -> str:
    loc = tuple(str(part) for part in err["loc"])
    key = ".".join(loc) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        msg = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    source = next((name for keys, (_, name) in overrides.items() if keys == loc[: len(keys)]), None)
    origin = f" (from {source})" if source else ""
    if err["type"] == "missing":
        return f"{key}: required key is missing{origin}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return f"{key}{shown}{origin}: {msg}"


def _allowed_keys(loc: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] | None = Settings
    for part in loc:
        if model is None:
            return []
        if part.isdigit():
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return sorted(model.model_fields) if model else []
