"""The reference the gateway is measured against: the least a Python reverse proxy can do.

uvicorn (uvloop + httptools) and one pooled aiohttp client; the body goes through untouched, the answer comes
back as it came. Usage: python bench/minimal_proxy.py PORT UPSTREAM_URL [--client citadel]

``--client citadel`` swaps aiohttp for the gateway's own upstream client (``citadel.gateway.upstream_http``),
to see what the client alone is worth: run both against the same upstream with wrk.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn
from yarl import URL

from citadel.gateway.upstream_http import Deadlines, UpstreamClient

UPSTREAM = sys.argv[2].rstrip("/")
CITADEL_CLIENT = sys.argv[3:] == ["--client", "citadel"]
DEADLINES = Deadlines(total_s=300.0, connect_s=10.0, read_s=300.0)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # uvicorn copies the lifespan's state into every request's scope.
                scope["state"]["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
                scope["state"]["client"] = UpstreamClient(max_connections=512)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await scope["state"]["session"].close()
                await scope["state"]["client"].aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {"content-type": "application/json"}
    if CITADEL_CLIENT:
        answer = await scope["state"]["client"].post(URL(UPSTREAM + scope["path"]), body, headers, DEADLINES)
        out = [(b"content-type", (answer.header("content-type") or "application/json").encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        async for chunk in answer.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        answer.release()
        await send({"type": "http.response.body", "body": b""})
        return
    async with scope["state"]["session"].post(
        UPSTREAM + scope["path"], data=body, headers=headers
    ) as upstream:
        out = [(b"content-type", upstream.headers.get("content-type", "application/json").encode())]
        await send({"type": "http.response.start", "status": upstream.status, "headers": out})
        async for chunk in upstream.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
