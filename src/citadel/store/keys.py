"""API key rows: created, found by the hash of their secret, listed, rotated and revoked."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from citadel.store.tables import api_keys
from citadel.store.types import utcnow


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One API key as stored (never its secret)."""

    id: int
    prefix: str
    name: str
    owner: str | None
    tier: str
    allowed_models: tuple[str, ...] | None
    spend_limit: float | None
    spend_period: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    def problem(self, now: datetime | None = None) -> str | None:
        """Why the key cannot be used at ``now`` (default: the clock, read only for a key that expires)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return None

    def allows(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["allowed_models"] = list(self.allowed_models) if self.allowed_models is not None else None
        for name in ("expires_at", "revoked_at", "created_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


def _record(row: Row[Any]) -> KeyRecord:
    models = row.allowed_models
    return KeyRecord(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        owner=row.owner,
        tier=row.tier,
        allowed_models=tuple(models) if models is not None else None,
        spend_limit=row.spend_limit,
        spend_period=row.spend_period,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
    )


_COLUMNS = [column for column in api_keys.c if column.name != "secret_hash"]


@dataclass(frozen=True, slots=True)
class NewKey:
    """What ``create_key`` stores; the secret itself stays with the caller."""

    prefix: str
    secret_hash: str
    name: str
    tier: str
    owner: str | None = None
    allowed_models: tuple[str, ...] | None = None
    spend_limit: float | None = None
    spend_period: str = "month"
    expires_at: datetime | None = None


async def create_key(connection: AsyncConnection, new: NewKey) -> KeyRecord:
    values = asdict(new)
    values["allowed_models"] = list(new.allowed_models) if new.allowed_models is not None else None
    values["created_at"] = utcnow()
    result = await connection.execute(insert(api_keys).values(**values).returning(*_COLUMNS))
    return _record(result.one())


async def find_by_hash(connection: AsyncConnection, secret_hash: str) -> KeyRecord | None:
    result = await connection.execute(select(*_COLUMNS).where(api_keys.c.secret_hash == secret_hash))
    row = result.first()
    return _record(row) if row is not None else None


async def find_key(connection: AsyncConnection, key: int | str) -> KeyRecord | None:
    """By id, or by prefix (``ctd_ab12cd34``)."""
    column = api_keys.c.id if isinstance(key, int) else api_keys.c.prefix
    result = await connection.execute(select(*_COLUMNS).where(column == key))
    row = result.first()
    return _record(row) if row is not None else None


async def list_keys(connection: AsyncConnection, *, include_revoked: bool = True) -> list[KeyRecord]:
    query = select(*_COLUMNS).order_by(api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    return [_record(row) for row in (await connection.execute(query)).all()]


async def update_key(connection: AsyncConnection, key_id: int, **values: Any) -> KeyRecord | None:
    """Set columns (e.g. ``revoked_at``, ``tier``, ``prefix`` + ``secret_hash`` on rotation)."""
    if "allowed_models" in values and values["allowed_models"] is not None:
        values["allowed_models"] = list(values["allowed_models"])
    result = await connection.execute(
        update(api_keys).where(api_keys.c.id == key_id).values(**values).returning(*_COLUMNS)
    )
    row = result.first()
    return _record(row) if row is not None else None
