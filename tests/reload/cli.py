"""Running the real ``citadel`` command from an async test (off the event loop, which serves fakes)."""

from __future__ import annotations

import asyncio
import subprocess
import sys


async def citadel(*argv: str, timeout_s: float = 300.0) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "citadel", *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
