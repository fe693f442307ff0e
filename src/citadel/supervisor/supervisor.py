"""Starts every service, waits until each is healthy, restarts crashed ones, stops all on request."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

import httpx

from citadel.supervisor.backoff import Backoff
from citadel.supervisor.process import ManagedProcess, ServiceSpec, StartupFailed
from citadel.supervisor.reporter import Reporter

EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_INTERRUPTED = 130


class Supervisor:
    """Model services start first (concurrently), the gateway after them; shutdown goes the other way."""

    def __init__(self, models: list[ServiceSpec], gateway: ServiceSpec | None, reporter: Reporter) -> None:
        self._models = [ManagedProcess(spec) for spec in models]
        self._gateway = ManagedProcess(gateway) if gateway else None
        self._reporter = reporter

    @property
    def processes(self) -> list[ManagedProcess]:
        return [*self._models, *([self._gateway] if self._gateway else [])]

    async def run(self, stop: asyncio.Event) -> int:
        """Supervise until ``stop`` is set; the exit code says how it ended."""
        async with httpx.AsyncClient(trust_env=False) as client:
            try:
                started = await self._until_stopped(self._start_all(client), stop)
                if not started:
                    return EXIT_INTERRUPTED
                self._reporter.info("[bold green]Citadel is up.[/] Ctrl-C stops every service.")
                watchers = [asyncio.create_task(self._watch(p, client, stop)) for p in self.processes]
                await stop.wait()
                for watcher in watchers:
                    watcher.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
                return EXIT_OK
            except StartupFailed as exc:
                self._reporter.failed("startup", str(exc))
                return EXIT_STARTUP_FAILED
            finally:
                await self._stop_all()

    @staticmethod
    async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
        """Run ``work`` unless ``stop`` comes first; True if the work finished."""
        task = asyncio.create_task(work)
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task in done:
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StartupFailed):
            await task
        return False

    async def _start_all(self, client: httpx.AsyncClient) -> None:
        await asyncio.gather(*(self._start(process, client) for process in self._models))
        if self._gateway is not None:
            await self._start(self._gateway, client)

    async def _start(self, process: ManagedProcess, client: httpx.AsyncClient) -> None:
        await process.start()
        name = process.spec.name
        self._reporter.starting(name, process.pid, process.spec.health_url)
        seconds = await process.wait_healthy(client, on_tick=lambda: self._reporter.tick(name))
        self._reporter.healthy(name, seconds)

    async def _watch(self, process: ManagedProcess, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Restart ``process`` with backoff each time it exits, until shutdown."""
        backoff = Backoff()
        while not stop.is_set():
            code = await process.wait()
            if stop.is_set():
                return
            process.kill_leftovers()
            delay = backoff.next_delay(uptime_s=time.monotonic() - process.started_at)
            self._reporter.restarting(process.spec.name, code, delay, backoff.restarts)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await self._start(process, client)
            except StartupFailed as exc:
                self._reporter.failed(process.spec.name, str(exc))
                await process.stop()

    async def _stop_all(self) -> None:
        if self._gateway is not None:
            await self._gateway.stop()
        await asyncio.gather(*(process.stop() for process in self._models))
