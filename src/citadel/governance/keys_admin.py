"""Admin actions on API keys, shared by ``citadel keys`` and ``/admin/keys``; each writes an audit row in the
same transaction as the change. A new or rotated key's secret is returned once and never stored."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.errors import InvalidRequest, NotFound
from citadel.governance.api_keys import generate_secret, hash_secret, visible_prefix
from citadel.governance.budget import PERIODS
from citadel.store import keys as key_rows
from citadel.store.audit import write_audit
from citadel.store.database import Database
from citadel.store.keys import KeyRecord, NewKey
from citadel.store.types import utcnow


@dataclass(frozen=True, slots=True)
class IssuedKey:
    record: KeyRecord
    secret: str


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What an admin may set on a key."""

    name: str
    tier: str
    owner: str | None = None
    allowed_models: tuple[str, ...] | None = None
    expires_at: datetime | None = None
    spend_limit: float | None = None
    spend_period: str = "month"

    def check(self, tiers: Collection[str]) -> None:
        if self.tier not in tiers:
            raise InvalidRequest(
                f"unknown tier {self.tier!r}; tiers: {', '.join(sorted(tiers))}", param="tier"
            )
        if self.spend_period not in PERIODS:
            raise InvalidRequest(f"spend_period must be one of {', '.join(PERIODS)}", param="spend_period")
        if self.spend_limit is not None and self.spend_limit < 0:
            raise InvalidRequest("spend_limit must not be negative", param="spend_limit")


def key_ref(text: str) -> int | str:
    """A key named on the command line or in a URL: its id (``7``) or its prefix (``ctd_ab12cd34``)."""
    return int(text) if text.isdigit() else text


async def _existing(connection: AsyncConnection, ref: int | str) -> KeyRecord:
    record = await key_rows.find_key(connection, ref)
    if record is None:
        raise NotFound(f"no API key {ref!r}")
    return record


async def create_key(database: Database, spec: KeySpec, *, actor: str, tiers: Collection[str]) -> IssuedKey:
    spec.check(tiers)
    secret = generate_secret()
    new = NewKey(
        prefix=visible_prefix(secret),
        secret_hash=hash_secret(secret),
        name=spec.name,
        tier=spec.tier,
        owner=spec.owner,
        allowed_models=spec.allowed_models,
        spend_limit=spec.spend_limit,
        spend_period=spec.spend_period,
        expires_at=spec.expires_at,
    )
    async with database.transaction() as connection:
        record = await key_rows.create_key(connection, new)
        await write_audit(
            connection, actor=actor, action="key.create", target=record.prefix, after=record.as_json()
        )
    return IssuedKey(record, secret)


async def rotate_key(database: Database, ref: int | str, *, actor: str) -> IssuedKey:
    """A new secret for the same key (same id, tier and usage history); the old secret stops working."""
    secret = generate_secret()
    async with database.transaction() as connection:
        before = await _existing(connection, ref)
        after = await key_rows.update_key(
            connection, before.id, prefix=visible_prefix(secret), secret_hash=hash_secret(secret)
        )
        assert after is not None
        await write_audit(
            connection,
            actor=actor,
            action="key.rotate",
            target=before.prefix,
            before=before.as_json(),
            after=after.as_json(),
        )
    return IssuedKey(after, secret)


async def revoke_key(database: Database, ref: int | str, *, actor: str) -> KeyRecord:
    async with database.transaction() as connection:
        before = await _existing(connection, ref)
        if before.revoked_at is not None:
            return before
        after = await key_rows.update_key(connection, before.id, revoked_at=utcnow())
        assert after is not None
        await write_audit(
            connection,
            actor=actor,
            action="key.revoke",
            target=before.prefix,
            before=before.as_json(),
            after=after.as_json(),
        )
    return after


async def update_key(
    database: Database, ref: int | str, changes: dict[str, Any], *, actor: str, tiers: Collection[str]
) -> KeyRecord:
    """Change a key's name, owner, tier, allowed models, expiry or budget."""
    async with database.transaction() as connection:
        before = await _existing(connection, ref)
        merged = {
            "name": before.name,
            "tier": before.tier,
            "owner": before.owner,
            "allowed_models": before.allowed_models,
            "expires_at": before.expires_at,
            "spend_limit": before.spend_limit,
            "spend_period": before.spend_period,
        } | changes
        KeySpec(**merged).check(tiers)
        after = await key_rows.update_key(connection, before.id, **changes)
        assert after is not None
        await write_audit(
            connection,
            actor=actor,
            action="key.update",
            target=before.prefix,
            before=before.as_json(),
            after=after.as_json(),
        )
    return after


async def list_keys(database: Database, *, include_revoked: bool = True) -> list[KeyRecord]:
    async with database.transaction() as connection:
        return await key_rows.list_keys(connection, include_revoked=include_revoked)
