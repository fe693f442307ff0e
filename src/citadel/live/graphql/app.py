"""``/graphql``: Strawberry's ASGI app, authenticated with the gateway's API keys.

Over HTTP the key is the ``Authorization`` header (401 with a GraphQL error without a valid one); over
``graphql-transport-ws`` it is the header or ``connection_init``'s payload ``{"Authorization": "Bearer
..."}`` (closed with 4403 otherwise). No GraphiQL page: it would load its scripts from a CDN.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET

from citadel.errors import CitadelError
from citadel.live.graphql.context import GraphQLContext
from citadel.live.graphql.schema import build_schema
from citadel.live.state import live_of


def _error(error: CitadelError) -> Response:
    body = {
        "data": None,
        "errors": [
            {
                "message": error.message,
                "extensions": {"code": error.code or error.error_type, "status": error.status_code},
            }
        ],
    }
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


class CitadelGraphQL(GraphQL[GraphQLContext, None]):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "POST"):
            request = Request(scope, receive)
            live = live_of(request.app.state)
            try:
                await live.gateway.governance.authenticate(request.headers.get("authorization"))
            except CitadelError as exc:
                await _error(exc)(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GraphQLContext:
        live = live_of(request.app.state)
        context = GraphQLContext(live, request, response)
        authorization = request.headers.get("authorization")
        if isinstance(request, Request):  # checked in __call__: cached by the key directory
            context.principal = await live.gateway.governance.authenticate(authorization)
            context.authorization = authorization
        return context

    async def on_ws_connect(self, context: GraphQLContext) -> Any:
        params = context.connection_params or {}
        authorization = context.request.headers.get("authorization")
        sent = params.get("Authorization") or params.get("authorization")
        if isinstance(sent, str):
            authorization = sent
        elif isinstance(params.get("token"), str):
            authorization = f"Bearer {params['token']}"
        try:
            context.principal = await context.live.gateway.governance.authenticate(authorization)
        except CitadelError as exc:
            context.live.metrics.refused.labels("graphql", "auth").inc()
            raise ConnectionRejectionError({"message": exc.message}) from exc
        context.authorization = authorization
        return UNSET  # a plain connection_ack


def graphql_app(app_settings: Any) -> CitadelGraphQL:
    """The ``/graphql`` app for ``live.graphql`` settings."""
    settings = app_settings.live.graphql
    return CitadelGraphQL(
        build_schema(settings),
        graphql_ide=None,
        allow_queries_via_get=False,  # a GET could be sent by any page the user visits
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
