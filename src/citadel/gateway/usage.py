"""Token counts from an upstream answer, read without parsing the whole JSON (the hot path's cheapest way).

Each answer's usage is read once: a JSON answer's by the forwarder when its body is in, a stream's by the
relay from the stream's tail when it ends; both write it into the request's outcome.
"""

from __future__ import annotations

import re

from citadel.gateway.outcome import error_code

_TOKENS = re.compile(rb'"(prompt|completion)_tokens"\s*:\s*(\d+)')
_TAIL_BYTES = 4096  # enough to hold the final usage chunk of an SSE stream


def usage_counts(content: bytes) -> dict[str, int]:
    """``{"prompt": n, "completion": m}`` from the ``usage`` object in ``content`` (a body or an SSE tail).

    >>> usage_counts(b'{"id": "x", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}')
    {'prompt': 7, 'completion': 3}
    """
    start = content.rfind(b'"usage"')
    if start < 0:
        return {}
    counts: dict[str, int] = {}
    for kind, number in _TOKENS.findall(content, start):
        counts.setdefault(kind.decode(), int(number))
    return counts


class StreamTail:
    """The last few kilobytes of a stream, where its usage chunk is."""

    def __init__(self) -> None:
        self._tail = b""

    def add(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk)[-_TAIL_BYTES:]

    @property
    def content(self) -> bytes:
        return self._tail

    def usage(self) -> dict[str, int]:
        return usage_counts(self._tail)

    def error_code(self) -> str | None:
        """The error code of the stream's last error event (a model service's own), if it sent one."""
        if b'"error"' not in self._tail:  # the common case, without parsing anything
            return None
        for event in reversed(self._tail.split(b"\n\n")):
            if b'"error"' in event and event.startswith(b"data: "):
                return error_code(event[len(b"data: ") :])
        return None


def _usage_only(event: bytes) -> bool:
    """An SSE event that carries only the usage (``"choices": []``), as OpenAI and vLLM send it last."""
    return b'"usage"' in event and (b'"choices":[]' in event or b'"choices": []' in event)


class UsageChunkFilter:
    """Takes the usage-only event out of a relayed SSE stream (for clients that did not ask for it).

    Complete events pass at once; a trailing partial event waits for its end (or for :meth:`flush`).
    """

    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes) -> bytes:
        data = self._partial + data
        end = data.rfind(b"\n\n")
        if end < 0:  # no event complete yet
            self._partial = data
            return b""
        cut = end + 2
        self._partial = data[cut:]
        complete = data[:cut]
        if b'"choices":[]' not in complete and b'"choices": []' not in complete:  # the common case
            return complete
        events = complete.split(b"\n\n")[:-1]
        return b"".join(event + b"\n\n" for event in events if not _usage_only(event))

    def flush(self) -> bytes:
        rest, self._partial = self._partial, b""
        return b"" if _usage_only(rest) else rest
