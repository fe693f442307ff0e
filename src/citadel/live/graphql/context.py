"""What every resolver gets: the live services, and who is asking (a key, the admin key, or anyone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info

from citadel.errors import CitadelError
from citadel.governance.admission import Principal
from citadel.live.state import LiveServices


@dataclass(slots=True)
class GraphQLContext:
    live: LiveServices
    request: Request | WebSocket
    response: Response | WebSocket | None
    principal: Principal | None = None  # set once authenticated (on_ws_connect for a WebSocket)
    authorization: str | None = None  # forwarded with the chat mutation
    connection_params: dict[str, object] | None = None  # graphql-transport-ws: connection_init's payload

    @property
    def admin(self) -> bool:
        return self.principal is not None and self.principal.kind in ("admin", "anonymous")


Ctx = Info[GraphQLContext, Any]


def caller(info: Ctx) -> Principal:
    principal = info.context.principal
    if principal is None:
        raise GraphQLError("Not authenticated.", extensions={"code": "invalid_api_key", "status": 401})
    return principal


def require_admin(info: Ctx) -> None:
    caller(info)
    if not info.context.admin:
        raise GraphQLError(
            "This field needs the admin key.", extensions={"code": "admin_required", "status": 403}
        )


def graphql_error(error: CitadelError) -> GraphQLError:
    """A Citadel error as a GraphQL one, its OpenAI code and HTTP status in ``extensions``."""
    return GraphQLError(
        error.message,
        extensions={
            "code": error.code or error.error_type,
            "type": error.error_type,
            "status": error.status_code,
        },
    )
