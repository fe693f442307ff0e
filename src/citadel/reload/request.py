"""Asking for a reload from outside the process that applies it: ``citadel reload``, ``POST /admin/config``.

When ``citadel up`` runs (its pid in ``run/supervisor.pid``), it owns the model services, so it applies the
reload: the request (who asks, from where) goes in ``run/reload-request.json``, SIGHUP wakes it, and the
answer is the config version it records. Otherwise (the gateway alone, e.g. under systemd) the caller
applies it to the gateway workers itself.

>>> await request_reload(settings, database, path, actor="admin", source="api")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.reload.apply import Listener, Reloader, ReloadOutcome
from citadel.reload.history import APPLIED, FAILED, Attempt, ConfigVersion, latest_id, versions_after
from citadel.reload.state import pid_alive, run_dir
from citadel.store.database import Database

SUPERVISOR_PID_FILE = "supervisor.pid"
REQUEST_FILE = "reload-request.json"
RESTART_PREFIX = "restart needed: "


def supervisor_pid(directory: Path) -> int | None:
    """The running ``citadel up``'s pid, if one runs for this data directory."""
    try:
        pid = int((directory / SUPERVISOR_PID_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def take_request(directory: Path) -> tuple[str, str]:
    """(actor, source) of the request that sent SIGHUP, else a plain signal's."""
    path = directory / REQUEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        path.unlink()
        return str(data["actor"]), str(data["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return "signal", "sighup"


def outcome_of(version: ConfigVersion) -> ReloadOutcome:
    """A recorded version as the outcome its reload returned."""
    later = [line.removeprefix(RESTART_PREFIX) for line in version.detail if line.startswith(RESTART_PREFIX)]
    rest = [line for line in version.detail if not line.startswith(RESTART_PREFIX)]
    if version.result in (APPLIED, FAILED):
        return ReloadOutcome(version.result, version.id, version.diff, later, detail=rest)
    return ReloadOutcome(version.result, version.id, version.diff, problems=rest)


async def request_reload(
    settings: CitadelSettings,
    database: Database,
    config_path: Path,
    *,
    actor: str,
    source: str,
    timeout_s: float | None = None,
    listeners: list[Listener] | None = None,
) -> ReloadOutcome:
    """Reload ``config_path`` through ``citadel up`` if it runs (its own listeners are told), else apply it
    to the gateway workers here (``listeners`` are told)."""
    directory = run_dir(settings)
    pid = supervisor_pid(directory)
    if pid is None:
        text = await asyncio.to_thread(config_path.read_text, encoding="utf-8")
        attempt = Attempt(actor=actor, source=source, config_path=str(config_path), config_text=text)
        return await Reloader(database, directory, listeners=listeners).apply(attempt)
    before = await latest_id(database)
    request = json.dumps({"actor": actor, "source": source})
    await asyncio.to_thread((directory / REQUEST_FILE).write_text, request, encoding="utf-8")
    os.kill(pid, signal.SIGHUP)
    # Starting model services takes up to their startup timeouts; a reload waits as long.
    budget = timeout_s or 30.0 + sum(getattr(m, "startup_timeout_s", 0.0) for m in settings.models)
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        for version in await versions_after(database, before):
            if version.actor == actor and version.source == source:
                return outcome_of(version)
        if not pid_alive(pid):
            break
    raise TimeoutError(f"citadel up (pid {pid}) recorded no config version within {budget:.0f} s")
