"""Reloads under ``citadel up``: SIGHUP (or ``citadel reload``, ``POST /admin/config``) reaches the
supervisor, which applies the config file to its model services (a :class:`SupervisedFleet`) and its
gateway workers.

One reload at a time, in the order they came; a SIGHUP during a reload runs another one after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.reload.apply import Listener, Reloader, ReloadOutcome
from citadel.reload.fleet import SpecFor, SupervisedFleet
from citadel.reload.history import Attempt
from citadel.reload.request import SUPERVISOR_PID_FILE, take_request
from citadel.reload.state import STATE_FILE, run_dir
from citadel.store.database import open_database
from citadel.supervisor.reporter import Reporter
from citadel.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)


def claim_run_directory(settings: CitadelSettings) -> Path:
    """A new ``citadel up`` run: its pid where reload requests look, no earlier run's applied state."""
    directory = run_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (directory / STATE_FILE).unlink()
    (directory / SUPERVISOR_PID_FILE).write_text(str(os.getpid()), encoding="utf-8")
    return directory


def release_run_directory(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (directory / SUPERVISOR_PID_FILE).unlink()


async def serve_reloads(
    supervisor: Supervisor,
    settings: CitadelSettings,
    config_path: Path,
    spec_for: SpecFor,
    requests: asyncio.Queue[None],
    reporter: Reporter,
    *,
    listeners: list[Listener] | None = None,
) -> None:
    """Apply one reload per item of ``requests`` (the SIGHUP handler puts one), until cancelled."""
    directory = run_dir(settings)
    try:
        database = await open_database(settings.database)
    except Exception as exc:  # the services run on; only reloads are off, and the operator is told
        reporter.failed("reload", f"reloads are off: the database cannot be opened ({exc})")
        raise
    try:
        reloader = Reloader(database, directory, owner_pid=os.getpid(), listeners=listeners)
        fleet = SupervisedFleet(supervisor, spec_for)
        while True:
            await requests.get()
            await supervisor.up.wait()
            actor, source = take_request(directory)
            try:
                text = await asyncio.to_thread(config_path.read_text, encoding="utf-8")
            except OSError as exc:
                reporter.failed("reload", f"cannot read {config_path}: {exc.strerror}")
                continue
            attempt = Attempt(actor=actor, source=source, config_path=str(config_path), config_text=text)
            try:
                outcome = await reloader.apply(attempt, fleet=fleet)
            except Exception as exc:  # one broken reload must not end the serving of the next ones
                logger.exception("reload failed")
                reporter.failed("reload", f"failed: {type(exc).__name__}: {exc}")
                continue
            _report(reporter, outcome)
    finally:
        await database.aclose()


def _report(reporter: Reporter, outcome: ReloadOutcome) -> None:
    first, *rest = outcome.lines()
    if outcome.ok:
        reporter.info(f"[bold green]Reload:[/] {first}")
        for line in rest:
            reporter.info(f"  {line}")
    else:
        reporter.failed("reload", "; ".join([first, *rest]))
