"""Rate limits: exact under concurrency in-process and across processes sharing one Redis; Redis down →
fail-open or fail-closed, counted in a metric."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from citadel.errors import RateLimited, ServiceUnavailable
from citadel.governance import Governance
from citadel.governance.keys_admin import KeySpec, create_key
from citadel.governance.ratelimit import Window
from citadel.governance.ratelimit_memory import MemoryRateLimiter
from citadel.governance.ratelimit_redis import RedisRateLimiter
from citadel.governance.redis_pipe import PipelinedRedis
from tests.governance.conftest import make_settings
from tests.governance.servers import RedisServer
from tests.helpers import free_port

LIMIT = 40
SHARED_LIMIT = 60
REPO = Path(__file__).resolve().parents[2]


async def _avoid_hour_boundary() -> None:
    """The windows are fixed; a run that straddles the hour would see two windows (not a limiter bug)."""
    now = datetime.now(UTC)
    if now.minute == 59 and now.second >= 30:
        await asyncio.sleep(61 - now.second)


async def test_memory_limiter_is_exact_under_concurrency() -> None:
    limiter = MemoryRateLimiter(clock=lambda: 1_000_000.0)
    windows = [Window("rph", 3600, LIMIT, "requests", 1)]
    decisions = await asyncio.gather(*(limiter.acquire("key:1", windows) for _ in range(LIMIT * 3)))
    assert sum(decision.allowed for decision in decisions) == LIMIT
    assert sorted(decision.used[0] for decision in decisions if decision.allowed) == list(range(1, LIMIT + 1))


async def test_redis_limiter_counts_every_window_in_one_script(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(redis_server.url, timeout_s=5.0, clock=lambda: 7_200_000.0)
    try:
        windows = [Window("rpm", 60, 5, "requests", 1), Window("tpm", 60, 100, "tokens", 30)]
        decisions = [await limiter.acquire("key:tokens", windows) for _ in range(4)]
        assert [decision.allowed for decision in decisions] == [True, True, True, False]
        assert decisions[2].used == (3, 90)
        assert decisions[3].blocked_by == 1
        assert decisions[3].used == (3, 90)
        assert decisions[3].headers()["x-ratelimit-remaining-tokens"] == "10"
    finally:
        await limiter.aclose()


async def test_redis_counters_expire_a_second_after_their_window(redis_server: RedisServer) -> None:
    now = 7_200_000.0 + 45.5  # 45.5 s into a minute and into an hour
    limiter = RedisRateLimiter(redis_server.url, timeout_s=5.0, clock=lambda: now)
    redis = PipelinedRedis(redis_server.url, timeout_s=5.0)
    try:
        windows = [Window("rpm", 60, 5, "requests", 1), Window("rph", 3600, 50, "requests", 1)]
        await limiter.acquire("key:ttl", windows)
        minute_ms = await redis.execute("PTTL", f"citadel:rl:key:ttl:rpm:{int(now // 60)}")
        hour_ms = await redis.execute("PTTL", f"citadel:rl:key:ttl:rph:{int(now // 3600)}")
        assert 15_000 < minute_ms <= 15_500  # the 14.5 s left of the minute, and 1 s
        assert 3_555_000 < hour_ms <= 3_555_500
        await limiter.acquire("key:ttl", windows)  # counted again: the expiry is not pushed back
        assert await redis.execute("PTTL", f"citadel:rl:key:ttl:rpm:{int(now // 60)}") <= minute_ms
    finally:
        await redis.aclose()
        await limiter.aclose()


def _config(tmp_path: Path, **data: Any) -> Path:
    path = tmp_path / f"citadel-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def test_two_processes_sharing_redis_admit_exactly_the_limit(
    tmp_path: Path, sqlite_url: str, redis_server: RedisServer
) -> None:
    sections: dict[str, Any] = {
        "data_dir": str(tmp_path / "var"),
        "database": {"url": sqlite_url},
        "redis": {"url": redis_server.url},
        "auth": {"enabled": True, "key_cache_ttl_s": 60},
        "rate_limits": {"tiers": {"default": {"requests_per_hour": SHARED_LIMIT}}, "redis_timeout_s": 10},
    }
    settings = make_settings(tmp_path, sqlite_url, **{k: v for k, v in sections.items() if k != "data_dir"})
    governance = await Governance.open(settings, registry=CollectorRegistry())
    try:
        issued = await create_key(
            governance.database, KeySpec(name="shared", tier="default"), actor="t", tiers=["default"]
        )
    finally:
        await governance.aclose()
    config = _config(tmp_path, **sections)
    await _avoid_hour_boundary()
    tries = 40  # per process: 80 in all against a limit of 60, so both processes must share the count
    argv = ["-m", "tests.governance.hammer", str(config), issued.secret, str(tries)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, *argv, cwd=REPO, stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert await worker.stdout.readline() == b"ready\n"
        for worker in workers:  # both are ready: go
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await asyncio.wait_for(worker.communicate(), 120) for worker in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    admitted = [int(out.decode().strip().rsplit(" ", 1)[1]) for out, _ in outputs]
    assert sum(admitted) == SHARED_LIMIT, outputs  # exactly the limit, though each process saw only its own


async def _governance(
    tmp_path: Path, sqlite_url: str, *, fail_open: bool, registry: CollectorRegistry
) -> Governance:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        redis={"url": f"redis://127.0.0.1:{free_port()}/0"},  # nothing listens there
        rate_limits={"fail_open": fail_open, "redis_timeout_s": 0.5},
    )
    return await Governance.open(settings, registry=registry)


@pytest.mark.parametrize("fail_open", [True, False])
async def test_redis_unreachable_fails_open_or_closed_with_a_metric(
    tmp_path: Path, sqlite_url: str, fail_open: bool
) -> None:
    registry = CollectorRegistry()
    governance = await _governance(tmp_path, sqlite_url, fail_open=fail_open, registry=registry)
    try:
        issued = await create_key(
            governance.database, KeySpec(name="k", tier="default"), actor="t", tiers=["default"]
        )
        if fail_open:
            admission = await governance.admit(f"Bearer {issued.secret}", "m", 1)
            assert admission.key_id == issued.record.id
            assert admission.headers == {}
        else:
            with pytest.raises(ServiceUnavailable) as refused:
                await governance.admit(f"Bearer {issued.secret}", "m", 1)
            assert refused.value.status_code == 503
            assert refused.value.retry_after_s == 1
        outcome = "fail_open" if fail_open else "fail_closed"
        value = registry.get_sample_value("citadel_ratelimit_backend_errors_total", {"outcome": outcome})
        assert value == 1.0
    finally:
        await governance.aclose()


async def test_auth_off_admits_everyone_without_limits(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        auth={"enabled": False},
        rate_limits={"tiers": {"default": {"requests_per_minute": 1}}},
    )
    governance = await Governance.open(settings, registry=CollectorRegistry())
    try:
        for _ in range(3):
            admission = await governance.admit(None, "m", 10)
            assert admission.principal.kind == "anonymous"
            assert admission.headers == {}
    finally:
        await governance.aclose()


async def test_limits_apply_per_tier(tmp_path: Path, sqlite_url: str) -> None:
    tiers = {"default": {"requests_per_day": 2}, "premium": {"requests_per_day": 4}}
    settings = make_settings(tmp_path, sqlite_url, rate_limits={"tiers": tiers})
    governance = await Governance.open(settings, registry=CollectorRegistry())
    try:
        admitted = {}
        for tier in tiers:
            issued = await create_key(
                governance.database, KeySpec(name=tier, tier=tier), actor="t", tiers=tiers
            )
            count = 0
            for _ in range(6):
                try:
                    await governance.admit(f"Bearer {issued.secret}", "m", 1)
                    count += 1
                except RateLimited:
                    pass
            admitted[tier] = count
        assert admitted == {"default": 2, "premium": 4}
    finally:
        await governance.aclose()
