"""Dynamic batching: the inputs (texts or token ids) of concurrent requests are encoded in one model call.

No request waits for a timer: while the model encodes one batch on the worker thread, newly arrived texts
queue up, and the next batch takes all of them (up to ``max_batch``). Under no load a request runs alone at
once; under load, batches grow and the per-text cost falls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from citadel.embedding_service.encoder import SentenceEncoder
from citadel.embedding_service.metrics import EmbeddingMetrics
from citadel.errors import QueueFull, ServiceUnavailable

logger = logging.getLogger(__name__)


class BatcherDied(ServiceUnavailable):
    """The batching worker ended with an error: nothing more is encoded until the service restarts."""

    code = "engine_died"


@dataclass(eq=False)
class _Job:
    texts: list[str | list[int]]
    done: asyncio.Future[npt.NDArray[np.float32]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class DynamicBatcher:
    """Owns the worker task; :meth:`embed` is what request handlers call."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        metrics: EmbeddingMetrics,
        max_batch: int,
        max_waiting: int,
        on_death: Callable[[str], None] | None = None,
    ):
        """``on_death(reason)`` is called if the worker task dies of an error."""
        self._encoder = encoder
        self._on_death = on_death
        self.failure: str | None = None
        self._current: list[_Job] = []  # the batch being encoded, told too if the worker dies
        self._metrics = metrics
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="citadel-embedding-batcher")
        self._worker.add_done_callback(self._worker_ended)

    def _worker_ended(self, worker: asyncio.Task[None]) -> None:
        if worker.cancelled() or worker.exception() is None:
            return  # stopped on purpose
        error = worker.exception()
        logger.error("the embedding batcher died", exc_info=error)
        self.failure = f"{type(error).__name__}: {error}"
        died = BatcherDied(f"The embedding service's worker stopped ({self.failure}).")
        for job in self._current:
            if not job.done.done():
                job.done.set_exception(died)
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.done.done():
                job.done.set_exception(died)
        if self._on_death is not None:
            self._on_death(self.failure)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        while not self._queue.empty():
            self._queue.get_nowait().done.cancel()

    async def embed(self, texts: list[str | list[int]]) -> npt.NDArray[np.float32]:
        if self.failure is not None:
            raise BatcherDied(f"The embedding service's worker stopped ({self.failure}); it is restarting.")
        if self._queue.qsize() >= self._max_waiting:
            raise QueueFull(self._max_waiting)
        job = _Job(texts)
        self._queue.put_nowait(job)
        self._metrics.requests_waiting.set(self._queue.qsize())
        return await job.done

    def _next_batch(self, first: _Job) -> list[_Job]:
        jobs, size = [first], len(first.texts)
        while not self._queue.empty() and size < self._max_batch:
            job = self._queue.get_nowait()
            jobs.append(job)
            size += len(job.texts)
        return [job for job in jobs if not job.done.cancelled()]  # their clients left

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            self._current = [first]
            jobs = self._current = self._next_batch(first)
            self._metrics.requests_waiting.set(self._queue.qsize())
            if not jobs:
                continue
            texts = [text for job in jobs for text in job.texts]
            self._metrics.requests_running.set(len(jobs))
            self._metrics.batch_size.observe(len(texts))
            try:
                vectors = await asyncio.to_thread(self._encoder.encode, texts)
            except Exception as exc:
                logger.exception("encoding a batch of %d texts failed", len(texts))
                for job in jobs:
                    if not job.done.done():
                        job.done.set_exception(exc)
                continue
            finally:
                self._metrics.requests_running.set(0)
            start = 0
            for job in jobs:
                if not job.done.done():
                    job.done.set_result(vectors[start : start + len(job.texts)])
                start += len(job.texts)
