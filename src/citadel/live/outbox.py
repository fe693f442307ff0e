"""A bounded queue between a stream's producer and the socket: a reader that falls behind is dropped.

A ticker (metrics) never waits on the client: it ``offer``s each snapshot, and a full queue ends the
stream at once. A relay (chat) may ``put`` a burst (a short answer arrives whole, many events at once): it
waits for room, but no longer than ``within_s``. Either way :class:`SlowReader` ends the stream, and a
stalled reader costs at most ``limit`` messages of memory.

    async def produce(outbox: Outbox[str]) -> None:
        outbox.offer("hello")

    await pump(produce, websocket.send_text, limit=64)   # raises SlowReader if the reader stalls
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SlowReader(Exception):
    """The reader fell a whole buffer behind."""


class _End:
    pass


_END = _End()


class Outbox(Generic[T]):
    """At most ``limit`` messages waiting for the writer."""

    def __init__(self, limit: int) -> None:
        # One slot more than the bound, kept for the end marker.
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue(limit + 1)
        self._limit = limit
        self._taken = asyncio.Event()  # set each time the writer takes a message

    def offer(self, item: T) -> None:
        """Queue ``item``; ``SlowReader`` if ``limit`` messages are already waiting."""
        if self._queue.qsize() >= self._limit:
            raise SlowReader(f"the reader is {self._limit} messages behind")
        self._queue.put_nowait(item)

    async def put(self, item: T, within_s: float) -> None:
        """Queue ``item``, waiting for room up to ``within_s``; then ``SlowReader``."""
        if self._queue.qsize() >= self._limit:
            try:
                async with asyncio.timeout(within_s):
                    while self._queue.qsize() >= self._limit:
                        self._taken.clear()
                        await self._taken.wait()
            except TimeoutError:
                raise SlowReader(f"the reader took nothing for {within_s} s") from None
        self._queue.put_nowait(item)

    def end(self) -> None:
        """No more messages: the writer sends what is queued, then stops."""
        self._queue.put_nowait(_END)

    async def get(self) -> T:
        """The next message (for a consumer that is itself a generator, such as a GraphQL subscription)."""
        item = await self._queue.get()
        self._taken.set()
        assert not isinstance(item, _End), "get() is for outboxes that are never ended"
        return item

    async def drain(self, write: Callable[[T], Awaitable[None]]) -> None:
        while True:
            item = await self._queue.get()
            self._taken.set()
            if isinstance(item, _End):
                return
            await write(item)


async def pump(
    produce: Callable[[Outbox[T]], Awaitable[None]],
    write: Callable[[T], Awaitable[None]],
    *,
    limit: int,
) -> None:
    """Run ``produce`` and a writer of what it offers; returns once both are done.

    ``SlowReader`` (raised by ``offer``) cancels the writer, even one stuck in a send, and is re-raised;
    so is the first error of either side (the client gone, say), unwrapped from the task group's.
    """
    outbox: Outbox[T] = Outbox(limit)

    async def producer() -> None:
        await produce(outbox)
        outbox.end()

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(producer(), name="citadel-live-producer")
            group.create_task(outbox.drain(write), name="citadel-live-writer")
    except ExceptionGroup as group_error:
        raise first_error(group_error) from None


def first_error(error: BaseException) -> BaseException:
    """The first error inside (nested) task groups' errors."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
