"""What governance costs a request, measured in-process: ``admit`` and ``record`` against real servers.

The governed gateway's difference from the default one is three things: the API key looked up, the request
counted in Redis (the Lua limiter) and its request-log row written to PostgreSQL through Pgpool-II. This
runs exactly that, without HTTP, proxies or load generator, so that the CPU time it prints moves much less
than ``bench/gateway.py``'s requests/s on a shared machine: ``--clients`` tasks each call ``admit`` then
``record`` in a loop on uvloop, and the process's CPU time (the request-log writer's batches included) is
divided by the requests. Redis, PostgreSQL and Pgpool-II are the test suite's fixtures, started here on free
loopback ports and stopped by PID.

    python bench/governance_overhead.py                  # about a minute
    python bench/governance_overhead.py --requests 50000 --rounds 5 --variant governed
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import uvloop

import gateway as bench  # bench/gateway.py: the governance servers and their config sections
from citadel.config import load_settings
from citadel.gateway.app import GC_THRESHOLDS
from citadel.gateway.request_id import request_ids
from citadel.governance import Governance, RequestLogEntry
from citadel.governance.keys_admin import KeySpec, create_key

# The variants: which of the three parts are on.
VARIANTS: dict[str, dict[str, dict[str, object]]] = {
    "governed": {},
    "no rate limits": {"rate_limits": {"enabled": False}},
    "no request log": {"request_log": {"enabled": False}},
    "key only": {"rate_limits": {"enabled": False}, "request_log": {"enabled": False}},
}


async def _client(governance: Governance, header: str, requests: int, ids: Iterator[str]) -> None:
    for _ in range(requests):
        admission = await governance.admit(header, "bench", 12)
        governance.record(
            RequestLogEntry(
                request_id=next(ids),  # as the gateway makes them
                key_id=admission.key_id,
                model="bench",
                served_model="bench",
                endpoint="/v1/chat/completions",
                status_code=200,
                latency_ms=0.4,
                ttft_ms=0.3,
                prompt_tokens=9,
                completion_tokens=3,
            )
        )
        # A request waits on its upstream: without this, a variant that never waits in ``admit`` would
        # queue its whole round before the request-log writer could run, and spill it to disk.
        await asyncio.sleep(0)


async def _drive(governance: Governance, header: str, clients: int, requests: int) -> float:
    """CPU µs a request for ``requests`` spread over ``clients`` tasks, once the log is written."""
    each = max(requests // clients, 1)
    ids = request_ids()
    before = time.process_time()
    await asyncio.gather(*(_client(governance, header, each, ids) for _ in range(clients)))
    # The rows still waiting are part of what these requests cost (the writer has no event to wait on).
    while governance.queued:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    return (time.process_time() - before) / (each * clients) * 1e6


async def measure(config: Path, *, clients: int, requests: int, rounds: int) -> list[float]:
    settings = load_settings(config)
    governance = await Governance.open(settings)
    try:
        issued = await create_key(
            governance.database,
            KeySpec(name="bench", tier="bench"),
            actor="bench",
            tiers=settings.rate_limits.tiers,
        )
        header = f"Bearer {issued.secret}"
        await _drive(governance, header, clients, requests)  # warm-up: caches, connections, the database
        # The garbage collector as the gateway sets it once it has started (``gateway/app.py``).
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            return [await _drive(governance, header, clients, requests) for _ in range(rounds)]
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
    finally:
        await governance.aclose()


# Room for a whole round: these loops make requests several times as fast as the gateway serves them, faster
# than batches of rows reach PostgreSQL, and a full queue would go to the spill file instead.
_LOG_QUEUE = {"request_log": {"queue_size": 1_000_000}}


def _merged(base: dict[str, object], overrides: dict[str, dict[str, object]]) -> dict[str, object]:
    """``base`` with ``overrides``' sections merged into its own (one level deep)."""
    merged = dict(base)
    for layer in (_LOG_QUEUE, overrides):
        for section, values in layer.items():
            current = merged.get(section)
            merged[section] = {**current, **values} if isinstance(current, dict) else dict(values)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=32, help="concurrent callers")
    parser.add_argument("--variant", choices=VARIANTS, action="append", help="only these (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citadel-governance-") as tmp, bench.governance_servers() as base:
        work = Path(tmp)
        print(f"{'variant':16} CPU µs / request: median (rounds)")
        for name in args.variant or VARIANTS:
            sections = _merged(base, VARIANTS[name])
            sections["data_dir"] = str(work / name.replace(" ", "-"))
            config = work / f"{name.replace(' ', '-')}.json.yaml"
            config.write_text(json.dumps(sections), encoding="utf-8")  # JSON is YAML
            cpu = uvloop.run(
                measure(config, clients=args.clients, requests=args.requests, rounds=args.rounds)
            )
            rounds = " ".join(f"{value:.1f}" for value in cpu)
            print(f"{name:16} {statistics.median(cpu):6.1f}  ({rounds})", flush=True)


if __name__ == "__main__":
    main()
