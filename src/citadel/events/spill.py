"""The producer's spill folder: the request log's append-only, flock-held files, holding routed events.

The file mechanics are :class:`citadel.write_behind.spill.SpillFile`'s (one file per process, taken whole for
replay, orphans of dead processes picked up); this module only says where.
"""

from __future__ import annotations

from pathlib import Path

from citadel.config import CitadelSettings
from citadel.write_behind.spill import SpillFile

__all__ = ["SpillFile", "spill_directory"]


def spill_directory(settings: CitadelSettings) -> Path:
    return settings.events.producer.spill_dir or settings.data_dir / "events-spill"
