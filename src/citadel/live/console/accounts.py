"""Console users (scrypt-hashed passwords, one role each) and their sessions (hashed tokens, an expiry).

user = await create_user(database, "alice", "s3cret-pass", "operator", actor="cli")
session = await open_session(database, user, ttl_s=3600)   # session.token goes into the cookie
found = await find_session(database, session.token)       # None once expired or signed out
await close_session(database, session.token)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import insert, select, update

from citadel.errors import InvalidRequest
from citadel.store.audit import write_audit
from citadel.store.database import Database
from citadel.store.tables import console_sessions, console_users
from citadel.store.types import utcnow

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")  # each may do what the ones before it may
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # about 50 ms a check: slow for guessing, fine for a sign-in
MIN_PASSWORD = 8


def at_least(role: str, needed: Role) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    scheme, salt, digest = stored.split("$", 2)
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the user name is unknown, so that an answer takes as long either way."""
    return hash_password(secrets.token_hex(8))


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    id: int
    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # only in the cookie; the database keeps its hash
    csrf_token: str
    user: ConsoleUser
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(
    database: Database, username: str, password: str, role: str, *, actor: str
) -> ConsoleUser:
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}", param="role")
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password has at least {MIN_PASSWORD} characters", param="password")
    if not username or len(username) > 100:
        raise InvalidRequest("a user name has 1 to 100 characters", param="username")
    async with database.transaction() as connection:
        existing = await connection.execute(
            select(console_users.c.id).where(console_users.c.username == username)
        )
        if existing.first() is not None:
            raise InvalidRequest(f"console user {username!r} exists", param="username")
        result = await connection.execute(
            insert(console_users).values(
                username=username, password_hash=hash_password(password), role=role, created_at=utcnow()
            )
        )
        user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        await write_audit(
            connection, actor=actor, action="console.user.create", target=username, after={"role": role}
        )
    return ConsoleUser(user_id, username, role)


async def verify_user(database: Database, username: str, password: str) -> ConsoleUser | None:
    """The user if ``password`` is theirs (and they are not disabled), else ``None``."""
    async with database.transaction() as connection:
        row = (
            await connection.execute(select(console_users).where(console_users.c.username == username))
        ).first()
    # scrypt takes tens of milliseconds: off the event loop.
    if row is None or row.disabled_at is not None:
        await asyncio.to_thread(check_password, password, _dummy_hash())
        return None
    if not await asyncio.to_thread(check_password, password, row.password_hash):
        return None
    return ConsoleUser(row.id, row.username, cast(Role, row.role))


async def open_session(database: Database, user: ConsoleUser, *, ttl_s: float) -> Session:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    async with database.transaction() as connection:
        await connection.execute(
            insert(console_sessions).values(
                token_hash=_token_hash(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                expires_at=expires,
            )
        )
        await write_audit(connection, actor=f"console:{user.username}", action="console.signin", target=None)
    return Session(token, csrf, user, expires)


async def find_session(database: Database, token: str) -> Session | None:
    """The live session behind a cookie's token: not expired, not signed out, its user not disabled."""
    query = (
        select(console_sessions, console_users.c.username, console_users.c.role, console_users.c.disabled_at)
        .join(console_users, console_users.c.id == console_sessions.c.user_id)
        .where(console_sessions.c.token_hash == _token_hash(token))
    )
    async with database.transaction() as connection:
        row = (await connection.execute(query)).first()
    if row is None or row.revoked_at is not None or row.disabled_at is not None or row.expires_at <= utcnow():
        return None
    return Session(token, row.csrf_token, ConsoleUser(row.user_id, row.username, row.role), row.expires_at)


async def close_session(database: Database, session: Session) -> None:
    async with database.transaction() as connection:
        await connection.execute(
            update(console_sessions)
            .where(console_sessions.c.token_hash == _token_hash(session.token))
            .values(revoked_at=utcnow())
        )
        await write_audit(
            connection, actor=f"console:{session.user.username}", action="console.signout", target=None
        )


async def list_users(database: Database) -> list[dict[str, object]]:
    async with database.transaction() as connection:
        rows = (await connection.execute(select(console_users).order_by(console_users.c.id))).all()
    return [
        {
            "id": row.id,
            "username": row.username,
            "role": row.role,
            "created_at": row.created_at.isoformat(),
            "disabled": row.disabled_at is not None,
        }
        for row in rows
    ]
