"""The gateway's server span: :class:`GatewayApp` with every HTTP request inside one, when tracing is on.

``GatewayApp`` answers the proxied endpoints in its own ``__call__``, before FastAPI's middleware, so the
span must wrap that call itself. With tracing off the factory builds a plain ``GatewayApp``: not even the
check runs per request.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from citadel.gateway.fast_path import GatewayApp
from citadel.tracing import ServerSpans, Tracing

# Names the model that answered (a fallback's, or a virtual model's choice): the span's response model.
MODEL_HEADER = b"x-citadel-model"


class TracedGatewayApp(GatewayApp):
    """A :class:`GatewayApp` whose requests (all but ``exclude_paths``) each run in a server span."""

    def __init__(self, *, tracing: Tracing, exclude_paths: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._traced = ServerSpans(
            super().__call__, tracing, exclude_paths=exclude_paths, response_model_header=MODEL_HEADER
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._traced(scope, receive, send)

    def proxied_entry(self) -> ASGIApp:
        return self._traced  # the span around it; inside, __call__ sees a proxied request again
