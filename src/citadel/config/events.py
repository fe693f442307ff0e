"""The ``events:`` section: the broker, the blueprint's four topics, the producer and the consumers.

Defaults are the blueprint's (F.2.1): ``llm_requests`` 6 partitions / 7 days, ``user_feedback`` 3 / 30 days,
``system_metrics`` 12 / 3 days, ``business_events`` 6 / 1 year; aggregates every 5 minutes, reports every
hour, capacity planning every 24 hours over 7 days of history; aggregates kept 1 year, reports 5 years.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from citadel.config.base import Section


class TopicSpec(Section):
    """One topic: its name, partition count and retention."""

    name: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    partitions: int = Field(ge=1, le=10000)
    retention_hours: int = Field(ge=1, description="retention.ms of the topic, in hours.")
    replication_factor: int = Field(default=1, ge=1, description="Production: 3 on a three-broker cluster.")


class EventTopics(Section):
    requests: TopicSpec = TopicSpec(name="llm_requests", partitions=6, retention_hours=7 * 24)
    feedback: TopicSpec = TopicSpec(name="user_feedback", partitions=3, retention_hours=30 * 24)
    system_metrics: TopicSpec = TopicSpec(name="system_metrics", partitions=12, retention_hours=3 * 24)
    business: TopicSpec = TopicSpec(name="business_events", partitions=6, retention_hours=365 * 24)

    def all(self) -> list[TopicSpec]:
        return [self.requests, self.feedback, self.system_metrics, self.business]


class ProducerSettings(Section):
    """The gateway's producer: a bounded queue, a spill file while the broker is away."""

    queue_size: int = Field(default=10000, ge=1, description="Events waiting in memory, at most.")
    batch_size: int = Field(default=500, ge=1, description="Events sent (then awaited) together.")
    retry_interval_s: float = Field(default=2.0, gt=0, description="Between attempts to reach the broker.")
    request_timeout_s: float = Field(default=5.0, gt=0, description="Budget of one batch's delivery.")
    spill_dir: Path | None = Field(default=None, description="Default: <data_dir>/events-spill.")
    idempotent: bool = Field(
        default=False,
        description="Kafka's idempotent producer (enable.idempotence); off by default because not every "
        "Kafka-protocol broker grants a producer id. Either way consumers drop an event id seen before.",
    )
    system_metrics_interval_s: float = Field(
        default=30.0, gt=0, description="Every this often each gateway process publishes a snapshot."
    )


class ConsumerSettings(Section):
    """The four consumer groups' schedules, retention and thresholds."""

    aggregate_interval_s: int = Field(default=300, ge=1, description="metrics-aggregator buckets: 5 min.")
    report_interval_s: int = Field(default=3600, ge=1, description="business-intelligence rows: 1 h.")
    planning_interval_s: int = Field(default=86400, ge=1, description="capacity-planner runs: 24 h.")
    planning_history_days: int = Field(default=7, ge=1, description="Trend fitted over this many days.")
    aggregate_retention_days: int = Field(default=365, ge=1, description="Aggregates kept 1 year.")
    report_retention_days: int = Field(default=5 * 365, ge=1, description="Reports kept 5 years.")
    anomaly_z: float = Field(
        default=3.0, gt=0, description="A bucket's latency this many sigma above: anomaly."
    )
    anomaly_min_buckets: int = Field(default=3, ge=2, description="History needed before judging a bucket.")
    capacity_rpm_share: float = Field(
        default=0.8, gt=0, description="capacity_threshold_reached at this share of targets.throughput_rpm."
    )
    business_value_threshold: float = Field(
        default=0.1,
        ge=0,
        description="Business value per request (events.currency) below half of which, with a high error "
        "ratio, LLM_Business_Impact_Critical fires.",
    )
    alertmanager_url: str = Field(default="http://127.0.0.1:9093", description="Where `alerting` posts.")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9108, ge=0, le=65535, description="The consumers' /metrics; 0: off.")
    poll_timeout_s: float = Field(default=1.0, gt=0)


class EventSettings(Section):
    """Events on a Kafka-protocol broker (Apache Kafka or Redpanda in production); ``none``: off."""

    sink: Literal["none", "kafka"] = "none"
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "citadel"
    currency: str = Field(default="USD", min_length=1, description="Of feedback's business_value.")
    topics: EventTopics = Field(default_factory=EventTopics)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    consumers: ConsumerSettings = Field(default_factory=ConsumerSettings)
