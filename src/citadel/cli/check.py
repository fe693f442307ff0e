"""``citadel check [NAME]``, ``citadel config validate`` and ``citadel config show``."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from citadel.cli.options import config_option, load_or_exit
from citadel.config import CitadelSettings
from citadel.engines.local import find_service, local_services
from citadel.ops.prestart.checks import CheckResult, run_checks
from citadel.ops.prestart.engine_self_test import run_engine_self_test, self_tested


def _line(result: CheckResult) -> str:
    mark = click.style("PASS", fg="green") if result.ok else click.style("FAIL", fg="red")
    return f"{mark}  {result.subject:<24} {result.check:<12} {result.detail}"


def _self_tests(
    settings: CitadelSettings, config_path: Path, name: str | None, results: list[CheckResult]
) -> list[CheckResult]:
    """The engine self-test of each built-in-engine model (or of service NAME) whose files are there."""
    services = [find_service(settings, name)] if name else local_services(settings)
    files_ok = {r.subject for r in results if r.check == "model files" and r.ok}
    outcomes = []
    for service in self_tested(services):
        if service.model.name in files_ok:
            outcome = run_engine_self_test(config_path, service, service.model.startup_timeout_s)
            click.echo(_line(outcome))
            outcomes.append(outcome)
    return outcomes


@click.command("check")
@click.argument("name", required=False)
@config_option
@click.option(
    "--skip-self-test",
    is_flag=True,
    envvar="CITADEL_SKIP_SELF_TEST",
    help="Do not load the models to decode a test batch.",
)
def check(name: str | None, config_path: Path, skip_self_test: bool) -> None:
    """Pre-start checks for model NAME (or all and the gateway): config, files, port, memory, disk, cores,
    and the engine self-test (a real batch decoded on this CPU)."""
    settings = load_or_exit(config_path)
    click.echo(f"{click.style('PASS', fg='green')}  {'config':<24} {'valid':<12} {config_path}")
    try:
        results = run_checks(settings, name)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    for result in results:
        click.echo(_line(result))
    if not skip_self_test:
        results += _self_tests(settings, config_path.resolve(), name, results)
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


@config.command("show")
@config_option
def show(config_path: Path) -> None:
    """Print the effective config (file, CITADEL_* overrides and defaults) as YAML; secrets masked."""
    settings = load_or_exit(config_path)
    click.echo(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), nl=False)
