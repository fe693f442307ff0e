"""What the gateway hands to ``Governance.record`` for each request it answered (or refused)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from citadel.store.types import utcnow

# The request_log column widths: longer values are cut rather than rejected by PostgreSQL (by ``row``).
LENGTHS = {
    "request_id": 128,
    "model": 200,
    "served_model": 200,
    "endpoint": 200,
    "error_type": 100,
    "transport": 16,
}


@dataclass(slots=True)  # not frozen: ``Governance.record`` fills in the cost without copying the entry
class RequestLogEntry:
    """One request-log row.

    >>> entry = RequestLogEntry(request_id="req-1", key_id=3, model="phi-3-mini", status_code=200,
    ...     endpoint="/v1/chat/completions", latency_ms=812.0, prompt_tokens=20, completion_tokens=64)
    """

    request_id: str
    model: str
    endpoint: str
    status_code: int
    latency_ms: float
    key_id: int | None = None
    served_model: str | None = None
    error_type: str | None = None
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # None: computed from ``prices`` by the model that answered
    cache_hit: bool = False
    request_body: str | None = None
    response_body: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    transport: str = "http"  # http, ws, sse or graphql

    def row(self) -> dict[str, Any]:
        """Column values for ``request_log``, each text cut to its column's width (``LENGTHS``)."""
        # Spelled out rather than a loop over the fields: this runs for every request on the event loop.
        created_at = self.created_at
        if created_at.tzinfo is None:  # a naive time from a caller is taken as UTC
            created_at = created_at.replace(tzinfo=UTC)
        return {
            "request_id": self.request_id[: LENGTHS["request_id"]],
            "model": self.model[: LENGTHS["model"]],
            "endpoint": self.endpoint[: LENGTHS["endpoint"]],
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "key_id": self.key_id,
            "served_model": _cut(self.served_model, LENGTHS["served_model"]),
            "error_type": _cut(self.error_type, LENGTHS["error_type"]),
            "ttft_ms": self.ttft_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": self.cost or 0.0,
            "cache_hit": self.cache_hit,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "created_at": created_at,
            "transport": self.transport[: LENGTHS["transport"]],
        }

    def to_json(self) -> str:
        values = self.row()
        values["created_at"] = values["created_at"].isoformat()
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> RequestLogEntry:
        values = json.loads(line)
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**values)


def _cut(text: str | None, length: int) -> str | None:
    return text[:length] if text is not None else None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_LONG_NUMBER = re.compile(r"\+?\d[\d ()-]{6,}\d")


def anonymise(text: str) -> str:
    """Mask e-mail addresses, IPv4 addresses and long numbers (phone, card, account numbers).

    >>> anonymise("mail bob@example.com or call +1 555 123 4567 from 10.0.0.7")
    'mail <email> or call <number> from <ip>'
    """
    text = _EMAIL.sub("<email>", text)
    text = _IPV4.sub("<ip>", text)
    return _LONG_NUMBER.sub("<number>", text)


def apply_body_policy(
    entry: RequestLogEntry, policy: Literal["none", "full", "anonymised"]
) -> RequestLogEntry:
    """The entry as it may be stored under ``request_log.bodies``."""
    if policy == "full" or (entry.request_body is None and entry.response_body is None):
        return entry
    if policy == "none":
        return replace(entry, request_body=None, response_body=None)
    return replace(
        entry,
        request_body=anonymise(entry.request_body) if entry.request_body is not None else None,
        response_body=anonymise(entry.response_body) if entry.response_body is not None else None,
    )
