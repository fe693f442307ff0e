"""The supervisor's start limit with real processes: a service that crashes (SIGSEGV) or fails its self-test
is given up with one clear line, while a healthy service beside it stays up and is still restarted."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from citadel.config.sections import SupervisorSettings
from citadel.exit_codes import EXIT_ENGINE_DIED, EXIT_SELF_TEST_FAILED
from citadel.supervisor import Reporter, ServiceSpec, Supervisor
from citadel.supervisor.backoff import Backoff
from citadel.supervisor.supervisor import EXIT_OK, EXIT_STARTUP_FAILED
from tests.helpers import free_port

FEATURES = "CPU features amx_int8 amx_tile avx512f"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def crasher(name: str, code: str) -> ServiceSpec:
    url = f"http://127.0.0.1:{free_port()}/health"
    return ServiceSpec(name=name, argv=_python(code), health_url=url, startup_timeout_s=30)


def healthy_service(directory: Path) -> ServiceSpec:
    """A real HTTP server whose /health is a file, so it answers 200."""
    (directory / "health").write_text("ok", encoding="utf-8")
    port = free_port()
    return ServiceSpec(
        name="steady",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(directory)],
        health_url=f"http://127.0.0.1:{port}/health",
        startup_timeout_s=30,
    )


SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


class Run:
    """A supervisor on a short backoff, with its report captured."""

    def __init__(self, models: list[ServiceSpec], burst: int = 3) -> None:
        self.output = io.StringIO()
        console = Console(file=self.output, width=400, highlight=False, soft_wrap=True)
        self.supervisor = Supervisor(
            models,
            None,
            Reporter(console),
            limits=SupervisorSettings(start_limit_burst=burst, start_limit_interval_s=60),
            backoff=lambda: Backoff(initial_s=0.05, maximum_s=0.1),
            cpu_features=lambda: FEATURES,
        )
        self.stop = asyncio.Event()

    @property
    def text(self) -> str:
        return self.output.getvalue()

    def lines(self, name: str, marker: str) -> list[str]:
        return [line for line in self.text.splitlines() if f"{name}:" in line and marker in line]

    async def until(self, predicate: Callable[[], bool], timeout_s: float = 30) -> None:
        """Poll: the states watched here (processes, their output) have no event to wait on."""
        async with asyncio.timeout(timeout_s):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.05)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.anyio
async def test_a_crashing_service_is_given_up_and_a_healthy_one_stays_supervised(tmp_path: Path) -> None:
    steady = healthy_service(tmp_path)
    run = Run([crasher("crashy", SEGFAULT), steady], burst=3)
    task = asyncio.create_task(run.supervisor.run(run.stop))
    try:
        await run.until(lambda: "Citadel is up." in run.text)
        assert run.supervisor.given_up == ["crashy"]
        [line] = run.lines("crashy", "given up")
        assert "given up after 3 exits" in line
        assert "killed by SIGSEGV while starting" in line
        assert FEATURES in line
        assert "citadel check crashy" in line
        assert len(run.lines("crashy", "started (pid")) == 3
        assert len(run.lines("crashy", "restart #")) == 2

        # The healthy service is still there, and still restarted when it dies.
        assert _answers(steady.health_url)
        [process] = [p for p in run.supervisor.processes if p.spec.name == "steady"]
        first_pid = process.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await run.until(lambda: process.pid != first_pid and _answers(steady.health_url))
        assert run.lines("steady", "killed by SIGKILL; restart #1")
        assert not task.done()
    finally:
        run.stop.set()
        code = await asyncio.wait_for(task, 30)
    assert code == EXIT_OK
    assert all(not p.running for p in run.supervisor.processes)


@pytest.mark.anyio
async def test_a_failed_self_test_is_given_up_at_once(tmp_path: Path) -> None:
    run = Run([crasher("broken", f"raise SystemExit({EXIT_SELF_TEST_FAILED})"), healthy_service(tmp_path)])
    task = asyncio.create_task(run.supervisor.run(run.stop))
    try:
        await run.until(lambda: "Citadel is up." in run.text)
        [line] = run.lines("broken", "given up")
        assert "failed its engine self-test" in line
        assert "not restarting" in line
        assert "citadel check broken" in line
        assert len(run.lines("broken", "started (pid")) == 1
    finally:
        run.stop.set()
        assert await asyncio.wait_for(task, 30) == EXIT_OK


@pytest.mark.anyio
async def test_a_dead_engine_is_restarted_until_the_limit() -> None:
    # Exit 4 (the engine thread died) is worth a restart; only the start limit stops it. With every model
    # service given up there is nothing to run, and up says it did not start.
    run = Run([crasher("flaky", f"raise SystemExit({EXIT_ENGINE_DIED})")], burst=4)
    code = await asyncio.wait_for(run.supervisor.run(run.stop), 30)
    assert code == EXIT_STARTUP_FAILED
    assert len(run.lines("flaky", "started (pid")) == 4
    [line] = run.lines("flaky", "given up")
    assert "given up after 4 exits" in line
    assert "lost its engine thread" in line
    assert FEATURES not in line  # no signal: the CPU is not the suspect
