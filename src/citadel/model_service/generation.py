"""One generation: tokens from the engine turned into text deltas, with stop strings and finish reasons.

The engine yields token ids on a worker thread; :class:`Generation` decodes them incrementally (a token can
end in the middle of a UTF-8 character), applies stop strings and the token budget, and says why it ended.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Literal

from citadel.model_service.logprobs import TokenLogprob
from citadel.model_service.stops import StopMatcher

FinishReason = Literal["stop", "length", "abort"]


@dataclass(frozen=True, slots=True)
class Delta:
    """Text produced by one step; ``finish_reason`` is set on the last one.

    ``completion_tokens`` counts every token sampled so far, the end-of-sequence token included (as vLLM).
    """

    text: str
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0
    logprob: TokenLogprob | None = None  # of the token sampled at this step, when asked for
    index: int = 0  # which choice of the request (``n`` > 1)


class Generation:
    """Turns the engine's token stream for one request into :class:`Delta` values."""

    def __init__(self, stops: list[str], max_tokens: int, index: int = 0) -> None:
        self.index = index
        self._stops = StopMatcher(stops)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_tokens = max_tokens
        self.completion_tokens = 0
        self.finish_reason: FinishReason | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def on_token(self, piece: bytes, *, end_of_generation: bool) -> Delta:
        """Account for one sampled token (its bytes) and return what may be shown of it."""
        self.completion_tokens += 1
        if end_of_generation:
            return self.finish("stop")
        text, hit_stop = self._stops.feed(self._decoder.decode(piece))
        if hit_stop:
            return Delta(text, self._finish_with("stop"), self.completion_tokens, index=self.index)
        if self.completion_tokens >= self._max_tokens:
            return Delta(
                text + self._drain(), self._finish_with("length"), self.completion_tokens, index=self.index
            )
        return Delta(text, None, self.completion_tokens, index=self.index)

    def finish(self, reason: FinishReason) -> Delta:
        """End for a reason outside the token stream (end of sequence, cancelled)."""
        return Delta(self._drain(), self._finish_with(reason), self.completion_tokens, index=self.index)

    def _finish_with(self, reason: FinishReason) -> FinishReason:
        self.finish_reason = reason
        return reason

    def _drain(self) -> str:
        return self._stops.flush() + self._decoder.decode(b"", final=True)
