"""One supervised child process: start it, wait until it answers its health URL, stop it by group."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: if the supervisor dies, even by SIGKILL, the child gets SIGTERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What to run and how to know it is ready."""

    name: str
    argv: list[str]
    health_url: str
    startup_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)
    ready_statuses: frozenset[int] = frozenset({200})


class StartupFailed(Exception):
    """The process exited or did not become healthy in time."""


class ManagedProcess:
    """A child in its own process group, so that stopping it also stops whatever it spawned."""

    def __init__(self, spec: ServiceSpec) -> None:
        self.spec = spec
        self._process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        """The exit status once it ended (negative: killed by that signal)."""
        return self._process.returncode if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            env={**os.environ, **self.spec.env},
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.started_at = time.monotonic()

    async def wait(self) -> int:
        assert self._process is not None, "not started"
        return await self._process.wait()

    async def wait_healthy(
        self, client: httpx.AsyncClient, on_tick: Callable[[], None] | None = None
    ) -> float:
        """Seconds until the health URL answered; :class:`StartupFailed` if the process died or timed out."""
        deadline = self.started_at + self.spec.startup_timeout_s
        while True:
            if not self.running:
                code = self._process.returncode if self._process else None
                raise StartupFailed(f"{self.spec.name} exited with code {code} while starting")
            if await self._answers(client):
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise StartupFailed(
                    f"{self.spec.name} did not become healthy within {self.spec.startup_timeout_s:.0f} s"
                )
            if on_tick is not None:
                on_tick()
            await asyncio.sleep(0.25)

    async def _answers(self, client: httpx.AsyncClient) -> bool:
        try:
            response = await client.get(self.spec.health_url, timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code in self.spec.ready_statuses

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to the process group, then SIGKILL if it is still there after ``timeout_s``."""
        if self._process is None or self._process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), timeout_s)
        except TimeoutError:
            logger.warning("%s did not stop within %.0f s; killing it", self.spec.name, timeout_s)
            self._signal_group(signal.SIGKILL)
            await self._process.wait()

    def _signal_group(self, signum: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signum)

    def kill_leftovers(self) -> None:
        """After the leader exited on its own, make sure nothing it spawned lives on in its group."""
        if self._process is not None and self._process.returncode is not None:
            self._signal_group(signal.SIGKILL)
