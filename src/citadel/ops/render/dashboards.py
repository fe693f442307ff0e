"""The two Grafana dashboards (seed E.1.2): operations (per model) and usage (per key and model); the
business one is in :mod:`citadel.ops.render.business_dashboard`.

Latency targets come from each model's config, drawn as constant lines next to the measured quantiles.
"""

from __future__ import annotations

from typing import Any

from citadel.config import CitadelSettings
from citadel.ops.render.assets import local_models
from citadel.ops.render.business_dashboard import overview_panels
from citadel.ops.render.grafana_model import Panel, Target, dashboard_json
from citadel.ops.render.scrape import MODELS_JOB

RATE = "$__rate_interval"
MODEL = 'model=~"$model"'


def _rate(metric: str, by: str = "model", matchers: str = MODEL) -> str:
    return f"sum by ({by}) (rate({metric}{{{matchers}}}[{RATE}]))"


def _quantile(quantile: float, histogram: str) -> str:
    return f"histogram_quantile({quantile}, {_rate(f'{histogram}_bucket', by='model, le')})"


def _increase(metric: str, by: str) -> str:
    return f"sum by ({by}) (increase({metric}{{{MODEL}}}[$__range]))"


def _latency_panel(settings: CitadelSettings) -> Panel:
    targets = [
        Target(_quantile(0.5, "llm_request_duration_seconds"), "{{model}} p50"),
        Target(_quantile(0.95, "llm_request_duration_seconds"), "{{model}} p95"),
    ]
    targets += [
        Target(f"vector({model.targets.p95_latency_ms / 1000:g})", f"{model.name} p95 target")
        for model in settings.models
    ]
    return Panel("Latency p50 / p95 against target", tuple(targets), unit="s", width=12)


def _health_panels() -> list[Panel]:
    return [
        Panel(
            "Model health (gateway's view)",
            (Target(f"llm_model_health{{{MODEL}}}", "{{model}}"),),
            kind="stat",
            width=8,
            height=5,
            value_text={"0": "down", "1": "up"},
        ),
        Panel(
            "Scrape targets up",
            (Target('up{job=~"citadel-.*"}', "{{job}} {{model}}"),),
            kind="stat",
            width=8,
            height=5,
            value_text={"0": "down", "1": "up"},
        ),
        Panel(
            "Circuit breaker state (worst replica)",
            (Target(f"max by (model) (llm_circuit_breaker_state{{{MODEL}}})", "{{model}}"),),
            kind="stat",
            width=8,
            height=5,
            value_text={"0": "closed", "1": "half-open", "2": "open"},
        ),
    ]


def operations_dashboard(settings: CitadelSettings) -> dict[str, Any]:
    cache_hits = _rate("llm_cache_hits_total")
    cache_lookups = f"({cache_hits} + {_rate('llm_cache_misses_total')})"
    memory_limits = [
        Target(f"vector({model.memory_limit_bytes})", f"{model.name} memory_limit")
        for model in local_models(settings)
    ]
    panels = [
        *_health_panels(),
        Panel("Requests / s", (Target(_rate("llm_requests_total"), "{{model}}"),), unit="reqps"),
        _latency_panel(settings),
        Panel(
            "Time to first token p95",
            (
                Target(_quantile(0.95, "llm_time_to_first_token_seconds"), "{{model}} at the gateway"),
                Target(_quantile(0.95, "vllm:time_to_first_token_seconds"), "{{model}} in the engine"),
            ),
            unit="s",
        ),
        Panel(
            "Tokens / s",
            (
                Target(_rate("llm_tokens_processed_total", by="model, type"), "{{model}} {{type}}"),
                Target(_rate("vllm:generation_tokens_total"), "{{model}} generated (engine)"),
            ),
        ),
        Panel(
            "Errors / s",
            (Target(_rate("llm_requests_total", matchers=f'{MODEL}, status="error"'), "{{model}}"),),
            unit="reqps",
        ),
        Panel(
            "Active and queued requests",
            (
                Target(f"sum by (model) (llm_active_requests{{{MODEL}}})", "{{model}} active at the gateway"),
                Target(f"vllm:num_requests_running{{{MODEL}}}", "{{model}} running"),
                Target(f"vllm:num_requests_waiting{{{MODEL}}}", "{{model}} waiting"),
            ),
        ),
        Panel(
            "KV-cache usage",
            (Target(f"vllm:kv_cache_usage_perc{{{MODEL}}}", "{{model}}"),),
            unit="percentunit",
        ),
        Panel(
            "Retries and fallbacks / s",
            (
                Target(_rate("llm_retries_total", by="model, reason"), "{{model}} retry ({{reason}})"),
                Target(_rate("llm_fallbacks_total", by="model, fallback"), "{{model}} -> {{fallback}}"),
            ),
            unit="reqps",
        ),
        Panel(
            "Cache hit ratio",
            (Target(f"{cache_hits} / {cache_lookups}", "{{model}}"),),
            unit="percentunit",
        ),
        Panel(
            "Model service memory against its limit",
            (
                Target(f'process_resident_memory_bytes{{job="{MODELS_JOB}", {MODEL}}}', "{{model}}"),
                *memory_limits,
            ),
            unit="bytes",
        ),
        *overview_panels(),  # business value and predictive alerts (events consumers)
    ]
    return dashboard_json(
        "citadel-operations",
        "Citadel LLM Server - Operations",
        panels,
        tags=["citadel", "llm"],
        refresh="30s",
    )


def usage_dashboard() -> dict[str, Any]:
    panels = [
        Panel(
            "Requests by model",
            (Target(_increase("llm_requests_total", "model"), "{{model}}"),),
            kind="table",
        ),
        Panel(
            "Tokens by model",
            (Target(_increase("llm_tokens_processed_total", "model, type"), "{{model}} {{type}}"),),
            kind="table",
        ),
        Panel(
            "Requests by key and model",
            (Target(_increase("llm_usage_requests_total", "key, model"), "{{key}} {{model}}"),),
            kind="table",
        ),
        Panel(
            "Tokens by key and model",
            (Target(_increase("llm_usage_tokens_total", "key, model, type"), "{{key}} {{model}} {{type}}"),),
            kind="table",
        ),
        Panel(
            "Cost by key and model",
            (Target(_increase("llm_usage_cost_dollars_total", "key, model"), "{{key}} {{model}}"),),
            kind="table",
            unit="currencyUSD",
        ),
        Panel(
            "Requests over time by model",
            (Target(_rate("llm_requests_total"), "{{model}}"),),
            unit="reqps",
        ),
    ]
    return dashboard_json(
        "citadel-usage", "Citadel LLM Server - Usage", panels, tags=["citadel", "llm", "usage"], refresh="5m"
    )
