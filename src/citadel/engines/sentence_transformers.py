"""``sentence-transformers``: Citadel's embedding service (``/v1/embeddings``), served in this process."""

from __future__ import annotations

from citadel.config import CitadelSettings, EmbeddingModel, ModelSettings, as_backend
from citadel.engines.in_process import run_app


class SentenceTransformersEngine:
    name = "sentence-transformers"
    runs_locally = True
    weights_required = True

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        """Serve until stopped; exits with EXIT_ENGINE_DIED when the batching worker dies."""
        from citadel.embedding_service.app import create_embedding_service_app

        served = as_backend(model, EmbeddingModel)
        run_app(
            lambda control: create_embedding_service_app(settings, served, control=control), settings, served
        )
