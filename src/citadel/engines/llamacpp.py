"""``llamacpp``: Citadel's own model service, a GGUF model on llama.cpp, served in this process."""

from __future__ import annotations

import uvicorn

from citadel.config import CitadelSettings, ModelSettings


class LlamaCppEngine:
    name = "llamacpp"
    runs_locally = True
    weights_required = True

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        from citadel.model_service.app import create_model_service_app

        app = create_model_service_app(settings, model.name)
        uvicorn.run(
            app, host=model.host, port=model.port, log_level=settings.log_level.lower(), access_log=False
        )
