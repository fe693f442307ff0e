"""Backup -> wipe -> restore, on SQLite and on PostgreSQL: the keys and the logged requests come back, the
config too; a damaged archive is refused and restores nothing."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from citadel.config import CitadelSettings, load_settings
from citadel.gateway.app import create_gateway_app
from citadel.store import open_database
from citadel.store.tables import api_keys, request_log
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.governance.servers import PostgresServer, create_database
from tests.helpers import free_port, write_config
from tests.ops.postgres_server import postgres_available
from tests.reload.cli import citadel

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if not postgres_available():
        pytest.skip("needs root, a postgres user and PostgreSQL 15")
    server = PostgresServer()
    yield server
    server.close()


async def _counts(settings: CitadelSettings) -> tuple[list[str], int]:
    database = await open_database(settings.database)
    try:
        async with database.transaction() as connection:
            names = list(
                (await connection.execute(select(api_keys.c.name).order_by(api_keys.c.id))).scalars()
            )
            logged = (await connection.execute(select(func.count()).select_from(request_log))).scalar_one()
    finally:
        await database.aclose()
    return names, int(logged)


async def _wipe(settings: CitadelSettings) -> None:
    url = settings.database.url.get_secret_value()
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        for file in path.parent.glob(path.name + "*"):  # the file, and its -wal and -shm
            file.unlink()
        return
    database = await open_database(settings.database.model_copy(update={"migrate_on_start": False}))
    try:
        async with database.transaction() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await database.aclose()


def _damaged(archive: Path, copy_to: Path) -> Path:
    """A copy of ``archive`` with one byte flipped in the middle."""
    content = bytearray(archive.read_bytes())
    content[len(content) // 2] ^= 0xFF
    copy_to.write_bytes(bytes(content))
    return copy_to


async def _round_trip(tmp_path: Path, database: dict[str, Any] | None) -> None:
    async with fake_upstream(Script()) as url:
        data: dict[str, Any] = {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model("fake", url)],
            "auth": {"enabled": True, "admin_key": "admin-secret-for-test"},
            "request_log": {"flush_interval_s": 0.05},
        }
        if database is not None:
            data["database"] = database
        config = write_config(tmp_path, copy.deepcopy(data))
        original = config.read_text(encoding="utf-8")
        secrets = []
        for name in ("alice", "bob"):
            created = await citadel("keys", "create", "--name", name, "--config", str(config))
            assert created.returncode == 0, created.stderr
            secrets.append(created.stdout.strip().splitlines()[-1])
        settings = load_settings(config)
        app = create_gateway_app(settings, config_path=config)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                for index in range(6):
                    response = await client.post(
                        "/v1/chat/completions",
                        json={"model": "fake", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"authorization": f"Bearer {secrets[index % 2]}"},
                    )
                    assert response.status_code == 200, response.text
    assert await _counts(settings) == (["alice", "bob"], 6)

    made = await citadel("backup", "--config", str(config))
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.split("wrote ", 1)[1].split()[0])
    assert archive.parent == tmp_path / "var" / "backups"

    await _wipe(settings)
    config.write_text(original.replace("fake", "changed"), encoding="utf-8")
    damaged = _damaged(archive, tmp_path / "damaged.tar.gz")
    refused = await citadel("restore", str(damaged), "--config", str(config))
    assert refused.returncode == 1
    assert "nothing was restored" in refused.stderr
    assert "changed" in config.read_text(encoding="utf-8")  # untouched

    restored = await citadel("restore", str(archive), "--config", str(config))
    assert restored.returncode == 0, restored.stderr
    assert config.read_text(encoding="utf-8") == original
    assert await _counts(settings) == (["alice", "bob"], 6)


async def test_backup_restore_round_trip_on_sqlite(tmp_path: Path) -> None:
    await _round_trip(tmp_path, None)


async def test_backup_restore_round_trip_on_postgres(tmp_path: Path, postgres: PostgresServer) -> None:
    create_database(postgres.port, "roundtrip")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/roundtrip"
    await _round_trip(tmp_path, {"url": url})
