"""``citadel bench``: the seed's C.1 benchmark against a running deployment, with progress and a chart."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from citadel.cli.marks import mark
from citadel.cli.options import config_option, load_or_exit
from citadel.config.secrets import reveal
from citadel.ops.bench.chart import chart_html
from citadel.ops.bench.plan import DEFAULT_LEVELS, DEFAULT_SCENARIO_TOKENS, BenchPlan, parse_scenarios
from citadel.ops.bench.report import LevelStats, check_targets, level_stats, report_json
from citadel.ops.bench.run import run_plan
from citadel.ops.render.assets import gateway_url


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of numbers such as 1,5,10") from None
    if not levels or min(levels) < 1:
        raise click.BadParameter("concurrency levels must be 1 or more")
    return levels


def _table(stats: list[LevelStats]) -> Table:
    table = Table(
        "model", "scenario", "conc.", "req/s", "tok/s", "p50 ms", "p95 ms", "p99 ms", "ttft p95", "errors"
    )
    for row in stats:
        ttft = f"{row.ttft_p95_ms:.0f}" if row.ttft_p95_ms is not None else "-"
        table.add_row(
            row.model, row.scenario, str(row.level), f"{row.requests_per_s:.2f}", f"{row.tokens_per_s:.1f}",
            f"{row.p50_ms:.0f}", f"{row.p95_ms:.0f}", f"{row.p99_ms:.0f}", ttft, str(row.errors),
        )  # fmt: skip
    return table


@click.command("bench")
@config_option
@click.option(
    "--model", "models", multiple=True, help="Model to benchmark (repeatable) [default: every model]."
)
@click.option(
    "--concurrency", default=",".join(map(str, DEFAULT_LEVELS)), show_default=True, help="Concurrency levels."
)
@click.option(
    "--scenarios",
    default=",".join(DEFAULT_SCENARIO_TOKENS),
    show_default=True,
    help="Request types, optionally with max_tokens: short=50,medium=200,long=1000,conversation=200.",
)
@click.option(
    "--requests", type=click.IntRange(1), default=10, show_default=True, help="Requests per level (min)."
)
@click.option(
    "--timeout", "timeout_s", type=float, default=600.0, show_default=True, help="Seconds per request."
)
@click.option(
    "--api-key", envvar="CITADEL_API_KEY", help="Gateway key when auth is on [default: auth.admin_key]."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("bench-results"),
    show_default=True,
    help="Folder for the JSON results and the HTML chart.",
)
def bench(
    config_path: Path,
    models: tuple[str, ...],
    concurrency: str,
    scenarios: str,
    requests: int,
    timeout_s: float,
    api_key: str | None,
    out_dir: Path,
) -> None:
    """Benchmark each model through the gateway at rising concurrency; check the config's targets."""
    settings = load_or_exit(config_path)
    try:
        for name in models:
            settings.model(name)
        plan = BenchPlan(
            gateway_url=gateway_url(settings),
            models=models or tuple(model.name for model in settings.models),
            levels=_levels(concurrency),
            scenarios=parse_scenarios(scenarios),
            requests=requests,
            timeout_s=timeout_s,
            api_key=api_key or reveal(settings.auth.admin_key),
        )
    except (KeyError, ValueError) as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    console = Console()
    columns = (TextColumn("benchmark"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("requests", total=plan.total_requests)
        runs = asyncio.run(run_plan(plan, lambda: progress.advance(task)))
    stats = [level_stats(run) for run in runs]
    checks = check_targets(settings, plan, stats)
    console.print(_table(stats))
    for check in checks:
        click.echo(f"{mark(check.ok)} {check.model} {check.check}: {check.detail}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    results, chart = out_dir / f"bench-{stamp}.json", out_dir / f"bench-{stamp}.html"
    results.write_text(json.dumps(report_json(plan, stats, checks), indent=2), encoding="utf-8")
    chart.write_text(chart_html(stats, checks), encoding="utf-8")
    click.echo(f"wrote {results}\nwrote {chart}")
    raise SystemExit(0 if all(check.ok for check in checks) else 1)
