"""Serving one of Citadel's own model-service apps in this process with uvicorn."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from citadel.config import CitadelSettings, ModelSettings


def run_app(app: FastAPI, settings: CitadelSettings, model: ModelSettings) -> None:
    """Serve ``app`` on the model's host and port until SIGINT/SIGTERM."""
    uvicorn.run(app, host=model.host, port=model.port, log_level=settings.log_level.lower(), access_log=False)
