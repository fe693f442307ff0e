"""``citadel reload`` against a real gateway with two workers, under a continuous load.

Models, routes, tiers and prices change without a failed request, and every worker answers with the new
config as soon as the command returns; an invalid file is refused with ``citadel config validate``'s lines
and changes nothing; a rollback puts the first config back.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from citadel.config import load_settings
from citadel.reload.state import live_workers, read_state
from citadel.store import open_database
from citadel.store.audit import read_audit
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import ServiceProcess, free_port, write_config
from tests.reload.cli import citadel
from tests.reload.load import Load

pytestmark = pytest.mark.timeout(420)


def _chat(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}


async def _fresh_get(base_url: str, path: str) -> httpx.Response:
    """On a new connection each time, so that the kernel hands it to any worker."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.get(path)


async def _fresh_post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.post("/v1/chat/completions", json=body)


def _model_ids(response: httpx.Response) -> set[str]:
    return {entry["id"] for entry in response.json()["data"]}


async def test_reload_under_load_reaches_every_worker_and_fails_no_request(tmp_path: Path) -> None:
    async with fake_upstream(Script()) as url_a, fake_upstream(Script()) as url_b:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        first: dict[str, Any] = {
            "gateway": {"port": port, "workers": 2, "health_interval_s": 3600},
            "models": [remote_model("a", url_a)],
            "prices": {"a": {"prompt_per_1k": 0.001, "completion_per_1k": 0.002}},
        }
        config = write_config(tmp_path, copy.deepcopy(first))
        process = await asyncio.to_thread(
            ServiceProcess,
            ["gateway", "--config", str(config)],
            f"{base_url}/health",
            log=tmp_path / "gw.log",
        )
        run = tmp_path / "var" / "run"
        try:
            for _ in range(100):  # both workers wrote or joined the baseline
                if len(live_workers(run)) == 2:
                    break
                await asyncio.sleep(0.1)
            assert len(live_workers(run)) == 2
            async with Load(base_url, lambda: _chat("a")) as load:
                await load.until_sent(40)
                second = copy.deepcopy(first)
                second["models"].append(remote_model("b", url_b, fallbacks=["a"]))
                second["gateway"]["routes"] = [{"name": "auto", "rules": [{"name": "all", "models": ["b"]}]}]
                second["gateway"]["port"] = free_port()  # cannot change live: named, kept
                second["prices"]["b"] = {"prompt_per_1k": 0.01, "completion_per_1k": 0.02}
                second["rate_limits"] = {"tiers": {"default": {"requests_per_minute": 100000}}}
                write_config(tmp_path, second)
                reload = await citadel("reload", "--config", str(config))
                assert reload.returncode == 0, reload.stdout + reload.stderr
                # Right after the command: every answer, from whichever worker, has the new config.
                for _ in range(12):
                    assert {"a", "b", "auto"} <= _model_ids(await _fresh_get(base_url, "/v1/models"))
                    routed = await _fresh_post(base_url, _chat("auto"))
                    assert routed.status_code == 200, routed.text
                    assert routed.headers["x-citadel-model"] == "b"
                await load.until_sent(40)

                # An invalid file: refused with the validator's own lines; nothing changes.
                generation = read_state(run).generation  # type: ignore[union-attr]
                broken = copy.deepcopy(second)
                broken["gateway"]["max_attempts"] = 0
                broken["models"].append({"name": "c", "backend": "remote"})
                write_config(tmp_path, broken)
                refused = await citadel("reload", "--config", str(config))
                validate = await citadel("config", "validate", "--config", str(config))
                await load.until_sent(20)
            assert load.failures == []
            assert load.sent >= 100
            assert refused.returncode == 2
            assert refused.stderr == validate.stderr
            assert "gateway.max_attempts" in refused.stderr
            assert "models[c]" in refused.stderr
            assert read_state(run).generation == generation  # type: ignore[union-attr]
            assert {"a", "b", "auto"} <= _model_ids(await _fresh_get(base_url, "/v1/models"))

            assert "needs a restart to change: gateway.port" in reload.stdout
            acks = {pid: int((run / "acks" / str(pid)).read_text()) for pid in live_workers(run)}
            assert len(acks) == 2
            assert set(acks.values()) == {generation}

            # History: the start and the reload; a rollback to the start removes b and auto again.
            write_config(tmp_path, second)  # the broken file was never applied
            history = await citadel("config", "history", "--config", str(config))
            assert history.returncode == 0, history.stderr
            lines = [line for line in history.stdout.splitlines() if line[:4].strip().isdigit()]
            assert [line.split()[3] for line in lines] == ["applied", "applied"]
            assert "models[b]: added" in history.stdout
            rollback = await citadel("config", "rollback", "1", "--config", str(config))
            assert rollback.returncode == 0, rollback.stdout + rollback.stderr
            for _ in range(6):
                assert _model_ids(await _fresh_get(base_url, "/v1/models")) == {"a"}
            assert yaml.safe_load(config.read_text())["models"] == first["models"]
        finally:
            await asyncio.to_thread(process.stop)
    actions = [row["action"] for row in await _audit(config)]
    assert actions.count("config.reload") == 2
    assert actions.count("config.rollback") == 1


async def _audit(config: Path) -> list[dict[str, Any]]:
    database = await open_database(load_settings(config).database)
    try:
        async with database.transaction() as connection:
            return await read_audit(connection)
    finally:
        await database.aclose()
