"""``citadel reload``, ``citadel config history`` and ``citadel config rollback VERSION``."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.keys import actor, run_with_database
from citadel.cli.options import config_option, load_or_exit
from citadel.reload.apply import ReloadOutcome
from citadel.reload.history import list_versions
from citadel.reload.request import request_reload
from citadel.reload.rollback import RollbackRefused, rollback
from citadel.store import Database

EXIT_NOT_APPLIED = 1


def _report(outcome: ReloadOutcome) -> None:
    for line in outcome.lines():
        click.echo(line, err=not outcome.ok)
    if not outcome.ok:
        raise SystemExit(EXIT_NOT_APPLIED)


@click.command("reload")
@config_option
def reload(config_path: Path) -> None:
    """Apply the config file to the running Citadel without a restart (through citadel up if it runs).

    An invalid file is refused (exit 2) and nothing changes; keys only a restart changes are named."""
    settings = load_or_exit(config_path)
    path = config_path.resolve()

    async def action(database: Database) -> ReloadOutcome:
        return await request_reload(settings, database, path, actor=actor(), source="cli")

    try:
        outcome = run_with_database(settings, action)
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    _report(outcome)


@click.command("history")
@config_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def history(config_path: Path, limit: int) -> None:
    """The config versions reloads applied or refused: who, when, result and diff."""
    settings = load_or_exit(config_path)
    versions = run_with_database(settings, lambda database: list_versions(database, limit=limit))
    for version in versions:
        when = version.at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{version.id:>4}  {when}  {version.result:<11} {version.source:<8} {version.actor}")
        for line in version.diff[:20]:
            click.echo(f"        {line}")


@click.command("rollback")
@click.argument("version", type=int)
@config_option
def rollback_command(version: int, config_path: Path) -> None:
    """Put config VERSION back into the file and reload it."""
    settings = load_or_exit(config_path)
    path = config_path.resolve()

    async def action(database: Database) -> ReloadOutcome:
        return await rollback(settings, database, path, version, actor=actor(), source="rollback")

    try:
        outcome = run_with_database(settings, action)
    except (RollbackRefused, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    _report(outcome)
