"""``citadel config rollback VERSION``: the file gets that version's text back, then a reload applies it.

Only a version that was applied once can be rolled back to; the file's current text is kept next to it
(``<file>.before-rollback``) so the step can itself be undone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from citadel.config import CitadelSettings
from citadel.reload.apply import ReloadOutcome
from citadel.reload.history import APPLIED, get_version
from citadel.reload.request import request_reload
from citadel.store.database import Database


def _put_in_place(config_path: Path, text: str) -> None:
    if config_path.exists():
        kept = config_path.with_name(config_path.name + ".before-rollback")
        kept.write_text(config_path.read_text(encoding="utf-8"), encoding="utf-8")
    config_path.write_text(text, encoding="utf-8")


class RollbackRefused(Exception):
    """No such version, or one that never ran."""


async def rollback(
    settings: CitadelSettings,
    database: Database,
    config_path: Path,
    version_id: int,
    *,
    actor: str,
    source: str,
) -> ReloadOutcome:
    version = await get_version(database, version_id)
    if version is None:
        raise RollbackRefused(f"there is no config version {version_id}")
    if version.result != APPLIED:
        raise RollbackRefused(f"config version {version_id} was {version.result}, never applied")
    await asyncio.to_thread(_put_in_place, config_path, version.config_text)
    return await request_reload(settings, database, config_path, actor=actor, source=source)
