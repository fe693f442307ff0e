"""Every gateway worker follows the applied config: a supervised task watches ``run/reload.json``.

Started by the gateway's lifespan after the services are built. A worker that starts within a gateway run
whose config was reloaded already (uvicorn replacing a crashed worker) takes that config at once; the first
worker of a new run writes the baseline (its config file's text) so that a reload has something to diff
against. Each generation is applied once; a worker that cannot apply one (it fails to validate with this
worker's environment) logs why and does not acknowledge it, so the reload names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from starlette.datastructures import State

from citadel.config import CitadelSettings, ConfigError
from citadel.config.loader import settings_from_text
from citadel.gateway.breaker import Clock
from citadel.gateway.multiprocess import multiprocess_dir
from citadel.gateway.services import GatewayServices, services_of
from citadel.reload.addresses import with_moves
from citadel.reload.changes import merge_live
from citadel.reload.live import rebuild_services
from citadel.reload.state import (
    POLL_S,
    AppliedState,
    acknowledge,
    forget_worker,
    read_state,
    state_mtime,
    write_state,
)

logger = logging.getLogger(__name__)


def gateway_pid() -> int:
    """The gateway run this worker belongs to: uvicorn's parent with several workers, else itself."""
    return os.getppid() if multiprocess_dir() is not None else os.getpid()


class ConfigFollower:
    """Applies each new generation of ``run/reload.json`` to one worker's services."""

    def __init__(
        self, state: State, directory: Path, *, clock: Clock, config_path: Path | None = None
    ) -> None:
        self._state = state
        self._directory = directory
        self._clock = clock
        self._config_path = config_path
        self._started_with: CitadelSettings | None = None
        self._lifespans: GatewayServices | None = None  # what the lifespan built (and closes itself)
        self._generation = -1
        self._seen_mtime: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        return self._generation

    async def start(self) -> None:
        """Join the run's applied config (or write its baseline), then follow it."""
        self._lifespans = services_of(self._state)
        self._started_with = self._lifespans.settings
        self._seen_mtime = state_mtime(self._directory)
        current = read_state(self._directory)
        if current is not None and (current.gateway_pid == gateway_pid() or current.supervised()):
            await self._apply(current)
        else:
            self._write_baseline(current)
        self._task = asyncio.create_task(self._follow(), name="citadel-config-follower")
        self._task.add_done_callback(_report_crash)

    def _write_baseline(self, previous: AppliedState | None) -> None:
        generation = previous.generation + 1 if previous is not None else 0
        if self._config_path is not None:
            with contextlib.suppress(OSError):
                text = self._config_path.read_text(encoding="utf-8")
                write_state(
                    self._directory,
                    AppliedState(generation, str(self._config_path), text, gateway_pid=gateway_pid()),
                )
                self._seen_mtime = state_mtime(self._directory)
        self._generation = generation
        acknowledge(self._directory, generation)

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            mtime = state_mtime(self._directory)
            if mtime is None or mtime == self._seen_mtime:
                continue
            self._seen_mtime = mtime
            current = read_state(self._directory)
            if current is not None and current.generation > self._generation:
                try:
                    await self._apply(current)
                except Exception:  # one bad generation must not end the following of the next ones
                    logger.exception("config generation %d not applied here", current.generation)

    async def _apply(self, applied: AppliedState) -> None:
        """Swap in the services for ``applied``; the old monitor stops once nothing new reaches it."""
        assert self._started_with is not None
        self._generation = applied.generation  # tried once, whatever happens
        try:
            new = settings_from_text(applied.config_text, Path(applied.config_path))
        except ConfigError as exc:
            logger.error("config generation %d not applied here: %s", applied.generation, exc)
            return
        settings = with_moves(merge_live(self._started_with, new), applied.moves())
        old = services_of(self._state)
        services = await rebuild_services(old, settings, clock=self._clock)
        self._state.services = services
        await old.monitor.stop()
        acknowledge(self._directory, applied.generation)
        logger.info(
            "config generation %d applied (version %s)", applied.generation, applied.version or "baseline"
        )

    async def aclose(self) -> None:
        """Stop following; stop the health monitor of the services in use now (the lifespan's first one
        was stopped by the first swap)."""
        if self._task is not None:
            self._task.remove_done_callback(_report_crash)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        forget_worker(self._directory)
        current = services_of(self._state)
        if current is not self._lifespans:  # the lifespan stops its own monitor
            await current.monitor.stop()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "the config follower stopped: reloads no longer reach this worker", exc_info=task.exception()
        )
