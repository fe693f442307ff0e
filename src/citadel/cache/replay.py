"""Turning a cached answer back into what the client would have got, with the hit marked in headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from citadel.cache.entry import CachedResponse

HIT = "hit"
MISS = "miss"
STATUS_HEADER = "x-citadel-cache"  # on responses: hit or miss (absent: the request was not cacheable)


def hit_headers(response: CachedResponse) -> dict[str, str]:
    """Headers of a replayed answer: ``x-citadel-cache: hit`` and the model that first answered it."""
    headers = {STATUS_HEADER: HIT, "content-type": response.content_type}
    if response.model:
        headers["x-citadel-model"] = response.model
    return headers


async def replay_chunks(response: CachedResponse) -> AsyncIterator[bytes]:
    """A cached stream's SSE chunks, byte for byte as first sent."""
    for chunk in response.chunks:
        yield chunk
