"""``citadel render haproxy|nginx``: configs the real tools accept, with what the deployment needs in them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from citadel.cli.main import cli
from tests.helpers import write_config

pytestmark = pytest.mark.timeout(60)


def _config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        {
            "gateway": {"port": 8000, "request_timeout_s": 900},
            "load_balancer": {
                "port": 8880,
                "gateways": [{"host": "127.0.0.1", "port": 8000}, {"host": "127.0.0.1", "port": 8001}],
            },
        },
    )


def _render(tmp_path: Path, kind: str) -> Path:
    out = tmp_path / kind
    result = CliRunner().invoke(cli, ["render", kind, "--config", str(_config(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_haproxy_config_is_valid_and_balances_least_connections(tmp_path: Path) -> None:
    cfg = _render(tmp_path, "haproxy") / "haproxy.cfg"
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    text = cfg.read_text()
    assert "balance leastconn" in text
    assert "server gw1 127.0.0.1:8000" in text
    assert "server gw2 127.0.0.1:8001" in text
    assert "option httpchk GET /health" in text
    assert "timeout server 930000ms" in text  # the gateway's request timeout plus a margin: streams fit
    assert "prometheus-exporter" in text


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_config_is_valid(tmp_path: Path) -> None:
    include = _render(tmp_path, "nginx") / "citadel.conf"
    text = include.read_text()
    assert "least_conn;" in text
    assert "server 127.0.0.1:8001" in text
    assert "proxy_buffering off;" in text
    assert "proxy_read_timeout 930s;" in text
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {include};\n}}\n"
    )
    check = subprocess.run(
        ["nginx", "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_without_gateways_listed_the_configs_gateway_is_the_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"gateway": {"host": "0.0.0.0", "port": 8123}})
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "haproxy", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "server gw1 127.0.0.1:8123\n" in (out / "haproxy.cfg").read_text()
