"""A real gateway process (``citadel gateway``) in front of a real SmolLM2 model service, on loopback ports:
WebSockets and SSE need a real server, and the browser a real page."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.harness import remote_model
from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, write_config

ADMIN_KEY = "admin-key-for-live-tests"


@dataclass
class LiveGateway:
    process: ServiceProcess
    base_url: str
    config: Path

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    def create_key(self, name: str, **spec: Any) -> dict[str, Any]:
        """A new API key through the admin API (its secret in ``secret``)."""
        response = httpx.post(
            f"{self.base_url}/admin/keys",
            json={"name": name, **spec},
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
        key: dict[str, Any] = response.json()
        return key

    def metrics(self) -> str:
        return httpx.get(f"{self.base_url}/metrics", timeout=10).text


def live_config(directory: Path, model_url: str, port: int, **live: Any) -> Path:
    settings = {
        "min_interval_s": 0.001,
        "send_buffer": 8,
        **live,
    }
    return write_config(
        directory,
        {
            "gateway": {"port": port, "health_interval_s": 3600},
            "models": [remote_model(SMOLLM2_NAME, model_url)],
            "auth": {"enabled": True, "admin_key": ADMIN_KEY, "key_cache_ttl_s": 0},
            "rate_limits": {
                "tiers": {"default": {"requests_per_minute": 1000}, "tiny": {"requests_per_minute": 2}}
            },
            "request_log": {"flush_interval_s": 0.05},
            "live": settings,
        },
    )


def add_console_user(config: Path, username: str, password: str, role: str) -> None:
    """``citadel console add-user``, as an operator would run it."""
    env = {**os.environ, "CITADEL_TEST_PASSWORD": password}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "citadel",
            "console",
            "add-user",
            username,
            "--role",
            role,
            "--password-env",
            "CITADEL_TEST_PASSWORD",
            "--config",
            str(config),
        ],
        check=True,
        env=env,
        capture_output=True,
        timeout=60,
    )


def start_gateway(directory: Path, model_url: str, **live: Any) -> LiveGateway:
    port = free_port()
    config = live_config(directory, model_url, port, **live)
    process = ServiceProcess(
        ["gateway", "--config", str(config)], f"http://127.0.0.1:{port}/health", log=directory / "gateway.log"
    )
    return LiveGateway(process, f"http://127.0.0.1:{port}", config)
