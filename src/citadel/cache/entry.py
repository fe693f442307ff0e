"""A cached answer: the exact bytes the client got, a JSON body or the chunks of an SSE stream."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedResponse:
    """What a hit replays. ``chunks`` holds a stream's SSE chunks as they were sent; ``body`` a JSON answer.

    >>> CachedResponse.decode(CachedResponse(200, "application/json", body=b"{}").encode()).body
    b'{}'
    """

    status: int
    content_type: str
    body: bytes = b""
    chunks: tuple[bytes, ...] = ()
    model: str | None = None  # the model that answered (x-citadel-model)

    @property
    def streamed(self) -> bool:
        return bool(self.chunks)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(chunk) for chunk in self.chunks)

    def encode(self) -> bytes:
        record = {
            "status": self.status,
            "content_type": self.content_type,
            "body": base64.b64encode(self.body).decode("ascii"),
            "chunks": [base64.b64encode(chunk).decode("ascii") for chunk in self.chunks],
            "model": self.model,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse:
        """The inverse of :meth:`encode`; ``ValueError`` for anything else."""
        try:
            record = json.loads(data)
            return cls(
                status=int(record["status"]),
                content_type=str(record["content_type"]),
                body=base64.b64decode(record["body"]),
                chunks=tuple(base64.b64decode(chunk) for chunk in record["chunks"]),
                model=record.get("model"),
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a cached response: {exc}") from exc
