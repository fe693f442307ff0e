"""Log files Citadel writes itself (``log_files:``), rotated by size and pruned by age.

Off by default: every process logs to stderr, which the journal (or ``citadel up``'s terminal) keeps. With
``log_files.dir`` each process also writes ``<dir>/<process>.log`` (``gateway.log``, ``supervisor.log``,
``model-<name>.log``): one file per process, so no two processes rotate the same file. A file is rotated at
``max_bytes`` into ``.1`` … ``.<keep>``; at each rotation, rotated files older than ``max_age_days`` go.
"""

from __future__ import annotations

import logging
import re
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from citadel.config.ops_sections import LogFileSettings


class AgedRotatingFileHandler(RotatingFileHandler):
    """Size-based rotation that also deletes rotated files past an age."""

    def __init__(self, path: Path, *, max_bytes: int, keep: int, max_age_s: float | None) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=keep, encoding="utf-8")
        self._path = path
        self._max_age_s = max_age_s

    def doRollover(self) -> None:
        super().doRollover()
        if self._max_age_s is None:
            return
        cutoff = time.time() - self._max_age_s
        for rotated in self._path.parent.glob(self._path.name + ".*"):
            if rotated.suffix[1:].isdigit() and rotated.stat().st_mtime < cutoff:
                rotated.unlink(missing_ok=True)


def add_log_file(settings: LogFileSettings, process: str) -> Path | None:
    """Also log to ``<log_files.dir>/<process>.log`` (same format as stderr); the file, or None when off."""
    if settings.dir is None:
        return None
    settings.dir.mkdir(parents=True, exist_ok=True)
    path = settings.dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', process)}.log"
    root = logging.getLogger()
    handler = AgedRotatingFileHandler(
        path,
        max_bytes=settings.max_bytes,
        keep=settings.keep,
        max_age_s=settings.max_age_days * 86400 if settings.max_age_days is not None else None,
    )
    if root.handlers and root.handlers[0].formatter is not None:
        handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    return path
