"""What one request asks of the sampler, independent of the HTTP schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from citadel.model_service.grammar import CompiledGrammar


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    ignore_eos: bool = False
    logprobs: int | None = None  # None: none; otherwise how many top alternatives per token
    n: int = 1  # choices, sampled independently after one shared prefill
    grammar: CompiledGrammar | None = None  # what every choice's text must follow
