"""Guards for the gateway's own APIs (``/admin``, ``/v1/vectors``), as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from citadel.errors import ServiceUnavailable
from citadel.governance import Governance


async def require_admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """The admin key (401 without a valid key, 403 with a normal one)."""
    governance: Governance = request.app.state.governance
    await governance.authorize_admin(authorization)


async def require_api_key(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Any valid API key (anyone, when authentication is off)."""
    governance: Governance = request.app.state.governance
    await governance.authenticate(authorization)


async def require_vectors(request: Request) -> None:
    """503 when this gateway runs without a vector store (why is in its start-up log)."""
    if request.app.state.vectors is None:
        raise ServiceUnavailable(
            "The vector store is off in this gateway (no embedding model configured, or local mode "
            "with several workers).",
            code="vector_store_unavailable",
        )
