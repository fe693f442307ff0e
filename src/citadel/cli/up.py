"""``citadel up``: every model service and the gateway, supervised, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.cpu_features import usable_cores
from citadel.logs import configure_logging
from citadel.ops.prestart.checks import run_checks
from citadel.supervisor import Reporter, Supervisor, gateway_spec, model_specs
from citadel.supervisor.cores import CoreBudgetError, plan_threads


async def _supervise(supervisor: Supervisor) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return await supervisor.run(stop)


@click.command("up")
@config_option
@click.option(
    "--skip-checks", is_flag=True, envvar="CITADEL_SKIP_CHECKS", help="Start without pre-start checks."
)
def up(config_path: Path, skip_checks: bool) -> None:
    """Start every model service and the gateway, wait until healthy, restart crashes, stop on Ctrl-C."""
    settings = load_or_exit(config_path)
    configure_logging(settings.log_level, "supervisor")
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
    with reporter:
        code = asyncio.run(_supervise(supervisor))
    reporter.info("Citadel stopped." if code in (0, 130) else "Citadel did not start.")
    raise SystemExit(code)
