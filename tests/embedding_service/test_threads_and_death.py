"""The embedding service runs torch with its configured threads (and one inter-op thread), and a dead
batching worker makes it answer 503 and ask to exit with EXIT_ENGINE_DIED."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from citadel.config import CitadelSettings
from citadel.embedding_service.app import create_embedding_service_app
from citadel.embedding_service.batcher import DynamicBatcher
from citadel.engines.service_control import ServiceControl
from citadel.exit_codes import EXIT_ENGINE_DIED
from tests.helpers import MINILM_NAME, MINILM_SOURCE, free_port, minilm_model

# What SentenceTransformersEngine.serve does before the app loads its model, in a fresh interpreter (torch
# reads its thread settings once per process).
_PROBE = f"""
import json, os
from citadel.embedding_service.encoder import SentenceEncoder
from citadel.model_source import resolve_model_source
import torch
encoder = SentenceEncoder(resolve_model_source({MINILM_SOURCE!r}), THREADS)
encoder.encode(["warm up the thread pools"])
print(json.dumps({{"intra": torch.get_num_threads(), "inter": torch.get_num_interop_threads(),
                  "reported": encoder.threads}}))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_torch_runs_the_configured_threads(threads: int) -> None:
    probe = _PROBE.replace("THREADS", str(threads))
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"intra": threads, "inter": 1, "reported": threads}


async def test_dead_batcher_answers_503_and_asks_to_exit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: DynamicBatcher, first: object) -> list[object]:  # test double: a worker bug
        raise RuntimeError("injected batcher failure")

    monkeypatch.setattr(DynamicBatcher, "_next_batch", broken)
    settings = CitadelSettings(models=[minilm_model(free_port())], data_dir=str(tmp_path))
    control = ServiceControl()
    stopped = threading.Event()
    control.bind(stopped.set)
    app = create_embedding_service_app(settings, MINILM_NAME, control=control)
    body = {"model": MINILM_NAME, "input": ["late delivery"]}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            assert (await client.get("/health")).status_code == 200
            first = await asyncio.wait_for(client.post("/v1/embeddings", json=body), timeout=60)
            assert first.status_code == 503
            assert first.json()["error"]["code"] == "engine_died"
            later = await client.post("/v1/embeddings", json=body)
            assert later.status_code == 503
            health = await client.get("/health")
            assert health.status_code == 503
            assert "injected batcher failure" in health.json()["reason"]
    assert stopped.is_set()
    assert control.exit_code == EXIT_ENGINE_DIED
