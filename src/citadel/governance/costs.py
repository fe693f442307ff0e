"""Cost of a request from the per-model price table (``prices`` in the config)."""

from __future__ import annotations

from collections.abc import Mapping

from citadel.config.sections import ModelPrice


def request_cost(
    prices: Mapping[str, ModelPrice], model: str, prompt_tokens: int, completion_tokens: int
) -> float:
    """Prompt and completion tokens at the model's price per 1000; a model without a price costs 0.

    >>> request_cost({"m": ModelPrice(prompt_per_1k=0.5, completion_per_1k=1.5)}, "m", 1000, 2000)
    3.5
    """
    price = prices.get(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.prompt_per_1k + completion_tokens * price.completion_per_1k) / 1000
