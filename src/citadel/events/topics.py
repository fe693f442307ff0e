"""``citadel events init``: create the configured topics, or check the ones that exist.

Idempotent: a topic that exists is compared with the config (partitions, and retention where the broker
tells it) and a mismatch is reported, never changed: shrinking partitions is impossible and growing them
moves keys to other partitions, which is a decision for a person.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from citadel.config.events import EventSettings, TopicSpec

_HOUR_MS = 3600 * 1000


class TopicState(enum.Enum):
    CREATED = "created"
    OK = "ok"
    MISMATCH = "mismatch"


@dataclass(frozen=True, slots=True)
class TopicReport:
    spec: TopicSpec
    state: TopicState
    partitions: int
    retention_ms: int | None  # None: the broker did not say
    problems: tuple[str, ...] = ()

    def line(self) -> str:
        text = f"{self.spec.name}: {self.state.value} ({self.partitions} partitions"
        text += f", retention {self.retention_ms} ms)" if self.retention_ms is not None else ")"
        return text + "".join(f"; {problem}" for problem in self.problems)


def retention_ms(spec: TopicSpec) -> int:
    return spec.retention_hours * _HOUR_MS


def _problems(spec: TopicSpec, partitions: int, retention: int | None) -> tuple[str, ...]:
    found: list[str] = []
    if partitions != spec.partitions:
        found.append(f"has {partitions} partitions, the config says {spec.partitions}")
    if retention is not None and retention != retention_ms(spec):
        found.append(f"retention.ms is {retention}, the config says {retention_ms(spec)}")
    return tuple(found)


async def ensure_topics(settings: EventSettings, *, timeout_s: float = 15.0) -> list[TopicReport]:
    """Create the missing topics and check the others; one report per configured topic."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        request_timeout_ms=int(timeout_s * 1000),
    )
    async with asyncio.timeout(timeout_s):
        await admin.start()
    try:
        existing = await _partition_counts(admin)
        specs = settings.topics.all()
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(
                        spec.name,
                        spec.partitions,
                        spec.replication_factor,
                        topic_configs={"retention.ms": str(retention_ms(spec))},
                    )
                    for spec in missing
                ]
            )
            existing = await _partition_counts(admin)
        retentions = await _retentions(admin, [spec.name for spec in specs])
        reports = []
        for spec in specs:
            partitions = existing.get(spec.name, 0)
            retention = retentions.get(spec.name)
            if spec in missing:
                reports.append(TopicReport(spec, TopicState.CREATED, partitions, retention))
                continue
            problems = _problems(spec, partitions, retention)
            state = TopicState.MISMATCH if problems else TopicState.OK
            reports.append(TopicReport(spec, state, partitions, retention, problems))
        return reports
    finally:
        await admin.close()


async def _partition_counts(admin: Any) -> dict[str, int]:
    described = await admin.describe_topics()
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in described
        if topic.get("error_code", 0) == 0 and not topic.get("is_internal", False)
    }


async def _retentions(admin: Any, names: list[str]) -> dict[str, int]:
    """retention.ms per topic, where the broker answers DescribeConfigs (not every one does)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import KafkaError

    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    except (KafkaError, OSError, TimeoutError):
        return {}
    found: dict[str, int] = {}
    for response in responses:
        for resource in response.resources:
            error_code, _message, _kind, name, entries = resource[:5]
            if error_code != 0:
                continue
            for entry in entries:
                if entry[0] == "retention.ms" and entry[1] is not None:
                    found[name] = int(entry[1])
    return found
