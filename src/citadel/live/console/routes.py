"""The console's JSON routes under ``/ui/api``; each names the least role it needs (see :mod:`.guard`).

viewer: the overview, keys, usage, the request log, the running config. operator: key changes, config
validation. admin: console users and the audit log. Every write is audited (key changes by
:mod:`citadel.governance.keys_admin`, sign-in and sign-out by :mod:`.accounts`).
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at run time.

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from citadel.config.loader import ConfigError, load_settings
from citadel.errors import AuthenticationError, NotFound, RateLimited
from citadel.governance import keys_admin
from citadel.governance.admin_routes import KeyChange, KeyCreate
from citadel.governance.keys_admin import KeySpec, key_ref
from citadel.live.console.accounts import (
    ROLES,
    Session,
    close_session,
    create_user,
    list_users,
    open_session,
    verify_user,
)
from citadel.live.console.guard import COOKIE, actor, needs, session_of
from citadel.live.queries import RequestQuery, one_request, recent_requests, usage_series
from citadel.live.state import LiveServices, live_of
from citadel.live.status import StatusReader
from citadel.store.audit import read_audit
from citadel.store.keys import find_key
from citadel.store.usage import UsageFilter, usage

router = APIRouter(prefix="/ui/api", tags=["console"])

Viewer = Annotated[Session, Depends(needs("viewer"))]
Operator = Annotated[Session, Depends(needs("operator"))]
Admin = Annotated[Session, Depends(needs("admin"))]


def _live(request: Request) -> LiveServices:
    return live_of(request.app.state)


LiveDep = Annotated[LiveServices, Depends(_live)]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=1000)
    role: str = Field(pattern="^(viewer|operator|admin)$")


class ConfigText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(max_length=1_000_000)


def _me(session: Session) -> dict[str, Any]:
    return {
        "username": session.user.username,
        "role": session.user.role,
        "roles": list(ROLES),
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at.isoformat(),
    }


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@router.post("/session")
async def sign_in(body: SignIn, request: Request, response: Response, live: LiveDep) -> dict[str, Any]:
    """Sign in: a session cookie (HttpOnly, SameSite=Strict) and the CSRF token for writes."""
    client = request.client.host if request.client else "unknown"
    try:
        live.throttle.check(body.username, client)
    except RateLimited:
        live.metrics.signins.labels("throttled").inc()
        raise
    database = live.gateway.governance.database
    user = await verify_user(database, body.username, body.password)
    if user is None:
        live.throttle.failed(body.username, client)
        live.metrics.signins.labels("failed").inc()
        raise AuthenticationError("Wrong user name or password.")
    live.throttle.succeeded(body.username)
    live.metrics.signins.labels("success").inc()
    console = live.settings.console
    session = await open_session(database, user, ttl_s=console.session_ttl_s)
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(console.session_ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=console.cookie_secure,
    )
    return _me(session)


@router.get("/session")
async def whoami(session: Viewer) -> dict[str, Any]:
    return _me(session)


@router.delete("/session")
async def sign_out(request: Request, response: Response, live: LiveDep) -> dict[str, Any]:
    """Sign out: the session ends on the server, not only in the browser."""
    session = await session_of(request)
    if session is not None:
        await needs("viewer")(request)  # the CSRF check: a page elsewhere must not sign the user out
        await close_session(live.gateway.governance.database, session)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return {"signed_out": session is not None}


@router.get("/overview")
async def overview(_: Viewer, live: LiveDep) -> dict[str, Any]:
    return StatusReader(live.gateway).snapshot()


@router.get("/keys")
async def list_keys(_: Viewer, live: LiveDep) -> dict[str, Any]:
    records = await keys_admin.list_keys(live.gateway.governance.database)
    tiers = sorted(live.gateway.settings.rate_limits.tiers)
    models = [model.name for model in live.gateway.settings.models]
    return {"data": [record.as_json() for record in records], "tiers": tiers, "models": models}


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, session: Operator, live: LiveDep) -> dict[str, Any]:
    governance = live.gateway.governance
    spec = KeySpec(
        name=body.name,
        tier=body.tier or governance.settings.rate_limits.default_tier,
        owner=body.owner,
        allowed_models=tuple(body.models) if body.models is not None else None,
        expires_at=_utc(body.expires_at),
        spend_limit=body.spend_limit,
        spend_period=body.spend_period,
    )
    issued = await keys_admin.create_key(
        governance.database, spec, actor=actor(session), tiers=governance.settings.rate_limits.tiers
    )
    return issued.record.as_json() | {"secret": issued.secret}


@router.patch("/keys/{ref}")
async def change_key(ref: str, body: KeyChange, session: Operator, live: LiveDep) -> dict[str, Any]:
    governance = live.gateway.governance
    changes = body.model_dump(exclude_unset=True)
    if "models" in changes:
        models = changes.pop("models")
        changes["allowed_models"] = tuple(models) if models is not None else None
    if "expires_at" in changes:
        changes["expires_at"] = _utc(changes["expires_at"])
    record = await keys_admin.update_key(
        governance.database,
        key_ref(ref),
        changes,
        actor=actor(session),
        tiers=governance.settings.rate_limits.tiers,
    )
    governance.keys.forget()
    return record.as_json()


@router.post("/keys/{ref}/rotate")
async def rotate_key(ref: str, session: Operator, live: LiveDep) -> dict[str, Any]:
    governance = live.gateway.governance
    issued = await keys_admin.rotate_key(governance.database, key_ref(ref), actor=actor(session))
    governance.keys.forget()
    return issued.record.as_json() | {"secret": issued.secret}


@router.delete("/keys/{ref}")
async def revoke_key(ref: str, session: Operator, live: LiveDep) -> dict[str, Any]:
    governance = live.gateway.governance
    record = await keys_admin.revoke_key(governance.database, key_ref(ref), actor=actor(session))
    governance.keys.forget()
    return record.as_json()


async def _key_id(live: LiveServices, key: str | None) -> int | None:
    if not key:
        return None
    async with live.gateway.governance.database.transaction() as connection:
        record = await find_key(connection, key_ref(key))
    if record is None:
        raise NotFound(f"no API key {key!r}")
    return record.id


@router.get("/usage")
async def get_usage(
    _: Viewer,
    live: LiveDep,
    since: datetime | None = None,
    until: datetime | None = None,
    key: str | None = None,
    model: str | None = None,
    bucket_s: Annotated[int, Query(ge=60, le=86400 * 31)] = 3600,
) -> dict[str, Any]:
    """Totals per key and model, and a series per time bucket for the charts."""
    key_id = await _key_id(live, key)
    async with live.gateway.governance.database.transaction() as connection:
        rows = await usage(connection, UsageFilter(_utc(since), _utc(until), key_id, model or None))
        series = await usage_series(
            connection,
            RequestQuery(key_id=key_id, model=model or None, since=_utc(since), until=_utc(until)),
            bucket_s,
        )
    return {"data": [row.as_json() for row in rows], "series": series, "bucket_s": bucket_s}


@router.get("/requests")
async def get_requests(
    _: Viewer,
    live: LiveDep,
    key: str | None = None,
    model: str | None = None,
    status: Annotated[str | None, Query(pattern="^(ok|error|[1-5][0-9][0-9])?$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    query = RequestQuery(
        key_id=await _key_id(live, key),
        model=model or None,
        status=status or None,
        since=_utc(since),
        until=_utc(until),
        limit=limit,
    )
    async with live.gateway.governance.database.transaction() as connection:
        rows = await recent_requests(connection, query)
    return {"data": rows, "bodies": live.gateway.settings.request_log.bodies}


@router.get("/requests/{request_id}")
async def get_request(request_id: str, _: Viewer, live: LiveDep) -> dict[str, Any]:
    async with live.gateway.governance.database.transaction() as connection:
        row = await one_request(connection, request_id)
    if row is None:
        raise NotFound(f"no request {request_id!r} in the request log")
    return row | {"bodies": live.gateway.settings.request_log.bodies}


@router.get("/config")
async def running_config(_: Viewer, live: LiveDep) -> dict[str, Any]:
    """The running config as the gateway validated it; every secret masked."""
    settings = live.gateway.settings
    text = yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False)
    return {"yaml": text, "apply_available": False}


@router.post("/config/validate")
async def validate_config(body: ConfigText, _: Operator) -> dict[str, Any]:
    """Whether an edited config would load; its problems, key by key, if not."""
    return await asyncio.to_thread(_validate, body.yaml)


def _validate(text: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "citadel.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            settings = load_settings(path)
        except ConfigError as exc:
            return {"valid": False, "problems": exc.problems}
    return {"valid": True, "problems": [], "models": [model.name for model in settings.models]}


@router.get("/users")
async def get_users(_: Admin, live: LiveDep) -> dict[str, Any]:
    return {"data": await list_users(live.gateway.governance.database)}


@router.post("/users", status_code=201)
async def add_user(body: NewUser, session: Admin, live: LiveDep) -> dict[str, Any]:
    user = await create_user(
        live.gateway.governance.database, body.username, body.password, body.role, actor=actor(session)
    )
    return {"id": user.id, "username": user.username, "role": user.role}


@router.get("/audit")
async def get_audit(
    _: Admin, live: LiveDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> dict[str, Any]:
    async with live.gateway.governance.database.transaction() as connection:
        rows = await read_audit(connection)
    rows = rows[-limit:]
    for row in rows:
        row["at"] = row["at"].isoformat()
    return {"data": list(reversed(rows))}
