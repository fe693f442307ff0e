"""The gateway as a real process: metrics over two workers, and a client leaving mid-stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import metric, remote_model
from tests.helpers import ServiceProcess, free_port, write_config

CHAT = {"model": "fake", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}


def _serving_pids(log: Path) -> set[int]:
    pids = set()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == "request done":
                pids.add(entry["pid"])
    return pids


async def test_metrics_are_summed_over_two_workers(tmp_path: Path) -> None:
    script = Script()
    async with fake_upstream(script) as url:
        port = free_port()
        gateway = {"port": port, "workers": 2, "access_log": True, "health_interval_s": 3600}
        config = write_config(tmp_path, {"gateway": gateway, "models": [remote_model("fake", url)]})
        # Started from a thread: the fake upstream must keep answering the gateway's first probes.
        process = await asyncio.to_thread(
            ServiceProcess,
            ["gateway", "--config", str(config)],
            f"http://127.0.0.1:{port}/health",
            log=tmp_path / "gateway.log",
        )
        try:
            sent = 0
            # A fresh connection per request, until both workers have served some (uvicorn's workers
            # share one listening socket, so the kernel decides who accepts).
            no_reuse = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", limits=no_reuse, timeout=60
            ) as c:
                while sent < 400 and (sent < 20 or len(_serving_pids(process.log)) < 2):
                    response = await c.post("/v1/chat/completions", json=CHAT)
                    assert response.status_code == 200
                    sent += 1
                assert len(_serving_pids(process.log)) == 2
                totals = [
                    metric(
                        (await c.get("/metrics")).text, "llm_requests_total", model="fake", status="success"
                    )
                    for _ in range(6)
                ]
                text = (await c.get("/metrics")).text
                # Over a real server's sockets (the in-process tests cannot see framing mistakes).
                stream = await c.post("/v1/chat/completions", json={**CHAT, "stream": True})
        finally:
            await asyncio.to_thread(process.stop)
    assert totals == [sent] * 6
    assert stream.status_code == 200
    assert "content-length" not in stream.headers
    assert stream.text.endswith("data: [DONE]\n\n")
    assert metric(text, "llm_request_duration_seconds_count", model="fake") == sent
    assert metric(text, "llm_active_requests", model="fake") == 0
    assert metric(text, "llm_tokens_processed_total", model="fake", type="prompt") == 3 * sent


async def test_a_client_leaving_mid_stream_frees_the_upstream(tmp_path: Path) -> None:
    script = Script(stream_events=2000, event_interval_s=0.01)  # about 20 s if nobody stops it
    async with fake_upstream(script) as url:
        port = free_port()
        config = write_config(tmp_path, {"gateway": {"port": port}, "models": [remote_model("fake", url)]})
        process = await asyncio.to_thread(
            ServiceProcess,
            ["gateway", "--config", str(config)],
            f"http://127.0.0.1:{port}/health",
            log=tmp_path / "gateway.log",
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                async with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: "):
                            break  # read one event, then hang up
                for _ in range(600):  # the gateway notices at the next upstream chunk, 10 ms later
                    text = (await client.get("/metrics")).text
                    if script.reader_left and metric(text, "llm_active_requests", model="fake") == 0:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(process.stop)
    assert script.reader_left
    assert metric(text, "llm_active_requests", model="fake") == 0
    assert metric(text, "llm_replica_outstanding_requests", model="fake") == 0
    assert metric(text, "llm_requests_total", model="fake", status="cancelled") == 1
