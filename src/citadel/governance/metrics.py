"""Governance metrics, registered on the registry the caller passes (a fresh one per test)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter


class GovernanceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.auth_failures = Counter(
            "citadel_auth_failures_total",
            "Requests refused by authentication or permission.",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "citadel_rate_limited_total",
            "Requests refused by a rate limit or budget.",
            ["tier", "reason"],
            registry=registry,
        )
        self.limiter_errors = Counter(
            "citadel_ratelimit_backend_errors_total",
            "Rate-limit checks that could not reach Redis (then fail-open or fail-closed).",
            ["outcome"],
            registry=registry,
        )
        # Usage by key and model, for the usage dashboard (the request log has the same, per request).
        self._usage_children: dict[tuple[str, str], tuple[Any, Any, Any, Any]] = {}
        self.usage_requests = Counter(
            "llm_usage_requests_total",
            "Requests answered, by API key and model.",
            ["key", "model"],
            registry=registry,
        )
        self.usage_tokens = Counter(
            "llm_usage_tokens_total",
            "Tokens used, by API key, model and type (prompt, completion).",
            ["key", "model", "type"],
            registry=registry,
        )
        self.usage_cost = Counter(
            "llm_usage_cost_dollars_total",
            "Cost from the prices table, by API key and model.",
            ["key", "model"],
            registry=registry,
        )
        self.log_written = Counter(
            "citadel_request_log_written_total",
            "Request-log entries written to the database.",
            registry=registry,
        )
        self.log_spilled = Counter(
            "citadel_request_log_spilled_total",
            "Request-log entries written to the local spill file (database unreachable or queue full).",
            ["reason"],
            registry=registry,
        )
        self.log_replayed = Counter(
            "citadel_request_log_replayed_total",
            "Spilled entries replayed into the database.",
            registry=registry,
        )
        self.log_lost = Counter(
            "citadel_request_log_lost_total",
            "Entries neither written nor spilled (the spill file could not be written).",
            registry=registry,
        )
        self.log_unreadable = Counter(
            "citadel_request_log_unreadable_total",
            "Spill-file lines that could not be parsed (a torn last line after a crash).",
            registry=registry,
        )

    def usage(self, key: str, model: str) -> tuple[Any, Any, Any, Any]:
        """The request, prompt-token, completion-token and cost counters of one key and model.

        Remembered: ``labels()`` checks and locks on every call, and the request path asks for the same few
        label sets again and again.
        """
        found = self._usage_children.get((key, model))
        if found is None:
            found = self._usage_children[(key, model)] = (
                self.usage_requests.labels(key, model),
                self.usage_tokens.labels(key, model, "prompt"),
                self.usage_tokens.labels(key, model, "completion"),
                self.usage_cost.labels(key, model),
            )
        return found
