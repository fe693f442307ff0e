"""The asynchronous face of the engine: requests queue for its one worker thread, deltas stream back.

The event loop that serves HTTP never runs model code. A request that is abandoned (client gone) sets its
cancel flag; the worker stops sampling for it at the next token, or skips it if it had not started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor

from citadel.errors import ServiceUnavailable
from citadel.model_service.generation import Delta, Generation
from citadel.model_service.llama_engine import LlamaEngine
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.sampling import SamplingParams

logger = logging.getLogger(__name__)


class _WorkerFailed(Exception):
    """Carries an exception raised on the worker thread to the request that waits for it."""


class EngineRunner:
    """Serialises generations onto the engine thread and keeps the running/waiting counts."""

    def __init__(self, engine: LlamaEngine, metrics: ModelServiceMetrics, max_waiting: int) -> None:
        self._engine = engine
        self._metrics = metrics
        self._max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-engine")
        self._waiting = 0
        self._running = 0
        self._counts_lock = threading.Lock()  # counts change on the loop thread and the worker thread

    async def call(self, function: Callable[[], object]) -> object:
        """Run a tokenizer call off the event loop.

        Not on the engine thread: there it would wait behind whole generations. llama.cpp's vocabulary
        functions only read the loaded model, so they are safe beside a running decode.
        """
        return await asyncio.get_running_loop().run_in_executor(None, function)

    def check_capacity(self) -> None:
        """Refuse a request up front when the queue is full, before any response has started."""
        if self._waiting >= self._max_waiting:
            raise ServiceUnavailable(
                f"The model's queue is full ({self._max_waiting} requests waiting); retry shortly.",
                code="queue_full",
                retry_after_s=1,
            )

    async def stream(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Delta]:
        """Deltas of one generation as the worker produces them; the last carries the finish reason."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[Delta | _WorkerFailed] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(item: Delta | _WorkerFailed) -> None:
            loop.call_soon_threadsafe(deltas.put_nowait, item)

        self._set_waiting(+1)
        job = self._executor.submit(self._work, prompt, params, emit, cancelled)
        job.add_done_callback(self._log_failure)
        try:
            while True:
                item = await deltas.get()
                if isinstance(item, _WorkerFailed):
                    raise item.__cause__ or item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            cancelled.set()

    def _work(
        self,
        prompt: list[int],
        params: SamplingParams,
        emit: Callable[[Delta | _WorkerFailed], None],
        cancelled: threading.Event,
    ) -> Generation | None:
        self._set_waiting(-1)
        if cancelled.is_set():
            return None
        self._set_running(+1)
        try:
            return self._engine.generate(prompt, params, emit, cancelled)
        except Exception as exc:  # noqa: BLE001 - handed to the request that awaits it, not swallowed
            failure = _WorkerFailed("generation failed")
            failure.__cause__ = exc
            emit(failure)
            return None
        finally:
            self._set_running(-1)

    def _set_waiting(self, change: int) -> None:
        with self._counts_lock:
            self._waiting += change
            self._metrics.requests_waiting.set(self._waiting)

    def _set_running(self, change: int) -> None:
        with self._counts_lock:
            self._running += change
            self._metrics.requests_running.set(self._running)

    @staticmethod
    def _log_failure(job: Future[Generation | None]) -> None:
        if not job.cancelled() and job.exception() is not None:
            logger.error("engine worker crashed", exc_info=job.exception())

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._engine.close()
