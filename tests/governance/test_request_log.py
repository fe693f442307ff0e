"""The request log never blocks and never loses: thousands of records while PostgreSQL is stopped and
restarted (directly and through Pgpool-II) end up in the table exactly once; a full queue spills instead of
dropping; closing flushes; a spill file left by a dead process is replayed once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from citadel.config import CitadelSettings
from citadel.governance import Governance, RequestLogEntry
from citadel.store import open_database
from citadel.store.tables import request_log
from citadel.write_behind.spill import SpillFile
from tests.governance.conftest import make_settings
from tests.governance.servers import PgpoolServer, PostgresServer


def _entry(request_id: str) -> RequestLogEntry:
    return RequestLogEntry(
        request_id=request_id,
        key_id=None,
        model="m",
        endpoint="/v1/chat/completions",
        status_code=200,
        latency_ms=1.0,
        prompt_tokens=3,
        completion_tokens=4,
    )


async def _record_burst(governance: Governance, prefix: str, count: int) -> list[str]:
    """Record like a busy gateway would: many requests, yielding to the event loop now and then."""
    ids = [f"{prefix}-{i}" for i in range(count)]
    for position, request_id in enumerate(ids):
        governance.record(_entry(request_id))
        if position % 25 == 0:
            await asyncio.sleep(0)
    return ids


async def _request_ids(url: str) -> list[str]:
    database = await open_database(CitadelSettings(database={"url": url}).database)
    try:
        async with database.transaction() as connection:
            return list((await connection.execute(select(request_log.c.request_id))).scalars())
    finally:
        await database.aclose()


async def _wait_for_rows(governance: Governance, expected: int) -> None:
    """Until the table holds ``expected`` rows (the writer replays on its own); fails after a long while."""
    for _ in range(1200):
        async with governance.database.transaction() as connection:
            count = (await connection.execute(select(func.count()).select_from(request_log))).scalar_one()
        if count >= expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {count} of {expected} rows arrived")


async def _outage_run(
    settings: CitadelSettings, postgres: PostgresServer, registry: CollectorRegistry
) -> list[str]:
    governance = await Governance.open(settings, registry=registry)
    try:
        sent = await _record_burst(governance, "before", 1200)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(postgres.stop)
        sent += await _record_burst(governance, "during", 1600)
        await asyncio.sleep(0.5)  # let the writer meet the outage and spill
        sent += await _record_burst(governance, "during2", 400)
        await asyncio.to_thread(postgres.start)
        sent += await _record_burst(governance, "after", 800)
        await _wait_for_rows(governance, len(sent))
    finally:
        await governance.aclose()
    return sent


async def test_nothing_is_lost_while_postgres_is_down(tmp_path: Path, own_postgres: PostgresServer) -> None:
    registry = CollectorRegistry()
    settings = make_settings(tmp_path, own_postgres.url)
    sent = await _outage_run(settings, own_postgres, registry)
    stored = await _request_ids(own_postgres.url)
    assert len(stored) == len(sent) == 4000
    assert sorted(stored) == sorted(sent)  # every id, each exactly once
    assert (registry.get_sample_value("citadel_request_log_spilled_total", {"reason": "database"}) or 0) > 0
    assert (registry.get_sample_value("citadel_request_log_replayed_total") or 0) > 0
    assert not list((tmp_path / "var" / "request-log-spill").glob("*.jsonl"))  # all replayed, then deleted


async def test_nothing_is_lost_through_pgpool_while_postgres_is_down(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    pgpool = PgpoolServer(own_postgres)
    try:
        registry = CollectorRegistry()
        settings = make_settings(tmp_path, pgpool.url)
        sent = await _outage_run(settings, own_postgres, registry)
    finally:
        pgpool.close()
    stored = await _request_ids(own_postgres.url)
    assert sorted(stored) == sorted(sent)
    assert (registry.get_sample_value("citadel_request_log_spilled_total", {"reason": "database"}) or 0) > 0


async def test_a_full_queue_spills_and_the_spill_is_replayed(tmp_path: Path, sqlite_url: str) -> None:
    registry = CollectorRegistry()
    settings = make_settings(
        tmp_path, sqlite_url, request_log={"queue_size": 50, "batch_size": 20, "retry_interval_s": 0.2}
    )
    governance = await Governance.open(settings, registry=registry)
    try:
        await _wait_for_rows(governance, 0)  # the writer has started and scanned for old spill files
        ids = [f"burst-{i}" for i in range(500)]
        for request_id in ids:  # no await: the writer cannot run, the queue overflows
            governance.record(_entry(request_id))
        assert governance.queued == 50
        assert registry.get_sample_value("citadel_request_log_spilled_total", {"reason": "queue_full"}) == 450
        await _wait_for_rows(governance, 500)  # the database never went away: the spill is replayed anyway
    finally:
        await governance.aclose()
    assert sorted(await _request_ids(sqlite_url)) == sorted(ids)


async def test_close_flushes_the_queue(tmp_path: Path, sqlite_url: str) -> None:
    governance = await Governance.open(make_settings(tmp_path, sqlite_url), registry=CollectorRegistry())
    ids = [f"last-{i}" for i in range(300)]
    for request_id in ids:
        governance.record(_entry(request_id))
    await governance.aclose()
    assert sorted(await _request_ids(sqlite_url)) == sorted(ids)
    assert not list((tmp_path / "var" / "request-log-spill").glob("*.jsonl"))  # written, not spilled


async def test_a_dead_process_spill_file_is_replayed_exactly_once(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    spill_dir = tmp_path / "var" / "request-log-spill"
    orphan = SpillFile(spill_dir)
    orphan.append([_entry(f"orphan-{i}").to_json() for i in range(30)])
    orphan.append([_entry("orphan-0").to_json()])  # a duplicate, as after a crash mid-replay
    with (spill_dir / "spill-999-torn.jsonl").open("w") as torn:
        torn.write(_entry("torn-ok").to_json() + "\n" + '{"request_id": "torn-')  # killed mid-line
    orphan.close()  # the process "died": its lock is gone
    registry = CollectorRegistry()
    first = await Governance.open(settings, registry=registry)
    second = await Governance.open(settings, registry=CollectorRegistry())  # another worker, same folder
    try:
        await _wait_for_rows(first, 31)
    finally:
        await first.aclose()
        await second.aclose()
    stored = await _request_ids(sqlite_url)
    assert sorted(stored) == sorted([f"orphan-{i}" for i in range(30)] + ["torn-ok"])
    assert not list(spill_dir.glob("*.jsonl"))


async def test_bodies_are_not_stored_unless_enabled(tmp_path: Path, sqlite_url: str) -> None:
    for policy, expected in (
        ("none", None),
        ("anonymised", "write to <email> about <number>"),
        ("full", "write to ann@example.com about 4111 1111 1111 1111"),
    ):
        url = sqlite_url.replace("citadel.db", f"{policy}.db")
        settings = make_settings(tmp_path, url, request_log={"bodies": policy})
        governance = await Governance.open(settings, registry=CollectorRegistry())
        try:
            governance.record(
                RequestLogEntry(
                    request_id="with-body",
                    model="m",
                    endpoint="/v1/completions",
                    status_code=200,
                    latency_ms=1.0,
                    request_body="write to ann@example.com about 4111 1111 1111 1111",
                )
            )
            await _wait_for_rows(governance, 1)
            async with governance.database.transaction() as connection:
                body = (await connection.execute(select(request_log.c.request_body))).scalar_one()
        finally:
            await governance.aclose()
        assert body == expected, policy
