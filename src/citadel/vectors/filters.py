"""The payload filter of the API: ``{"key": value}`` must equal, ``{"key": [a, b]}`` any of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qdrant_client.http import models

from citadel.errors import InvalidRequest

Scalar = str | int | bool


def payload_filter(conditions: Mapping[str, Any] | None) -> models.Filter | None:
    """Every condition must hold (AND). Keys may be dotted paths into nested payload (``meta.source``).

    >>> payload_filter({"lang": "en"}).must[0].key
    'lang'
    """
    if not conditions:
        return None
    must: list[models.Condition] = []
    for key, value in conditions.items():
        param = f"filter.{key}"
        if isinstance(value, list):
            if not value or not all(_is_scalar(item) for item in value):
                raise InvalidRequest("a filter list holds strings or integers", param=param)
            match: models.MatchAny | models.MatchValue = models.MatchAny(any=value)
        elif _is_scalar(value):
            match = models.MatchValue(value=value)
        else:
            raise InvalidRequest("a filter value is a string, integer, boolean or a list", param=param)
        must.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=must)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, float)
