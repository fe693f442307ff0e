"""Fixtures that start real Citadel model services (SmolLM2-135M on llama.cpp) on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import (
    MINILM_NAME,
    SMOLLM2_NAME,
    ServiceProcess,
    free_port,
    minilm_model,
    smollm2_model,
    write_config,
)


def _serve(directory: Path, **overrides: object) -> ServiceProcess:
    port = free_port()
    model = smollm2_model(port, **overrides)
    config = write_config(directory, {"gateway": {"port": free_port()}, "models": [model]})
    return ServiceProcess(
        ["serve-model", SMOLLM2_NAME, "--config", str(config)],
        f"http://127.0.0.1:{port}/health",
        log=directory / "model-service.log",
    )


@pytest.fixture(scope="session")
def model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = _serve(tmp_path_factory.mktemp("model-service"))
    yield service.health_url.removesuffix("/health")
    service.stop()


@pytest.fixture
def tiny_queue_model_url(tmp_path: Path) -> Iterator[str]:
    """A model service that lets one request wait while another runs, and refuses the third."""
    limits = {"max_model_len": 2048, "max_num_seqs": 1, "max_num_batched_tokens": 256, "max_waiting": 1}
    service = _serve(tmp_path, limits=limits)
    yield service.health_url.removesuffix("/health")
    service.stop()


@pytest.fixture(scope="session")
def embedding_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real embedding model service (all-MiniLM-L6-v2 on sentence-transformers)."""
    directory = tmp_path_factory.mktemp("embedding-service")
    port = free_port()
    config = write_config(directory, {"gateway": {"port": free_port()}, "models": [minilm_model(port)]})
    service = ServiceProcess(
        ["serve-model", MINILM_NAME, "--config", str(config)],
        f"http://127.0.0.1:{port}/health",
        log=directory / "embedding-service.log",
    )
    yield f"http://127.0.0.1:{port}"
    service.stop()
