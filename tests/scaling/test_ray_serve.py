"""The elastic tier: SmolLM2 placed on a real two-node Ray cluster, behind the gateway.

One story on one cluster: ``citadel ray deploy`` brings the model up as a Ray Serve application; load
through the gateway raises the replica count to its maximum; one replica's process killed under load costs
no non-stream request (the gateway retries through Serve's proxy, which routes to the replica left); an
idle period lowers the count to the minimum; ``citadel ray scale`` moves the bounds on the running
deployment without restarting its replica; a redeploy of a changed model under load replaces every replica
without a failed request. The replica count over time is printed (``-s`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from citadel.ray_serve.dashboard import RayDashboard, RayDashboardError
from citadel.ray_serve.status import DeploymentStatus
from tests.helpers import (
    MINILM_NAME,
    SMOLLM2_NAME,
    SMOLLM2_SOURCE,
    ServiceProcess,
    free_port,
    minilm_model,
    write_config,
)
from tests.scaling.ray_cluster import RayCluster, ray_available

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(420),
    pytest.mark.skipif(not ray_available(), reason="ray not installed: scripts/bootstrap.sh --dev"),
]

WORKERS = 4  # concurrent clients: 4 requests in flight against a target of 1 per replica
MAX_REPLICAS = 2


@pytest.fixture(scope="module")
def serve_port() -> int:
    """Serve's proxy port on the cluster: fixed once Serve has started there, so one for the module."""
    return free_port()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    ray = RayCluster()
    try:
        yield ray
    finally:
        ray.close()


def _config(
    directory: Path,
    cluster: RayCluster,
    ports: tuple[int, int],  # the gateway's, Serve's
    *,
    max_waiting: int = 8,
    name: str = "citadel.yaml",
) -> Path:
    gateway_port, serve_port = ports
    placement = {
        "kind": "ray",
        "dashboard_url": cluster.dashboard_url,
        "serve_port": serve_port,
        "min_replicas": 1,
        "max_replicas": MAX_REPLICAS,
        # Short delays so that a test sees both directions; the defaults are the blueprint's minutes.
        "target_ongoing_requests": 1,
        "upscale_delay_s": 1,
        "downscale_delay_s": 6,
        "look_back_period_s": 2,
    }
    model = {
        "name": SMOLLM2_NAME,
        "source": SMOLLM2_SOURCE,
        "limits": {
            "max_model_len": 512,
            "max_num_seqs": 2,
            "max_num_batched_tokens": 256,
            "max_waiting": max_waiting,
        },
        "threads": 1,
        "cpu_quota": 40,  # 0.4 CPU per replica: both fit on either node of 1 CPU
        "memory_limit": "1G",
        "startup_timeout_s": 120,
        "placement": placement,
    }
    data = {
        "data_dir": str(directory / "data"),
        "gateway": {"port": gateway_port, "health_interval_s": 2},
        "models": [model],
    }
    return write_config(directory, data, name=name)


def _citadel(*argv: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citadel", *argv], capture_output=True, text=True, timeout=timeout_s
    )


@dataclass
class Trace:
    """The deployment's replicas over time, sampled from the dashboard; events marked in between."""

    started: float = field(default_factory=time.monotonic)
    rows: list[str] = field(default_factory=list)
    last: DeploymentStatus | None = None
    _previous: tuple[int, int, str] | None = None

    def sample(self, deployment: DeploymentStatus) -> None:
        self.last = deployment
        states = ",".join(sorted(r.state for r in deployment.replicas)) or "-"
        key = (deployment.running, deployment.target_replicas, states)
        if key != self._previous:  # a row per change: a rolling update shows as its replicas' states
            self._previous = key
            self.rows.append(
                f"t={self.elapsed():6.1f}s  running={deployment.running} target={key[1]}  [{states}]"
            )

    def mark(self, event: str) -> None:
        self.rows.append(f"t={self.elapsed():6.1f}s  -- {event}")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Sampler:
    """A thread reading the deployment's status every half second into a :class:`Trace`."""

    def __init__(self, dashboard_url: str, trace: Trace) -> None:
        self._dashboard = RayDashboard(dashboard_url, timeout_s=10)
        self._trace = trace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ray-status-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                app = self._dashboard.status().applications.get(SMOLLM2_NAME)
            except RayDashboardError as exc:  # a slow answer under load: the next sample will do
                self._trace.mark(f"status not read: {exc}")
                continue
            if app is not None and app.deployments:
                self._trace.sample(app.deployments[0])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self._dashboard.close()


class Load:
    """Workers sending non-stream chat completions through the gateway until stopped; failures kept."""

    def __init__(self, base: str) -> None:
        self._base = base
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ok = 0
        self.failures: list[str] = []

    async def _worker(self) -> None:
        body: dict[str, Any] = {"model": SMOLLM2_NAME, "max_tokens": 24}
        body["messages"] = [{"role": "user", "content": "Count to ten."}]
        async with httpx.AsyncClient(base_url=self._base, timeout=60) as client:
            while not self._stop.is_set():
                try:
                    response = await client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if response.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def _retries(gateway: str) -> dict[str, float]:
    """``llm_retries_total`` by reason, from the gateway's /metrics."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"{gateway}/metrics", timeout=10).text.splitlines():
        if line.startswith("llm_retries_total{"):
            labels, _, value = line.rpartition(" ")
            reason = labels.partition('reason="')[2].partition('"')[0]
            counts[reason] = counts.get(reason, 0.0) + float(value)
    return counts


async def _until(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.25)


def _running(trace: Trace) -> int:
    return trace.last.running if trace.last else 0


def _settled_at_one(trace: Trace) -> bool:
    """One replica wanted and one listed: the one scaled away is gone, not only STOPPING."""
    last = trace.last
    return last is not None and last.target_replicas == 1 and last.running == 1 and len(last.replicas) == 1


def test_ray_tier_scales_with_load_survives_a_killed_replica_and_shrinks_when_idle(
    cluster: RayCluster, serve_port: int, tmp_path: Path
) -> None:
    gateway_port = free_port()
    ports = (gateway_port, serve_port)
    config = _config(tmp_path, cluster, ports)
    deployed = _citadel("ray", "deploy", "--config", str(config))
    assert deployed.returncode == 0, deployed.stderr
    assert "RUNNING, 1/1 replica(s) running" in deployed.stderr

    gateway = ServiceProcess(
        ["gateway", "--config", str(config)],
        f"http://127.0.0.1:{gateway_port}/health",
        log=tmp_path / "gateway.log",
    )
    base = f"http://127.0.0.1:{gateway_port}"
    trace = Trace()
    sampler = Sampler(cluster.dashboard_url, trace)
    try:
        killed, load = asyncio.run(_story(base, trace))
        retries = _retries(base)
        print(
            f"\nkill phase: {load.ok} answered, {len(load.failures)} failed; replica killed: pid {killed}; "
            f"gateway retries through the proxy: {retries}"
        )
        assert load.failures == [], load.failures[:5]

        status = _citadel("ray", "status", "--config", str(config), "--json")
        assert status.returncode == 0, status.stderr
        deployment = json.loads(status.stdout)[cluster.dashboard_url][SMOLLM2_NAME]["deployments"]
        (replicas,) = [d["replicas"] for d in deployment.values()]
        assert [r["state"] for r in replicas] == ["RUNNING"]
        survivor = replicas[0]["pid"]

        # New bounds apply to the running deployment: one more replica starts, the first is kept.
        scaled = _citadel("ray", "scale", SMOLLM2_NAME, "--config", str(config), "--min", "2")
        assert scaled.returncode == 0, scaled.stderr
        assert "bounds 2-2" in scaled.stdout
        trace.mark("citadel ray scale --min 2")
        asyncio.run(_until("min 2 reached", lambda: _running(trace) == 2, 120))
        assert trace.last is not None
        before = {r.pid for r in trace.last.replicas}
        assert survivor in before, "the running replica was restarted, not kept"

        # A change of what the replicas run rolls them, new ones ready before old ones stop.
        changed = _config(tmp_path, cluster, ports, max_waiting=9, name="changed.yaml")
        rolled = asyncio.run(_rolling(base, changed, trace))
        print(f"rolling update: {rolled.ok} answered, {len(rolled.failures)} failed")
        assert rolled.failures == [], rolled.failures[:5]
        assert trace.last is not None
        assert not before & {r.pid for r in trace.last.replicas}, "some replica was not replaced"
    finally:
        sampler.close()
        gateway.stop()
        print("\nreplicas over time (Ray Serve, sampled every 0.5 s):\n" + "\n".join(trace.rows))


async def _rolling(gateway: str, config: Path, trace: Trace) -> Load:
    load = Load(gateway)
    load.start()
    try:
        await asyncio.sleep(2)
        trace.mark("citadel ray deploy of a changed model (limits.max_waiting) under load")
        deployed = await asyncio.to_thread(_citadel, "ray", "deploy", "--config", str(config))
        assert deployed.returncode == 0, deployed.stderr
        trace.mark(f"deploy returned; {load.ok} answered, {len(load.failures)} failed")
        await asyncio.sleep(2)
    finally:
        await load.stop()
    return load


async def _story(gateway: str, trace: Trace) -> tuple[int, Load]:
    await _until("the first replica reported", lambda: _running(trace) == 1, 30)
    load = Load(gateway)
    trace.mark(f"load starts: {WORKERS} concurrent clients through the gateway")
    load.start()
    try:
        await _until(f"{MAX_REPLICAS} replicas under load", lambda: _running(trace) == MAX_REPLICAS, 120)
        trace.mark(f"scaled up; {load.ok} answered so far")
        await asyncio.sleep(3)
        assert trace.last is not None
        victim = next(r.pid for r in trace.last.replicas if r.running and r.pid)
        assert victim is not None
        trace.mark(f"SIGKILL replica process {victim}")
        os.kill(victim, signal.SIGKILL)
        before = load.ok
        await asyncio.sleep(12)
        assert load.ok > before, "nothing answered after the kill"
        trace.mark(f"{load.ok - before} answered since the kill, {len(load.failures)} failed")
    finally:
        await load.stop()
    trace.mark("load stops")
    await _until("back to 1 replica when idle", lambda: _settled_at_one(trace), 120)
    trace.mark("scaled down")
    return victim, load


def test_the_embedding_service_runs_on_ray_too(cluster: RayCluster, serve_port: int, tmp_path: Path) -> None:
    def config_with(port: int) -> Path:
        placement = {"kind": "ray", "dashboard_url": cluster.dashboard_url, "serve_port": port}
        model = {**minilm_model(0), "cpu_quota": 40, "placement": placement}
        del model["host"], model["port"]
        data = {"data_dir": str(tmp_path / "data"), "models": [model]}
        return write_config(tmp_path, data, name=f"embedding-{port}.yaml")

    deployed = _citadel("ray", "deploy", "--config", str(config_with(serve_port)))
    assert deployed.returncode == 0, deployed.stderr
    answer = httpx.post(
        f"http://127.0.0.1:{serve_port}/{MINILM_NAME}/v1/embeddings",
        json={"model": MINILM_NAME, "input": ["a Ray replica", "of the embedding service"]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert [len(item["embedding"]) for item in answer.json()["data"]] == [384, 384]
    # Ray Serve keeps its proxy where it first listened: a config naming another port is refused.
    moved = _citadel("ray", "deploy", "--config", str(config_with(free_port())))
    assert moved.returncode == 1
    assert f"Ray Serve on this cluster listens on 127.0.0.1:{serve_port}" in moved.stderr
