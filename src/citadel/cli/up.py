"""``citadel up``: every model service and the gateway, supervised, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.cpu_features import usable_cores
from citadel.log_files import add_log_file
from citadel.logs import configure_logging
from citadel.ops.prestart.checks import run_checks
from citadel.reload.supervised import claim_run_directory, release_run_directory, serve_reloads
from citadel.supervisor import Reporter, Supervisor, gateway_spec, model_specs
from citadel.supervisor.cores import CoreBudgetError, plan_threads
from citadel.supervisor.plan import reload_spec_factory


async def _supervise(
    supervisor: Supervisor, reloads: Callable[[asyncio.Queue[None]], Coroutine[Any, Any, None]]
) -> int:
    stop = asyncio.Event()
    requests: asyncio.Queue[None] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, requests.put_nowait, None)  # citadel reload, systemctl reload
    reloading = asyncio.create_task(reloads(requests), name="citadel-reloads")
    try:
        return await supervisor.run(stop)
    finally:
        reloading.cancel()
        await asyncio.gather(reloading, return_exceptions=True)


@click.command("up")
@config_option
@click.option(
    "--skip-checks", is_flag=True, envvar="CITADEL_SKIP_CHECKS", help="Start without pre-start checks."
)
def up(config_path: Path, skip_checks: bool) -> None:
    """Start every model service and the gateway, wait until healthy, restart crashes, stop on Ctrl-C."""
    settings = load_or_exit(config_path)
    configure_logging(settings.log_level, "supervisor")
    add_log_file(settings.log_files, "supervisor")
    reporter = Reporter()
    if not skip_checks:
        failures = [result for result in run_checks(settings) if not result.ok]
        for result in failures:
            reporter.failed(f"{result.subject} {result.check}", result.detail)
        if failures:
            raise SystemExit(1)
    try:
        threads = plan_threads(settings, usable_cores())
    except CoreBudgetError as exc:
        reporter.failed("machine cores", str(exc))
        raise SystemExit(1) from exc
    supervisor = Supervisor(
        model_specs(settings, config_path, threads, cores=usable_cores()),
        gateway_spec(settings, config_path),
        reporter,
        limits=settings.supervisor,
    )
    gateway = settings.gateway
    reporter.info(
        f"Starting Citadel from {config_path}: {len(settings.models)} model(s), "
        f"gateway on http://{gateway.host}:{gateway.port}"
    )
    for name, count in threads.items():
        reporter.info(f"  {name}: {count} engine thread(s) of {usable_cores()} usable core(s)")
    spec_for = reload_spec_factory(config_path)

    def reloads(requests: asyncio.Queue[None]) -> Coroutine[Any, Any, None]:
        return serve_reloads(supervisor, settings, config_path, spec_for, requests, reporter)

    directory = claim_run_directory(settings)
    try:
        with reporter:
            code = asyncio.run(_supervise(supervisor, reloads))
    finally:
        release_run_directory(directory)
    reporter.info("Citadel stopped." if code in (0, 130) else "Citadel did not start.")
    raise SystemExit(code)
