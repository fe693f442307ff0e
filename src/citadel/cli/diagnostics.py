"""``citadel verify`` (the deployment test) and ``citadel doctor`` (diagnostics): ✓/✗ lines, exit 0/1."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.marks import mark, result_line
from citadel.cli.options import config_option, load_or_exit
from citadel.config.secrets import reveal
from citadel.ops.diagnostics.doctor import diagnose
from citadel.ops.diagnostics.probes import ProbeResult
from citadel.ops.diagnostics.verify import VerifyOptions, run_verification

_api_key_option = click.option(
    "--api-key",
    envvar="CITADEL_API_KEY",
    show_envvar=True,
    help="Key for the gateway when auth is on [default: auth.admin_key from the config].",
)


def _echo(result: ProbeResult) -> None:
    click.echo(f"  {result_line(result)}")


@click.command("verify")
@config_option
@_api_key_option
@click.option("--concurrency", type=click.IntRange(1, 256), default=5, show_default=True)
@click.option("--max-tokens", type=click.IntRange(1, 4096), default=16, show_default=True)
@click.option(
    "--timeout", "timeout_s", type=float, default=120.0, show_default=True, help="Seconds per request."
)
@click.option(
    "--no-dependencies", is_flag=True, help="Skip the database, Redis, Qdrant, Kafka, Prometheus probes."
)
def verify(
    config_path: Path,
    api_key: str | None,
    concurrency: int,
    max_tokens: int,
    timeout_s: float,
    no_dependencies: bool,
) -> None:
    """Test a running deployment end to end (seed comprehensive-test.sh); exit 1 if anything fails."""
    settings = load_or_exit(config_path)
    options = VerifyOptions(
        timeout_s=timeout_s,
        concurrency=concurrency,
        max_tokens=max_tokens,
        api_key=api_key or reveal(settings.auth.admin_key),
        dependencies=not no_dependencies,
    )
    click.echo(f"Citadel deployment test ({config_path})")
    results = run_verification(settings, options, _echo)
    failed = [result for result in results if not result.ok]
    click.echo(f"Total {len(results)}, passed {len(results) - len(failed)}, failed {len(failed)}")
    if failed:
        click.echo(f"{mark(False)} Some tests failed: {', '.join(result.subject for result in failed)}")
        raise SystemExit(1)
    click.echo(f"{mark(True)} All tests passed: the deployment is ready")


@click.command("doctor")
@config_option
@_api_key_option
@click.option(
    "--log",
    "log_files",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help="A log file to scan for recent errors (repeatable); the systemd journal is read when present.",
)
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True, help="Seconds per probe.")
def doctor(config_path: Path, api_key: str | None, log_files: tuple[Path, ...], timeout_s: float) -> None:
    """Diagnose a deployment: resources, services, ports, recent errors, dependencies, an API smoke test."""
    settings = load_or_exit(config_path)
    sections = diagnose(
        settings,
        log_files=list(log_files),
        timeout_s=timeout_s,
        api_key=api_key or reveal(settings.auth.admin_key),
    )
    problems = 0
    for title, run in sections:
        click.echo(click.style(title, bold=True))
        for result in run():
            _echo(result)
            problems += not result.ok
    click.echo(
        f"{mark(not problems)} {problems} problem(s) found" if problems else f"{mark(True)} No problems found"
    )
    raise SystemExit(1 if problems else 0)
