"""Events on a Kafka-protocol broker: the blueprint's four topics, a producer that never blocks, consumers.

- :mod:`~citadel.events.schema`: the one event shape (JSON with a schema version and an id);
- :mod:`~citadel.events.producer`: :class:`EventPublisher`, a bounded queue drained by a supervised task,
  a spill file while the broker is away (:mod:`~citadel.events.spill`);
- :mod:`~citadel.events.topics`: ``citadel events init`` (create or check the topics);
- :mod:`~citadel.events.consumer`: the consumer loop (dedupe on event id, commit after handling) and the
  four handlers under :mod:`~citadel.events.handlers`.
"""

from citadel.events.schema import SCHEMA_VERSION, Event

__all__ = ["SCHEMA_VERSION", "Event"]
