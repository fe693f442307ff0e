"""The pre-start validation of the blueprint (seed D.1.2, step 4.2), one pass/fail line per check.

Run by ``citadel check [NAME]`` by hand and as ``ExecStartPre`` of each model's systemd unit.
"""

from __future__ import annotations

import errno
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from citadel.config import CitadelSettings, LocalModelSettings, ModelSettings
from citadel.cpu_features import usable_cores
from citadel.engines import get_engine
from citadel.engines.local import LocalService, find_service, model_services
from citadel.model_source import ModelSourceError, resolve_model_source
from citadel.supervisor.cores import CoreBudgetError, plan_threads

_GIB = 1024**3


@dataclass(frozen=True, slots=True)
class CheckResult:
    subject: str
    check: str
    ok: bool
    detail: str


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def check_port_free(subject: str, host: str, port: int) -> CheckResult:
    """Free if we can bind it the way the service will next: with ``SO_REUSEADDR``, as uvicorn (asyncio's
    ``create_server``) does, so that connections of a stopped instance still in TIME_WAIT do not count as
    "in use" while a socket that really listens there still does."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            return CheckResult(subject, "port", False, f"{host}:{port} {reason}")
    return CheckResult(subject, "port", True, f"{host}:{port} is free")


def check_core_budget(settings: CitadelSettings, cores: int | None = None) -> CheckResult:
    """The local services' engine threads fit this machine's usable cores (see
    :mod:`citadel.supervisor.cores`)."""
    available = usable_cores() if cores is None else cores
    try:
        budget = plan_threads(settings, available)
    except CoreBudgetError as exc:
        return CheckResult("machine", "cores", False, str(exc))
    shares = ", ".join(f"{name} {threads}" for name, threads in budget.items()) or "no CPU engines"
    return CheckResult("machine", "cores", True, f"{available} usable core(s); threads: {shares}")


def check_model_files(model: LocalModelSettings) -> tuple[CheckResult, Path | None]:
    try:
        path = resolve_model_source(model.source)
    except ModelSourceError as exc:
        return CheckResult(model.name, "model files", False, str(exc)), None
    return CheckResult(model.name, "model files", True, f"{path} ({_human(_size(path))})"), path


def check_memory(model: LocalModelSettings) -> CheckResult:
    available = psutil.virtual_memory().available
    needed = model.memory_limit_bytes
    ok = available >= needed
    detail = f"{_human(available)} available, memory_limit {model.memory_limit}"
    return CheckResult(model.name, "memory", ok, detail if ok else f"only {detail}")


def check_disk(model: LocalModelSettings, path: Path) -> CheckResult:
    """The blueprint wants twice the model's size free where the model lives (logs, caches, updates)."""
    free = shutil.disk_usage(path if path.is_dir() else path.parent).free
    wanted = 2 * _size(path)
    ok = free >= wanted
    return CheckResult(model.name, "disk", ok, f"{_human(free)} free, want {_human(wanted)} (2x model size)")


def check_model(model: ModelSettings, *, services: list[LocalService] | None = None) -> list[CheckResult]:
    """The model's files, memory and disk, and the port of each of its ``services`` on this machine
    (all of them by default)."""
    engine = get_engine(model.backend)
    if not engine.runs_locally or not isinstance(model, LocalModelSettings):
        return [
            CheckResult(model.name, "remote", True, f"served at {model.base_url}; nothing to check locally")
        ]
    if model.ray is not None:
        detail = f"placed on Ray ({model.ray.dashboard_url}); its nodes hold the weights: citadel ray status"
        return [CheckResult(model.name, "ray", True, detail)]
    chosen = model_services(model) if services is None else services
    results = [check_port_free(service.name, model.host, service.port) for service in chosen]
    files, path = check_model_files(model)
    results.append(files)
    results.append(check_memory(model))
    if path is not None:
        results.append(check_disk(model, path))
    return results


def run_checks(settings: CitadelSettings, name: str | None = None) -> list[CheckResult]:
    """Checks for one model service (``MODEL`` or ``MODEL:PORT``) or model, or for every model and the
    gateway."""
    if name is not None:
        model = settings.model(name.partition(":")[0])
        if ":" in name:
            return check_model(model, services=[find_service(settings, name)])
        return check_model(model, services=model_services(model)[:1])
    results = [check for model in settings.models for check in check_model(model)]
    results.append(check_core_budget(settings))
    gateway = settings.gateway
    results.append(check_port_free("gateway", gateway.host, gateway.port))
    return results
