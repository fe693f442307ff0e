"""The console's session cookie, roles and CSRF check, as FastAPI dependencies.

Every ``/ui/api`` route names the least role it needs; the server checks it on every call (the page only
hides what a role may not do). A write (any method but GET/HEAD) must also carry the session's CSRF token
in ``x-csrf-token``: the cookie alone (SameSite=Strict as it is) does not make a request the user's.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request

from citadel.errors import AuthenticationError, PermissionDenied
from citadel.gateway.services import services_of
from citadel.live.console.accounts import Role, Session, at_least, find_session

COOKIE = "citadel_session"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


async def session_of(request: Request) -> Session | None:
    """The live session behind the request's cookie, if any."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await find_session(services_of(request.app.state).governance.database, token)


def needs(role: Role) -> Callable[[Request], Awaitable[Session]]:
    """A dependency: the signed-in session, of ``role`` or above (401 signed out, 403 below it)."""

    async def dependency(request: Request) -> Session:
        session = await session_of(request)
        if session is None:
            raise AuthenticationError("Sign in to the console first (or the session has expired).")
        if not at_least(session.user.role, role):
            raise PermissionDenied(
                f"This needs the {role} role; {session.user.username} is {session.user.role}.",
                code="role_required",
            )
        if request.method not in _SAFE:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise PermissionDenied("Missing or wrong CSRF token (x-csrf-token).", code="csrf_failed")
        return session

    return dependency


def actor(session: Session) -> str:
    """The audit log's name for what a console user does."""
    return f"console:{session.user.username}"
