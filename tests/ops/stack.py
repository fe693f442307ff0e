"""The running deployment the ops command and dashboard tests share: ``citadel up`` (SmolLM2 behind the
gateway) on free loopback ports, and a real Prometheus scraping it every second."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai

from citadel.config import CitadelSettings, load_settings
from citadel.ops.render.assets import write_files
from citadel.ops.render.grafana import render_grafana
from citadel.ops.render.prometheus import render_prometheus
from tests.helpers import SMOLLM2_NAME, ServiceProcess, free_port, smollm2_model, write_config
from tests.ops.prometheus_server import PrometheusServer

DASHBOARDS = (
    "dashboards/citadel-operations.json",
    "dashboards/citadel-usage.json",
    "dashboards/citadel-business.json",
)


FLAKY = "flaky"  # a remote model whose server always fails; SmolLM2 is its fallback


class FailingUpstream:
    """A fake replica, on a loopback port in this process: healthy on ``/health``, 500 on every completion.
    It stands for a broken upstream, so that the traffic has a retry and a fallback for the dashboards."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(200, b'{"status": "ok"}')

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self._answer(500, b'{"error": {"message": "broken", "type": "server_error"}}')

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OpsStack:
    def __init__(self, directory: Path) -> None:
        gateway_port, prometheus_port = free_port(), free_port()
        self.directory = directory
        self.failing = FailingUpstream()
        flaky = {"name": FLAKY, "backend": "remote", "url": self.failing.url}
        self.config = write_config(
            directory,
            {
                "gateway": {"port": gateway_port, "health_interval_s": 1},
                "models": [smollm2_model(free_port()), {**flaky, "fallbacks": [SMOLLM2_NAME]}],
                "database": {"url": f"sqlite+aiosqlite:///{directory / 'citadel.db'}"},
                "metrics": {"scrape_interval_s": 1, "prometheus_url": f"http://127.0.0.1:{prometheus_port}"},
            },
        )
        self.settings: CitadelSettings = load_settings(self.config)
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        self.log = directory / "citadel-up.log"
        self.stack = ServiceProcess(
            ["up", "--config", str(self.config)], f"{self.gateway_url}/health", log=self.log
        )
        self.dashboards: dict[str, dict[str, Any]] = {
            name: json.loads(render_grafana(self.settings)[name]) for name in DASHBOARDS
        }
        write_files(render_prometheus(self.settings), directory / "prometheus")
        try:
            self.prometheus = PrometheusServer(
                directory / "prometheus" / "prometheus.yml", directory / "tsdb", port=prometheus_port
            )
            self.prometheus.wait_for(
                lambda: len(self.prometheus.query('up{job=~"citadel-.*"} == 1')) == 2, 60, "both targets up"
            )
        except BaseException:
            self.stack.stop()
            self.failing.stop()
            raise

    def send_traffic(self) -> None:
        """Requests through the gateway: chat, streamed chat, completions (one repeated, for the cache), and
        one the model refuses."""
        client = openai.OpenAI(base_url=f"{self.gateway_url}/v1", api_key="unused", max_retries=0, timeout=60)
        client.chat.completions.create(
            model=SMOLLM2_NAME, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8
        )
        stream = client.chat.completions.create(
            model=SMOLLM2_NAME,
            messages=[{"role": "user", "content": "Name a fruit."}],
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
        for _chunk in stream:  # the dashboards need the request counted, not its text
            pass
        client.completions.create(model=SMOLLM2_NAME, prompt="One, two,", max_tokens=8)
        for _ in range(2):  # deterministic, so the second is a response-cache hit (the cache panel)
            client.completions.create(model=SMOLLM2_NAME, prompt="Three, four,", max_tokens=4, temperature=0)
        # Longer than the model's context: the model service answers 400, an error for the dashboards.
        too_long = httpx.post(
            f"{self.gateway_url}/v1/completions",
            json={"model": SMOLLM2_NAME, "prompt": "word " * 1000, "max_tokens": 8},
            timeout=60,
        )
        assert too_long.status_code == 400
        # The flaky model's server answers 500: retried on its fallback, which answers (retry and fallback).
        rescued = httpx.post(
            f"{self.gateway_url}/v1/completions",
            json={"model": FLAKY, "prompt": "Five, six,", "max_tokens": 4},
            timeout=60,
        )
        assert rescued.status_code == 200
        assert rescued.headers["x-citadel-model"] == SMOLLM2_NAME

    def stop(self) -> None:
        self.prometheus.stop()
        self.stack.stop()
        self.failing.stop()
