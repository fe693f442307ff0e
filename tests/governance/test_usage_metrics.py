"""Per-key usage counters: requests, tokens and cost by key and model, counted once per recorded request;
a model without a price still has its cost series (at 0) from its first request on."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from citadel.governance import Governance, RequestLogEntry
from tests.governance.conftest import make_settings


def _entry(request_id: str, model: str, key_id: int | None) -> RequestLogEntry:
    return RequestLogEntry(
        request_id=request_id,
        key_id=key_id,
        model=model,
        endpoint="/v1/chat/completions",
        status_code=200,
        latency_ms=1.0,
        prompt_tokens=1000,
        completion_tokens=500,
    )


async def test_usage_is_counted_by_key_and_model(tmp_path: Path, sqlite_url: str) -> None:
    registry = CollectorRegistry()
    prices = {"priced": {"prompt_per_1k": 0.5, "completion_per_1k": 2.0}}
    governance = await Governance.open(make_settings(tmp_path, sqlite_url, prices=prices), registry=registry)
    try:
        governance.record(_entry("a", "priced", 7))
        governance.record(_entry("b", "priced", 7))
        governance.record(_entry("c", "free", None))
        governance.record(_entry("d", "refused", 7), count_usage=False)
    finally:
        await governance.aclose()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("llm_usage_requests_total", key="7", model="priced") == 2
    assert sample("llm_usage_tokens_total", key="7", model="priced", type="prompt") == 2000
    assert sample("llm_usage_tokens_total", key="7", model="priced", type="completion") == 1000
    assert sample("llm_usage_cost_dollars_total", key="7", model="priced") == 2 * (0.5 + 1.0)
    assert sample("llm_usage_requests_total", key="anonymous", model="free") == 1
    assert sample("llm_usage_cost_dollars_total", key="anonymous", model="free") == 0.0
    assert sample("llm_usage_requests_total", key="7", model="refused") is None
