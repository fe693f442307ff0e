"""Which backup archives to keep: the newest of each of the last N days, weeks and months (``backup:``).

An archive's time is in its name (``citadel-backup-20261202T031500Z.tar.gz``), so pruning needs nothing but
the folder. An archive kept for any reason stays; files that are not Citadel archives are never touched.

>>> keep = archives_to_keep(times, daily=7, weekly=4, monthly=6)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from citadel.config.ops_sections import BackupSettings

_PREFIX, _SUFFIX = "citadel-backup-", ".tar.gz"
_STAMP = "%Y%m%dT%H%M%SZ"


def archive_time(path: Path) -> datetime | None:
    """When the archive was made, from its name; None for any other file."""
    name = path.name
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    try:
        return datetime.strptime(name[len(_PREFIX) : -len(_SUFFIX)], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def _newest_per(times: list[datetime], bucket: Callable[[datetime], Hashable], count: int) -> set[datetime]:
    kept: dict[Hashable, datetime] = {}
    for time in times:  # newest first
        key = bucket(time)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = time
    return set(kept.values())


def archives_to_keep(times: Iterable[datetime], *, daily: int, weekly: int, monthly: int) -> set[datetime]:
    ordered = sorted(times, reverse=True)
    return (
        _newest_per(ordered, lambda t: t.date(), daily)
        | _newest_per(ordered, lambda t: t.isocalendar()[:2], weekly)
        | _newest_per(ordered, lambda t: (t.year, t.month), monthly)
    )


def prune_backups(directory: Path, policy: BackupSettings) -> list[Path]:
    """Delete the archives in ``directory`` that the policy does not keep; the deleted ones."""
    archives = {path: time for path in directory.glob(f"{_PREFIX}*{_SUFFIX}") if (time := archive_time(path))}
    keep = archives_to_keep(
        archives.values(), daily=policy.keep_daily, weekly=policy.keep_weekly, monthly=policy.keep_monthly
    )
    removed = sorted(path for path, time in archives.items() if time not in keep)
    for path in removed:
        path.unlink()
    return removed
