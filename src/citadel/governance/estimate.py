"""A cheap token estimate for ``admit`` (tokens-per-minute limits), before any tokenizer has run."""

from __future__ import annotations

_BYTES_PER_TOKEN = 4  # English text and JSON average about four bytes a token
DEFAULT_COMPLETION_TOKENS = 256


def estimate_tokens(body_bytes: int, max_tokens: int | None) -> int:
    """Prompt tokens guessed from the request body's size, plus the completion it may ask for.

    >>> estimate_tokens(4000, 100)
    1100
    """
    completion = max_tokens if max_tokens is not None and max_tokens > 0 else DEFAULT_COMPLETION_TOKENS
    return body_bytes // _BYTES_PER_TOKEN + completion
