"""Reading a config file into :class:`CitadelSettings`, with errors a person can act on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from citadel.config.settings import CitadelSettings

DEFAULT_CONFIG_PATH = Path("config/citadel.yaml")
CONFIG_ENV_VAR = "CITADEL_CONFIG"


class ConfigError(Exception):
    """The config cannot be used. ``problems`` holds one ``key.path: what is wrong`` line each."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def _key_path(location: tuple[str | int, ...], data: dict[str, Any]) -> str:
    """``("models", 0, "port")`` -> ``models[smollm2].port`` when the item has a name."""
    parts: list[str] = []
    node: Any = data
    for item in location:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and item < len(node) else None
            parts[-1] += f"[{name}]" if isinstance(name, str) else f"[{item}]"
        else:
            parts.append(str(item))
        node = _child(node, item)
    return ".".join(parts) or "(top level)"


def _child(node: Any, item: str | int) -> Any:
    """``node[item]`` if it exists, else None (the error may be about a missing key)."""
    if isinstance(node, dict):
        return node.get(item)
    if isinstance(node, list) and isinstance(item, int) and item < len(node):
        return node[item]
    return None


def _problems(error: ValidationError, data: dict[str, Any]) -> list[str]:
    lines = []
    for detail in error.errors():
        location = tuple(part for part in detail["loc"] if not str(part).startswith("function-"))
        message = detail["msg"].removeprefix("Value error, ")
        lines.append(f"{_key_path(location, data)}: {message}")
    return lines


def read_yaml(path: Path) -> dict[str, Any]:
    """The file's mapping; ``ConfigError`` if it is missing, unreadable or not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, ["the top level must be a mapping of sections"])
    return data


def resolve_config_path(path: Path | str | None = None) -> Path:
    """The explicit path, else ``$CITADEL_CONFIG``, else ``config/citadel.yaml``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_settings(path: Path | str | None = None) -> CitadelSettings:
    """Load and validate a config file, environment overrides applied.

    >>> settings = load_settings("config/citadel.yaml")  # doctest: +SKIP
    >>> settings.gateway.port
    8000
    """
    config_path = resolve_config_path(path)
    data = read_yaml(config_path)
    try:
        return CitadelSettings(**data)
    except ValidationError as exc:
        raise ConfigError(config_path, _problems(exc, data)) from exc
