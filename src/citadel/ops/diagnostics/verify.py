"""The deployment test (seed D.1.4 ``comprehensive-test.sh``): every model directly and through the gateway,
the gateway's models/health/metrics endpoints, the configured dependencies, and concurrent requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from citadel.config import CitadelSettings
from citadel.engines.local import local_services
from citadel.ops.diagnostics.dependencies import probe_dependencies
from citadel.ops.diagnostics.probes import ProbeResult, chat_probe, http_probe
from citadel.ops.render.assets import gateway_url


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    timeout_s: float = 120.0
    concurrency: int = 5
    max_tokens: int = 16
    api_key: str | None = None
    dependencies: bool = True


def _models_listed(settings: CitadelSettings, base: str, options: VerifyOptions) -> ProbeResult:
    headers = {"authorization": f"Bearer {options.api_key}"} if options.api_key else {}
    try:
        response = httpx.get(f"{base}/v1/models", headers=headers, timeout=options.timeout_s)
        listed = {model["id"] for model in response.json()["data"]} if response.status_code == 200 else set()
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return ProbeResult("gateway /v1/models", False, f"{type(exc).__name__}: {exc}")
    missing = sorted({model.name for model in settings.models} - listed)
    if response.status_code != 200 or missing:
        return ProbeResult(
            "gateway /v1/models", False, f"HTTP {response.status_code}, missing: {', '.join(missing)}"
        )
    return ProbeResult("gateway /v1/models", True, f"lists all {len(listed)} model(s)")


def _metrics(base: str, timeout_s: float) -> ProbeResult:
    url = f"{base}/metrics"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return ProbeResult("gateway /metrics", False, f"{url}: {type(exc).__name__} {exc}")
    exported = response.status_code == 200 and "llm_requests_total" in response.text
    detail = (
        "exports llm_requests_total" if exported else f"HTTP {response.status_code}, no llm_requests_total"
    )
    return ProbeResult("gateway /metrics", exported, detail)


def _concurrent(settings: CitadelSettings, base: str, options: VerifyOptions) -> ProbeResult:
    model = settings.models[0].name
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        results = list(
            pool.map(
                lambda index: chat_probe(
                    f"concurrent {index}",
                    f"{base}/v1",
                    model,
                    options.timeout_s,
                    api_key=options.api_key,
                    max_tokens=8,
                ),
                range(options.concurrency),
            )
        )
    failed = [result.detail for result in results if not result.ok]
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    detail = f"{options.concurrency - len(failed)}/{options.concurrency} succeeded against {model}"
    return ProbeResult(
        "concurrent requests", not failed, detail + (f"; {failed[0]}" if failed else ""), elapsed
    )


def run_verification(
    settings: CitadelSettings, options: VerifyOptions, report: Callable[[ProbeResult], None]
) -> list[ProbeResult]:
    """Run every step in order, handing each result to ``report`` as it finishes (the command's progress)."""
    results: list[ProbeResult] = []

    def record(result: ProbeResult) -> None:
        results.append(result)
        report(result)

    base = gateway_url(settings)
    timeout, tokens = options.timeout_s, options.max_tokens
    for service in local_services(settings):
        name = service.model.name
        direct = f"{service.name} direct"
        record(chat_probe(direct, f"{service.base_url}/v1", name, timeout, max_tokens=tokens))
    for model in settings.models:
        via = f"{model.name} via gateway"
        record(chat_probe(via, f"{base}/v1", model.name, timeout, api_key=options.api_key, max_tokens=tokens))
    record(_models_listed(settings, base, options))
    record(http_probe("gateway /health", f"{base}/health", timeout))
    record(_metrics(base, timeout))
    if settings.models:
        record(_concurrent(settings, base, options))
    if options.dependencies:
        for dependency in probe_dependencies(settings, min(timeout, 5.0)):
            record(dependency)
    return results
