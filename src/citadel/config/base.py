"""What every config section shares: strict, frozen models, and the small value types they use."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"
_MEMORY_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def reachable_host(host: str) -> str:
    """Where to reach a listener bound to ``host``: a wildcard bind is reached on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_memory(text: str) -> int:
    """Turn a systemd-style size such as ``90G`` or ``512M`` into bytes.

    >>> parse_memory("2G")
    2147483648
    """
    match = _MEMORY_PATTERN.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a size such as 512M, 4G or 90G")
    number, unit = match.groups()
    return int(float(number) * _MEMORY_UNITS[unit.upper()])


def _memory_size(text: str) -> str:
    parse_memory(text)  # raises for a size it cannot read
    return text


# A size such as ``4G``, checked when the config loads.
MemorySize = Annotated[str, AfterValidator(_memory_size)]
