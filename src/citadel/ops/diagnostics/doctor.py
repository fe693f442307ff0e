"""Diagnostics (seed 8.4): resources, services, ports, recent errors, dependencies and an API smoke test.

Each section is a list of results; ``citadel doctor`` prints them under headings. Things that cannot be looked
at on this host (no systemd, no journal) are reported as skipped, never as failures.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path

import psutil

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import local_services
from citadel.ops.diagnostics.dependencies import probe_dependencies
from citadel.ops.diagnostics.health import check_health
from citadel.ops.diagnostics.probes import ProbeResult, chat_probe, tcp_probe
from citadel.ops.render.assets import gateway_url

Section = tuple[str, list[ProbeResult]]
_GIB = 1024**3
_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL|Traceback)\b")
# Why these margins: below them the host starts swapping or a model update no longer fits.
MIN_AVAILABLE_MEMORY_SHARE = 0.10
MIN_FREE_DISK_BYTES = 5 * _GIB
MAX_LOAD_PER_CORE = 4


def _resources(settings: CitadelSettings) -> list[ProbeResult]:
    memory = psutil.virtual_memory()
    limits = sum(service.model.memory_limit_bytes for service in local_services(settings))
    data_dir = settings.data_dir.absolute()
    while not data_dir.exists():
        data_dir = data_dir.parent
    free = shutil.disk_usage(data_dir).free
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    return [
        ProbeResult("cpu", load <= MAX_LOAD_PER_CORE * cores, f"{cores} cores, load {load:.2f} (1 min)"),
        ProbeResult(
            "memory",
            memory.available >= MIN_AVAILABLE_MEMORY_SHARE * memory.total,
            f"{memory.available / _GIB:.1f} GiB available of {memory.total / _GIB:.1f} GiB; "
            f"models' memory_limit total {limits / _GIB:.1f} GiB",
        ),
        ProbeResult("disk", free >= MIN_FREE_DISK_BYTES, f"{free / _GIB:.1f} GiB free at {data_dir}"),
    ]


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _units(settings: CitadelSettings) -> list[ProbeResult]:
    if not systemd_running():
        return [ProbeResult("systemd", True, "not running on this host; skipped")]
    units = [f"citadel-llm@{service.name}.service" for service in local_services(settings)]
    units.append("citadel-llm-gateway.service")
    results = []
    for unit in units:
        state = subprocess.run(
            ["systemctl", "is-active", unit], capture_output=True, text=True, check=False, timeout=10
        ).stdout.strip()
        results.append(ProbeResult(unit, state == "active", state or "unknown"))
    return results


def _ports(settings: CitadelSettings, timeout_s: float) -> list[ProbeResult]:
    listeners = [
        (f"model {service.name}", service.model.host, service.port) for service in local_services(settings)
    ]
    listeners.append(("gateway", settings.gateway.host, settings.gateway.port))
    return [
        tcp_probe(f"{name} port", reachable_host(host), port, timeout_s) for name, host, port in listeners
    ]


def _tail_errors(path: Path, lines: int) -> list[str]:
    with path.open(encoding="utf-8", errors="replace") as log:
        return [line.rstrip() for line in deque(log, maxlen=lines) if _ERROR_LINE.search(line)]


def _recent_errors(log_files: list[Path], lines: int) -> list[ProbeResult]:
    results = []
    for path in log_files:
        if not path.is_file():
            results.append(ProbeResult(f"log {path}", False, "not found"))
            continue
        errors = _tail_errors(path, lines)
        detail = f"{len(errors)} error line(s) in the last {lines} lines" + (
            f"; last: {errors[-1]}" if errors else ""
        )
        results.append(ProbeResult(f"log {path}", not errors, detail))
    if systemd_running() and shutil.which("journalctl"):
        journal = subprocess.run(
            [
                "journalctl",
                "-u",
                "citadel-llm*",
                "-p",
                "err",
                "--since",
                "-1h",
                "-q",
                "--no-pager",
                "-n",
                "20",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        ).stdout.strip()
        entries = journal.splitlines()
        last = f"; last: {entries[-1]}" if entries else ""
        results.append(ProbeResult("journal (last hour)", not entries, f"{len(entries)} error entries{last}"))
    if not results:
        results.append(ProbeResult("logs", True, "no journal on this host and no --log given; skipped"))
    return results


def _smoke_test(settings: CitadelSettings, timeout_s: float, api_key: str | None) -> list[ProbeResult]:
    if not settings.models:
        return [ProbeResult("chat completion", False, "no model configured")]
    model = settings.models[0].name
    api_base = f"{gateway_url(settings)}/v1"
    return [
        chat_probe(f"chat completion ({model})", api_base, model, timeout_s, api_key=api_key, max_tokens=8)
    ]


def diagnose(
    settings: CitadelSettings,
    *,
    log_files: list[Path],
    timeout_s: float = 5.0,
    api_key: str | None = None,
    error_lines: int = 500,
) -> list[tuple[str, Callable[[], list[ProbeResult]]]]:
    """The sections, each run when called, so the command can show them one by one."""
    return [
        ("Resources", lambda: _resources(settings)),
        ("Services", lambda: check_health(settings, timeout_s=timeout_s).services + _units(settings)),
        ("Ports", lambda: _ports(settings, timeout_s)),
        ("Recent errors", lambda: _recent_errors(log_files, error_lines)),
        ("Dependencies", lambda: probe_dependencies(settings, timeout_s)),
        ("API smoke test", lambda: _smoke_test(settings, max(timeout_s, 60.0), api_key)),
    ]
