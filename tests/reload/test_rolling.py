"""Model services follow the config under ``citadel up``: a changed one is replaced rolling under load (the
new process on another port passes its health check before the old one stops), and a config whose new
model service cannot start is rolled back by itself. Real SmolLM2 model services, a real gateway."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from citadel.reload.state import read_state
from tests.helpers import SMOLLM2_NAME, SMOLLM2_SOURCE, ServiceProcess, free_port, smollm2_model, write_config
from tests.reload.cli import citadel
from tests.reload.load import Load

pytestmark = pytest.mark.timeout(480)


def _chat() -> dict[str, Any]:
    return {"model": SMOLLM2_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def test_rolling_replacement_loses_no_request_and_a_failed_start_rolls_back(tmp_path: Path) -> None:
    model_port, gateway_port = free_port(), free_port()
    first: dict[str, Any] = {
        "gateway": {"port": gateway_port, "health_interval_s": 2},
        "models": [smollm2_model(model_port, threads=1)],
    }
    config = write_config(tmp_path, copy.deepcopy(first))
    base_url = f"http://127.0.0.1:{gateway_port}"
    up = await asyncio.to_thread(
        ServiceProcess,
        ["up", "--config", str(config), "--skip-checks"],
        f"{base_url}/health",
        log=tmp_path / "up.log",
        timeout_s=240,
    )
    run = tmp_path / "var" / "run"
    try:
        async with Load(base_url, _chat, concurrency=2) as load:
            await load.until_sent(10, timeout_s=120)
            # A change the engine reads: the service is replaced, rolling.
            second = copy.deepcopy(first)
            second["models"][0]["limits"]["max_num_seqs"] = 2
            write_config(tmp_path, second)
            rolled = await citadel("reload", "--config", str(config))
            assert rolled.returncode == 0, rolled.stdout + rolled.stderr + up.log.read_text()[-3000:]
            await load.until_sent(10, timeout_s=120)
            rolled_failures = list(load.failures)

            # A new model whose weights do not exist: its service never becomes healthy.
            third = copy.deepcopy(second)
            broken = smollm2_model(free_port(), threads=1, startup_timeout_s=60)
            broken.update(name="broken", source=SMOLLM2_SOURCE.replace(".gguf", "-missing.gguf"))
            third["models"].append(broken)
            write_config(tmp_path, third)
            failed = await citadel("reload", "--config", str(config))
            await load.until_sent(10, timeout_s=120)
        assert rolled_failures == []
        assert load.failures == []
        assert "replaced, rolling" in rolled.stdout
        state = read_state(run)
        assert state is not None
        [(configured, actual)] = state.moved.items()
        assert configured == f"http://127.0.0.1:{model_port}"
        assert await _answers(f"{actual}/health")  # the new service, on its own port
        assert not await _answers(f"{configured}/health")  # the old one drained and stopped

        assert failed.returncode == 1
        assert "rolled back" in failed.stderr
        assert "model service broken" in failed.stderr
        assert yaml.safe_load(config.read_text())["models"] == second["models"]  # the file is put back
        assert "broken" in (config.with_name(config.name + ".rejected")).read_text()
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            models = {entry["id"] for entry in (await client.get("/v1/models")).json()["data"]}
            answer = await client.post("/v1/chat/completions", json=_chat())
        assert models == {SMOLLM2_NAME}
        assert answer.status_code == 200
        history = await citadel("config", "history", "--config", str(config))
        assert [line.split()[3] for line in history.stdout.splitlines() if line[:4].strip().isdigit()] == [
            "applied",
            "applied",
            "rolled_back",
        ]
    finally:
        await asyncio.to_thread(up.stop)
