"""From an OpenAI request to a generation: the prompt's tokens, the context check and the token budget."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from citadel.errors import CitadelError, ContextLengthExceeded, InvalidRequest
from citadel.model_service.constraints import chat_constraint
from citadel.model_service.engine_trace import record_generation
from citadel.model_service.generation import Delta
from citadel.model_service.gguf_model import GgufModel
from citadel.model_service.grammar import CompiledGrammar, GrammarCache, GrammarSpec
from citadel.model_service.metrics import ModelServiceMetrics
from citadel.model_service.runner import EngineRunner
from citadel.model_service.sampling import SamplingParams
from citadel.model_service.schemas import ChatCompletionRequest, CompletionRequest
from citadel.model_service.sequence import Timeline
from citadel.model_service.tool_prompt import render_chat
from citadel.tracing import Attributes, RequestTracer


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request ready for the engine."""

    prompt: list[int]
    params: SamplingParams
    parses_tool_calls: bool = False  # the answer may hold <tool_call> blocks to return as tool_calls


@dataclass(slots=True)
class Outcome:
    """What a finished generation reports back for usage and metrics: tokens and finish reason per
    choice, ``completion_tokens`` their sum."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reasons: dict[int, str] = field(default_factory=dict)
    _tokens: dict[int, int] = field(default_factory=dict)

    @property
    def finish_reason(self) -> str | None:
        """The first choice's (what a request with one choice has)."""
        return self.finish_reasons.get(0)

    def record(self, delta: Delta) -> None:
        self._tokens[delta.index] = delta.completion_tokens
        self.completion_tokens = sum(self._tokens.values())
        if delta.finish_reason is not None:
            self.finish_reasons[delta.index] = delta.finish_reason


class ModelService:
    """The served model as the HTTP routes see it."""

    def __init__(
        self,
        name: str,
        model: GgufModel,
        max_model_len: int,
        runner: EngineRunner,
        metrics: ModelServiceMetrics,
        tracer: RequestTracer | None = None,
        *,
        max_choices: int = 1,
    ) -> None:
        """``max_choices``: the most choices (``n``) one request may ask for, the engine's sequences."""
        self.name = name
        self.max_choices = max_choices
        self.grammars = GrammarCache(self._compile_grammar)
        self.tracer = tracer or RequestTracer(None)
        self.model = model
        self.max_model_len = max_model_len
        self.runner = runner
        self.metrics = metrics
        self.created = int(time.time())

    async def tokenize(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        # Off the event loop (long prompts take milliseconds); vocabulary calls are safe beside a decode.
        return await asyncio.to_thread(self.model.tokenize, text, add_special_tokens=add_special_tokens)

    async def detokenize(self, tokens: list[int]) -> str:
        if any(token < 0 or token >= self.model.n_vocab for token in tokens):
            raise InvalidRequest("tokens contains ids outside the vocabulary", param="tokens")
        return await asyncio.to_thread(self.model.detokenize, tokens)

    async def prepare_chat(self, request: ChatCompletionRequest) -> Prepared:
        constraint = chat_constraint(request)
        grammar = None
        if constraint.key is not None and constraint.build is not None:
            # Off the event loop: converting a schema and parsing its grammar take milliseconds on a miss.
            grammar = await asyncio.to_thread(self.grammars.get, constraint.key, constraint.build)
        prompt_text = render_chat(self.model.chat_template, request.messages, constraint.offered_tools)
        prompt = await self.tokenize(prompt_text, add_special_tokens=True)
        prepared = self._budget(prompt, request.token_budget, request)
        params = dataclasses.replace(prepared.params, grammar=grammar)
        return Prepared(prepared.prompt, params, parses_tool_calls=constraint.parses_tool_calls)

    def _compile_grammar(self, spec: GrammarSpec) -> CompiledGrammar:
        return CompiledGrammar(self.model.lib, self.model.vocab, spec)

    async def prepare_completion(self, request: CompletionRequest) -> Prepared:
        if isinstance(request.prompt, str):
            prompt = await self.tokenize(request.prompt)
        elif isinstance(request.prompt[0], str):
            prompt = await self.tokenize(str(request.prompt[0]))
        else:
            prompt = [int(token) for token in request.prompt]
            if max(prompt) >= self.vocab_size or min(prompt) < 0:
                raise InvalidRequest("prompt contains token ids outside the vocabulary", param="prompt")
        return self._budget(prompt, request.token_budget, request)

    @property
    def vocab_size(self) -> int:
        return self.model.n_vocab

    def _budget(
        self, prompt: list[int], asked: int | None, request: ChatCompletionRequest | CompletionRequest
    ) -> Prepared:
        if request.n > self.max_choices:
            raise InvalidRequest(
                f"n is {request.n}; this model service runs at most {self.max_choices} sequences at once",
                param="n",
            )
        self.runner.check_capacity()
        limit = self.max_model_len
        if not prompt:
            raise InvalidRequest("the prompt is empty", param="prompt")
        room = limit - len(prompt)
        if room <= 0 or (asked is not None and asked > room):
            wanted = len(prompt) + (asked or 0)
            raise ContextLengthExceeded(
                f"This model's maximum context length is {limit} tokens. However, you requested "
                f"{wanted} tokens ({len(prompt)} in the messages, {asked or 0} in the completion). "
                "Please reduce the length of the messages or completion.",
                param="messages" if isinstance(request, ChatCompletionRequest) else "prompt",
            )
        return Prepared(prompt, request.sampling(asked if asked is not None else room))

    async def generate(
        self, prepared: Prepared, outcome: Outcome, traced: Attributes | None = None
    ) -> AsyncIterator[Delta]:
        """Stream the generation, keeping ``outcome`` and the vLLM metrics up to date.

        ``traced`` (the request's GenAI attributes, given only when tracing is on) records its spans.
        """
        started = time.perf_counter()
        parent = self.tracer.current()  # the server span, taken now: a generator's context may move
        timeline = Timeline() if traced is not None else None
        error: str | None = None
        self.metrics.prompt_tokens.inc(len(prepared.prompt))
        try:
            async for delta in self.runner.stream(prepared.prompt, prepared.params, timeline):
                outcome.record(delta)
                yield delta
        except CitadelError as exc:
            error = exc.code or exc.error_type
            raise
        finally:
            # Also reached when the client went away mid-stream: that request counts as aborted.
            ended = time.perf_counter()
            self.metrics.generation_tokens.inc(outcome.completion_tokens)
            self.metrics.e2e_latency.observe(ended - started)
            self.metrics.finished(outcome.finish_reason or "abort")
            if traced is not None and timeline is not None:
                record_generation(
                    self.tracer, traced, parent=parent, timeline=timeline, ended=ended,
                    served_model=self.name, usage=(outcome.prompt_tokens, outcome.completion_tokens),
                    finish_reason=outcome.finish_reason or "abort", error=error,
                )  # fmt: skip
