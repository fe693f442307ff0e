"""Usage and audit events (coming): published to a Kafka-protocol broker when ``events.sink: kafka``."""
