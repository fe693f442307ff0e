"""Which requests are cached: the client's header, then the model's policy, then determinism.

    header ``x-citadel-cache: off``   never (neither read nor written)
    model policy ``never``            never, whatever the header says
    header ``x-citadel-cache: on``    always
    model policy ``always``           always
    otherwise (``deterministic``)     only when ``temperature`` is 0 or a ``seed`` is given

A request without ``temperature`` samples at the API's default of 1, so it is not deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citadel.config.sections import ModelCachePolicy
from citadel.errors import InvalidRequest

CACHE_HEADER = "x-citadel-cache"
_DEFAULT_POLICY = ModelCachePolicy()


def is_deterministic(body: Mapping[str, Any]) -> bool:
    """Temperature 0, or a fixed seed (the same seed gives the same sample)."""
    temperature = body.get("temperature")
    seeded = body.get("seed") is not None
    greedy = isinstance(temperature, int | float) and not isinstance(temperature, bool) and temperature == 0
    return greedy or seeded


def parse_header(value: str | None) -> bool | None:
    """``on`` → True, ``off`` → False, absent → None; anything else is a 400."""
    if value is None:
        return None
    normalised = value.strip().lower()
    if normalised in ("on", "true", "1"):
        return True
    if normalised in ("off", "false", "0"):
        return False
    raise InvalidRequest(f"{CACHE_HEADER} must be 'on' or 'off', not {value!r}.", param=CACHE_HEADER)


def should_cache(body: Mapping[str, Any], header: str | None, policy: ModelCachePolicy | None) -> bool:
    """Whether this request may be answered from, and stored in, the cache."""
    wanted = parse_header(header)
    mode = (policy or _DEFAULT_POLICY).mode
    if wanted is False or mode == "never":
        return False
    if wanted is True or mode == "always":
        return True
    return is_deterministic(body)
