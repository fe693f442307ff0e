"""``citadel events consume``: one process running one or more consumer groups until told to stop.

The process opens the database (migrated), a publisher for the events the handlers raise (anomalies), and
the consumers' ``/metrics`` on ``events.consumers.metrics_port`` (the business gauges and the lag). With
``once`` each group reads what is new and stops: the shape a systemd timer runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from contextlib import AsyncExitStack

from prometheus_client import start_http_server

from citadel.config import CitadelSettings
from citadel.events.consumer import open_groups
from citadel.events.consumer_metrics import ConsumerMetrics
from citadel.events.metrics import EventMetrics
from citadel.events.producer import EventPublisher
from citadel.events.schema import Event
from citadel.events.sink import KafkaSink
from citadel.events.spill import SpillFile, spill_directory
from citadel.store.database import open_database

logger = logging.getLogger(__name__)


async def run_groups(
    settings: CitadelSettings,
    groups: Sequence[str],
    *,
    once: bool = False,
    metrics_port: int | None = None,
    stop: asyncio.Event | None = None,
    metrics: ConsumerMetrics | None = None,
) -> dict[str, int]:
    """Run ``groups`` until ``stop`` (or SIGTERM/SIGINT) is set; the events each group handled."""
    stop = stop or asyncio.Event()
    metrics = metrics or ConsumerMetrics()
    loop = asyncio.get_running_loop()
    async with AsyncExitStack() as stack:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
            stack.callback(loop.remove_signal_handler, sig)
        port = settings.events.consumers.metrics_port if metrics_port is None else metrics_port
        if port and not once:
            server, thread = start_http_server(port, settings.events.consumers.metrics_host, metrics.registry)
            stack.callback(thread.join, 5)
            stack.callback(server.shutdown)
        database = await open_database(settings.database)
        stack.push_async_callback(database.aclose)
        spill = SpillFile(spill_directory(settings) / "consumers")
        publisher = EventPublisher(
            KafkaSink(settings.events), settings.events, spill, EventMetrics(metrics.registry)
        )
        publisher.start()
        stack.push_async_callback(publisher.aclose)

        def publish(topic: str, event: Event) -> None:
            publisher.publish(topic, event)

        consumers = await stack.enter_async_context(open_groups(settings, groups, database, metrics, publish))
        counts = await asyncio.gather(*(consumer.run(stop, once=once) for consumer in consumers))
    return dict(zip(groups, counts, strict=True))
