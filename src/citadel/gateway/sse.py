"""Reading a chat completion's SSE stream event by event, whatever cuts the bytes arrive in."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

DONE = object()  # the stream's ``data: [DONE]``


class SseReader:
    """Feeds bytes in, yields the ``data`` of each complete event: a parsed JSON value, or :data:`DONE`.

    >>> reader = SseReader()
    >>> reader.feed(b'data: {"a": 1}\\n\\ndata: [DO')
    [{'a': 1}]
    >>> reader.feed(b"NE]\\n\\n") == [DONE]
    True
    """

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> list[Any]:
        data = self._partial + data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self._partial = data
            return []
        self._partial = data[end + 2 :]
        return [value for event in data[:end].split(b"\n\n") if (value := _data(event)) is not None]

    def flush(self) -> list[Any]:
        rest, self._partial = self._partial, b""
        value = _data(rest)
        return [] if value is None else [value]


def _data(event: bytes) -> Any:
    lines = [line[5:].lstrip(b" ") for line in event.strip().split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    payload = b"\n".join(lines)
    if payload == b"[DONE]":
        return DONE
    try:
        return json.loads(payload)
    except ValueError:
        # Not JSON: nothing a chat stream sends. Skipped rather than guessed at, and said once per event.
        logger.warning("an SSE event of the upstream's stream is not JSON; skipped")
        return None


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    """One named SSE event, as the Responses and Messages APIs send them."""
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data).encode() + b"\n\n"
