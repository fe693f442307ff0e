"""The console's page and its static files (committed in the package: nothing is fetched at run time)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The page runs only its own script and talks only to its own origin (HTTP and WebSocket).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def console_page() -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


@router.get("/ui/")
async def console_slash() -> Response:
    return RedirectResponse("/ui")


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)
