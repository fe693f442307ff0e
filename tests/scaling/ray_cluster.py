"""A real two-node Ray cluster on this machine: a head and a second node, each ``ray start --block``.

Each node is its own process group (``start_new_session``) with its own temp dir and free ports; the head
runs the dashboard on loopback (Citadel deploys and reads status through its REST API). ``close`` sends
each group SIGTERM (Ray drains and stops its processes), then SIGKILL to whatever is left: every process
the cluster started (raylet, GCS, Serve's controller, proxy and replicas) is in one of the two groups.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.helpers import free_port

RAY = str(Path(sys.executable).with_name("ray"))
NODE_CPUS = 1
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def ray_available() -> bool:
    return Path(RAY).exists()


class RayNode:
    """One ``ray start --block`` process and its group."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace_s: float) -> None:
        group = self.process.pid  # the group's id: start_new_session made it the leader
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if self.process.poll() is not None and not _group_alive(group):
                    return
                time.sleep(0.2)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


class RayCluster:
    """Head (GCS, dashboard, Serve's controller and proxy) plus a worker node, both on this machine."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="citadel-ray-"))
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        self.nodes: list[RayNode] = []
        try:
            self.nodes.append(self._start("head", head=True, worker_ports=(21000, 21099)))
            self._wait_dashboard(90.0)
            self.nodes.append(self._start("node2", head=False, worker_ports=(21100, 21199)))
            self._wait_nodes(2, 60.0)
        except BaseException:
            self.close()
            raise

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, name: str, *, head: bool, worker_ports: tuple[int, int]) -> RayNode:
        argv = [RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
        argv += ["--num-cpus", str(NODE_CPUS), "--object-store-memory", str(OBJECT_STORE_BYTES)]
        argv += ["--temp-dir", str(self.directory / name)]
        argv += ["--min-worker-port", str(worker_ports[0]), "--max-worker-port", str(worker_ports[1])]
        argv += ["--dashboard-agent-listen-port", str(free_port())]
        if head:
            argv += ["--head", "--port", str(self.gcs_port), "--ray-client-server-port", str(free_port())]
            argv += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1"]
            argv += ["--dashboard-port", str(self.dashboard_port)]
        else:
            argv += ["--address", f"127.0.0.1:{self.gcs_port}"]
        return RayNode(argv, self.directory / f"{name}.log")

    def _wait_dashboard(self, timeout_s: float) -> None:
        self._until(lambda: httpx.get(f"{self.dashboard_url}/api/version", timeout=2).is_success, timeout_s)

    def _wait_nodes(self, count: int, timeout_s: float) -> None:
        def joined() -> bool:
            nodes = httpx.get(f"{self.dashboard_url}/nodes?view=summary", timeout=2).json()
            summary = nodes.get("data", {}).get("summary", [])
            return sum(1 for node in summary if node.get("raylet", {}).get("state") == "ALIVE") >= count

        self._until(joined, timeout_s)

    def _until(self, check: object, timeout_s: float) -> None:
        assert callable(check)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [node for node in self.nodes if not node.alive()]
            if dead:
                raise RuntimeError(f"a Ray node exited:\n{dead[0].log.read_text(errors='replace')[-3000:]}")
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        logs = "\n".join(node.log.read_text(errors="replace")[-1500:] for node in self.nodes)
        raise TimeoutError(f"the Ray cluster was not up within {timeout_s} s:\n{logs}")

    def close(self) -> None:
        # The worker node first, so that the head does not wait on it; a short drain (nothing to keep).
        for node in reversed(self.nodes):
            node.stop(grace_s=5.0)
        self.nodes.clear()
        shutil.rmtree(self.directory, ignore_errors=True)
