"""Starts every service, waits until each is healthy, restarts crashed ones, stops all on request.

A service that keeps crashing is given up (systemd's ``StartLimitBurst``), and one whose engine self-test
failed at once: the others keep running, and ``citadel up`` says in one line which service, how it died
and what to try.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from citadel.config.sections import SupervisorSettings
from citadel.cpu_features import describe_cpu_features
from citadel.supervisor.backoff import Backoff
from citadel.supervisor.exits import Exit
from citadel.supervisor.process import ManagedProcess, ServiceSpec, StartupFailed
from citadel.supervisor.reporter import Reporter
from citadel.supervisor.start_limit import StartLimit
from citadel.waiting import set_within

EXIT_OK = 0
EXIT_STARTUP_FAILED = 1
EXIT_INTERRUPTED = 130


@dataclass(slots=True)
class _Supervised:
    """One service and its restart bookkeeping."""

    process: ManagedProcess
    backoff: Backoff
    limit: StartLimit
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # healthy once, or given up
    given_up: bool = False


class Supervisor:
    """Model services start first (concurrently), the gateway after them; shutdown goes the other way.

    ``backoff`` makes each service's restart delays (tests pass short ones); ``cpu_features`` names the
    CPU flags for crash reports.
    """

    def __init__(
        self,
        models: list[ServiceSpec],
        gateway: ServiceSpec | None,
        reporter: Reporter,
        *,
        limits: SupervisorSettings | None = None,
        backoff: Callable[[], Backoff] = Backoff,
        cpu_features: Callable[[], str] = describe_cpu_features,
    ) -> None:
        chosen = limits or SupervisorSettings()

        def supervised(spec: ServiceSpec) -> _Supervised:
            limit = StartLimit(chosen.start_limit_burst, chosen.start_limit_interval_s)
            return _Supervised(ManagedProcess(spec), backoff(), limit)

        self._supervised = supervised
        self._models = [supervised(spec) for spec in models]
        self._gateway = supervised(gateway) if gateway else None
        self._reporter = reporter
        self._cpu_features = cpu_features
        self._keepers: dict[int, asyncio.Task[None]] = {}  # by id() of the _Supervised
        self._client: httpx.AsyncClient | None = None
        self._stop = asyncio.Event()
        self.up = asyncio.Event()  # set once every service started: reloads wait for it

    @property
    def processes(self) -> list[ManagedProcess]:
        return [service.process for service in self._all]

    @property
    def given_up(self) -> list[str]:
        """Names of the services given up so far."""
        return [service.process.spec.name for service in self._all if service.given_up]

    @property
    def _all(self) -> list[_Supervised]:
        return [*self._models, *([self._gateway] if self._gateway else [])]

    async def run(self, stop: asyncio.Event) -> int:
        """Supervise until ``stop`` is set; the exit code says how it ended."""
        keepers = self._keepers
        self._stop = stop
        async with httpx.AsyncClient(trust_env=False) as client:
            self._client = client
            try:
                for service in self._models:
                    keepers[id(service)] = asyncio.create_task(self._keep(service, client, stop))
                if not await self._until_stopped(self._settle(), stop):
                    return EXIT_INTERRUPTED
                if self._models and all(service.given_up for service in self._models):
                    self._reporter.failed("startup", "every model service was given up")
                    return EXIT_STARTUP_FAILED
                if self._gateway is not None:
                    gateway = self._gateway
                    if not await self._until_stopped(self._start(gateway.process, client), stop):
                        return EXIT_INTERRUPTED
                    keepers[id(gateway)] = asyncio.create_task(
                        self._keep(gateway, client, stop, started=True)
                    )
                self._reporter.info("[bold green]Citadel is up.[/] Ctrl-C stops every service.")
                self.up.set()
                await stop.wait()
                return EXIT_OK
            except StartupFailed as exc:
                self._reporter.failed("startup", str(exc))
                return EXIT_STARTUP_FAILED
            finally:
                self.up.clear()
                for keeper in keepers.values():
                    keeper.cancel()
                await asyncio.gather(*keepers.values(), return_exceptions=True)
                await self._stop_all()
                self._client = None

    # -- reloads: model services started and retired while the others run ----------------------------
    def model_processes(self) -> list[ManagedProcess]:
        """The model services running now (or being restarted), in start order."""
        return [service.process for service in self._models]

    async def launch(self, spec: ServiceSpec) -> ManagedProcess:
        """Start one more model service and wait until it is healthy; from then on it is kept like the
        others. :class:`StartupFailed` (the process stopped) if it exits or times out."""
        assert self._client is not None, "launch() needs a running supervisor"
        service = self._supervised(spec)
        try:
            await self._start(service.process, self._client)
        except StartupFailed:
            await service.process.stop()
            raise
        service.settled.set()
        self._models.append(service)
        keeper = asyncio.create_task(self._keep(service, self._client, self._stop, started=True))
        self._keepers[id(service)] = keeper
        return service.process

    async def retire(self, process: ManagedProcess) -> None:
        """Stop one model service for good: SIGTERM, so it finishes the requests it has, then exits."""
        service = next(s for s in self._models if s.process is process)
        self._models.remove(service)
        keeper = self._keepers.pop(id(service), None)
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        await process.stop()
        self._reporter.info(f"{process.spec.name} (pid {process.pid}) stopped")

    async def _settle(self) -> None:
        """Until every model service was healthy once or was given up."""
        await asyncio.gather(*(service.settled.wait() for service in self._models))

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

    async def _start(self, process: ManagedProcess, client: httpx.AsyncClient) -> None:
        await process.start()
        name = process.spec.name
        self._reporter.starting(name, process.pid, process.spec.health_url)
        seconds = await process.wait_healthy(client, on_tick=lambda: self._reporter.tick(name))
        self._reporter.healthy(name, seconds)

    async def _keep(
        self, service: _Supervised, client: httpx.AsyncClient, stop: asyncio.Event, *, started: bool = False
    ) -> None:
        """Start ``service`` (unless ``started``), and restart it with backoff each time it exits, until
        shutdown or until it is given up."""
        process = service.process
        while not stop.is_set():
            ended = await (self._run_started(service) if started else self._run_once(service, client))
            started = False
            if stop.is_set():
                return
            process.kill_leftovers()
            if self._give_up(service, ended):
                return
            delay = service.backoff.next_delay(uptime_s=time.monotonic() - process.started_at)
            self._reporter.restarting(
                process.spec.name, ended.what(process.spec.startup_timeout_s), delay, service.backoff.restarts
            )
            await set_within(stop, delay)

    async def _run_once(self, service: _Supervised, client: httpx.AsyncClient) -> Exit:
        """Start the process, and once healthy run it until it exits."""
        process = service.process
        try:
            await self._start(process, client)
        except StartupFailed:
            timed_out = process.running
            if timed_out:
                await process.stop()
            return self._exit(process, None if timed_out else process.returncode, while_starting=True)
        service.settled.set()
        return await self._run_started(service)

    async def _run_started(self, service: _Supervised) -> Exit:
        code = await service.process.wait()
        return self._exit(service.process, code, while_starting=False)

    def _exit(self, process: ManagedProcess, code: int | None, *, while_starting: bool) -> Exit:
        features = self._cpu_features() if code is not None and code < 0 else ""
        return Exit(process.spec.name, code, while_starting, features)

    def _give_up(self, service: _Supervised, ended: Exit) -> bool:
        """Count the exit against the start limit; report and give up if it was the last straw."""
        process = service.process
        over_limit = service.limit.record(time.monotonic())
        if not (ended.self_test_failed or over_limit):
            return False
        what = ended.what(process.spec.startup_timeout_s)
        if ended.self_test_failed:
            reason = f"{what}; given up, not restarting it"
        else:
            reason = (
                f"given up after {service.limit.recent} exits in {service.limit.span_s:.0f} s "
                f"(start limit {service.limit.burst} in {service.limit.interval_s:.0f} s), last {what}"
            )
        others = "the other services keep running"
        self._reporter.gave_up(process.spec.name, f"{reason}; {ended.hint()}; {others}")
        service.given_up = True
        service.settled.set()
        return True

    async def _stop_all(self) -> None:
        if self._gateway is not None:
            await self._gateway.process.stop()
        await asyncio.gather(*(service.process.stop() for service in self._models))
