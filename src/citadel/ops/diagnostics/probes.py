"""Synchronous probes for the operator commands (health, doctor, verify): one result each, never raising."""

from __future__ import annotations

import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One checked thing: what (``subject``), whether it passed, and a line a person can act on."""

    subject: str
    ok: bool
    detail: str
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def http_probe(subject: str, url: str, timeout_s: float, *, expect: int = 200) -> ProbeResult:
    """GET ``url``; passes on status ``expect``."""
    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return ProbeResult(subject, False, f"{url}: {type(exc).__name__} {exc}".strip(), _ms(started))
    ok = response.status_code == expect
    return ProbeResult(subject, ok, f"{url}: HTTP {response.status_code}", _ms(started))


def tcp_probe(subject: str, host: str, port: int, timeout_s: float) -> ProbeResult:
    """Open (and close) a TCP connection: the service accepts connections."""
    started = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        return ProbeResult(subject, False, f"{host}:{port}: {exc.strerror or exc}", _ms(started))
    return ProbeResult(subject, True, f"{host}:{port} accepts connections", _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def chat_probe(
    subject: str,
    api_base: str,
    model: str,
    timeout_s: float,
    *,
    api_key: str | None = None,
    max_tokens: int = 16,
) -> ProbeResult:
    """POST a short chat completion to ``{api_base}/chat/completions``; passes on 200 with a choice."""
    url = f"{api_base}/chat/completions"
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Hello, this is a test."}],
        "max_tokens": max_tokens,
    }
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.perf_counter()
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        return ProbeResult(subject, False, f"{url}: {type(exc).__name__} {exc}".strip(), _ms(started))
    if response.status_code != 200:
        return ProbeResult(
            subject, False, f"{url}: HTTP {response.status_code} {response.text[:200]}", _ms(started)
        )
    usage = response.json().get("usage") or {}
    return ProbeResult(
        subject, True, f"HTTP 200, {usage.get('completion_tokens', '?')} tokens generated", _ms(started)
    )
