"""Waiting for an ``asyncio.Event`` at most so long: the loops that sleep until told to stop or wake."""

from __future__ import annotations

import asyncio


async def set_within(event: asyncio.Event, timeout_s: float) -> bool:
    """True once ``event`` is set, False if ``timeout_s`` passed first."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
