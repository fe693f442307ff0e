"""The gateway's side of the events: the publisher built in the lifespan, the events a request makes.

With ``events.sink: kafka`` the lifespan opens a :class:`GatewayEvents` (one per worker process); with
``none`` there is none and nothing on the request path changes. A finished request publishes
``request_received`` then ``request_processed``, both keyed by its request id (one partition, in order), from
the request-log entry :class:`~citadel.gateway.finish.Finisher` already built: ids, model, tokens, latency,
cost, cache hit, status, never prompt or answer text. A supervised task publishes a ``system_metrics``
snapshot every ``system_metrics_interval_s`` (:mod:`citadel.events.snapshots`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from citadel.config import CitadelSettings
from citadel.events.metrics import EventMetrics
from citadel.events.producer import EventPublisher
from citadel.events.schema import CONFIG_CHANGED, REQUEST_PROCESSED, REQUEST_RECEIVED, SYSTEM_METRICS, Event
from citadel.events.sink import KafkaSink
from citadel.events.snapshots import SnapshotWindow, publish_snapshots, snapshot
from citadel.events.spill import SpillFile, spill_directory
from citadel.gateway.request_id import request_ids

if TYPE_CHECKING:
    from citadel.gateway.directory import ModelDirectory
    from citadel.governance.entry import RequestLogEntry


class GatewayEvents:
    """The publisher and the event shapes the gateway sends; ``publish_*`` never block, never raise."""

    def __init__(self, settings: CitadelSettings, publisher: EventPublisher) -> None:
        self.settings = settings
        self.publisher = publisher
        self.topics = settings.events.topics
        self.window = SnapshotWindow()
        # A request's two event ids: this process's random prefix and a counter, as request ids are made
        # (os.urandom per event was a kernel call each, a visible share of a busy gateway).
        self._ids = request_ids()
        self._snapshots: asyncio.Task[None] | None = None

    @classmethod
    def open(
        cls, settings: CitadelSettings, *, registry: CollectorRegistry | None = None
    ) -> GatewayEvents | None:
        """The started publisher, or None when ``events.sink`` is ``none``."""
        if settings.events.sink != "kafka":
            return None
        spill = SpillFile(spill_directory(settings))
        publisher = EventPublisher(KafkaSink(settings.events), settings.events, spill, EventMetrics(registry))
        publisher.start()
        return cls(settings, publisher)

    def start_snapshots(self, directory: ModelDirectory, queues: Callable[[], dict[str, int]]) -> None:
        """Publish a ``system_metrics`` snapshot every ``system_metrics_interval_s`` (until ``aclose``)."""
        topic = self.topics.system_metrics.name
        key = f"{socket.gethostname()}-{os.getpid()}"

        def publish(data: dict[str, Any]) -> None:
            self.publisher.publish(topic, Event.new(SYSTEM_METRICS, key, data))

        self._snapshots = asyncio.create_task(
            publish_snapshots(
                self.settings.events.producer.system_metrics_interval_s,
                lambda: snapshot(self.window, directory, queues),
                publish,
            ),
            name="citadel-event-snapshots",
        )

    async def aclose(self) -> None:
        if self._snapshots is not None:
            self._snapshots.cancel()
            await asyncio.gather(self._snapshots, return_exceptions=True)
        await self.publisher.aclose()

    def request_finished(self, entry: RequestLogEntry, received_at: float) -> None:
        """``request_received`` (at ``received_at``, epoch seconds) and ``request_processed``."""
        topic, request_id, ids = self.topics.requests.name, entry.request_id, self._ids
        received = {
            "request_id": request_id,
            "key_id": entry.key_id,
            "model": entry.model,
            "endpoint": entry.endpoint,
        }
        publish = self.publisher.publish
        publish(topic, Event(REQUEST_RECEIVED, request_id, received, next(ids), received_at))
        processed = {
            "request_id": request_id,
            "key_id": entry.key_id,
            "model": entry.model,
            "endpoint": entry.endpoint,
            "served_model": entry.served_model,
            "status_code": entry.status_code,
            "error_type": entry.error_type,
            "latency_ms": round(entry.latency_ms, 3),
            "ttft_ms": None if entry.ttft_ms is None else round(entry.ttft_ms, 3),
            "prompt_tokens": entry.prompt_tokens,
            "completion_tokens": entry.completion_tokens,
            "cost": entry.cost or 0.0,
            "cache_hit": entry.cache_hit,
        }
        publish(topic, Event(REQUEST_PROCESSED, request_id, processed, next(ids), time.time()))
        self.window.add(entry.served_model or entry.model, entry.status_code, entry.latency_ms)

    def business(self, type_: str, key: str, data: dict[str, Any], *, event_id: str | None = None) -> None:
        """A ``business_events`` event; ``event_id`` for one that may recur but means one thing (dedupe)."""
        event = Event.new(type_, key, data) if event_id is None else Event(type_, key, data, id=event_id)
        self.publisher.publish(self.topics.business.name, event)

    def config_applied(self, generation: int, version: int | None, config_text: str) -> None:
        """``config_changed`` for a hot reload. Every worker applies it and says so under one event id (the
        config's digest and generation), so consumers count it once."""
        digest = hashlib.sha256(config_text.encode()).hexdigest()
        data = {"sha256": digest, "generation": generation, "version": version, "applied_at": time.time()}
        self.business(CONFIG_CHANGED, "config", data, event_id=f"config-{digest[:16]}-{generation}")

    def config_loaded(self) -> None:
        """``config_changed`` with the config's digest: consumers see when a gateway starts on a new one."""
        dumped = json.dumps(self.settings.model_dump(mode="json"), sort_keys=True, default=str)
        digest = hashlib.sha256(dumped.encode()).hexdigest()
        self.business(CONFIG_CHANGED, "config", {"sha256": digest, "started_at": time.time()})
