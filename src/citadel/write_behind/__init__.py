"""Write-behind to a slow destination (the request log's database, the events' broker), with spill files."""

from citadel.write_behind.core import Unreachable, WriteBehind, WriteBehindCounters, WriteBehindLimits
from citadel.write_behind.spill import Claim, SpillFile

__all__ = ["Claim", "SpillFile", "Unreachable", "WriteBehind", "WriteBehindCounters", "WriteBehindLimits"]
