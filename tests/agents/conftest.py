"""A running stack for agent clients: ``citadel up``, SmolLM2's built-in model service behind the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import ServiceProcess, free_port, smollm2_model, write_config


@pytest.fixture(scope="session")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("agents-stack")
    gateway_port = free_port()
    # One thread: llama.cpp's threads wait for each other at every layer, which costs most when the cores
    # are shared with other work, as a test run's are.
    limits = {"max_model_len": 2048, "max_num_seqs": 4, "max_num_batched_tokens": 256}
    config = write_config(
        directory,
        {
            "gateway": {"port": gateway_port},
            "models": [smollm2_model(free_port(), threads=1, limits=limits)],
        },
    )
    url = f"http://127.0.0.1:{gateway_port}"
    stack = ServiceProcess(["up", "--config", str(config)], f"{url}/health", log=directory / "citadel-up.log")
    yield url
    stack.stop()
