"""Rate limiting by fixed windows: the windows of a tier, a limiter's decision and the headers it implies.

A request costs 1 in each request window (minute, hour, day) and its estimated tokens in the token window.
It is admitted only if every window has room, and then counted in all of them at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from citadel.config.sections import TierLimits


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # "rpm", "rph", "rpd", "tpm"
    seconds: int
    limit: int
    unit: Literal["requests", "tokens"]
    cost: int

    def index(self, now: float) -> int:
        return int(now // self.seconds)

    def reset_s(self, now: float) -> float:
        return (self.index(now) + 1) * self.seconds - now


_TOKEN_WINDOWS_KEPT = 256  # token costs whose window lists are kept (estimates repeat with the prompts)


class TierWindows:
    """The windows a request is counted in under a tier (a window without a limit is left out), built
    once: only the token window's cost changes from request to request, and the lists for the costs seen
    lately are kept (a frozen dataclass costs about a microsecond to make)."""

    def __init__(self, tier: TierLimits) -> None:
        spec: list[tuple[str, int, int | None]] = [
            ("rpm", 60, tier.requests_per_minute),
            ("rph", 3600, tier.requests_per_hour),
            ("rpd", 86400, tier.requests_per_day),
        ]
        self._requests = [
            Window(name, seconds, limit, "requests", 1) for name, seconds, limit in spec if limit
        ]
        self._tokens_limit = tier.tokens_per_minute
        self._by_tokens: dict[int, list[Window]] = {}

    def for_request(self, tokens: int) -> list[Window]:
        if not self._tokens_limit:
            return self._requests
        windows = self._by_tokens.get(tokens)
        if windows is None:
            if len(self._by_tokens) >= _TOKEN_WINDOWS_KEPT:
                self._by_tokens.clear()
            token_window = Window("tpm", 60, self._tokens_limit, "tokens", max(tokens, 0))
            windows = self._by_tokens[tokens] = [*self._requests, token_window]
        return windows


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``1h2m3s``, ``45s``."""
    return _whole_duration(max(math.ceil(seconds), 1))


@functools.lru_cache(maxsize=4096)  # one per second of a window's reset: every request formats one or two
def _whole_duration(whole: int) -> str:
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or hours else "")
    return text + f"{secs}s"


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer: ``used`` is each window's count after this request (before it, if refused)."""

    allowed: bool
    windows: tuple[Window, ...]
    used: tuple[int, ...]
    now: float
    blocked_by: int | None = None  # index into ``windows``

    @property
    def retry_after_s(self) -> int:
        if self.blocked_by is None:
            return 0
        return max(math.ceil(self.windows[self.blocked_by].reset_s(self.now)), 1)

    def headers(self) -> dict[str, str]:
        """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the tightest window of each unit
        (the fewest remaining; the shorter window on a tie)."""
        tightest: dict[str, tuple[int, Window]] = {}  # unit: (remaining, window)
        for window, used in zip(self.windows, self.used, strict=True):
            remaining = window.limit - used
            current = tightest.get(window.unit)
            if (
                current is None
                or remaining < current[0]
                or (remaining == current[0] and window.seconds < current[1].seconds)
            ):
                tightest[window.unit] = (remaining, window)
        headers: dict[str, str] = {}
        for unit, (remaining, window) in tightest.items():  # requests before tokens, as the windows are
            limit_name, remaining_name, reset_name = _HEADER_NAMES[unit]
            headers[limit_name] = str(window.limit)
            headers[remaining_name] = str(remaining) if remaining > 0 else "0"
            headers[reset_name] = _duration(window.reset_s(self.now))
        return headers


_HEADER_NAMES = {
    unit: (f"x-ratelimit-limit-{unit}", f"x-ratelimit-remaining-{unit}", f"x-ratelimit-reset-{unit}")
    for unit in ("requests", "tokens")
}


class LimiterUnavailable(Exception):
    """The shared counter store (Redis) could not be reached; the caller applies fail-open or fail-closed."""


class RateLimiter(Protocol):
    """Counts ``windows`` for ``subject`` atomically: all windows have room and are counted, or none is."""

    async def acquire(self, subject: str, windows: Sequence[Window]) -> Decision: ...

    async def aclose(self) -> None: ...
