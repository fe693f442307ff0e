"""Recording a stream while it is relayed, so a complete one can be stored and replayed as it was."""

from __future__ import annotations

from citadel.cache.entry import CachedResponse

_DONE = b"data: [DONE]"
_ERROR_EVENT = b'data: {"error"'


class StreamRecorder:
    """Keeps each SSE chunk exactly as sent; gives up (and keeps nothing) past ``max_bytes``.

    >>> recorder = StreamRecorder(max_bytes=1024)
    >>> recorder.add(b'data: {"id":"1"}\\n\\n'); recorder.add(b"data: [DONE]\\n\\n")
    >>> recorder.result(model="m").chunks[-1]
    b'data: [DONE]\\n\\n'
    """

    def __init__(self, *, max_bytes: int) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._max_bytes = max_bytes
        self._overflowed = False

    def add(self, chunk: bytes) -> None:
        if self._overflowed or not chunk:
            return
        self._size += len(chunk)
        if self._size > self._max_bytes:
            self._overflowed = True
            self._chunks.clear()
            return
        self._chunks.append(chunk)

    @property
    def complete(self) -> bool:
        """The stream ended with ``data: [DONE]`` and carried no error event (a cut stream is not cached)."""
        if self._overflowed or not self._chunks:
            return False
        whole = b"".join(self._chunks)
        return whole.rstrip().endswith(_DONE) and _ERROR_EVENT not in whole

    def result(self, *, model: str | None = None) -> CachedResponse | None:
        """The stream to store, or ``None`` when it must not be cached."""
        if not self.complete:
            return None
        return CachedResponse(200, "text/event-stream", chunks=tuple(self._chunks), model=model)
