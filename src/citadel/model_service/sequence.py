"""One request inside the engine: its prompt, its place in the KV cache, its sampler and its text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from citadel.errors import CitadelError
from citadel.model_service.generation import Delta, Generation
from citadel.model_service.sampler import Sampler
from citadel.model_service.sampling import SamplingParams


@dataclass(slots=True)
class Timeline:
    """When the engine reached each phase of one request (``time.perf_counter``), for its trace.

    Written on the engine thread before the delta that follows is emitted, read after the last one.
    """

    submitted: float = 0.0
    admitted: float | None = None
    first_token: float | None = None
    reused_prefix: int = 0


@dataclass(eq=False)
class EngineRequest:
    """What the HTTP side hands to the scheduler; ``emit`` is called on the engine thread."""

    prompt: list[int]
    params: SamplingParams
    emit: Callable[[Delta | CitadelError], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    arrived: float = field(default_factory=time.perf_counter)
    timeline: Timeline | None = None  # only for a traced request


@dataclass(eq=False)
class Sequence:
    """A running request. ``n_past`` tokens of it are in the KV cache under ``slot``."""

    request: EngineRequest
    slot: int
    sampler: Sampler
    generation: Generation
    n_past: int = 0
    pending_token: int | None = None  # sampled, emitted, not yet decoded into the KV cache
    admitted: float = field(default_factory=time.perf_counter)
    last_token_at: float | None = None
    reused_prefix: int = 0
    index: int = 0  # which choice of the request
    # The other choices of an ``n`` > 1 request: their slots are taken, and they join the batch with a
    # copy of this sequence's prompt cells once its prefill is done.
    followers: list[Sequence] = field(default_factory=list)

    @property
    def prompt(self) -> list[int]:
        return self.request.prompt

    @property
    def prefilling(self) -> bool:
        return self.n_past < len(self.request.prompt)

    @property
    def kv_tokens(self) -> list[int]:
        """The tokens whose keys and values this sequence holds (prompt part only is ever shared)."""
        return self.request.prompt[: self.n_past]
