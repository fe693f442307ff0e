"""Waiting in tests for something the gateway does in the background, bounded so a test cannot hang."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(predicate: Callable[[], bool], what: str, *, timeout_s: float = 10.0) -> None:
    """Return once ``predicate()`` holds; fail the test naming ``what`` after ``timeout_s``."""

    async def check() -> bool:
        return predicate()

    await eventually_async(check, what, timeout_s=timeout_s)


async def eventually_async(
    check: Callable[[], Awaitable[bool]], what: str, *, timeout_s: float = 10.0
) -> None:
    """Return once ``await check()`` holds (e.g. a call to the gateway says so); fail after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 -- the state lives in objects that signal nothing
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None
