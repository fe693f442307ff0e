"""Continuous batching: the engine thread's loop.

Each step decodes one token for every running sequence plus a chunk of waiting prompt tokens (chunked
prefill within ``max_num_batched_tokens``), samples per request, and streams each token as it is produced.
New requests are admitted as slots free up (``max_num_seqs``); finished or cancelled sequences free their KV
cells. Requests beyond capacity wait in a bounded queue; beyond the bound the HTTP side gets a 503.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future

from citadel.config import EngineLimits
from citadel.errors import EngineError, QueueFull, ServiceUnavailable
from citadel.model_service.batch_engine import DECODE_NO_KV_SPACE, DECODE_OK, BatchEngine, BatchRow
from citadel.model_service.generation import Generation
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.logprobs import token_logprob
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.prefix_cache import PrefixCache
from citadel.model_service.sampler import Sampler
from citadel.model_service.sequence import EngineRequest, Sequence

logger = logging.getLogger(__name__)

PREFIX_CACHE_SLOTS = 4
PREFIX_MIN_TOKENS = 16


class EngineDied(ServiceUnavailable):
    """The engine thread ended with an error: nothing more can be decoded until the service restarts."""

    code = "engine_died"


class Scheduler:
    """Owns the engine thread; every other thread only calls :meth:`submit`, :meth:`wake` and :meth:`stop`."""

    def __init__(
        self,
        model: GgufModel,
        limits: EngineLimits,
        threads: int | None,
        metrics: ModelServiceMetrics,
        on_death: Callable[[str], None] | None = None,
    ) -> None:
        """``on_death(reason)`` is called on the engine thread if that thread dies of an error."""
        self._model = model
        self._on_death = on_death
        self.failure: str | None = None  # set once, when the engine thread died
        self._limits = limits
        self._metrics = metrics
        cache_slots = PREFIX_CACHE_SLOTS if limits.enable_prefix_caching else 0
        n_slots = limits.max_num_seqs + cache_slots
        self._engine = BatchEngine(model, limits, threads, n_slots)
        self._prefix_cache = PrefixCache(
            self._engine, list(range(limits.max_num_seqs, n_slots)), PREFIX_MIN_TOKENS
        )
        # A min-heap: the lowest free slot is taken first. Each step's attention spans the KV streams from
        # the lowest to the highest slot in the batch, so running sequences packed low keep it short.
        self._free_slots = list(range(limits.max_num_seqs))
        self._waiting: deque[EngineRequest] = deque()
        self._running: list[Sequence] = []
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def engine(self) -> BatchEngine:
        """The decoding context; only the engine thread (or, before :meth:`start`, its owner) may use it."""
        return self._engine

    # --- called from the event loop -------------------------------------------------------------

    def start(self, first: Callable[[BatchEngine], object] | None = None) -> Future[object]:
        """Start the engine thread. It runs ``first(engine)`` (the self-test) before it serves; the future
        holds what that returned or raised, and if it raised the thread ends without serving.

        Everything that decodes runs on this one thread: OpenMP keeps a team of llama.cpp's threads per
        calling thread, and a second team (a self-test decoded on a worker thread that lives on) makes
        libgomp count both teams against the cores and throttle their spinning at every barrier, which
        cut single-stream decoding from 114 to 67 tokens/s.
        """
        ready: Future[object] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(first, ready), name="citadel-engine", daemon=True
        )
        self._thread.start()
        return ready

    def submit(self, request: EngineRequest) -> None:
        with self._condition:
            self._refuse_if_dead()
            self._refuse_if_full()
            self._waiting.append(request)
            self._metrics.requests_waiting.set(len(self._waiting))
            self._condition.notify()

    def check_capacity(self) -> None:
        """Refuse early, before a response has started, when the queue is already full."""
        with self._condition:
            self._refuse_if_dead()
            self._refuse_if_full()

    def _refuse_if_dead(self) -> None:
        if self.failure is not None:
            raise EngineDied(f"The model service's engine stopped ({self.failure}); it is restarting.")

    def _refuse_if_full(self) -> None:
        if len(self._waiting) >= self._limits.max_waiting:
            raise QueueFull(self._limits.max_waiting)

    def wake(self) -> None:
        with self._condition:
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()
        self._engine.close()

    # --- the engine thread ----------------------------------------------------------------------

    def _run(self, first: Callable[[BatchEngine], object] | None, ready: Future[object]) -> None:
        ready.set_running_or_notify_cancel()
        try:
            result = first(self._engine) if first is not None else None
        except Exception as exc:  # noqa: BLE001 (the future carries it to the lifespan, which reports it)
            ready.set_exception(exc)
            return
        ready.set_result(result)
        self._loop()

    def _loop(self) -> None:
        try:
            while True:
                with self._condition:
                    while not self._stopping and not self._waiting and not self._running:
                        self._condition.wait()
                    if self._stopping:
                        break
                    admitted = self._take_admissible()
                for request in admitted:
                    self._admit(request)
                self._drop_cancelled()
                if self._running:
                    self._step()
        except Exception as exc:  # every client is told at once, then the service is asked to exit
            logger.exception("the engine thread died")
            with self._condition:  # from now on submit() refuses, so nobody waits for a dead thread
                self.failure = f"{type(exc).__name__}: {exc}"
            died = EngineDied(f"The model service's engine stopped ({self.failure}).")
            self._fail_everything(died, release=False)  # the engine may be broken: do not call into it
            if self._on_death is not None:
                self._on_death(self.failure)
            return
        self._fail_everything(EngineError("the model service is shutting down"))

    def _take_admissible(self) -> list[EngineRequest]:
        """Requests in arrival order while their choices fit in the free slots."""
        taken: list[EngineRequest] = []
        free = len(self._free_slots)
        while self._waiting:
            request = self._waiting[0]
            if not request.cancelled.is_set() and request.params.n > free:
                break  # first come, first served: a later, smaller request does not overtake it
            self._waiting.popleft()
            if not request.cancelled.is_set():
                taken.append(request)
                free -= request.params.n
        self._metrics.requests_waiting.set(len(self._waiting))
        return taken

    def _admit(self, request: EngineRequest) -> None:
        sequence, *followers = (self._new_sequence(request, index) for index in range(request.params.n))
        sequence.followers = followers
        slot = sequence.slot
        running = [(other.slot, other.kv_tokens) for other in self._running]
        match = None
        if self._limits.enable_prefix_caching:
            match = self._prefix_cache.best_match(request.prompt, running)
            self._metrics.prefix_cache_queries.inc(len(request.prompt))
        if match is not None:
            self._engine.share_prefix(match.slot, slot, match.length)
            sequence.n_past = sequence.reused_prefix = match.length
            self._metrics.prefix_cache_hits.inc(match.length)
        self._metrics.queue_time.observe(sequence.admitted - request.arrived)
        if request.timeline is not None:
            request.timeline.admitted = sequence.admitted
            request.timeline.reused_prefix = sequence.reused_prefix
        self._running.append(sequence)
        self._metrics.requests_running.set(len(self._running))

    def _new_sequence(self, request: EngineRequest, index: int) -> Sequence:
        params = request.params
        sampler = Sampler(self._model.lib, self._model.n_vocab, params, choice=index)
        generation = Generation(params.stop, params.max_tokens, index=index)
        return Sequence(request, heapq.heappop(self._free_slots), sampler, generation, index=index)

    def _start_followers(self, leader: Sequence, row_index: int, now: float) -> None:
        """The other choices: the leader's prompt cells copied, their first token sampled from the same
        logits (sampling reads them, never changes them)."""
        followers, leader.followers = leader.followers, []
        for follower in followers:
            self._engine.share_prefix(leader.slot, follower.slot, len(leader.prompt))
            follower.n_past = len(leader.prompt)
            self._running.append(follower)
            self._emit_next_token(follower, row_index, now)
        self._metrics.requests_running.set(len(self._running))

    def _drop_cancelled(self) -> None:
        for sequence in [s for s in self._running if s.request.cancelled.is_set()]:
            sequence.request.emit(sequence.generation.finish("abort"))
            self._release(sequence, keep_prefix=False)

    def _plan_batch(self) -> tuple[list[BatchRow], list[tuple[Sequence, int]]]:
        """Rows to decode and, per sequence that gets a token this step, the row holding its logits."""
        rows: list[BatchRow] = []
        sampled: list[tuple[Sequence, int]] = []
        for sequence in self._running:
            if sequence.pending_token is not None:
                rows.append(BatchRow(sequence.pending_token, sequence.n_past, sequence.slot, True))
                sampled.append((sequence, len(rows) - 1))
        budget = self._engine.max_batch_tokens - len(rows)
        for sequence in self._running:
            if budget <= 0:
                break
            if not sequence.prefilling:
                continue
            remaining = len(sequence.prompt) - sequence.n_past
            if not self._limits.enable_chunked_prefill and remaining > budget and rows:
                continue  # the whole prompt goes in one step when chunked prefill is off
            chunk = sequence.prompt[sequence.n_past : sequence.n_past + budget]
            completes = sequence.n_past + len(chunk) == len(sequence.prompt)
            for offset, token in enumerate(chunk):
                last = completes and offset == len(chunk) - 1
                rows.append(BatchRow(token, sequence.n_past + offset, sequence.slot, last))
            if completes:
                sampled.append((sequence, len(rows) - 1))
            budget -= len(chunk)
        return rows, sampled

    def _step(self) -> None:
        rows, sampled = self._plan_batch()
        if not rows:
            return
        code = self._engine.decode(rows)
        if code == DECODE_NO_KV_SPACE:
            self._prefix_cache.clear()  # cached prefixes are the only cells we may take back
            code = self._engine.decode(rows)
        if code != DECODE_OK:
            self._fail_batch(rows, EngineError(f"llama_decode failed with code {code}"))
            return
        self._advance(rows)
        now = time.perf_counter()
        for sequence, row_index in sampled:
            if sequence.followers:
                self._start_followers(sequence, row_index, now)
            self._emit_next_token(sequence, row_index, now)
        self._metrics.kv_cache_usage.set(self._kv_usage())

    def _advance(self, rows: list[BatchRow]) -> None:
        """Each sequence now holds keys and values up to its last row's position."""
        last_position = {row.slot: row.position for row in rows}
        for sequence in self._running:
            if sequence.slot in last_position:
                sequence.n_past = last_position[sequence.slot] + 1
                sequence.pending_token = None

    def _emit_next_token(self, sequence: Sequence, row_index: int, now: float) -> None:
        token = sequence.sampler.sample(self._engine.context, row_index)
        params = sequence.request.params
        end = not params.ignore_eos and self._model.is_end_of_generation(token)
        delta = sequence.generation.on_token(self._model.piece(token), end_of_generation=end)
        if params.logprobs is not None:
            logprob = token_logprob(
                self._model.lib, self._engine.context, row_index, self._model.n_vocab, token,
                params.logprobs, self._model.piece,
            )  # fmt: skip
            delta = dataclasses.replace(delta, logprob=logprob)
        if sequence.last_token_at is None:
            if sequence.index == 0:  # a request's first token, once however many choices it has
                self._metrics.time_to_first_token.observe(now - sequence.request.arrived)
                if sequence.request.timeline is not None:
                    sequence.request.timeline.first_token = now
        else:
            self._metrics.inter_token_latency.observe(now - sequence.last_token_at)
        sequence.last_token_at = now
        sequence.request.emit(delta)
        if sequence.generation.finished:
            self._release(sequence, keep_prefix=True)
        else:
            sequence.pending_token = token

    def _release(self, sequence: Sequence, *, keep_prefix: bool) -> None:
        if keep_prefix and sequence.n_past >= len(sequence.prompt):
            self._prefix_cache.keep(sequence.slot, sequence.prompt)
        self._engine.forget(sequence.slot)
        sequence.sampler.close()
        self._running.remove(sequence)
        heapq.heappush(self._free_slots, sequence.slot)
        for follower in sequence.followers:  # never started: the leader ended during its prefill
            follower.sampler.close()
            heapq.heappush(self._free_slots, follower.slot)
        sequence.followers = []
        self._metrics.requests_running.set(len(self._running))

    def _kv_usage(self) -> float:
        used = sum(sequence.n_past for sequence in self._running) + self._prefix_cache.cached_tokens
        return min(1.0, used / self._engine.capacity)

    def _fail_batch(self, rows: list[BatchRow], error: EngineError) -> None:
        slots = {row.slot for row in rows}
        for sequence in [s for s in self._running if s.slot in slots]:
            sequence.request.emit(error)
            self._release(sequence, keep_prefix=False)

    def _fail_everything(self, error: EngineError | EngineDied, *, release: bool = True) -> None:
        for sequence in list(self._running):
            sequence.request.emit(error)
            if release:
                self._release(sequence, keep_prefix=False)
        self._running.clear()
        self._metrics.requests_running.set(0)
        with self._condition:
            while self._waiting:
                self._waiting.popleft().emit(error)
            self._metrics.requests_waiting.set(0)
