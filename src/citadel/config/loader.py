"""Reading a config file into :class:`CitadelSettings`, with errors a person can act on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from citadel.config.models import BACKENDS, MODEL_CLASSES
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
        location, backend = _without_backend_tag(location)
        location = _without_placement_tag(location)
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "union_tag_invalid" and location[-1:] == ("placement",):
            tag = (detail.get("ctx") or {}).get("tag", "?")
            message = f"Input should be 'local' or 'ray' (or a mapping with kind: ray), not '{tag}'"
        elif detail["type"] == "union_tag_invalid":
            tag = (detail.get("ctx") or {}).get("tag", "?")
            location = (*location, "backend")
            known = ", ".join(repr(name) for name in BACKENDS[:-1])
            message = f"Input should be {known} or {BACKENDS[-1]!r}, not '{tag}'"
        elif detail["type"] == "extra_forbidden" and "placement" in location:
            message = "not a key of placement: ray"
        elif detail["type"] == "extra_forbidden" and backend is not None:
            message = _not_a_key_of(backend, location)
        lines.append(f"{_key_path(location, data)}: {message}")
    return lines


def _without_backend_tag(location: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str | None]:
    """A model entry's errors carry the backend's tag after the index (``models.0.remote.url``): drop it
    from the key path, keep it for the message."""
    for index in range(2, len(location)):
        part = location[index]
        if location[index - 2] == "models" and isinstance(location[index - 1], int) and part in BACKENDS:
            return (*location[:index], *location[index + 1 :]), str(part)
    return location, None


def _without_placement_tag(location: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """``placement.ray.max_replicas`` (the placement's tag) reads as ``placement.max_replicas``."""
    for index in range(1, len(location)):
        if location[index - 1] == "placement" and location[index] in ("ray", "local"):
            return (*location[:index], *location[index + 1 :])
    return location


def _not_a_key_of(backend: str, location: tuple[str | int, ...]) -> str:
    """Why a key is refused: it belongs to other backends (named), or to none."""
    key = location[-1]
    if location[-2:-1] and isinstance(location[-2], int):  # a key of the model entry itself
        owners = [name for name, model in MODEL_CLASSES.items() if key in model.model_fields]
        if owners:
            return f"not a key of backend {backend!r} (only of: {', '.join(owners)})"
    return f"not a key of backend {backend!r}"


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
    return settings_from_mapping(read_yaml(config_path), config_path)


def settings_from_mapping(data: dict[str, Any], config_path: Path) -> CitadelSettings:
    """Validate a config already read (e.g. the text a reload applies), environment overrides applied;
    ``ConfigError`` names ``config_path`` in its problems."""
    try:
        return CitadelSettings(**data)
    except ValidationError as exc:
        raise ConfigError(config_path, _problems(exc, data)) from exc


def settings_from_text(text: str, config_path: Path) -> CitadelSettings:
    """:func:`settings_from_mapping` of a YAML text, with :func:`read_yaml`'s errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(config_path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(config_path, ["the top level must be a mapping of sections"])
    return settings_from_mapping(data, config_path)
