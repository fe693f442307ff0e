"""Live surfaces of the gateway: GraphQL, WebSocket and SSE streams, and the admin web console.

Registered by the gateway's app factory with two calls::

    install_live(app, settings)                          # routes, /graphql, /ui
    app.state.live = LiveServices.build(app.state)       # in the lifespan, once the services exist

Chat over any of them goes through :func:`citadel.gateway.request_path.complete`, as
``/v1/chat/completions`` does; the request log says which transport carried each request.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route, WebSocketRoute

from citadel.config import CitadelSettings
from citadel.live.state import LiveServices, live_of

__all__ = ["LiveServices", "install_live", "live_of"]


def install_live(app: FastAPI, settings: CitadelSettings) -> None:
    """Add the live routes to ``app``: ``/ws/*`` and ``/stream/*`` always, ``/graphql`` and ``/ui`` unless
    switched off (``live.graphql.enabled``, ``live.console.enabled``)."""
    from citadel.live import sse, websocket

    app.include_router(websocket.router)
    app.include_router(sse.router)
    if settings.live.graphql.enabled:
        from citadel.live.graphql import graphql_app

        graphql = graphql_app(settings)  # an ASGI app: for HTTP and the graphql-transport-ws WebSocket
        app.router.routes.append(Route("/graphql", graphql, methods=["GET", "POST"], include_in_schema=False))
        app.router.routes.append(WebSocketRoute("/graphql", graphql))
    if settings.live.console.enabled:
        from citadel.live.console import pages, routes

        app.include_router(routes.router)
        app.include_router(pages.router)
        app.mount("/ui/static", pages.static_files(), name="console-static")
