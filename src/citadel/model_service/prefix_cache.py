"""Prompt prefixes kept in the KV cache after their request finished, for the next request that shares them.

A typical fleet sends the same system prompt with every request. When a sequence finishes, the keys and
values of its prompt are copied to a spare sequence id (a cache slot); a new request whose prompt starts
the same way copies them instead of recomputing them. Running sequences are candidates too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from citadel.model_service.batch_engine import BatchEngine


def common_prefix_length(first: list[int], second: list[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


@dataclass(slots=True)
class _Entry:
    slot: int
    tokens: list[int]


@dataclass(frozen=True, slots=True)
class PrefixMatch:
    slot: int
    length: int


class PrefixCache:
    """Up to ``len(slots)`` finished prompts, least recently used evicted first."""

    def __init__(self, engine: BatchEngine, slots: list[int], min_tokens: int) -> None:
        self._engine = engine
        self._free = list(slots)
        self._entries: list[_Entry] = []  # most recently used last
        self._min_tokens = min_tokens

    @property
    def cached_tokens(self) -> int:
        return sum(len(entry.tokens) for entry in self._entries)

    def best_match(self, prompt: list[int], running: Iterable[tuple[int, list[int]]]) -> PrefixMatch | None:
        """The longest computed prefix of ``prompt`` among cached prompts and running ``(slot, tokens)``.

        At least one prompt token is left to decode, since its logits give the first sampled token.
        """
        best: PrefixMatch | None = None
        candidates = [(entry.slot, entry.tokens) for entry in self._entries]
        for slot, tokens in [*candidates, *running]:
            length = min(common_prefix_length(prompt, tokens), len(prompt) - 1)
            if length >= self._min_tokens and (best is None or length > best.length):
                best = PrefixMatch(slot, length)
        if best is not None:
            self._touch(best.slot)
        return best

    def keep(self, slot: int, prompt: list[int]) -> None:
        """Keep the prompt cells of the finishing sequence in ``slot`` (call before freeing that slot)."""
        if len(prompt) < self._min_tokens or not (self._free or self._entries):
            return
        for entry in self._entries:
            if entry.tokens[: len(prompt)] == prompt:
                self._touch(entry.slot)  # already cached, as long or longer
                return
        cache_slot = self._free.pop() if self._free else self._evict_oldest()
        self._engine.share_prefix(slot, cache_slot, len(prompt))
        self._entries.append(_Entry(cache_slot, list(prompt)))

    def clear(self) -> None:
        while self._entries:
            self._free.append(self._evict_oldest())

    def _evict_oldest(self) -> int:
        entry = self._entries.pop(0)
        self._engine.forget(entry.slot)
        return entry.slot

    def _touch(self, slot: int) -> None:
        for index, entry in enumerate(self._entries):
            if entry.slot == slot:
                self._entries.append(self._entries.pop(index))
                return
