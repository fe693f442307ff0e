"""Reading fields of a client's JSON request with a 400 naming the field when one has the wrong type.

The Responses and Messages translators read the client's body field by field; each reader says what it
expected, in OpenAI's error shape (``param`` is the field's path).

    >>> text_field({"model": "m"}, "model", "model", required=True)
    'm'
"""

from __future__ import annotations

from typing import Any

from citadel.errors import InvalidRequest


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"`{param}` is required.", param=param)


def _wrong(param: str, described: str) -> InvalidRequest:
    return InvalidRequest(f"`{param}` must be {described}.", param=param)


def text_field(body: dict[str, Any], name: str, param: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise _wrong(param, "a string")
    return value


def object_field(body: dict[str, Any], name: str, param: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong(param, "an object")
    return value


def list_field(body: dict[str, Any], name: str, param: str, *, required: bool = False) -> list[Any] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, list):
        raise _wrong(param, "an array")
    return value


def bool_field(body: dict[str, Any], name: str, param: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _wrong(param, "a boolean")
    return value


def int_field(body: dict[str, Any], name: str, param: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _wrong(param, "a positive integer")
    return value


def number_field(body: dict[str, Any], name: str, param: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong(param, "a number")
    return float(value)


def each_object(values: list[Any], param: str) -> list[tuple[str, dict[str, Any]]]:
    """``(param.i, value)`` for each value of an array, which must be objects."""
    checked = []
    for index, value in enumerate(values):
        where = f"{param}.{index}"
        if not isinstance(value, dict):
            raise _wrong(where, "an object")
        checked.append((where, value))
    return checked
