"""What ``citadel bench`` runs (seed C.1): concurrency levels, and short/medium/long/multi-turn requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_LEVELS = (1, 5, 10, 20, 50)
# The seed's request types: completion lengths in tokens, and a multi-turn conversation.
DEFAULT_SCENARIO_TOKENS = MappingProxyType({"short": 50, "medium": 200, "long": 1000, "conversation": 200})

_PROMPT = "Explain how a database index speeds up queries, with an example."
_CONVERSATION = (
    {"role": "user", "content": "I run a small online shop. What database should I start with?"},
    {"role": "assistant", "content": "PostgreSQL is a good default: reliable, well documented and free."},
    {"role": "user", "content": "How do I keep it fast as orders grow?"},
    {"role": "assistant", "content": "Index the columns you filter on, and watch slow queries."},
    {"role": "user", "content": "Which columns of an orders table would you index first, and why?"},
)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    max_tokens: int

    def messages(self) -> list[dict[str, str]]:
        if self.name == "conversation":
            return [dict(message) for message in _CONVERSATION]
        return [{"role": "user", "content": _PROMPT}]


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """``requests`` per level is at least the level itself, so every level really runs that many at once."""

    gateway_url: str
    models: tuple[str, ...]
    levels: tuple[int, ...] = DEFAULT_LEVELS
    scenarios: tuple[Scenario, ...] = field(
        default_factory=lambda: tuple(
            Scenario(name, tokens) for name, tokens in DEFAULT_SCENARIO_TOKENS.items()
        )
    )
    requests: int = 10
    timeout_s: float = 600.0
    api_key: str | None = None

    def requests_at(self, level: int) -> int:
        return max(level, self.requests)

    @property
    def total_requests(self) -> int:
        return len(self.models) * len(self.scenarios) * sum(self.requests_at(level) for level in self.levels)


def parse_scenarios(text: str) -> tuple[Scenario, ...]:
    """``"short=50,conversation=200"``; a bare name takes its default length."""
    scenarios = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, tokens = item.partition("=")
        if name not in DEFAULT_SCENARIO_TOKENS:
            raise ValueError(f"unknown scenario {name!r}; known: {', '.join(DEFAULT_SCENARIO_TOKENS)}")
        scenarios.append(Scenario(name, int(tokens) if tokens else DEFAULT_SCENARIO_TOKENS[name]))
    if not scenarios:
        raise ValueError("no scenario given")
    return tuple(scenarios)
