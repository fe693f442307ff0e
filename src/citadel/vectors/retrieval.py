"""Retrieval-augmented chat: the gateway calls :func:`augment` on a chat body before forwarding it.

A request asks with Citadel's extension field, or gets its model's default (``vectors.retrieval``)::

    {"model": "hermes-2", "messages": [...],
     "citadel": {"retrieval": {"collection": "hermes_embeddings", "top_k": 4, "filter": {"lang": "en"}}}}

``"citadel": {"retrieval": false}`` turns a model's default off. The last user message is embedded, the
``top_k`` nearest points are searched, and their texts go to the model as context in the system message (a
new first message, or appended to the request's own first system message, so templates that allow one
system message still work). The ``citadel`` field never goes upstream. The gateway reports the points used
in the response header ``x-citadel-retrieval`` (:func:`retrieval_header`).

    augmented = await augment(body, vectors)
    forward(augmented.body); response.headers[RETRIEVAL_HEADER] = retrieval_header(augmented.point_ids)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from citadel.config.sections import RetrievalDefault
from citadel.errors import InvalidRequest
from citadel.vectors.ids import PointId
from citadel.vectors.service import TEXT_KEY, Vectors
from citadel.vectors.store import Hit

EXTENSION_FIELD = "citadel"
RETRIEVAL_HEADER = "x-citadel-retrieval"
CONTEXT_PREAMBLE = (
    "Use the following retrieved context to answer the user's question when it is relevant. "
    "Each passage is numbered.\n\n"
)


@dataclass(frozen=True)
class Augmented:
    """The body to forward and the points whose text it now carries (empty: no retrieval happened)."""

    body: dict[str, Any]
    point_ids: list[PointId] = field(default_factory=list)
    collection: str | None = None

    @property
    def extension(self) -> dict[str, Any]:
        """What the gateway may add to the answer's ``citadel`` field."""
        return {"retrieval": {"collection": self.collection, "point_ids": self.point_ids}}


@dataclass(frozen=True)
class _Request:
    collection: str
    top_k: int
    where: Mapping[str, Any] | None


def retrieval_header(point_ids: Sequence[PointId]) -> str:
    """The response header's value: the point ids, comma-separated."""
    return ",".join(str(point_id) for point_id in point_ids)


async def augment(body: Mapping[str, Any], vectors: Vectors) -> Augmented:
    """``body`` with retrieved context and without the ``citadel`` field; raises ``InvalidRequest``,
    ``CollectionNotFound``, ``EmbeddingUnavailable``, ``VectorStoreUnavailable``."""
    forwarded = {key: value for key, value in body.items() if key != EXTENSION_FIELD}
    wanted = _requested(body, vectors.settings.vectors.retrieval.get(str(body.get("model", ""))))
    if wanted is None:
        return Augmented(forwarded)
    messages = forwarded.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("retrieval needs a chat request with 'messages'", param="messages")
    question = last_user_text(messages)
    if not question:
        return Augmented(forwarded)
    hits = await vectors.search(wanted.collection, text=question, limit=wanted.top_k, where=wanted.where)
    used = _fit(hits, vectors.settings.vectors.max_context_chars)
    if not used:
        return Augmented(forwarded, [], wanted.collection)
    forwarded["messages"] = with_context(messages, context_text(used))
    return Augmented(forwarded, [hit.id for hit in used], wanted.collection)


def _requested(body: Mapping[str, Any], default: RetrievalDefault | None) -> _Request | None:
    extension = body.get(EXTENSION_FIELD)
    if extension is None:
        return _Request(default.collection, default.top_k, None) if default is not None else None
    if not isinstance(extension, Mapping):
        raise InvalidRequest("'citadel' is an object", param=EXTENSION_FIELD)
    retrieval = extension.get("retrieval")
    if retrieval is None:
        return _Request(default.collection, default.top_k, None) if default is not None else None
    if retrieval is False:
        return None
    if not isinstance(retrieval, Mapping):
        raise InvalidRequest("'citadel.retrieval' is an object or false", param="citadel.retrieval")
    collection = retrieval.get("collection", default.collection if default is not None else None)
    top_k = retrieval.get("top_k", default.top_k if default is not None else 4)
    where = retrieval.get("filter")
    if not isinstance(collection, str):
        raise InvalidRequest("'citadel.retrieval.collection' names a collection", param="citadel.retrieval")
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 64:
        raise InvalidRequest(
            "'citadel.retrieval.top_k' is an integer from 1 to 64", param="citadel.retrieval"
        )
    if where is not None and not isinstance(where, Mapping):
        raise InvalidRequest("'citadel.retrieval.filter' is an object", param="citadel.retrieval")
    return _Request(collection, top_k, where)


def last_user_text(messages: Sequence[Any]) -> str:
    """The text of the last user message (text parts of a multi-part content joined by blank lines)."""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content.strip()
            if isinstance(content, list):
                parts = [
                    p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text"
                ]
                return "\n\n".join(part for part in parts if isinstance(part, str)).strip()
            return ""
    return ""


def _fit(hits: Sequence[Hit], max_chars: int) -> list[Hit]:
    """The hits with text, best first, while their texts fit in ``max_chars``."""
    used: list[Hit] = []
    total = 0
    for hit in hits:
        text = hit.payload.get(TEXT_KEY)
        if not isinstance(text, str) or not text:
            continue
        if total + len(text) > max_chars and used:
            break
        used.append(hit)
        total += len(text)
    return used


def context_text(hits: Sequence[Hit]) -> str:
    passages = "\n\n".join(f"[{n}] {hit.payload[TEXT_KEY]}" for n, hit in enumerate(hits, start=1))
    return CONTEXT_PREAMBLE + passages


def with_context(messages: list[Any], context: str) -> list[Any]:
    """The messages with ``context`` in the system message (the first one's, or a new first one)."""
    first = messages[0] if messages else None
    if isinstance(first, Mapping) and first.get("role") == "system" and isinstance(first.get("content"), str):
        merged = {**first, "content": f"{first['content']}\n\n{context}"}
        return [merged, *messages[1:]]
    return [{"role": "system", "content": context}, *messages]
