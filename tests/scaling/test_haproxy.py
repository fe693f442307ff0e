"""Two gateways behind Debian's HAProxy (from ``citadel render haproxy``), sharing Redis and PostgreSQL.

One story, in phases on the same tier: a rate limit is one count across both gateways; a gateway stopped
under load (a rolling update) and later one killed (a crash) cost no non-stream request; the request log
holds every request once (for the killed gateway: every one it had written before it died).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.config import load_settings
from citadel.ops.render.balancer import render_haproxy
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.governance.servers import PostgresServer, RedisServer
from tests.helpers import ServiceProcess, free_port, write_config
from tests.scaling.haproxy_server import HaproxyServer, haproxy_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not haproxy_available(), reason="haproxy not installed: scripts/bootstrap.sh --dev"),
]

ADMIN = "test-admin-key-5e4d3c2b1a09f8e7"
LIMIT = 8
MODEL = "fake"


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.close()


def _gateway_config(
    directory: Path, name: str, port: int, upstream: str, redis: RedisServer, postgres: PostgresServer
) -> Path:
    data: dict[str, Any] = {
        "data_dir": str(directory / name),
        "gateway": {"port": port, "health_interval_s": 3600},
        "models": [{"name": MODEL, "backend": "remote", "url": upstream}],
        "auth": {"enabled": True, "admin_key": ADMIN},
        "redis": {"url": redis.url},
        "database": {"url": postgres.url},
        "rate_limits": {
            "tiers": {"default": {"requests_per_minute": 100_000}, "tiny": {"requests_per_minute": LIMIT}},
            "redis_timeout_s": 5.0,
        },
    }
    return write_config(directory, data, name=f"{name}.yaml")


def _logged_ids(postgres: PostgresServer) -> list[str]:
    psql = ["psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-d", "citadel", "-qAt"]
    result = subprocess.run(
        [*psql, "-c", "SELECT request_id FROM request_log"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout.split()


class Load:
    """Workers sending non-stream chat requests through the balancer until stopped; every answer kept."""

    def __init__(self, base: str, secret: str, workers: int = 6) -> None:
        self._base = base
        self._headers = {"authorization": f"Bearer {secret}"}
        self._workers = workers
        self._stop = asyncio.Event()
        self.answers: list[tuple[int, str, str]] = []  # status, x-request-id, x-citadel-gateway
        self.errors: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def _worker(self) -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        async with httpx.AsyncClient(base_url=self._base, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = await client.post("/v1/chat/completions", json=body, headers=self._headers)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                self.answers.append(
                    (
                        response.status_code,
                        response.headers.get("x-request-id", ""),
                        response.headers.get("x-citadel-gateway", ""),
                    )
                )

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self._workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def failed(self) -> list[tuple[int, str, str]]:
        return [answer for answer in self.answers if answer[0] != 200]

    def served_by(self, gateway: str) -> set[str]:
        return {request_id for _, request_id, by in self.answers if by == gateway}


async def _run_load_while(balancer: str, secret: str, action: Any) -> Load:
    """Load on, ``action`` once both gateways have answered some of it (a loaded machine is slow to get
    there), then 2 s more of load."""
    load = Load(balancer, secret)
    load.start()
    for _ in range(300):  # at most 30 s
        if min(len(load.served_by("gw1")), len(load.served_by("gw2"))) >= 5:
            break
        await asyncio.sleep(0.1)
    await asyncio.to_thread(action)
    await asyncio.sleep(2.0)
    await load.stop()
    return load


async def _wait_logged(postgres: PostgresServer, ids: set[str], timeout_s: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        logged = _logged_ids(postgres)
        if ids <= set(logged) or time.monotonic() > deadline:
            return logged
        await asyncio.sleep(0.3)


async def test_two_gateways_behind_haproxy(
    tmp_path: Path, redis: RedisServer, postgres: PostgresServer
) -> None:
    script = Script(answer_delay_s=0.02)
    async with fake_upstream(script) as upstream:
        ports = {"gw1": free_port(), "gw2": free_port()}
        configs = {
            name: _gateway_config(tmp_path, name, port, upstream, redis, postgres)
            for name, port in ports.items()
        }

        def start(name: str) -> ServiceProcess:
            return ServiceProcess(
                ["gateway", "--config", str(configs[name])],
                f"http://127.0.0.1:{ports[name]}/health",
                log=tmp_path / f"{name}-{time.monotonic_ns()}.log",
            )

        # In threads: the fake upstream answers the gateways' probes on this event loop meanwhile.
        # One at a time: the first migrates the shared database.
        gateways = {"gw1": await asyncio.to_thread(start, "gw1")}
        gateways["gw2"] = await asyncio.to_thread(start, "gw2")
        lb_port, stats_port = free_port(), free_port()
        lb_config = write_config(
            tmp_path,
            {
                "gateway": {"port": ports["gw1"]},
                "load_balancer": {
                    "host": "127.0.0.1",
                    "port": lb_port,
                    "stats_port": stats_port,
                    "gateways": [
                        {"host": "127.0.0.1", "port": port, "name": name} for name, port in ports.items()
                    ],
                    "check_interval_s": 0.5,
                },
            },
            name="lb.yaml",
        )
        (tmp_path / "haproxy.cfg").write_text(render_haproxy(load_settings(lb_config))["haproxy.cfg"])
        haproxy = HaproxyServer(tmp_path / "haproxy.cfg", lb_port, stats_port)
        try:
            await asyncio.to_thread(haproxy.wait_states, {"gw1": "UP", "gw2": "UP"})
            async with httpx.AsyncClient(base_url=haproxy.url, timeout=30) as admin:
                keys = {}
                for tier in ("tiny", "default"):
                    created = await admin.post(
                        "/admin/keys",
                        json={"name": f"lb-{tier}", "tier": tier},
                        headers={"authorization": f"Bearer {ADMIN}"},
                    )
                    assert created.status_code == 201, created.text
                    keys[tier] = created.json()["secret"]

            # 1. The rate limit is one count across both gateways.
            async def one() -> tuple[int, str]:
                async with httpx.AsyncClient(base_url=haproxy.url, timeout=30) as client:
                    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
                    response = await client.post(
                        "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {keys['tiny']}"}
                    )
                    return response.status_code, response.headers.get("x-citadel-gateway", "")

            limited = await asyncio.gather(*(one() for _ in range(3 * LIMIT)))
            statuses = [status for status, _ in limited]
            assert statuses.count(200) == LIMIT, statuses
            assert statuses.count(429) == 2 * LIMIT, statuses
            assert {by for _, by in limited} == {"gw1", "gw2"}  # both gateways took some

            # 2. A rolling update: gw1 stopped (SIGTERM, it drains) under load, then started again.
            rolling = await _run_load_while(haproxy.url, keys["default"], gateways["gw1"].stop)
            assert rolling.errors == []
            assert rolling.failed() == []
            answered = {request_id for _, request_id, _ in rolling.answers}
            assert len(answered) == len(rolling.answers)  # one id per request, kept across retries
            assert rolling.served_by("gw1")
            assert rolling.served_by("gw2")
            logged = await _wait_logged(postgres, answered)
            assert answered <= set(logged)
            assert len(logged) == len(set(logged))
            print(f"rolling stop: {len(rolling.answers)} requests, 0 failed, all logged once")

            gateways["gw1"] = await asyncio.to_thread(start, "gw1")
            await asyncio.to_thread(haproxy.wait_states, {"gw1": "UP", "gw2": "UP"})

            # 3. A crash: gw2 killed (SIGKILL) under load.
            crash = await _run_load_while(haproxy.url, keys["default"], gateways["gw2"].kill)
            assert crash.errors == []
            assert crash.failed() == []
            survivor = crash.served_by("gw1")
            assert survivor
            assert crash.served_by("gw2")
            logged = await _wait_logged(postgres, survivor)
            assert survivor <= set(logged)  # everything the surviving gateway answered is there
            assert len(logged) == len(set(logged))
            crash_ids = {request_id for _, request_id, _ in crash.answers}
            lost = crash_ids - set(logged)  # answered by gw2 in its last flush interval, then killed
            print(
                f"crash: {len(crash.answers)} requests, 0 failed; "
                f"gw2 answered {len(crash.served_by('gw2'))}, "
                f"{len(lost)} of its rows were still in its queue when it was killed"
            )
            assert lost <= crash.served_by("gw2")
        finally:
            haproxy.close()
            for gateway in gateways.values():
                await asyncio.to_thread(gateway.stop)
