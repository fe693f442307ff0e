"""The admin API under ``/admin``: API keys (create, list, show, change, rotate, revoke) and usage.

Every route needs ``Authorization: Bearer <auth.admin_key>`` (401 without a valid key, 403 with a normal
one). The app says where its ``Governance`` is (the gateway: in its services)::

    app.include_router(admin_router(gateway_governance))
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations at runtime, and the
# dependencies they name are the factory's own (local names, which postponed annotations cannot resolve).

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.errors import NotFound
from citadel.events.schema import KEY_CHANGED, KEY_CREATED, KEY_REVOKED, KEY_ROTATED
from citadel.governance import keys_admin
from citadel.governance.keys_admin import KeySpec, key_ref
from citadel.governance.service import Governance
from citadel.store.audit import read_audit
from citadel.store.keys import KeyRecord, find_key
from citadel.store.usage import UsageFilter, usage


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tier: str | None = None
    owner: str | None = None
    models: list[str] | None = Field(default=None, description="Allowed models; null: all.")
    expires_at: datetime | None = None
    spend_limit: float | None = Field(default=None, ge=0)
    spend_period: str = "month"


class KeyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    tier: str | None = None
    owner: str | None = None
    models: list[str] | None = None
    expires_at: datetime | None = None
    spend_limit: float | None = Field(default=None, ge=0)
    spend_period: str | None = None


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def admin_router(governance_of: Callable[[Request], Governance]) -> APIRouter:
    """The admin routes; ``governance_of`` finds the app's ``Governance`` for a request."""
    router = APIRouter(prefix="/admin", tags=["admin"])
    GovernanceDep = Annotated[Governance, Depends(governance_of)]

    async def admin(governance: GovernanceDep, authorization: Annotated[str | None, Header()] = None) -> str:
        return await governance.authorize_admin(authorization)

    AdminDep = Annotated[str, Depends(admin)]

    @router.get("/keys")
    async def list_keys(governance: GovernanceDep, _: AdminDep) -> dict[str, Any]:
        records = await keys_admin.list_keys(governance.database)
        return {"object": "list", "data": [record.as_json() for record in records]}

    @router.post("/keys", status_code=201)
    async def create_key(body: KeyCreate, governance: GovernanceDep, actor: AdminDep) -> dict[str, Any]:
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
            governance.database, spec, actor=actor, tiers=governance.settings.rate_limits.tiers
        )
        _key_event(governance, KEY_CREATED, issued.record, actor)
        return issued.record.as_json() | {"secret": issued.secret}

    @router.get("/keys/{ref}")
    async def show_key(ref: str, governance: GovernanceDep, _: AdminDep) -> dict[str, Any]:
        async with governance.database.transaction() as connection:
            return (await _find(connection, ref)).as_json()

    @router.patch("/keys/{ref}")
    async def change_key(
        ref: str, body: KeyChange, governance: GovernanceDep, actor: AdminDep
    ) -> dict[str, Any]:
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
            actor=actor,
            tiers=governance.settings.rate_limits.tiers,
        )
        governance.keys.forget()
        _key_event(governance, KEY_CHANGED, record, actor)
        return record.as_json()

    @router.post("/keys/{ref}/rotate")
    async def rotate_key(ref: str, governance: GovernanceDep, actor: AdminDep) -> dict[str, Any]:
        issued = await keys_admin.rotate_key(governance.database, key_ref(ref), actor=actor)
        governance.keys.forget()
        _key_event(governance, KEY_ROTATED, issued.record, actor)
        return issued.record.as_json() | {"secret": issued.secret}

    @router.delete("/keys/{ref}")
    async def revoke_key(ref: str, governance: GovernanceDep, actor: AdminDep) -> dict[str, Any]:
        record = await keys_admin.revoke_key(governance.database, key_ref(ref), actor=actor)
        governance.keys.forget()
        _key_event(governance, KEY_REVOKED, record, actor)
        return record.as_json()

    @router.get("/usage")
    async def get_usage(
        governance: GovernanceDep,
        _: AdminDep,
        key: Annotated[str | None, Query(description="Key id or prefix.")] = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        async with governance.database.transaction() as connection:
            key_id = (await _find(connection, key)).id if key is not None else None
            rows = await usage(connection, UsageFilter(_utc(since), _utc(until), key_id, model))
        return {"object": "list", "data": [row.as_json() for row in rows]}

    @router.get("/audit")
    async def get_audit(
        governance: GovernanceDep, _: AdminDep, since: datetime | None = None
    ) -> dict[str, Any]:
        async with governance.database.transaction() as connection:
            rows = await read_audit(connection, since=_utc(since))
        for row in rows:
            row["at"] = row["at"].isoformat()
        return {"object": "list", "data": rows}

    return router


def _key_event(governance: Governance, kind: str, record: KeyRecord, actor: str) -> None:
    """A ``business_events`` event for a key change (events on); the key's secret is never in it."""
    if governance.events is not None:
        data = {"key_id": record.id, "key_prefix": record.prefix, "name": record.name, "actor": actor}
        governance.events.business(kind, str(record.id), data)


async def _find(connection: AsyncConnection, ref: str) -> KeyRecord:
    record = await find_key(connection, key_ref(ref))
    if record is None:
        raise NotFound(f"no API key {ref!r}")
    return record
