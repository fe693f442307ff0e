"""Where the gateway's CPU goes under load: py-spy samples ``citadel gateway`` while wrk drives it.

The same set-up as ``bench/gateway.py`` (nginx with a canned answer and wrk on one core, the gateway alone on
the other), one configuration at a time, and a table of the functions that hold the most samples: their own
time (self) and with what they call (total), as a percentage of the gateway's samples.

    python bench/profile_gateway.py                 # the default gateway
    python bench/profile_gateway.py --events        # publishing every request's events to a Tansu broker
    python bench/profile_gateway.py --governed      # auth, Redis limits, request log to PostgreSQL
    python bench/profile_gateway.py --governed --stream --top 40 --save /tmp/governed.txt

Needs py-spy (``pip install py-spy``) and, for ``--governed`` / ``--events``, ``scripts/bootstrap.sh --dev``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway as bench  # bench/gateway.py: the servers and the load


@contextlib.contextmanager
def _sections(args: argparse.Namespace, work: Path) -> Iterator[dict[str, object]]:
    """The config sections of the configuration asked for, with its servers running."""
    with contextlib.ExitStack() as stack:
        sections: dict[str, object] = {}
        if args.events:
            sections |= stack.enter_context(bench.event_broker(work))
        if args.governed:
            sections |= stack.enter_context(bench.governance_servers())
        yield sections


def _profile(pid: int, seconds: int, raw: Path, rate: int) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate)]
    argv += ["--format", "raw", "--output", str(raw), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(frame: str) -> str:
    """``handle (citadel/gateway/app.py:120)`` -> ``citadel/gateway/app.py:handle``: one row per function."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{name}"


def _package(frame: str) -> str:
    """``citadel/events/sink.py:send`` -> ``citadel/events``; ``aiokafka/producer/x.py:f`` -> ``aiokafka``."""
    parts = frame.split(":", 1)[0].split("/")
    return "/".join(parts[:2]) if parts[0] == "citadel" and len(parts) > 2 else parts[0]


def summarise(raw: Path, top: int) -> str:
    """The table: functions by self and by total share of the samples in py-spy's collapsed ``raw`` file."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";")[1:]]  # the first is the thread
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        for package in {_package(frame) for frame in frames}:
            packages[package] += count
    if not samples:
        return "no samples (is py-spy allowed to read the gateway's memory?)"
    rows = [f"{samples} samples", "", f"{'self %':>7} {'total %':>8}  function"]
    for frame, count in own.most_common(top):
        rows.append(f"{100 * count / samples:7.1f} {100 * total[frame] / samples:8.1f}  {frame}")
    rows += ["", "stacks with a frame of (package):", f"{'total %':>8}  package"]
    for package, count in packages.most_common(top):
        rows.append(f"{100 * count / samples:8.1f}  {package}")
    rows += ["", "by total (citadel's own code):", f"{'total %':>8}  function"]
    ours = [(frame, count) for frame, count in total.most_common() if frame.startswith("citadel/")]
    for frame, count in ours[:top]:
        rows.append(f"{100 * count / samples:8.1f}  {frame}")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", action="store_true", help="publish events to a Tansu broker")
    parser.add_argument("--governed", action="store_true", help="auth, Redis limits, log to PostgreSQL")
    parser.add_argument("--stream", action="store_true", help="profile streamed requests")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load while sampling")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=30, help="rows per table")
    parser.add_argument("--save", type=Path, help="keep py-spy's collapsed stacks in this file")
    args = parser.parse_args()
    bench.ensure_tools()
    with tempfile.TemporaryDirectory(prefix="citadel-profile-") as tmp:
        work = Path(tmp)
        upstream = bench.free_port()
        nginx_conf = bench._nginx_conf(work, upstream)
        nginx = [bench._which("nginx") or "nginx", "-c", str(nginx_conf), "-p", str(work)]
        health = f"http://127.0.0.1:{upstream}/health"
        with (
            bench.running(nginx, health, core=bench.LOAD_CORE, log=work / "nginx.log"),
            _sections(args, work) as sections,
        ):
            port = bench.free_port()
            name = "profiled"
            config = bench.gateway_config(work, port, upstream, name=name, governance=sections or None)
            headers = {"Authorization": f"Bearer {bench.create_key(config)}"} if args.governed else None
            argv = [str(bench.PYTHON), "-m", "citadel", "gateway", "--config", str(config)]
            base = f"http://127.0.0.1:{port}"
            body = {**bench.BODY, "model": "bench-stream", "stream": True} if args.stream else bench.BODY
            url = f"{base}/v1/chat/completions"
            log = work / "gateway.log"
            with bench.running(argv, f"{base}/health", core=bench.GATEWAY_CORE, log=log) as pid:
                bench.wrk(url, body, connections=32, duration_s=3, work=work, headers=headers)  # warm-up
                raw = work / "profile.txt"
                sampler = _profile(pid, args.duration, raw, args.rate)
                run = bench.wrk(
                    url, body, connections=32, duration_s=args.duration, work=work, headers=headers
                )
                sampler.wait(timeout=args.duration + 60)
            print(f"{run.rps:.0f} requests/s at 32 connections, {run.errors} errors")
            print(summarise(raw, args.top))
            if args.save is not None:
                shutil.copy(raw, args.save)
                print(f"collapsed stacks (for speedscope or flamegraph.pl): {args.save}")


if __name__ == "__main__":
    main()
