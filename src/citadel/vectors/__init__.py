"""Vector store: Qdrant (a server, or on-disk local mode by default), the embedding model, retrieval.

The gateway opens one :class:`Vectors` in its lifespan, includes :func:`vectors_router` for ``/v1/vectors``
and calls :func:`augment` on chat bodies before forwarding them. See docs/vectors-and-cache.md.
"""

from citadel.vectors.embedder import ServiceEmbedder, TextEmbedder
from citadel.vectors.ids import PointId
from citadel.vectors.retrieval import RETRIEVAL_HEADER, Augmented, augment, retrieval_header
from citadel.vectors.service import NewPoint, Vectors, open_vectors, unavailable_reason
from citadel.vectors.store import Hit, VectorStore

__all__ = [
    "RETRIEVAL_HEADER",
    "Augmented",
    "Hit",
    "NewPoint",
    "PointId",
    "ServiceEmbedder",
    "TextEmbedder",
    "VectorStore",
    "Vectors",
    "augment",
    "open_vectors",
    "retrieval_header",
    "unavailable_reason",
]
