"""Authentication while the database is away: keys already looked up keep working, unknown ones get 503
(not a wrong 401), and the admin key needs no database at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from citadel.errors import ServiceUnavailable
from citadel.governance import Governance
from citadel.governance.keys_admin import KeySpec, create_key
from tests.governance.conftest import make_settings
from tests.governance.servers import PostgresServer


async def test_cached_keys_work_and_unknown_keys_get_503_while_postgres_is_down(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    settings = make_settings(tmp_path, own_postgres.url)  # key_cache_ttl_s 0: every call tries the database
    governance = await Governance.open(settings, registry=CollectorRegistry())
    try:
        known = await create_key(
            governance.database, KeySpec(name="known", tier="default"), actor="t", tiers=["default"]
        )
        unseen = await create_key(
            governance.database, KeySpec(name="unseen", tier="default"), actor="t", tiers=["default"]
        )
        assert (await governance.admit(f"Bearer {known.secret}", "m", 1)).key_id == known.record.id
        await asyncio.to_thread(own_postgres.stop)

        assert (await governance.admit(f"Bearer {known.secret}", "m", 1)).key_id == known.record.id
        with pytest.raises(ServiceUnavailable):
            await governance.admit(f"Bearer {unseen.secret}", "m", 1)
        admin = await governance.admit("Bearer admin-secret-for-tests", "m", 1)
        assert admin.principal.kind == "admin"

        await asyncio.to_thread(own_postgres.start)
        assert (await governance.admit(f"Bearer {unseen.secret}", "m", 1)).key_id == unseen.record.id
    finally:
        await governance.aclose()
