"""The model services' side of a reload under ``citadel up``: start what is new, roll what changed.

``prepare`` starts every added service at its port and every changed one next to the one it replaces (on
its configured port if that is free, else on a free one), each until its health check passes within its
``startup_timeout_s``. Only then does the gateway switch (the caller writes the new generation and waits
for every worker), and ``commit`` stops the services that were removed or replaced: SIGTERM, so each
finishes the requests it has before it exits. If any new service fails, ``abort`` stops the ones started
and nothing else changed: the old services never stopped taking traffic.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from citadel.config import CitadelSettings
from citadel.config.sections import reachable_host
from citadel.engines.local import LocalService
from citadel.reload.services import service_changes
from citadel.supervisor.process import ManagedProcess, ServiceSpec, StartupFailed
from citadel.supervisor.supervisor import Supervisor

DRAIN_GRACE_S = 1.0

# How a service is started: its spec for (config, service, port).
SpecFor = Callable[[CitadelSettings, LocalService, int], ServiceSpec]


class FleetFailed(Exception):
    """A new model service did not become healthy; the message says which and why."""


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((reachable_host(host), port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((reachable_host(host), 0))
        port: int = probe.getsockname()[1]
        return port


def _base_url(host: str, port: int) -> str:
    return f"http://{reachable_host(host)}:{port}"


class SupervisedFleet:
    """The model services of one running ``citadel up``, changed by reloads."""

    def __init__(self, supervisor: Supervisor, spec_for: SpecFor) -> None:
        self._supervisor = supervisor
        self._spec_for = spec_for
        self._started: list[ManagedProcess] = []
        self._retiring: list[ManagedProcess] = []
        self._lines: list[str] = []

    def _process_of(self, name: str) -> ManagedProcess | None:
        return next((p for p in self._supervisor.model_processes() if p.spec.name == name), None)

    async def prepare(
        self, running: CitadelSettings, new: CitadelSettings, moved: dict[str, str]
    ) -> dict[str, str]:
        """Start the new services; the moves the gateway follows once they all passed their checks."""
        changes = service_changes(running, new)
        moves = dict(moved)
        self._started, self._retiring, self._lines = [], [], []
        for service in changes.added:
            await self._launch(new, service, service.port, "started")
            moves.pop(service.base_url, None)
        for old, service in changes.changed:
            current = self._process_of(old.name)
            port = (
                service.port
                if _port_free(service.model.host, service.port)
                else _free_port(service.model.host)
            )
            await self._launch(new, service, port, "replaced, rolling")
            actual = _base_url(service.model.host, port)
            if actual == service.base_url:
                moves.pop(service.base_url, None)
            else:
                moves[service.base_url] = actual
            if current is not None:
                self._retiring.append(current)
        for service in changes.removed:
            current = self._process_of(service.name)
            moves.pop(service.base_url, None)
            if current is not None:
                self._retiring.append(current)
                self._lines.append(f"model service {service.name}: drained and stopped")
        return moves

    async def _launch(self, settings: CitadelSettings, service: LocalService, port: int, what: str) -> None:
        try:
            process = await self._supervisor.launch(self._spec_for(settings, service, port))
        except StartupFailed as exc:
            raise FleetFailed(f"model service {service.name}: {exc}") from exc
        self._started.append(process)
        self._lines.append(f"model service {service.name}: {what} (pid {process.pid}, port {port})")

    async def commit(self) -> list[str]:
        """The gateway switched: stop the services it no longer sends anything to."""
        if self._retiring:
            # A request that took the old services just before the switch may not have reached its
            # replica yet; once there, the SIGTERM below lets it finish.
            await asyncio.sleep(DRAIN_GRACE_S)
        for process in self._retiring:
            await self._supervisor.retire(process)
        return self._lines

    async def abort(self) -> None:
        """A new service failed: stop the ones this reload started; the running ones stay."""
        for process in self._started:
            await self._supervisor.retire(process)
        self._started, self._retiring = [], []
