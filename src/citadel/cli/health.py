"""``citadel health``: the seed's health-monitor.sh as a command, fit for cron (exit 0 healthy, 1 not)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from citadel.cli.marks import mark, result_line
from citadel.cli.options import config_option, load_or_exit
from citadel.ops.diagnostics.health import check_health


@click.command("health")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of ✓/✗ lines.")
@click.option("--strict", is_flag=True, help="A dependency that is down makes the result unhealthy too.")
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True, help="Seconds per probe.")
def health(config_path: Path, as_json: bool, strict: bool, timeout_s: float) -> None:
    """Probe every model service (each replica), the gateway and each configured dependency.

    Exit 0 when every service is healthy (with --strict: every dependency too), else 1. For cron:
    */5 * * * * citadel health --config /etc/citadel/citadel.yaml >> /var/log/citadel-llm/health.log
    """
    settings = load_or_exit(config_path)
    report = check_health(settings, timeout_s=timeout_s, strict=strict)
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    if as_json:
        click.echo(json.dumps({"checked_at": checked_at, **report.as_dict()}, indent=2))
    else:
        click.echo(f"[{checked_at}] Citadel health check ({config_path})")
        for result in report.services + report.dependencies:
            click.echo(result_line(result))
        verdict = "HEALTHY" if report.healthy else "DEGRADED"
        click.echo(f"{mark(report.healthy)} Overall: {verdict}")
    raise SystemExit(0 if report.healthy else 1)
