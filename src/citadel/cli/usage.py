"""``citadel usage``: requests, tokens, cost, p50/p95 latency and errors by key and model (/admin/usage)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from citadel.cli.keys import run_with_database
from citadel.cli.options import config_option, load_or_exit
from citadel.errors import NotFound
from citadel.governance.keys_admin import key_ref
from citadel.store import Database, UsageFilter, UsageRow
from citadel.store.keys import find_key
from citadel.store.usage import usage as usage_rows

_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


async def _usage(database: Database, where: UsageFilter, key: str | None) -> list[UsageRow]:
    async with database.transaction() as connection:
        if key is not None:
            record = await find_key(connection, key_ref(key))
            if record is None:
                raise NotFound(f"no API key {key!r}")
            where = UsageFilter(where.since, where.until, record.id, where.model)
        return await usage_rows(connection, where)


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


@click.command("usage")
@config_option
@click.option(
    "--since", type=click.DateTime(_DATE_FORMATS), default=None, help="From (UTC); default: --days ago."
)
@click.option("--until", type=click.DateTime(_DATE_FORMATS), default=None, help="Until (UTC, exclusive).")
@click.option(
    "--days", type=click.IntRange(min=1), default=7, show_default=True, help="Range when no --since."
)
@click.option("--key", default=None, help="Only this key (id or prefix).")
@click.option("--model", default=None, help="Only this model (as requested).")
@click.option("--json", "as_json", is_flag=True, help="JSON rows instead of a table.")
def usage(
    config_path: Path,
    since: datetime | None,
    until: datetime | None,
    days: int,
    key: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Usage by key and model over a time range."""
    settings = load_or_exit(config_path)
    start = since.replace(tzinfo=UTC) if since is not None else datetime.now(UTC) - timedelta(days=days)
    end = until.replace(tzinfo=UTC) if until is not None else None
    rows = run_with_database(
        settings, lambda database: _usage(database, UsageFilter(start, end, None, model), key)
    )
    if as_json:
        click.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    table = Table(
        title=f"Usage since {start:%Y-%m-%d %H:%M} UTC" + (f" until {end:%Y-%m-%d %H:%M}" if end else "")
    )
    for header in (
        "key",
        "name",
        "model",
        "requests",
        "prompt tok",
        "completion tok",
        "cost",
        "p50 ms",
        "p95 ms",
    ):
        table.add_column(header, justify="left" if header in ("key", "name", "model") else "right")
    table.add_column("errors", justify="right")
    table.add_column("feedback", justify="right")
    table.add_column("rating", justify="right")
    for row in rows:
        table.add_row(
            row.key_prefix or "-",
            row.key_name or "-",
            row.model,
            str(row.requests),
            str(row.prompt_tokens),
            str(row.completion_tokens),
            f"{row.cost:.4f}",
            _ms(row.p50_latency_ms),
            _ms(row.p95_latency_ms),
            str(row.errors),
            str(row.feedback),
            f"{row.mean_rating:.2f}" if row.mean_rating is not None else "-",
        )
    Console(width=160).print(table)
