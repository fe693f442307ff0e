"""Who opened a stream: an API key (Bearer header, ``token`` query parameter or first message) or a console
session cookie; and how many streams each may hold open."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from citadel.errors import RateLimited
from citadel.governance import Governance
from citadel.governance.admission import Principal


@dataclass(frozen=True, slots=True)
class Caller:
    """``identity`` counts its streams; ``authorization`` goes with its chat requests into the request path
    (``None`` for a console session, whose chats carry a key of their own); ``admin``: may see everything."""

    identity: str
    authorization: str | None
    admin: bool
    key_id: int | None = None


def bearer(headers: Mapping[str, str], token: str | None) -> str | None:
    """The Authorization header, else one made of a ``token`` parameter (browsers cannot set headers on a
    WebSocket or an EventSource)."""
    header = headers.get("authorization")
    if header:
        return header
    return f"Bearer {token}" if token else None


async def key_caller(governance: Governance, authorization: str | None) -> Caller:
    """The caller behind ``authorization``; ``AuthenticationError`` (401) for a missing or bad key."""
    principal = await governance.authenticate(authorization)
    admin = principal.kind in ("admin", "anonymous")
    return Caller(_identity(principal), authorization, admin, principal.key_id)


def _identity(principal: Principal) -> str:
    if principal.kind == "key":
        return f"key:{principal.key_id}"
    return principal.kind


class StreamSlots:
    """At most ``limit`` open streams per caller identity, in this process."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def full(self, identity: str) -> bool:
        return self._open.get(identity, 0) >= self._limit

    def refusal(self) -> RateLimited:
        return RateLimited(
            f"Too many open streams for this caller ({self._limit}); close one first.", retry_after_s=1
        )

    @contextmanager
    def hold(self, identity: str) -> Iterator[None]:
        """One slot for the stream's life; ``RateLimited`` (429) when the caller holds them all."""
        count = self._open.get(identity, 0)
        if count >= self._limit:
            raise self.refusal()
        self._open[identity] = count + 1
        try:
            yield
        finally:
            left = self._open[identity] - 1
            if left:
                self._open[identity] = left
            else:
                del self._open[identity]
