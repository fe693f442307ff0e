"""One gateway-like process for the limiter test: opens Governance from a config file, says ``ready``, waits
for a line on stdin, then calls ``admit`` ``count`` times at once with one key and prints how many got in.

    python -m tests.governance.hammer CONFIG SECRET COUNT
"""

from __future__ import annotations

import asyncio
import sys

from citadel.config import load_settings
from citadel.errors import RateLimited
from citadel.governance import Governance


async def _admit(governance: Governance, secret: str) -> bool:
    try:
        await governance.admit(f"Bearer {secret}", "m", 1)
    except RateLimited:
        return False
    return True


async def main(config: str, secret: str, count: int) -> None:
    governance = await Governance.open(load_settings(config))
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(*(_admit(governance, secret) for _ in range(count)))
        print(f"admitted {sum(results)}", flush=True)
    finally:
        await governance.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
