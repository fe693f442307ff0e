"""Cache keys: a SHA-256 of the canonical JSON of everything that can change a model's answer.

The key covers the endpoint and every field of the request body except those that only describe the caller
(``user``, ``metadata``, ``store``) and Citadel's own extension field (``citadel``; retrieval has already
rewritten the messages by the time the key is made). ``stream`` and ``stream_options`` are part of the key:
a cached answer is replayed exactly as it was sent, a JSON body as that body and a stream as its SSE chunks,
so a streamed and a non-streamed request are different entries. Unknown fields are kept, so a new
sampling parameter can never make two different requests share an answer.

    >>> request_key("/v1/chat/completions", {"model": "m", "temperature": 0, "user": "a"}, scope="shared")
    ... == request_key("/v1/chat/completions", {"model": "m", "temperature": 0.0}, scope="shared")
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

KEY_PREFIX = "citadel:cache:v1"
IGNORED_FIELDS = frozenset({"user", "metadata", "store", "citadel"})


def _canonical(value: Any) -> Any:
    """Numbers equal as JSON values hash equally (``0`` and ``0.0``); mappings are sorted on dump."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: sorted keys, no spaces, integral floats as integers."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def model_prefix(model: str) -> str:
    """Every key of ``model`` starts with this (``citadel cache clear --model`` deletes by it)."""
    return f"{KEY_PREFIX}:{model}:"


def request_key(endpoint: str, body: Mapping[str, Any], *, scope: str) -> str:
    """The cache key of a request to ``endpoint`` with JSON ``body``, within ``scope`` (an API key or all)."""
    material = {key: value for key, value in body.items() if key not in IGNORED_FIELDS}
    digest = hashlib.sha256(endpoint.encode() + b"\n" + canonical_json(material)).hexdigest()
    return f"{model_prefix(str(body.get('model', '')))}{scope}:{digest}"


def scope_for(api_key_id: str | None, *, per_key: bool) -> str:
    """``shared``, or a hash of the API key's id when entries are isolated per key."""
    if not per_key or api_key_id is None:
        return "shared"
    return "k" + hashlib.sha256(api_key_id.encode()).hexdigest()[:16]
