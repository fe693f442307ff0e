"""``citadel events``: create or check the topics, run consumer groups."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from citadel.cli.options import config_option, load_or_exit
from citadel.events.handlers import GROUPS


@click.group("events")
def events() -> None:
    """The events pipeline on a Kafka-protocol broker (events.sink: kafka)."""


@events.command("init")
@config_option
def init(config_path: Path) -> None:
    """Create the configured topics, or check those that exist (a mismatch exits 1, nothing is changed)."""
    from aiokafka.errors import KafkaError

    from citadel.events.topics import TopicState, ensure_topics

    settings = load_or_exit(config_path)
    try:
        reports = asyncio.run(ensure_topics(settings.events))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise click.ClickException(
            f"broker {settings.events.bootstrap_servers}: {type(exc).__name__}: {exc}"
        ) from exc
    for report in reports:
        click.echo(report.line())
    if any(report.state is TopicState.MISMATCH for report in reports):
        raise SystemExit(1)


@events.command("consume")
@config_option
@click.option(
    "--group",
    "groups",
    multiple=True,
    required=True,
    type=click.Choice(sorted(GROUPS)),
    envvar="CITADEL_EVENTS_GROUPS",
    help="A consumer group to run (repeat for several in one process).",
)
@click.option(
    "--once", is_flag=True, envvar="CITADEL_EVENTS_ONCE", help="Read what is new, then stop (timers)."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    envvar="CITADEL_EVENTS_METRICS_PORT",
    help="Serve /metrics here (default: events.consumers.metrics_port; 0: off).",
)
def consume(config_path: Path, groups: tuple[str, ...], once: bool, metrics_port: int | None) -> None:
    """Run consumer groups until SIGTERM (or, with --once, until caught up)."""
    from aiokafka.errors import KafkaError

    from citadel.events.runner import run_groups

    settings = load_or_exit(config_path)
    try:
        counts = asyncio.run(run_groups(settings, groups, once=once, metrics_port=metrics_port))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise click.ClickException(
            f"broker {settings.events.bootstrap_servers}: {type(exc).__name__}: {exc}"
        ) from exc
    for group, handled in counts.items():
        click.echo(f"{group}: {handled} events handled")
