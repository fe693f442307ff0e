"""``citadel bench``: a load plan (:mod:`~citadel.ops.bench.plan`) is run against the gateway
(:mod:`~citadel.ops.bench.run`), summarised and checked against targets (:mod:`~citadel.ops.bench.report`)
and drawn (:mod:`~citadel.ops.bench.chart`)."""
