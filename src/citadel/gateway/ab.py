"""A/B and canary splits: which variant of a split (``gateway.splits``) takes a request, sticky per client.

A client's key (its bearer token, or the request's ``user`` with ``sticky: user``) is hashed with the
split's name to a point in [0, 1); the variants own consecutive slices of that interval, in config order and
as wide as their weights. So a client stays on its variant while the split is unchanged, and growing the
last variant's share (a canary going from 10 % to 20 %) keeps every client it already had. A request with
no key (no token, no ``user``) gets a random point. A variant with no healthy replica passes its share to
the next healthy one, so a canary that dies sends its clients back rather than failing them.

The response names the split and its variant in ``x-citadel-split`` and the model in ``x-citadel-model``;
metrics and the request log count the variant as the model that served.

>>> splits = Splits([SplitSettings(name="chat", variants=[...])])  # doctest: +SKIP
>>> splits.choose("chat", "Bearer ctd_...")  # doctest: +SKIP
'smollm2-canary'
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Iterable, Mapping

from citadel.config.splits import SplitSettings
from citadel.gateway.request import ParsedRequest

SPLIT_HEADER = "x-citadel-split"


def sticky_point(split: str, key: str) -> float:
    """Where ``key`` falls in [0, 1) for ``split`` (the same on every worker and every run)."""
    digest = hashlib.blake2b(f"{split}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class _Split:
    def __init__(self, settings: SplitSettings) -> None:
        self.settings = settings
        total = sum(variant.weight for variant in settings.variants)
        self.models = [variant.model for variant in settings.variants]
        bounds, running = [], 0.0
        for variant in settings.variants:
            running += variant.weight / total
            bounds.append(running)
        self.bounds = bounds

    def index(self, point: float) -> int:
        return min(bisect_right(self.bounds, point), len(self.models) - 1)

    def key(self, request: ParsedRequest, headers: Mapping[str, str]) -> str | None:
        if self.settings.sticky == "user":
            user = request.body.get("user")
            return user if isinstance(user, str) and user else None
        return headers.get("authorization") or None


class Splits:
    """The configured splits by name."""

    def __init__(self, splits: Iterable[SplitSettings] = ()) -> None:
        self._splits = {split.name: _Split(split) for split in splits}

    def __contains__(self, name: str) -> bool:
        return name in self._splits

    def names(self) -> list[str]:
        return list(self._splits)

    def variants(self, name: str) -> list[str]:
        return list(self._splits[name].models)

    def order(self, name: str, request: ParsedRequest, headers: Mapping[str, str]) -> list[str]:
        """The split's variants for this request: its own first, then the others in config order (the
        router takes the first healthy one)."""
        split = self._splits[name]
        key = split.key(request, headers)
        point = sticky_point(name, key) if key is not None else random.random()
        chosen = split.index(point)
        return [split.models[chosen], *(m for i, m in enumerate(split.models) if i != chosen)]

    def choose(self, name: str, key: str) -> str:
        """The variant a client with ``key`` gets (all variants healthy)."""
        split = self._splits[name]
        return split.models[split.index(sticky_point(name, key))]
