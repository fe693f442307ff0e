"""Fixtures: one PostgreSQL, one Pgpool-II in front of it and one Redis per session (a fresh database per
test), plus settings that point Citadel's governance at them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citadel.config import CitadelSettings
from tests.governance.servers import PgpoolServer, PostgresServer, RedisServer, create_database


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pgpool(postgres: PostgresServer) -> Iterator[PgpoolServer]:
    server = PgpoolServer(postgres)
    yield server
    server.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of the test's own, which it may stop and restart."""
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


def _fresh(postgres: PostgresServer, port: int) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    create_database(postgres.port, name)
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"


@pytest.fixture(params=["sqlite", "postgres", "pgpool"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database on each backend: SQLite, PostgreSQL, and PostgreSQL through Pgpool-II."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'citadel.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    if request.param == "postgres":
        return _fresh(postgres, postgres.port)
    pgpool: PgpoolServer = request.getfixturevalue("pgpool")
    return _fresh(postgres, pgpool.port)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'citadel.db'}"


def make_settings(tmp_path: Path, database_url: str, **sections: Any) -> CitadelSettings:
    """Settings with governance pointed at ``database_url``; ``sections`` replace whole sections."""
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": database_url},
        "auth": {"enabled": True, "admin_key": "admin-secret-for-tests", "key_cache_ttl_s": 0},
        "request_log": {"retry_interval_s": 0.2},
    }
    data.update(sections)
    return CitadelSettings(**data)
