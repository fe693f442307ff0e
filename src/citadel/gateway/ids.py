"""Ids of the objects the gateway itself makes up: Responses (``resp_…``), output items, Messages."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """A new id in OpenAI's and Anthropic's style: ``{prefix}_`` and 48 hex digits.

    >>> new_id("resp").startswith("resp_")
    True
    """
    return f"{prefix}_{secrets.token_hex(24)}"
