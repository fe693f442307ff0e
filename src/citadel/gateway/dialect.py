"""APIs the gateway speaks besides OpenAI's chat completions, translated to them and back.

A dialect (the Responses API, Anthropic's Messages) parses its request into a chat completion request before
the request path sees it, and puts the path's answer (forwarded, relayed, replayed from the cache, or an
error) back into its own shape on the way out. In between, the request is a chat completion like any other:
one admission, one cache entry (shared with chat clients asking the same), one forwarding, one finish::

    dialect parses → complete(..., dialect) → admit → dialect.prepare (its state, once the key is known)
        → retrieval → cache → forward → answer, watched → finish → dialect's translator → client

The outcome's ``endpoint`` is the dialect's (``/v1/responses``): the metrics and the request log name the
API the client called; its ``upstream_endpoint`` is chat completions, which the cache and the forwarder use.
"""

from __future__ import annotations

from typing import Protocol

from citadel.gateway.request import ParsedRequest


class AnswerTranslator(Protocol):
    """Turns one chat completion answer into the dialect's, as it goes out."""

    async def whole(self, status: int, content: bytes) -> tuple[int, bytes]:
        """A whole JSON answer, a chat completion (status 200) or an OpenAI-shaped error: the status and
        body the client gets."""
        ...

    def events(self, data: bytes) -> bytes:
        """More of a chat completion's SSE stream (any cut); the dialect's events for what is complete."""
        ...

    async def end(self) -> bytes:
        """The stream is over (the upstream's last byte came): the dialect's closing events."""
        ...


class Dialect(Protocol):
    """One request in another API: what it needs once the caller is known, and how its answer reads."""

    async def prepare(self, parsed: ParsedRequest, key_id: int | None) -> ParsedRequest:
        """The chat request to send, once admission knows the key (stored state is the key's own)."""
        ...

    def translator(self) -> AnswerTranslator:
        """A translator for this request's answer."""
        ...
