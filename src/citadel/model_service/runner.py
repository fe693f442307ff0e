"""The asynchronous face of the engine: submit a request, receive its deltas as the scheduler produces them.

The event loop that serves HTTP never runs model code. A request that is abandoned (the client went away)
sets its cancel flag; the scheduler frees its slot and KV cells before the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from citadel.errors import CitadelError
from citadel.model_service.generation import Delta
from citadel.model_service.sampling import SamplingParams
from citadel.model_service.scheduler import Scheduler
from citadel.model_service.sequence import EngineRequest, Timeline


class EngineRunner:
    """Bridges the scheduler's thread and the event loop."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def check_capacity(self) -> None:
        self._scheduler.check_capacity()

    async def stream(
        self, prompt: list[int], params: SamplingParams, timeline: Timeline | None = None
    ) -> AsyncIterator[Delta]:
        """Deltas of one generation, its choices interleaved (``Delta.index``); it ends once every choice
        has carried its finish reason. The engine fills ``timeline``."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[Delta | CitadelError] = asyncio.Queue()

        def emit(item: Delta | CitadelError) -> None:
            # A closed loop means the service is stopping and nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deltas.put_nowait, item)

        request = EngineRequest(prompt, params, emit, timeline=timeline)
        if timeline is not None:
            timeline.submitted = request.arrived
        self._scheduler.submit(request)
        unfinished = params.n
        try:
            while True:
                item = await deltas.get()
                if isinstance(item, CitadelError):
                    raise item
                yield item
                if item.finish_reason is not None:
                    unfinished -= 1
                    if not unfinished:
                        return
        finally:
            request.cancelled.set()
            self._scheduler.wake()

    def close(self) -> None:
        self._scheduler.stop()
