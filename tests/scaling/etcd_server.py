"""Debian's etcd (``etcd-server``) as a one-member cluster on free loopback ports, stopped by its PID.

``stop`` and ``start`` again keep the data directory and the ports: an outage, not a new cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.governance.servers import _stop, _wait_port
from tests.helpers import free_port


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


class EtcdServer:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="citadel-etcd-"))
        self.port = free_port()
        self.peer_port = free_port()
        self.log = self.directory / "etcd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        client, peer = self.url, f"http://127.0.0.1:{self.peer_port}"
        argv = ["etcd", "--name", "t", "--data-dir", str(self.directory / "data")]
        argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
        argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        argv += ["--initial-cluster", f"t={peer}", "--log-level", "warn"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_port(self.port, self.process, self.log)

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
