"""The pre-start port check judges a port as uvicorn will bind it: a stopped server's connections in
TIME_WAIT do not make the port "in use" (so ``citadel up`` can start again right after a stop), a socket
that listens still does."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from citadel.ops.prestart.checks import check_port_free
from tests.helpers import free_port

APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _time_wait_on(port: int) -> bool:
    return any(
        c.status == psutil.CONN_TIME_WAIT and c.laddr and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp4")
    )


def _plain_bind_fails(port: int) -> bool:
    """What the old check did: bind without SO_REUSEADDR."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def test_port_is_free_right_after_a_server_with_keep_alive_clients_stopped(tmp_path: Path) -> None:
    (tmp_path / "tiny_app.py").write_text(APP, encoding="utf-8")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tiny_app:app", "--port", str(port), "--log-level", "warning"],
        cwd=tmp_path,
        start_new_session=True,
    )
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) for _ in range(4)]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                for client in clients:
                    for _ in range(3):  # several requests on each kept-alive connection
                        assert client.get("/").text == "ok"
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        listening = check_port_free("svc", "127.0.0.1", port)
        assert not listening.ok
        assert "already in use" in listening.detail
        # Stop it while the connections are open: the server closes them first, so they wait on its port.
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for client in clients:
            client.close()
    if not _time_wait_on(port):
        pytest.fail("no connection in TIME_WAIT on the server's port: the test would prove nothing")
    assert _plain_bind_fails(port)  # what made `citadel up` refuse to start for a minute
    result = check_port_free("svc", "127.0.0.1", port)
    assert result.ok, result.detail
