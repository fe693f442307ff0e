"""systemd units for a deployment (seed D.1.2, B.3.1), rendered from the config.

``citadel-llm@.service`` is one template for every model service: ``citadel-llm@<model>.service`` (or
``citadel-llm@<model>:<port>.service`` for a further replica on this machine) reads its ``<instance>.env``
and runs ``citadel check <instance>`` then ``citadel serve-model <instance>``, which starts vLLM or the
built-in engine by the model's backend; ``citadel-llm-health.timer`` runs ``citadel health`` every five
minutes (the seed's cron job), ``citadel-llm-backup.timer`` runs ``citadel backup --prune`` on
``backup.schedule``; the gateway's ``ExecReload`` is ``citadel reload``. With ``events.sink: kafka``,
``citadel-events.service`` runs the streaming consumer groups and a timer per scheduled group runs
``citadel events consume --once``. systemd does not expand variables in ``MemoryMax=`` or ``CPUQuota=``, so
each model's limits live in a drop-in next to the template rather than in the env file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.engines.local import local_services
from citadel.exit_codes import EXIT_SELF_TEST_FAILED
from citadel.ops.render.assets import RenderedFiles
from citadel.ops.render.template_env import template_environment

_SIZE_UNITS = (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024))


def default_executable() -> Path:
    """The ``citadel`` script next to the running interpreter (the venv this Citadel is installed in)."""
    return Path(sys.executable).parent / "citadel"


@dataclass(frozen=True, slots=True)
class SystemdLayout:
    """Where things live on the host the units are installed on."""

    config_path: Path
    executable: Path = field(default_factory=default_executable)
    env_dir: Path = Path("/etc/citadel")
    workdir: Path = Path("/opt/citadel")
    log_dir: Path = Path("/var/log/citadel-llm")
    user: str = "agent0"
    group: str = "agent0"


def systemd_size(size_bytes: int) -> str:
    """Bytes in the largest unit that divides them exactly: ``96636764160`` -> ``90G``."""
    for suffix, factor in _SIZE_UNITS:
        if size_bytes % factor == 0:
            return f"{size_bytes // factor}{suffix}"
    return str(size_bytes)


def _writable_paths(settings: CitadelSettings, layout: SystemdLayout) -> list[Path]:
    def absolute(path: Path) -> Path:
        return path if path.is_absolute() else layout.workdir / path

    backups = settings.backup.dir or settings.data_dir / "backups"
    paths = [layout.log_dir, absolute(settings.data_dir), absolute(backups)]
    if settings.log_files.dir is not None:
        paths.append(absolute(settings.log_files.dir))
    return list(dict.fromkeys(paths))


def render_systemd(settings: CitadelSettings, layout: SystemdLayout) -> RenderedFiles:
    """The units, one drop-in and one env file per model service on this machine, and the gateway's env.

    >>> files = render_systemd(settings, SystemdLayout(Path("/etc/citadel/citadel.yaml")))  # doctest: +SKIP
    >>> sorted(files)[:2]
    ['citadel-llm-gateway.service', 'citadel-llm.target']
    """
    environment = template_environment()
    services = local_services(settings)
    common = {
        "config_path": layout.config_path,
        "executable": layout.executable,
        "env_dir": layout.env_dir,
        "workdir": layout.workdir,
        "user": layout.user,
        "group": layout.group,
        "writable_paths": _writable_paths(settings, layout),
        "services": services,
        "gateway": settings.gateway,
        "gateway_memory_max": systemd_size(settings.gateway.memory_limit_bytes),
        "gateway_cpu_quota": settings.gateway.cpu_quota,
        "start_limit": settings.supervisor,
        "self_test_failed": EXIT_SELF_TEST_FAILED,
        "backup": settings.backup,
    }

    def render(template: str, **extra: object) -> str:
        return environment.get_template(f"systemd/{template}").render(**common, **extra)

    files = {
        "citadel-llm@.service": render("citadel-llm@.service.j2"),
        "citadel-llm.target": render("citadel-llm.target.j2"),
        "citadel-llm-gateway.service": render("citadel-llm-gateway.service.j2"),
        "citadel-llm-health.service": render("citadel-llm-health.service.j2"),
        "citadel-llm-health.timer": render("citadel-llm-health.timer.j2"),
        "citadel-llm-backup.service": render("citadel-llm-backup.service.j2"),
        "citadel-llm-backup.timer": render("citadel-llm-backup.timer.j2"),
        "env/gateway.env": render("service.env.j2", unit="citadel-llm-gateway.service"),
    }
    for service in services:
        model = service.model
        unit = f"citadel-llm@{service.name}.service"
        files[f"{unit}.d/50-limits.conf"] = render(
            "limits.conf.j2",
            model=model,
            service=service,
            memory_max=systemd_size(model.memory_limit_bytes),
            timeout_start_s=int(model.startup_timeout_s),
        )
        files[f"env/{service.name}.env"] = render("service.env.j2", unit=unit)
    if settings.events.sink == "kafka":
        files.update(_event_units(settings, render))
    return files


# The consumer groups that run all the time, and those a timer starts (with their interval's setting).
STREAMING_GROUPS = ("metrics-aggregator", "alerting")
SCHEDULED_GROUPS = {"business-intelligence": "report_interval_s", "capacity-planner": "planning_interval_s"}


def _event_units(settings: CitadelSettings, render: Callable[..., str]) -> RenderedFiles:
    """``citadel-events.service`` for the streaming groups, a oneshot service and timer per scheduled one."""
    consumers = settings.events.consumers
    files = {"citadel-events.service": render("citadel-events.service.j2", streaming=STREAMING_GROUPS)}
    for group, interval_key in SCHEDULED_GROUPS.items():
        interval_s = int(getattr(consumers, interval_key))
        extra = {"consumer": group, "interval_s": interval_s}
        files[f"citadel-events-{group}.service"] = render("citadel-events-scheduled.service.j2", **extra)
        files[f"citadel-events-{group}.timer"] = render("citadel-events-scheduled.timer.j2", **extra)
    return files
