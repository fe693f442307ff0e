"""What became of one proxied request: one typed value, filled in along the way, finished once.

:func:`~citadel.gateway.request_path.complete` creates a :class:`RequestOutcome` for each request. The steps
write what they learn into it as values — admission the key, routing the pool, the cache whether it answered,
forwarding the model that answered, the usage and the upstream's time, the relay how a stream ended, the
observer the status sent and whether the answer got out — and :func:`~citadel.gateway.finish.finish` reads
it once to emit the metrics, the request-log entry, the usage counters and the cache store.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

Usage = dict[str, int]  # {"prompt": n, "completion": m}, as the upstream's ``usage`` counted them


class CacheUse(enum.Enum):
    """The ``cache`` label of ``llm_requests_total``."""

    NONE = "none"  # not cacheable: the cache was not asked
    MISS = "miss"  # asked, not found: forwarded (and stored if it succeeds)
    HIT = "hit"  # answered from the cache


class Result(enum.Enum):
    """The ``status`` label of ``llm_requests_total``."""

    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"  # the client left before the whole answer was out


# nginx's "client closed request": the request log's status for an answer that did not get out whole.
CLIENT_CLOSED = 499


@dataclass(slots=True)
class RequestOutcome:
    """One request's bookkeeping; every field is a plain value, written by the step that knows it."""

    endpoint: str  # the endpoint the client called (the metrics' and the request log's)
    request_id: str
    started: float  # time.perf_counter() when the gateway got the request
    # The endpoint the request goes to upstream (and is cached under): the client's, or chat completions
    # for an API the gateway translates (Responses, Anthropic Messages).
    upstream_endpoint: str = ""
    model: str = ""  # the model the client asked for
    key_id: int | None = None  # the API key's id, once admitted
    pool: str | None = None  # the model the request was routed to (the label of a failure's metrics)
    served_model: str | None = None  # the model that answered (a fallback's name, or the cached answer's)
    cache: CacheUse = CacheUse.NONE
    failed: bool = False  # forwarding or the relay ended in error (the client may still have got a 200)
    error_code: str | None = None  # OpenAI's error ``code`` (else ``type``) of what the client got
    usage: Usage = field(default_factory=dict)
    upstream_s: float = 0.0  # time spent waiting on upstreams, to tell the gateway's own share
    ready_at: float | None = None  # the answer (a stream's first event) was ready for the client
    first_event_at: float | None = None  # a stream's first event arrived from the model
    in_flight: str | None = None  # the llm_active_requests label incremented for it, until finished
    transport: str = "http"  # how the client reached it: http, ws, sse or graphql (citadel.live)
    # The answer's last bytes (a JSON body, a stream's tail): finish reads its finish reasons when traced.
    answer_tail: bytes = b""
    # Filled in by the observer as the answer goes out.
    status: int = 0
    first_byte_at: float | None = None
    completed: bool = False  # the last body message went out
    content_type: str | None = None
    answer: list[bytes] | None = None  # the body chunks as sent, kept only when they are to be cached

    def __post_init__(self) -> None:
        self.upstream_endpoint = self.upstream_endpoint or self.endpoint

    @property
    def result(self) -> Result:
        if not self.completed:
            return Result.CANCELLED
        if self.failed or self.status >= 400:
            return Result.ERROR
        return Result.SUCCESS

    @property
    def counted_model(self) -> str | None:
        """The ``model`` label of the request's metrics; ``None`` when it never reached a model (refused,
        unknown model), which keeps client-chosen names out of the labels."""
        if self.cache is CacheUse.HIT:
            return self.served_model or self.model
        if self.pool is None:
            return None
        return self.served_model or self.pool

    def keep_answer(self) -> None:
        """Keep the answer's chunks as they go out, to store them in the cache."""
        self.answer = []


def error_code(body: bytes) -> str | None:
    """The ``code`` (else ``type``) of an OpenAI-shaped error answer, or ``None``; read once, for an
    answer that is an error (an upstream's 4xx/5xx or a stream's error event).

    >>> error_code(b'{"error": {"message": "m", "type": "invalid_request_error", "code": "too_long"}}')
    'too_long'
    """
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    for name in ("code", "type"):
        value = error.get(name)
        if isinstance(value, str) and value:
            return value
    return None
