"""``citadel db``: schema migrations and retention."""

from __future__ import annotations

from pathlib import Path

import click

from citadel.cli.keys import run_with_database
from citadel.cli.options import config_option, load_or_exit
from citadel.governance.retention import purge_expired
from citadel.store.migrate import current_revision


@click.group("db")
def db() -> None:
    """The database of keys, request log and audit log (database.url)."""


@db.command("upgrade")
@config_option
def upgrade(config_path: Path) -> None:
    """Bring the schema to the newest migration (the gateway also does this at start)."""
    settings = load_or_exit(config_path)
    # Opening the database runs the migrations; then report where the schema is.
    revision = run_with_database(settings, current_revision)
    click.echo(f"database schema at revision {revision}")


@db.command("purge")
@config_option
@click.option(
    "--older-than-days",
    type=click.IntRange(min=1),
    default=None,
    help="Request-log rows older than this go (default: request_log.retention_days).",
)
def purge(config_path: Path, older_than_days: int | None) -> None:
    """Delete request-log and audit rows past their retention (request_log.retention_days and
    audit_retention_days)."""
    settings = load_or_exit(config_path)
    retention = settings.request_log
    if older_than_days is not None:
        retention = retention.model_copy(update={"retention_days": older_than_days})
    requests, audits = run_with_database(settings, lambda database: purge_expired(database, retention))
    click.echo(f"purged {requests} request-log rows and {audits} audit rows")
