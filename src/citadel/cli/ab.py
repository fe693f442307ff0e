"""``citadel ab report SPLIT``: compare a split's variants on latency, errors, tokens and cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from citadel.cli.keys import run_with_database
from citadel.cli.options import config_option, load_or_exit
from citadel.ops.ab_report import VariantReport, ab_report


@click.group("ab")
def ab() -> None:
    """A/B and canary splits (gateway.splits)."""


@ab.command("report")
@click.argument("split")
@config_option
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True, help="How far back.")
@click.option("--json", "as_json", is_flag=True, help="JSON rows instead of a table.")
def report(split: str, config_path: Path, days: int, as_json: bool) -> None:
    """Requests sent to SPLIT, by the variant that served them."""
    settings = load_or_exit(config_path)
    if split not in {s.name for s in settings.gateway.splits}:
        click.echo(
            f"note: {split!r} is not a split in {config_path} now; showing its logged requests", err=True
        )
    since = datetime.now(UTC) - timedelta(days=days)
    rows: list[VariantReport] = run_with_database(settings, lambda db: ab_report(db, split, since=since))
    if as_json:
        click.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    table = Table(title=f"split {split}, last {days} day(s)")
    for column in (
        "variant",
        "requests",
        "share",
        "errors",
        "mean ms",
        "p95 ms",
        "ttft ms",
        "tokens in/out",
        "cost",
        "satisfaction (rated)",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in rows:
        table.add_row(
            row.variant,
            str(row.requests),
            f"{row.share:.1%}",
            f"{row.errors} ({row.error_rate:.1%})",
            f"{row.latency_ms_mean:.0f}",
            f"{row.latency_ms_p95:.0f}",
            f"{row.ttft_ms_mean:.0f}" if row.ttft_ms_mean is not None else "-",
            f"{row.prompt_tokens}/{row.completion_tokens}",
            f"{row.cost:.4f}",
            f"{row.satisfaction:.2f} ({row.rated})" if row.satisfaction is not None else f"- ({row.rated})",
        )
    Console().print(table)
