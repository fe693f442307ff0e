"""``sentence-transformers``: Citadel's embedding service (``/v1/embeddings``), served in this process."""

from __future__ import annotations

import uvicorn

from citadel.config import CitadelSettings, ModelSettings


class SentenceTransformersEngine:
    name = "sentence-transformers"
    runs_locally = True
    weights_required = True

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        from citadel.embedding_service.app import create_embedding_service_app

        app = create_embedding_service_app(settings, model.name)
        uvicorn.run(
            app, host=model.host, port=model.port, log_level=settings.log_level.lower(), access_log=False
        )
