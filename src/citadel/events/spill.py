"""The producer's spill folder: the request log's append-only, flock-held files, holding routed events.

The file mechanics are :class:`citadel.governance.spill.SpillFile`'s (one file per process, taken whole for
replay, orphans of dead processes picked up); this module only says where and how lines read back.
"""

from __future__ import annotations

import logging
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.events.schema import Routed
from citadel.governance.spill import Claim, SpillFile

__all__ = ["Claim", "SpillFile", "parse_lines", "spill_directory"]

logger = logging.getLogger(__name__)


def spill_directory(settings: CitadelSettings) -> Path:
    return settings.events.producer.spill_dir or settings.data_dir / "events-spill"


def parse_lines(lines: list[str]) -> tuple[list[Routed], int]:
    """The routed events in spilled ``lines``, and how many lines could not be read."""
    routed: list[Routed] = []
    unreadable = 0
    for line in lines:
        try:
            routed.append(Routed.from_json(line))
        except (ValueError, TypeError, KeyError):
            unreadable += 1
            logger.warning("events: skipped an unreadable spill line (%d bytes)", len(line))
    return routed, unreadable
