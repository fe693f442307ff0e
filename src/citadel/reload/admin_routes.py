"""The admin API for the config: ``POST /admin/config`` (reload), ``GET /admin/config/history``,
``POST /admin/config/rollback``. Admin key only (the app adds ``require_admin``).

``POST /admin/config`` reloads the gateway's config file; with ``{"config": "<yaml>"}`` it first validates
that text and, if valid, writes it to the file. Answers: 200 with what the reload did (``result``:
``applied`` or ``unchanged``), 400 ``invalid_config`` with every ``key.path: problem`` (nothing changed),
503 when a new model service did not start (``config_rolled_back``) or a worker did not take it.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime.

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, ConfigDict

from citadel.config import ConfigError
from citadel.config.loader import settings_from_text
from citadel.errors import InvalidRequest, NotFound, ServiceUnavailable
from citadel.gateway.services import GatewayServices, ServicesDep
from citadel.reload.apply import ReloadOutcome
from citadel.reload.history import REFUSED, list_versions
from citadel.reload.request import request_reload
from citadel.reload.rollback import RollbackRefused, rollback
from citadel.reload.state import read_state, run_dir


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: str | None = None  # the new file's YAML; none: reload the file as it is


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int


def _config_path(services: GatewayServices) -> Path:
    state = read_state(run_dir(services.settings))
    if state is None:
        raise ServiceUnavailable("This gateway does not know its config file (started without one).")
    return Path(state.config_path)


def _answer(outcome: ReloadOutcome) -> dict[str, Any]:
    if outcome.result == REFUSED:
        raise InvalidRequest("\n".join(outcome.problems), code="invalid_config", param="config")
    if not outcome.ok:
        raise ServiceUnavailable("\n".join(outcome.lines()), code=f"config_{outcome.result}")
    return outcome.as_dict()


def config_admin_router(*, dependencies: list[Any]) -> APIRouter:
    router = APIRouter(prefix="/admin/config", tags=["admin"], dependencies=dependencies)

    @router.post("")
    async def reload_config(
        services: ServicesDep, body: Annotated[ConfigChange | None, Body()] = None
    ) -> dict[str, Any]:
        path = _config_path(services)
        if body is not None and body.config is not None:
            try:
                settings_from_text(body.config, path)
            except ConfigError as exc:
                raise InvalidRequest("\n".join(exc.problems), code="invalid_config", param="config") from exc
            await asyncio.to_thread(path.write_text, body.config, encoding="utf-8")
        governance = services.governance
        outcome = await request_reload(
            services.settings, governance.database, path, actor="admin", source="api"
        )
        return _answer(outcome)

    @router.get("/history")
    async def history(services: ServicesDep, limit: int = Query(default=50, ge=1, le=1000)) -> dict[str, Any]:
        versions = await list_versions(services.governance.database, limit=limit)
        return {"object": "list", "data": [version.summary() for version in versions]}

    @router.post("/rollback")
    async def roll_back(body: RollbackRequest, services: ServicesDep) -> dict[str, Any]:
        path = _config_path(services)
        try:
            outcome = await rollback(
                services.settings,
                services.governance.database,
                path,
                body.version,
                actor="admin",
                source="rollback",
            )
        except RollbackRefused as exc:
            raise NotFound(str(exc), param="version") from exc
        return _answer(outcome)

    return router
