"""A Citadel model service as a Ray Serve replica: the same app, run by Ray Serve instead of uvicorn.

Ray Serve imports :func:`build` on a node of the cluster (the application's ``import_path``) with the
``args`` that :func:`citadel.ray_serve.serve_config.replica_args` rendered, and runs one
:class:`ModelServiceReplica` per replica. Its ASGI app is built in the replica (``__serve_build_asgi_app__``),
so that nothing but JSON crosses from the CLI to the cluster, and Ray Serve runs the app's lifespan: the
model loads and passes its self-test before the replica counts as started.

This module imports ray; only Ray nodes import it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from citadel.config import CitadelSettings, LocalModelSettings
from citadel.engines.service_control import ServiceControl
from citadel.ray_serve.serve_config import DEPLOYMENT_NAME


def _chat_app(settings: CitadelSettings, model: LocalModelSettings, control: ServiceControl) -> FastAPI:
    from citadel.model_service.app import create_model_service_app

    return create_model_service_app(settings, model, control=control)


def _embedding_app(settings: CitadelSettings, model: LocalModelSettings, control: ServiceControl) -> FastAPI:
    from citadel.embedding_service.app import create_embedding_service_app

    return create_embedding_service_app(settings, model, control=control)


# Citadel's own services by backend (vLLM runs as Ray Serve LLM's application, not through this class).
_APPS: dict[str, Callable[[CitadelSettings, LocalModelSettings, ServiceControl], FastAPI]] = {
    "llamacpp": _chat_app,
    "sentence-transformers": _embedding_app,
}


def replica_settings(args: dict[str, Any]) -> tuple[CitadelSettings, LocalModelSettings]:
    """The settings a replica serves from: the rendered model (placed locally, as far as the service
    knows) and the sections it reads, over the node's ``CITADEL_*`` environment."""
    sections = {"log_level": args["log_level"], "tracing": args["tracing"], "models": [args["model"]]}
    settings = CitadelSettings(**sections)
    model = settings.models[0]
    if not isinstance(model, LocalModelSettings) or model.backend not in _APPS:
        raise ValueError(f"model {model.name!r}: backend {model.backend!r} has no Ray Serve replica")
    return settings, model


@serve.ingress()
class ModelServiceReplica:
    """One replica of a model service; Ray Serve routes its HTTP requests into the service's ASGI app."""

    def __init__(self, args: dict[str, Any]) -> None:
        self._settings, self._model = replica_settings(args)
        logging.getLogger("citadel").setLevel(self._settings.log_level)
        # No process to stop here: a failed service fails check_health, and Ray Serve replaces it.
        self._control = ServiceControl()

    def __serve_build_asgi_app__(self) -> FastAPI:
        return _APPS[self._model.backend](self._settings, self._model, self._control)

    def check_health(self) -> None:
        """Ray Serve's periodic health check: a service whose engine died is replaced."""
        if self._control.failure is not None:
            raise RuntimeError(f"{self._model.name}: {self._control.failure}")


def build(args: dict[str, Any]) -> Application:
    """The application Ray Serve builds from ``import_path: citadel.ray_serve.replica:build``; the config's
    ``deployments`` entry (autoscaling, resources) overrides these defaults."""
    return serve.deployment(name=DEPLOYMENT_NAME)(ModelServiceReplica).bind(args)
