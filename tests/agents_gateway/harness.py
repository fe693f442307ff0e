"""The gateway in-process in front of the fake upstream, with the SDKs pointed at it, and the chat answers
(tool calls, streamed) the fake upstream is scripted with."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from opentelemetry.sdk.trace.export import SpanExporter

from citadel.config import load_settings
from citadel.gateway.app import create_gateway_app
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import remote_model
from tests.helpers import free_port, write_config

MODEL = "fake"
COMPLETION_TEXT = "hi"  # the fake upstream's default answer
ADMIN_KEY = "admin-secret-for-agent-tests"

TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TOOL_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-tool",
    "object": "chat.completion",
    "created": 1,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


# A text part, then one tool call whose arguments come in two pieces, then the usage chunk.
TOOL_CHUNKS: list[dict[str, Any]] = [
    _chunk({"role": "assistant", "content": "Let me "}),
    _chunk({"content": "check."}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                            "function": {"name": "get_weather", "arguments": ""}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    _chunk({}, "tool_calls"),
    {"id": "chatcmpl-stream", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [],
     "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}},
]  # fmt: skip

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@dataclass
class Gateway:
    client: httpx2.AsyncClient
    script: Script

    def openai(self, key: str = "unused") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url="http://gateway/v1", api_key=key, http_client=self.client, max_retries=0
        )

    def anthropic(self, key: str = "unused") -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url="http://gateway", api_key=key, http_client=self.client, max_retries=0
        )

    async def new_key(self, name: str) -> str:
        created = await self.client.post(
            "/admin/keys",
            headers={"authorization": f"Bearer {ADMIN_KEY}"},
            json={"name": name, "tier": "default"},
        )
        assert created.status_code == 201, created.text
        secret: str = created.json()["secret"]
        return secret

    def upstream_body(self, index: int = -1) -> dict[str, Any]:
        """A chat request the upstream got, as JSON."""
        body: dict[str, Any] = json.loads(self.script.seen_bodies[index])
        return body


@asynccontextmanager
async def gateway(
    tmp_path: Path, *, auth: bool = False, span_exporter: SpanExporter | None = None, **sections: Any
) -> AsyncIterator[Gateway]:
    script = Script(completion=copy.deepcopy(TOOL_COMPLETION))
    async with fake_upstream(script) as url:
        config: dict[str, Any] = {
            "gateway": {"port": free_port(), "health_interval_s": 3600},
            "models": [remote_model(MODEL, url)],
            **sections,
        }
        if auth:
            config["auth"] = {"enabled": True, "admin_key": ADMIN_KEY}
        app = create_gateway_app(load_settings(write_config(tmp_path, config)), span_exporter=span_exporter)
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(
                transport=transport, base_url="http://gateway", timeout=30
            ) as client:
                yield Gateway(client, script)
