"""The consumers' metrics: the blueprint's business metrics (E.1.1) and the consumer lag.

Served by ``citadel events consume`` on ``events.consumers.metrics_port``. The gauges are computed from the
aggregate tables (the last hour), so a restarted consumer exports the same values it did before.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        registry = self.registry
        self.satisfaction = Gauge(
            "llm_user_satisfaction_score",
            "Mean user rating (1-5) of the last hour's feedback.",
            ["model"],
            registry=registry,
        )
        self.accuracy = Gauge(
            "llm_model_accuracy_score",
            "Mean accuracy (0-1) users reported in the last hour.",
            ["model"],
            registry=registry,
        )
        self.business_value = Gauge(
            "llm_business_value_score",
            "Business value reported per request in the last hour (events.currency).",
            ["model"],
            registry=registry,
        )
        self.cost_per_request = Gauge(
            "llm_cost_per_request_dollars",
            "Mean cost of a request in the last hour (prices table; events.currency).",
            ["model"],
            registry=registry,
        )
        self.anomaly = Gauge(
            "llm_anomaly_score",
            "How anomalous the latest bucket's latency is: z / (z + events.consumers.anomaly_z), 0-1.",
            ["model"],
            registry=registry,
        )
        self.predicted_load = Gauge(
            "llm_predicted_load_30m",
            "Requests per minute predicted 30 minutes ahead (least squares over the last hour's buckets).",
            ["model"],
            registry=registry,
        )
        self.lag = Gauge(
            "citadel_events_consumer_lag",
            "Messages not yet consumed: the partition's high watermark minus the group's position.",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.consumed = Counter(
            "citadel_events_consumed_total",
            "Events a consumer group handled (repeats of a seen event id not counted).",
            ["group", "type"],
            registry=registry,
        )
        self.duplicates = Counter(
            "citadel_events_duplicates_total",
            "Events dropped because their id was seen before by the group.",
            ["group"],
            registry=registry,
        )
