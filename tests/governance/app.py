"""A stand-in for the gateway's request path: ``admit`` before, ``record`` after, the admin router included —
the calls the gateway makes, without forwarding anywhere."""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from citadel.errors import install_error_handlers
from citadel.governance import Governance, RequestLogEntry
from citadel.governance.admin_routes import admin_router


def governed_app(governance: Governance) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    def governance_of(request: Request) -> Governance:  # typed: FastAPI takes an untyped name for a query
        return governance

    app.include_router(admin_router(governance_of))

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        started = time.perf_counter()
        body = await request.json()
        admission = await governance.admit(request.headers.get("authorization"), body["model"], 16)
        governance.record(
            RequestLogEntry(
                request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
                key_id=admission.key_id,
                model=body["model"],
                served_model=body["model"],
                endpoint="/v1/chat/completions",
                status_code=200,
                latency_ms=(time.perf_counter() - started) * 1000,
                prompt_tokens=16,
                completion_tokens=8,
                request_body=str(body),
            )
        )
        return JSONResponse({"object": "chat.completion", "model": body["model"]}, headers=admission.headers)

    return app
