"""The config the gateway workers run, in one small file every worker follows: ``<data_dir>/run/reload.json``.

A reload writes a new generation (the validated config text, and where rolled model services moved to);
each worker notices it within :data:`POLL_S`, swaps its services and acknowledges in ``run/acks/<pid>``;
the reload waits for every live worker's acknowledgement. The file belongs to one gateway run
(``gateway_pid``: uvicorn's parent process, or the gateway itself with one worker): a worker that starts
within that run (a replacement for a crashed one), or under the ``citadel up`` that applied it, joins the
others' config; a new run starts from its file (``citadel up`` clears the file when it starts).

    write_state(run_dir, AppliedState(generation=3, ...))
    missing = await wait_for_acks(run_dir, 3, timeout_s=15)   # [] when every worker took it
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from citadel.config import CitadelSettings

POLL_S = 0.2
STATE_FILE = "reload.json"


def run_dir(settings: CitadelSettings) -> Path:
    """Where the running processes leave each other notes (state, acknowledgements, the supervisor's pid)."""
    return settings.data_dir / "run"


@dataclass(frozen=True, slots=True)
class AppliedState:
    generation: int
    config_path: str
    config_text: str
    gateway_pid: int | None = None
    version: int | None = None  # the config version (history) this generation applied
    moved: dict[str, str] = field(default_factory=dict)  # configured base URL -> where it runs now
    owner_pid: int | None = None  # the citadel up that applied it (its moves hold while it lives)

    def supervised(self) -> bool:
        """Whether the ``citadel up`` that applied this still runs (a gateway it restarts joins it)."""
        return self.owner_pid is not None and pid_alive(self.owner_pid)

    def moves(self) -> dict[str, str]:
        """``moved`` if its owner still runs, else none (the services went with it)."""
        return self.moved if self.supervised() else {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(directory: Path) -> AppliedState | None:
    try:
        data = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        return AppliedState(**data)
    except (OSError, ValueError, TypeError):
        return None


def state_mtime(directory: Path) -> float | None:
    try:
        return (directory / STATE_FILE).stat().st_mtime_ns / 1e9
    except OSError:
        return None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # a worker reads the old file or the new one, never half of one


def write_state(directory: Path, state: AppliedState) -> None:
    _write_atomically(directory / STATE_FILE, json.dumps(asdict(state)))


def acknowledge(directory: Path, generation: int) -> None:
    """This worker runs ``generation`` now."""
    _write_atomically(directory / "acks" / str(os.getpid()), str(generation))


def forget_worker(directory: Path) -> None:
    with contextlib.suppress(OSError):
        (directory / "acks" / str(os.getpid())).unlink()


def _acks(directory: Path) -> dict[int, int]:
    found: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for path in (directory / "acks").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found[int(path.name)] = int(path.read_text(encoding="utf-8") or -1)
    return found


def live_workers(directory: Path) -> list[int]:
    """Pids of the gateway workers that acknowledged any generation and still run."""
    return sorted(pid for pid in _acks(directory) if pid_alive(pid))


async def wait_for_acks(directory: Path, generation: int, *, timeout_s: float) -> list[int]:
    """Wait until every live worker runs ``generation``; the pids that did not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        behind = [pid for pid, seen in _acks(directory).items() if seen < generation and pid_alive(pid)]
        if not behind or time.monotonic() > deadline:
            return sorted(behind)
        await asyncio.sleep(POLL_S / 2)
