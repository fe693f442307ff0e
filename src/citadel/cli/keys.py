"""``citadel keys``: create, list, rotate and revoke API keys (each change is written to the audit log).

A new or rotated key's secret is printed once, alone on the last line, so scripts can take it with
``tail -n 1``; only its hash is stored.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from citadel.cli.options import config_option, load_or_exit
from citadel.config import CitadelSettings
from citadel.errors import CitadelError
from citadel.governance import keys_admin
from citadel.governance.keys_admin import IssuedKey, KeySpec, key_ref
from citadel.store import Database, KeyRecord, open_database

T = TypeVar("T")
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


def actor() -> str:
    """Who an audit row names for a command run here."""
    return f"cli:{getpass.getuser()}"


def run_with_database(settings: CitadelSettings, action: Callable[[Database], Awaitable[T]]) -> T:
    """Open (and migrate) the database, run ``action``, close; a typed error becomes a one-line failure."""

    async def main() -> T:
        database = await open_database(settings.database)
        try:
            return await action(database)
        finally:
            await database.aclose()

    try:
        return asyncio.run(main())
    except CitadelError as exc:
        raise click.ClickException(exc.message) from exc
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        where = make_url(settings.database.url.get_secret_value()).render_as_string(hide_password=True)
        raise click.ClickException(f"database {where}: {type(exc).__name__}: {exc}") from exc


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _status(record: KeyRecord) -> str:
    return record.problem(datetime.now(UTC)) or "active"


def _describe(record: KeyRecord) -> list[str]:
    models = ",".join(record.allowed_models) if record.allowed_models is not None else "all"
    budget = f"{record.spend_limit:g} per {record.spend_period}" if record.spend_limit is not None else "none"
    return [
        f"id:       {record.id}",
        f"prefix:   {record.prefix}",
        f"name:     {record.name}",
        f"tier:     {record.tier}",
        f"models:   {models}",
        f"expires:  {_when(record.expires_at)}",
        f"budget:   {budget}",
    ]


def _print_issued(issued: IssuedKey) -> None:
    for line in _describe(issued.record):
        click.echo(line)
    click.echo("The secret is shown once; store it now:")
    click.echo(issued.secret)


@click.group("keys")
def keys() -> None:
    """API keys for the gateway (auth.enabled: true)."""


@keys.command("create")
@config_option
@click.option("--name", required=True, help="What the key is for (an application, a team).")
@click.option("--tier", default=None, help="Rate-limit tier (default: rate_limits.default_tier).")
@click.option("--models", default=None, help="Comma-separated models the key may use (default: all).")
@click.option("--expires", type=click.DateTime(_DATE_FORMATS), default=None, help="Expiry, UTC (YYYY-MM-DD).")
@click.option("--owner", default=None, help="Who is responsible for it.")
@click.option("--spend-limit", type=float, default=None, help="Budget per period (cost units of `prices`).")
@click.option(
    "--spend-period", type=click.Choice(["day", "week", "month"]), default="month", show_default=True
)
def create(
    config_path: Path,
    name: str,
    tier: str | None,
    models: str | None,
    expires: datetime | None,
    owner: str | None,
    spend_limit: float | None,
    spend_period: str,
) -> None:
    """Create a key; its secret is printed alone on the last line."""
    settings = load_or_exit(config_path)
    spec = KeySpec(
        name=name,
        tier=tier or settings.rate_limits.default_tier,
        owner=owner,
        allowed_models=tuple(m.strip() for m in models.split(",") if m.strip()) if models else None,
        expires_at=expires.replace(tzinfo=UTC) if expires is not None else None,
        spend_limit=spend_limit,
        spend_period=spend_period,
    )
    tiers = settings.rate_limits.tiers
    issued = run_with_database(
        settings, lambda db: keys_admin.create_key(db, spec, actor=actor(), tiers=tiers)
    )
    _print_issued(issued)


@keys.command("list")
@config_option
@click.option("--active", is_flag=True, help="Leave out revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def list_(config_path: Path, active: bool, as_json: bool) -> None:
    """Every key: id, prefix, name, tier, models, expiry, status (never a secret)."""
    settings = load_or_exit(config_path)
    records = run_with_database(settings, lambda db: keys_admin.list_keys(db, include_revoked=not active))
    if as_json:
        click.echo(json.dumps([record.as_json() for record in records], indent=2))
        return
    rows = [("ID", "PREFIX", "NAME", "TIER", "MODELS", "EXPIRES", "STATUS")]
    for record in records:
        models = ",".join(record.allowed_models) if record.allowed_models is not None else "all"
        rows.append(
            (
                str(record.id),
                record.prefix,
                record.name,
                record.tier,
                models,
                _when(record.expires_at),
                _status(record),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@keys.command("rotate")
@config_option
@click.argument("key")
def rotate(config_path: Path, key: str) -> None:
    """Give KEY (id or prefix) a new secret, printed alone on the last line; the old one stops working."""
    settings = load_or_exit(config_path)
    issued = run_with_database(settings, lambda db: keys_admin.rotate_key(db, key_ref(key), actor=actor()))
    _print_issued(issued)


@keys.command("revoke")
@config_option
@click.argument("key")
def revoke(config_path: Path, key: str) -> None:
    """Revoke KEY (id or prefix): its requests get 401 (in other gateway workers within key_cache_ttl_s)."""
    settings = load_or_exit(config_path)
    record = run_with_database(settings, lambda db: keys_admin.revoke_key(db, key_ref(key), actor=actor()))
    click.echo(f"revoked {record.prefix} ({record.name})")
