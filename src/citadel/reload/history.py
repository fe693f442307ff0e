"""Config versions in the database: every reload's config text, who asked, the diff and the result.

An applied version is also an audit row (``config.reload`` or ``config.rollback``) with the diff before and
after, in the same transaction, so that the audit log tells the whole story of the running config.

>>> version = await record_version(database, attempt, result="applied")  # doctest: +SKIP
>>> [v.id for v in await list_versions(database)]  # doctest: +SKIP
[1, 2]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import RowMapping

from citadel.store.audit import write_audit
from citadel.store.database import Database
from citadel.store.tables import config_versions
from citadel.store.types import utcnow

APPLIED = "applied"  # in force on every gateway worker (and model service)
REFUSED = "refused"  # invalid: nothing changed
ROLLED_BACK = "rolled_back"  # a model service did not become healthy: the previous config stayed
FAILED = "failed"  # valid, but not every gateway worker took it in time


@dataclass(frozen=True, slots=True)
class Attempt:
    """One config someone asked to apply: its text and where it came from."""

    actor: str
    source: str  # cli, sighup, api, rollback, start
    config_path: str
    config_text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.config_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    id: int
    at: datetime
    actor: str
    source: str
    config_path: str
    config_sha256: str
    config_text: str
    diff: list[str]
    result: str
    detail: list[str]

    @classmethod
    def from_row(cls, row: RowMapping) -> ConfigVersion:
        return cls(**{field.name: row[field.name] for field in fields(cls)})

    def summary(self) -> dict[str, Any]:
        """The version as the admin API shows it (without the text)."""
        return {
            "version": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "source": self.source,
            "sha256": self.config_sha256,
            "diff": self.diff,
            "result": self.result,
            "detail": self.detail,
        }


async def record_version(
    database: Database, attempt: Attempt, *, diff: list[str], result: str, detail: list[str]
) -> ConfigVersion:
    """Store one attempt; an applied one (or a rollback) also writes its audit row."""
    at = utcnow()
    async with database.transaction() as connection:
        before = await _latest_applied(connection)
        inserted = await connection.execute(
            insert(config_versions).values(
                at=at,
                actor=attempt.actor,
                source=attempt.source,
                config_path=attempt.config_path,
                config_sha256=attempt.sha256,
                config_text=attempt.config_text,
                diff=diff,
                result=result,
                detail=detail,
            )
        )
        key = inserted.inserted_primary_key
        assert key is not None
        version_id = int(key[0])
        if result == APPLIED:
            await write_audit(
                connection,
                actor=attempt.actor,
                action="config.rollback" if attempt.source == "rollback" else "config.reload",
                target=f"config version {version_id}",
                before={"version": before, "diff": diff} if before is not None else None,
                after={"version": version_id, "sha256": attempt.sha256, "diff": diff, "detail": detail},
            )
    return ConfigVersion(
        version_id, at, attempt.actor, attempt.source, attempt.config_path, attempt.sha256,
        attempt.config_text, diff, result, detail,
    )  # fmt: skip


async def _latest_applied(connection: Any) -> int | None:
    query = select(func.max(config_versions.c.id)).where(config_versions.c.result == APPLIED)
    value = (await connection.execute(query)).scalar()
    return int(value) if value is not None else None


async def list_versions(database: Database, *, limit: int = 50) -> list[ConfigVersion]:
    """The newest ``limit`` versions, oldest first."""
    query = select(config_versions).order_by(config_versions.c.id.desc()).limit(limit)
    async with database.transaction() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [ConfigVersion.from_row(row) for row in reversed(rows)]


async def get_version(database: Database, version_id: int) -> ConfigVersion | None:
    query = select(config_versions).where(config_versions.c.id == version_id)
    async with database.transaction() as connection:
        row = (await connection.execute(query)).mappings().first()
    return ConfigVersion.from_row(row) if row is not None else None


async def latest_id(database: Database) -> int:
    """The newest version's id (0 when there is none): callers wait for a version after it."""
    async with database.transaction() as connection:
        value = (await connection.execute(select(func.max(config_versions.c.id)))).scalar()
    return int(value) if value is not None else 0


async def versions_after(database: Database, version_id: int) -> list[ConfigVersion]:
    query = select(config_versions).where(config_versions.c.id > version_id).order_by(config_versions.c.id)
    async with database.transaction() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [ConfigVersion.from_row(row) for row in rows]
