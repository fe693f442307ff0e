"""Prometheus recording rules: per-model rates and latency quantiles that alerts and dashboards share.

Names follow Prometheus' ``level:metric:operations`` convention. Gateway series carry ``model``; model-service
series carry the ``model`` target label added by the scrape config (and vLLM's own ``model_name``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from citadel.ops.render.scrape import MODELS_JOB

RATE_WINDOW = "5m"
QUANTILES = MappingProxyType({"p50": 0.5, "p95": 0.95, "p99": 0.99})

REQUEST_RATE = "model:llm_requests:rate5m"
ERROR_RATIO = "model:llm_request_errors:ratio_rate5m"
TOKEN_RATE = "model:llm_tokens_processed:rate5m"
TTFT_P95 = "model:vllm_time_to_first_token_seconds:p95_5m"
GENERATION_RATE = "model:vllm_generation_tokens:rate5m"
CPU_CORES = "model:process_cpu_seconds:rate5m"


def latency_quantile(name: str) -> str:
    """The recorded gateway latency quantile, e.g. ``latency_quantile("p95")``."""
    return f"model:llm_request_duration_seconds:{name}_{RATE_WINDOW}"


def _quantile(quantile: float, histogram: str, by: str = "model") -> str:
    return f"histogram_quantile({quantile}, sum by ({by}, le) (rate({histogram}_bucket[{RATE_WINDOW}])))"


def recording_groups() -> list[dict[str, Any]]:
    """The rule groups of ``citadel-recording.yml``."""
    from citadel.ops.render.business_rules import business_recording_rules  # it imports this module

    gateway: list[dict[str, Any]] = [
        {"record": REQUEST_RATE, "expr": f"sum by (model) (rate(llm_requests_total[{RATE_WINDOW}]))"},
        {
            "record": ERROR_RATIO,
            "expr": f'sum by (model) (rate(llm_requests_total{{status="error"}}[{RATE_WINDOW}]))'
            f" / sum by (model) (rate(llm_requests_total[{RATE_WINDOW}]))",
        },
        {
            "record": TOKEN_RATE,
            "expr": f"sum by (model, type) (rate(llm_tokens_processed_total[{RATE_WINDOW}]))",
        },
    ]
    gateway += [
        {"record": latency_quantile(name), "expr": _quantile(quantile, "llm_request_duration_seconds")}
        for name, quantile in QUANTILES.items()
    ]
    models: list[dict[str, Any]] = [
        {"record": TTFT_P95, "expr": _quantile(0.95, "vllm:time_to_first_token_seconds")},
        {
            "record": GENERATION_RATE,
            "expr": f"sum by (model) (rate(vllm:generation_tokens_total[{RATE_WINDOW}]))",
        },
        {
            "record": CPU_CORES,
            "expr": f'sum by (model) (rate(process_cpu_seconds_total{{job="{MODELS_JOB}"}}[{RATE_WINDOW}]))',
        },
    ]
    return [
        {"name": "citadel-gateway-recording", "rules": gateway},
        {"name": "citadel-model-recording", "rules": models},
        {"name": "citadel-business-recording", "rules": business_recording_rules()},
    ]
