"""Point ids that are the same in every process: a UUID5 of the content, or the client's own id.

The seed's sample used Python's ``hash()``, which is salted per process; these are not.

    >>> text_point_id("hello") == text_point_id("hello")
    True
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from citadel.errors import InvalidRequest

# A fixed namespace: the same text gets the same id in any deployment, so upserting it twice overwrites.
NAMESPACE = uuid.UUID("6f2b1c7e-5d0a-4c3e-9a51-1c1f3d0b7a11")

PointId = str | int


def text_point_id(text: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "text\0" + text))


def vector_point_id(vector: Sequence[float], payload: Mapping[str, Any]) -> str:
    material = json.dumps({"vector": list(vector), "payload": payload}, sort_keys=True, separators=(",", ":"))
    return str(uuid.uuid5(NAMESPACE, "vector\0" + hashlib.sha256(material.encode()).hexdigest()))


def checked_point_id(value: PointId, param: str = "id") -> PointId:
    """A client's id as Qdrant takes it: an unsigned integer or a UUID (normalised); else a 400."""
    if isinstance(value, bool):
        raise InvalidRequest("a point id is an unsigned integer or a UUID string", param=param)
    if isinstance(value, int):
        if value < 0:
            raise InvalidRequest("a point id is an unsigned integer or a UUID string", param=param)
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise InvalidRequest(f"{value!r} is neither an unsigned integer nor a UUID", param=param) from exc
