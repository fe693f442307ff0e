"""The local append-only spill file: where items go while their destination (the request log's database,
the events' broker) cannot take them.

Each process appends to its own ``spill-<pid>-<id>.jsonl`` and holds an exclusive ``flock`` on it, so that
another process replays a file only once its writer is gone (a crash, a rolling restart). Replaying takes the
whole file (``take``), delivers it to a destination that deduplicates (``ON CONFLICT DO NOTHING``, event
ids) and then deletes it: a file replayed twice after a crash mid-way adds nothing twice. All methods do
blocking file I/O; the writers call them through ``asyncio.to_thread``, only ``append`` of a single item
runs on the event loop (queue full).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)


@dataclass
class Claim:
    """A spill file this process replays; the open handle holds its lock until ``release`` or ``finish``."""

    path: Path
    handle: IO[str]

    def lines(self, chunk: int) -> Iterator[list[str]]:
        self.handle.seek(0)
        batch: list[str] = []
        for line in self.handle:
            if line.strip():
                batch.append(line)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    def finish(self) -> None:
        """Everything in it is in the database: delete it."""
        self.path.unlink(missing_ok=True)
        self.handle.close()

    def release(self) -> None:
        """Not replayed this time: unlock it for a later attempt (by this process or another)."""
        self.handle.close()


def _lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class SpillFile:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self._path: Path | None = None
        self._written = 0

    def append(self, lines: list[str]) -> None:
        """Append JSON lines and flush them to the OS (they survive this process being killed)."""
        with self._lock:
            if self._handle is None:
                self._path = self.directory / f"spill-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
                self._handle = self._path.open("a", encoding="utf-8")
                if not _lock(self._handle):  # a fresh name: cannot be held by anyone else
                    raise RuntimeError(f"{self._path} is locked by another process")
            self._handle.write("".join(line + "\n" for line in lines))
            self._handle.flush()
            self._written += len(lines)

    @property
    def pending(self) -> bool:
        """Whether this process spilled anything not yet taken for replay."""
        return self._written > 0

    def take(self) -> Claim | None:
        """This process's file, renamed for replay (still locked); new entries start a new file."""
        with self._lock:
            if self._handle is None or self._path is None:
                return None
            replay_path = self._path.with_name("replay-" + self._path.name.removeprefix("spill-"))
            self._path.rename(replay_path)
            self._handle.close()
            self._handle, self._path, self._written = None, None, 0
        handle = replay_path.open("r", encoding="utf-8")
        if not _lock(handle):
            handle.close()
            return None
        return Claim(replay_path, handle)

    def orphans(self) -> list[Claim]:
        """Spill and replay files no live process holds: left by a process that stopped or crashed."""
        claims: list[Claim] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            if path == self._path:
                continue
            try:
                handle = path.open("r", encoding="utf-8")
            except FileNotFoundError:
                continue
            if _lock(handle) and path.exists():
                claims.append(Claim(path, handle))
            else:
                handle.close()
        return claims

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
