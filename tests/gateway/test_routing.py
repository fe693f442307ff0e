"""Virtual models: explicit rules choose the model, and the response says which rule and model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citadel.config import ConfigError, load_settings
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import gateway_client, metric, remote_model
from tests.helpers import free_port, write_config

AUTO = {
    "name": "auto",
    "rules": [
        {"name": "code", "when": {"capabilities": ["code"]}, "models": ["small", "big"], "pick": "cheapest"},
        {"name": "long-prompt", "when": {"min_prompt_tokens": 100}, "models": ["small", "big"]},
        {"name": "default", "models": ["small", "big"], "pick": "least_loaded"},
    ],
}


def _models(small_url: str, big_url: str) -> list[dict[str, Any]]:
    return [
        remote_model("small", small_url, limits={"max_model_len": 256}, cost=1.0),
        remote_model("big", big_url, limits={"max_model_len": 8192}, cost=5.0, capabilities=["code"]),
    ]


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": content}], "max_tokens": 16, **extra}


async def test_rules_choose_the_model_and_say_so(tmp_path: Path) -> None:
    small, big = Script(), Script()
    async with (
        fake_upstream(small) as small_url,
        fake_upstream(big) as big_url,
        gateway_client(tmp_path, _models(small_url, big_url), routes=[AUTO]) as gateway,
    ):
        short = await gateway.post("/v1/chat/completions", json=_chat("hi"))
        long = await gateway.post("/v1/chat/completions", json=_chat("word " * 400))
        code = await gateway.post(
            "/v1/chat/completions", json=_chat("hi"), headers={"x-citadel-capabilities": "code"}
        )
        models = (await gateway.get("/v1/models")).json()
        metrics = (await gateway.get("/metrics")).text
    assert (short.headers["x-citadel-route-rule"], short.headers["x-citadel-model"]) == ("default", "small")
    # 400 words (~500 tokens) do not fit small's 256-token window: the rule passes over it.
    assert (long.headers["x-citadel-route-rule"], long.headers["x-citadel-model"]) == ("long-prompt", "big")
    # Only big has the capability, though small is cheaper.
    assert (code.headers["x-citadel-route-rule"], code.headers["x-citadel-model"]) == ("code", "big")
    assert small.seen_models == ["small"]
    assert big.seen_models == ["big", "big"]
    assert "auto" in [card["id"] for card in models["data"]]
    assert metric(metrics, "llm_routing_decisions_total", virtual_model="auto", rule="code", model="big") == 1


async def test_no_rule_finding_a_model_is_a_503_that_says_why(tmp_path: Path) -> None:
    async with (
        fake_upstream(Script()) as small_url,
        gateway_client(
            tmp_path,
            [remote_model("small", small_url, limits={"max_model_len": 256})],
            routes=[{"name": "auto", "rules": [{"name": "only", "models": ["small"]}]}],
        ) as gateway,
    ):
        response = await gateway.post("/v1/chat/completions", json=_chat("word " * 400))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_route"


def test_rules_and_fallbacks_must_name_configured_models(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    config = write_config(
        tmp_path,
        {
            "gateway": {"routes": [{"name": "auto", "rules": [{"name": "r", "models": ["ghost"]}]}]},
            "models": [remote_model("small", url, fallbacks=["nowhere"])],
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    problems = " ".join(caught.value.problems)
    assert "'nowhere' is not a configured model" in problems
    assert "'ghost' is not a configured model" in problems
