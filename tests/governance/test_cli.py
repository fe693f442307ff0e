"""``citadel keys``, ``citadel db`` and ``citadel usage`` against a real SQLite database."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from citadel.cli.main import cli
from citadel.config import load_settings
from citadel.governance.entry import RequestLogEntry
from citadel.store import open_database
from citadel.store.audit import read_audit
from citadel.store.migrate import head_revision
from citadel.store.request_log import insert_rows
from citadel.store.tables import api_keys
from citadel.store.types import utcnow


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "citadel.yaml"
    data = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _stored_hashes(config: Path) -> list[tuple[str, str, object]]:
    async def read() -> list[tuple[str, str, object]]:
        database = await open_database(load_settings(config).database)
        try:
            async with database.transaction() as connection:
                rows = (await connection.execute(select(api_keys))).all()
                return [(row.prefix, row.secret_hash, row.revoked_at) for row in rows]
        finally:
            await database.aclose()

    return asyncio.run(read())


def test_keys_create_list_rotate_revoke(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    output = _run(
        "keys",
        "create",
        "--config",
        config,
        "--name",
        "ci",
        "--tier",
        "basic",
        "--models",
        "a, b",
        "--expires",
        "2031-02-03",
    )
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("ctd_")
    assert len(secret) == 52
    assert "tier:     basic" in output
    assert "models:   a,b" in output
    assert "2031-02-03" in output
    [(prefix, secret_hash, revoked)] = _stored_hashes(Path(config))
    assert (prefix, secret_hash, revoked) == (secret[:12], hashlib.sha256(secret.encode()).hexdigest(), None)

    listing = _run("keys", "list", "--config", config)
    assert prefix in listing
    assert "active" in listing
    assert secret not in listing

    rotated = _run("keys", "rotate", "--config", config, prefix).strip().splitlines()[-1]
    assert rotated != secret
    assert rotated.startswith("ctd_")
    assert _run("keys", "revoke", "--config", config, "1").startswith(f"revoked {rotated[:12]}")
    [(_, secret_hash, revoked)] = _stored_hashes(Path(config))
    assert secret_hash == hashlib.sha256(rotated.encode()).hexdigest()
    assert revoked is not None
    keys = json.loads(_run("keys", "list", "--config", config, "--json"))
    assert [key["prefix"] for key in keys] == [rotated[:12]]
    assert keys[0]["revoked_at"] is not None
    assert _run("keys", "list", "--config", config, "--active", "--json").strip() == "[]"


def test_keys_create_refuses_an_unknown_tier(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "create", "--config", str(_config(tmp_path)), "--name", "x", "--tier", "gold"]
    )
    assert result.exit_code == 1
    assert "unknown tier 'gold'" in result.output


def test_admin_commands_are_audited(tmp_path: Path) -> None:
    config = _config(tmp_path)
    secret = _run("keys", "create", "--config", str(config), "--name", "a").strip().splitlines()[-1]
    _run("keys", "revoke", "--config", str(config), secret[:12])

    async def audit() -> list[dict[str, object]]:
        database = await open_database(load_settings(config).database)
        try:
            async with database.transaction() as connection:
                return await read_audit(connection)
        finally:
            await database.aclose()

    rows = asyncio.run(audit())
    assert [row["action"] for row in rows] == ["key.create", "key.revoke"]
    assert all(str(row["actor"]).startswith("cli:") for row in rows)
    assert secret not in str(rows)


def test_db_upgrade_purge_and_usage(tmp_path: Path) -> None:
    config = _config(tmp_path)
    upgraded = _run("db", "upgrade", "--config", str(config)).strip()
    assert upgraded == f"database schema at revision {head_revision()}"

    async def seed() -> None:
        database = await open_database(load_settings(config).database)
        rows = [
            RequestLogEntry(
                request_id=f"r{i}",
                model="m",
                endpoint="/v1/completions",
                status_code=200,
                latency_ms=float(i + 1) * 100,
                prompt_tokens=5,
                completion_tokens=7,
                cost=0.25,
            ).row()
            for i in range(4)
        ]
        rows.append(
            RequestLogEntry(
                request_id="old",
                model="m",
                endpoint="/v1/completions",
                status_code=500,
                latency_ms=1.0,
                created_at=utcnow() - timedelta(days=40),
            ).row()
        )
        try:
            async with database.transaction() as connection:
                await insert_rows(connection, rows)
        finally:
            await database.aclose()

    asyncio.run(seed())
    [row] = json.loads(_run("usage", "--config", str(config), "--days", "90", "--json"))
    assert (row["model"], row["requests"], row["prompt_tokens"], row["completion_tokens"], row["errors"]) == (
        "m",
        5,
        20,
        28,
        1,
    )
    table = _run("usage", "--config", str(config), "--model", "m")
    assert "m" in table
    assert "1.0000" in table
    assert "250" in table
    assert (
        _run("db", "purge", "--config", str(config)).strip() == "purged 1 request-log rows and 0 audit rows"
    )
    [row] = json.loads(_run("usage", "--config", str(config), "--days", "90", "--json"))
    assert row["requests"] == 4
