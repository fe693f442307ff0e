"""What a new config changes, which of it the gateway takes live, and the settings it runs with after.

A diff is one line per changed key path, models named rather than numbered (``models[phi].limits.max_num_seqs:
4 -> 8``, ``models[new]: added``). :data:`LIVE` lists what a gateway worker takes without a restart (models
and their replicas, balancing, fallbacks and timeouts, routes and splits, tiers, prices, cache policy,
retrieval defaults, the log level); every other changed key is named in :func:`restart_needed` and keeps
its running value until the next start (:func:`merge_live`).

>>> diff_settings(old, new)  # doctest: +SKIP
['prices.smollm2.prompt: 0.0 -> 0.1', 'gateway.port: 8000 -> 8001']
>>> restart_needed(diff_settings(old, new))  # doctest: +SKIP
['gateway.port']
"""

from __future__ import annotations

from typing import Any

from citadel.config import CitadelSettings

# Top-level key -> the sub-keys taken live (None: the whole section).
LIVE: dict[str, tuple[str, ...] | None] = {
    "models": None,
    "prices": None,
    "log_level": None,
    "rate_limits": ("enabled", "tiers", "default_tier", "fail_open"),
    "gateway": (
        "routes",
        "splits",
        "access_log",
        "max_attempts",
        "connect_timeout_s",
        "first_byte_timeout_s",
        "request_timeout_s",
        "pool_timeout_s",
        "health_interval_s",
        "health_timeout_s",
    ),
    "cache": ("ttl_s", "per_key", "models", "max_entry_bytes"),
    "vectors": ("retrieval", "max_context_chars"),
}


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and value and all(isinstance(i, dict) and "name" in i for i in value):
        for item in value:
            _flatten({k: v for k, v in item.items() if k != "name"}, f"{path}[{item['name']}]", out)
    else:
        out[path] = value


def _flat(settings: CitadelSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(settings.model_dump(mode="json"), "", out)
    return out


def _named(settings: CitadelSettings, key: str) -> set[str]:
    return {f"{key}[{model.name}]" for model in settings.models} if key == "models" else set()


def diff_settings(old: CitadelSettings, new: CitadelSettings) -> list[str]:
    """One ``path: before -> after`` line per changed key (secrets stay masked); added and removed models
    are one line each."""
    before, after = _flat(old), _flat(new)
    old_models, new_models = _named(old, "models"), _named(new, "models")
    lines = [f"{name}: added" for name in sorted(new_models - old_models)]
    lines += [f"{name}: removed" for name in sorted(old_models - new_models)]
    whole = new_models ^ old_models

    def in_whole(path: str) -> bool:
        return any(path == name or path.startswith(name + ".") for name in whole)

    for path in sorted(set(before) | set(after)):
        if in_whole(path) or before.get(path) == after.get(path):
            continue
        lines.append(f"{path}: {_show(before.get(path))} -> {_show(after.get(path))}")
    return lines


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _key_of(line: str) -> str:
    return line.split(": ", 1)[0]


def is_live(path: str) -> bool:
    """Whether a changed key path is taken by a running gateway."""
    top, _, rest = path.partition(".")
    top = top.split("[", 1)[0]
    if top not in LIVE:
        return False
    keys = LIVE[top]
    return keys is None or rest.split(".", 1)[0].split("[", 1)[0] in keys


def restart_needed(diff: list[str]) -> list[str]:
    """The changed keys that only a restart applies, in diff order."""
    return [_key_of(line) for line in diff if not is_live(_key_of(line))]


def merge_live(running: CitadelSettings, new: CitadelSettings) -> CitadelSettings:
    """``running`` with every live key of ``new``: what a gateway worker runs after a reload. ``new`` was
    validated as a whole; the keys it keeps from ``running`` are the ones that wait for a restart."""
    update: dict[str, Any] = {}
    for top, keys in LIVE.items():
        if keys is None:
            update[top] = getattr(new, top)
        else:
            section = getattr(new, top)
            update[top] = getattr(running, top).model_copy(update={k: getattr(section, k) for k in keys})
    return running.model_copy(update=update)
