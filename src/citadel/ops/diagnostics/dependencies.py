"""The external services a config names (database, Redis, Qdrant, Kafka, Prometheus) and how to probe them.

Only what the config actually configures is probed: an in-process Redis (``url: null``), a local vector store
or ``events.sink: none`` has nothing to reach. SQLite is a file: its folder must exist and be writable.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from citadel.config import CitadelSettings
from citadel.ops.diagnostics.probes import ProbeResult, http_probe, tcp_probe

_DEFAULT_PORTS = MappingProxyType(
    {"postgresql": 5432, "redis": 6379, "rediss": 6379, "http": 80, "https": 443}
)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite[+driver]:///path`` URL (relative to the working directory), else None."""
    scheme, _, rest = database_url.partition("://")
    if not scheme.startswith("sqlite") or not rest.startswith("/"):
        return None
    return Path(rest[1:]) if rest[1:] else None


def _tcp_url(subject: str, url: str, timeout_s: float) -> ProbeResult:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return tcp_probe(subject, parts.hostname or "127.0.0.1", port, timeout_s)


def _sqlite(path: Path) -> ProbeResult:
    """The file, or the folder it will be created in (the nearest existing one), must be writable."""
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return ProbeResult("database (sqlite)", False, f"{existing} is not writable")
    state = f"{path.stat().st_size} bytes" if path.is_file() else "not created yet"
    return ProbeResult("database (sqlite)", True, f"{path} ({state})")


def probe_dependencies(settings: CitadelSettings, timeout_s: float) -> list[ProbeResult]:
    """One result per configured dependency."""
    results = []
    database_url = settings.database.url.get_secret_value()
    database = sqlite_path(database_url)
    results.append(_sqlite(database) if database else _tcp_url("database", database_url, timeout_s))
    if settings.redis.url:
        results.append(_tcp_url("redis", settings.redis.url.get_secret_value(), timeout_s))
    if settings.vectors.url:
        results.append(
            http_probe("vector store (qdrant)", f"{settings.vectors.url.rstrip('/')}/healthz", timeout_s)
        )
    if settings.events.sink == "kafka":
        for server in settings.events.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            results.append(tcp_probe(f"events broker {server.strip()}", host, int(port or 9092), timeout_s))
    results.append(
        http_probe(
            "metrics (prometheus)", f"{settings.metrics.prometheus_url.rstrip('/')}/-/healthy", timeout_s
        )
    )
    return results
