"""A client that keeps sending requests while a test changes the config, and counts every failure."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Load:
    """``concurrency`` loops, each POSTing ``body()`` to ``path`` on a fresh connection (so that every
    gateway worker gets some) until stopped; anything but 200 is a failure."""

    base_url: str
    body: Callable[[], dict[str, Any]]
    path: str = "/v1/chat/completions"
    concurrency: int = 4
    sent: int = 0
    failures: list[str] = field(default_factory=list)
    served_by: Counter[str] = field(default_factory=Counter)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)  # set after each request
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _loop(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=60) as client:
            while not self._stop.is_set():
                try:
                    response = await client.post(self.path, json=self.body())
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                finally:
                    self.sent += 1
                    self._progress.set()
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text[:300]}")
                else:
                    self.served_by[response.headers.get("x-citadel-model", "?")] += 1

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until_sent(self, count: int, timeout_s: float = 60.0) -> None:
        """Wait until ``count`` more requests went out (the load really runs across a change)."""
        target = self.sent + count
        async with asyncio.timeout(timeout_s):
            while self.sent < target:
                self._progress.clear()
                await self._progress.wait()
