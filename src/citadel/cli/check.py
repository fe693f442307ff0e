"""``citadel check [NAME]`` and ``citadel config validate``."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.ops.prestart import CheckResult, run_checks


def _line(result: CheckResult) -> str:
    mark = click.style("PASS", fg="green") if result.ok else click.style("FAIL", fg="red")
    return f"{mark}  {result.subject:<24} {result.check:<12} {result.detail}"


@click.command("check")
@click.argument("name", required=False)
@config_option
def check(name: str | None, config_path: Path) -> None:
    """Pre-start checks for model NAME (or all and the gateway): config, files, port, memory, disk."""
    settings = load_or_exit(config_path)
    click.echo(f"{click.style('PASS', fg='green')}  {'config':<24} {'valid':<12} {config_path}")
    try:
        results = run_checks(settings, name)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    for result in results:
        click.echo(_line(result))
    if not all(result.ok for result in results):
        raise SystemExit(1)


@click.group("config")
def config() -> None:
    """Inspect the config."""


@config.command("validate")
@config_option
def validate(config_path: Path) -> None:
    """Validate the config file (with CITADEL_* overrides); exit 2 with every problem if invalid."""
    settings = load_or_exit(config_path)
    click.echo(
        f"{config_path}: valid ({len(settings.models)} model(s), gateway port {settings.gateway.port})"
    )
