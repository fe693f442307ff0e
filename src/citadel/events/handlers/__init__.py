"""The blueprint's four consumer groups (F.2.1), one module each, picked by name and imported lazily."""

from __future__ import annotations

import importlib

from citadel.events.handlers.base import Handler, HandlerContext, RetryLater

__all__ = ["GROUPS", "Handler", "HandlerContext", "RetryLater", "make_handler"]

# group name -> "module:class"
GROUPS = {
    "metrics-aggregator": "citadel.events.handlers.aggregator:MetricsAggregator",
    "business-intelligence": "citadel.events.handlers.business:BusinessIntelligence",
    "alerting": "citadel.events.handlers.alerting:Alerting",
    "capacity-planner": "citadel.events.handlers.capacity:CapacityPlanner",
}


def make_handler(group: str, context: HandlerContext) -> Handler:
    """The handler of consumer group ``group``; ``KeyError`` names the known ones."""
    if group not in GROUPS:
        raise KeyError(f"no consumer group {group!r} (known: {', '.join(GROUPS)})")
    module, name = GROUPS[group].split(":")
    cls: type[Handler] = getattr(importlib.import_module(module), name)
    return cls(context)
