"""``llamacpp``: Citadel's own model service, a GGUF model on llama.cpp, served in this process."""

from __future__ import annotations

from citadel.config import CitadelSettings, LlamaCppModel, ModelSettings, as_backend
from citadel.engines.in_process import run_app


class LlamaCppEngine:
    name = "llamacpp"
    runs_locally = True
    weights_required = True

    def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
        """Serve until stopped; exits with EXIT_SELF_TEST_FAILED or EXIT_ENGINE_DIED when the engine fails."""
        from citadel.model_service.app import create_model_service_app

        served = as_backend(model, LlamaCppModel)
        run_app(lambda control: create_model_service_app(settings, served, control=control), settings, served)
