"""Prefix-aware balancing: requests that share a prompt prefix go where that prefix is already cached.

A model service keeps the KV cache of the prompts it has seen (``limits.enable_prefix_caching``); a request
whose system prompt or conversation another replica has just computed is cheaper there. The request's
prefix keys are chained hashes of its messages (the first message, the first two, ...; for a plain
``prompt``, of its 256-character blocks), so a conversation's next turn finds the replica of the turn
before by its longest known prefix. The table remembers, for each key, the replica that last took a
request with it (bounded, least recently used out first).

Load stays balanced: when the replica holding the prefix has more requests in flight than the least
loaded candidate by more than ``_MAX_LEAD`` (per unit of weight), the request goes to the least loaded
one instead, which then holds the prefix too.

>>> system, user = {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}
>>> keys = prefix_keys({"messages": [system, user]})
>>> len(keys)
2
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from citadel.gateway.replicas import Replica

_BLOCK_CHARS = 256  # a plain prompt's prefix granularity
_MAX_KEYS = 64  # per request: enough for long conversations, bounded for huge ones
_TABLE_SIZE = 10_000  # prefixes remembered per model
_MAX_LEAD = 2  # requests in flight the prefix's replica may run ahead of the least loaded one


def _content(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return f"{message.get('role', '')}\x00{content if isinstance(content, str) else ''}"


def prefix_keys(body: Mapping[str, Any]) -> tuple[int, ...]:
    """The request's prefix keys, shortest prefix first (empty when it has no prompt)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        parts = [_content(message) for message in messages[:_MAX_KEYS]]
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            return ()
        parts = [prompt[start : start + _BLOCK_CHARS] for start in range(0, len(prompt), _BLOCK_CHARS)]
        parts = parts[:_MAX_KEYS]
    keys = []
    running = 0
    for part in parts:
        running = hash((running, part))
        keys.append(running)
    return tuple(keys)


class PrefixAffinity:
    """Longest known prefix's replica, unless it runs ahead; else least outstanding (then remembered)."""

    wants_prefix = True

    def __init__(self) -> None:
        self._owners: OrderedDict[int, str] = OrderedDict()  # prefix key -> replica base URL
        self._turn = 0
        self.hits = 0  # requests sent to the replica holding their prefix
        self.diverted = 0  # ... that went elsewhere because that replica ran ahead

    def pick(self, candidates: Sequence[Replica], keys: Sequence[int] = ()) -> Replica:
        least = self._least_outstanding(candidates)
        chosen = least
        owner = self._owner(candidates, keys)
        if owner is not None:
            if owner.outstanding * least.weight <= (least.outstanding + _MAX_LEAD) * owner.weight:
                chosen = owner
                self.hits += 1
            else:
                self.diverted += 1
        self._remember(keys, chosen)
        return chosen

    def _owner(self, candidates: Sequence[Replica], keys: Sequence[int]) -> Replica | None:
        by_url = {replica.base_url: replica for replica in candidates}
        for key in reversed(keys):  # the longest prefix first
            url = self._owners.get(key)
            if url is not None and url in by_url:
                return by_url[url]
        return None

    def _remember(self, keys: Sequence[int], replica: Replica) -> None:
        for key in keys:
            self._owners[key] = replica.base_url
            self._owners.move_to_end(key)
        while len(self._owners) > _TABLE_SIZE:
            self._owners.popitem(last=False)

    def _least_outstanding(self, candidates: Sequence[Replica]) -> Replica:
        self._turn += 1
        count = len(candidates)
        best = candidates[self._turn % count]
        for offset in range(1, count):
            replica = candidates[(self._turn + offset) % count]
            if replica.outstanding * best.weight < best.outstanding * replica.weight:
                best = replica
        return best
