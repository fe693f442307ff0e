"""``citadel health``, ``verify``, ``doctor``, ``backup`` and ``render``, against the shared running stack
and against configs whose services are not running."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from citadel.cli.main import cli
from tests.helpers import SMOLLM2_NAME, free_port, smollm2_model, write_config
from tests.ops.postgres_server import PostgresCluster, postgres_available
from tests.ops.stack import FLAKY, OpsStack


def _run(*argv: str) -> Result:
    return CliRunner().invoke(cli, list(argv), catch_exceptions=False)


def _dead_config(directory: Path) -> Path:
    """A config whose model service and gateway are not running (nothing listens on their ports)."""
    return write_config(
        directory,
        {
            "gateway": {"port": free_port()},
            "models": [smollm2_model(free_port())],
            "metrics": {"prometheus_url": f"http://127.0.0.1:{free_port()}"},
        },
    )


def _stack_config_with(ops_stack: OpsStack, directory: Path, section: str, values: dict[str, object]) -> Path:
    data = yaml.safe_load(ops_stack.config.read_text(encoding="utf-8"))
    data[section] = {**data.get(section, {}), **values}
    path = directory / "changed.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_health_is_all_ticks_on_the_running_stack(ops_stack: OpsStack) -> None:
    result = _run("health", "--config", str(ops_stack.config))
    assert result.exit_code == 0, result.output
    for line in (f"✓ model {SMOLLM2_NAME}:", "✓ gateway:", "✓ database (sqlite):", "✓ metrics (prometheus):"):
        assert line in result.output
    assert result.output.rstrip().endswith("✓ Overall: HEALTHY")


def test_health_json_for_scripts(ops_stack: OpsStack) -> None:
    result = _run("health", "--json", "--config", str(ops_stack.config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["status"] == "healthy"
    assert [service["subject"] for service in report["services"]] == [
        f"model {SMOLLM2_NAME}",
        f"model {FLAKY}",  # healthy as far as its /health goes
        "gateway",
    ]
    assert all(service["ok"] for service in report["services"])


def test_health_exits_1_when_services_are_down(tmp_path: Path) -> None:
    result = _run("health", "--timeout", "2", "--config", str(_dead_config(tmp_path)))
    assert result.exit_code == 1
    assert f"✗ model {SMOLLM2_NAME}:" in result.output
    assert "✗ gateway:" in result.output
    assert "✗ Overall: DEGRADED" in result.output
    report = json.loads(
        _run("health", "--json", "--timeout", "2", "--config", str(_dead_config(tmp_path))).output
    )
    assert report["status"] == "degraded"


def test_a_dependency_down_counts_only_when_strict(ops_stack: OpsStack, tmp_path: Path) -> None:
    config = _stack_config_with(
        ops_stack, tmp_path, "metrics", {"prometheus_url": f"http://127.0.0.1:{free_port()}"}
    )
    relaxed = _run("health", "--config", str(config))
    assert relaxed.exit_code == 0, relaxed.output
    assert "✗ metrics (prometheus):" in relaxed.output
    assert _run("health", "--strict", "--config", str(config)).exit_code == 1


def test_verify_passes_on_the_running_stack(ops_stack: OpsStack) -> None:
    result = _run("verify", "--concurrency", "3", "--max-tokens", "4", "--config", str(ops_stack.config))
    assert result.exit_code == 0, result.output
    for subject in (
        f"{SMOLLM2_NAME} direct",
        f"{SMOLLM2_NAME} via gateway",
        "gateway /v1/models",
        "gateway /health",
        "gateway /metrics",
        "concurrent requests: 3/3 succeeded",
        "metrics (prometheus)",
    ):
        assert f"✓ {subject}" in result.output
    assert "failed 0" in result.output
    assert "✓ All tests passed" in result.output


def test_verify_fails_and_names_what_failed(tmp_path: Path) -> None:
    result = _run("verify", "--timeout", "3", "--no-dependencies", "--config", str(_dead_config(tmp_path)))
    assert result.exit_code == 1
    assert f"✗ {SMOLLM2_NAME} direct" in result.output
    assert "✗ Some tests failed:" in result.output
    assert "metrics (prometheus)" not in result.output


def test_doctor_diagnoses_the_running_stack_and_finds_log_errors(ops_stack: OpsStack, tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("INFO started\nERROR upstream refused the connection\nINFO ok\n", encoding="utf-8")
    result = _run("doctor", "--log", str(log), "--config", str(ops_stack.config))
    for heading in ("Resources", "Services", "Ports", "Recent errors", "Dependencies", "API smoke test"):
        assert f"\n{heading}\n" in f"\n{result.output}"
    assert f"✓ model {SMOLLM2_NAME} port:" in result.output
    assert f"✓ chat completion ({SMOLLM2_NAME}): HTTP 200" in result.output
    assert (
        f"✗ log {log}: 1 error line(s) in the last 500 lines; last: ERROR upstream refused" in result.output
    )
    assert result.exit_code == 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_backup_holds_config_assets_and_a_consistent_sqlite_copy(tmp_path: Path) -> None:
    database = tmp_path / "var" / "citadel.db"
    database.parent.mkdir()
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("create table requests (id integer primary key, model text)")
        connection.executemany("insert into requests (model) values (?)", [("a",), ("b",), ("c",)])
    config = write_config(
        tmp_path,
        {"models": [smollm2_model(free_port())], "database": {"url": f"sqlite+aiosqlite:///{database}"}},
    )
    assets = tmp_path / "rendered"
    assert _run("render", "prometheus", "--config", str(config), "--out", str(assets)).exit_code == 0

    result = _run(
        "backup", "--config", str(config), "--out", str(tmp_path / "backups"), "--include", str(assets)
    )
    assert result.exit_code == 0, result.output
    [archive] = (tmp_path / "backups").glob("citadel-backup-*.tar.gz")

    # The documented restore: unpack, then put each file back.
    restored = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        tar.extractall(restored, filter="data")
    assert (restored / "config" / config.name).read_text(encoding="utf-8") == config.read_text(
        encoding="utf-8"
    )
    assert (restored / "assets" / "rendered" / "prometheus.yml").is_file()
    with closing(sqlite3.connect(restored / "database" / "citadel.db")) as copy:
        assert [row[0] for row in copy.execute("select model from requests order by id")] == ["a", "b", "c"]
    manifest = json.loads((restored / "MANIFEST.json").read_text(encoding="utf-8"))
    names = {entry["archived_as"] for entry in manifest["files"]}
    assert {f"config/{config.name}", "assets/rendered/prometheus.yml", "database/citadel.db"} <= names
    for entry in manifest["files"]:
        assert _sha256(restored / entry["archived_as"]) == entry["sha256"]


def _postgres_config(directory: Path) -> Path:
    url = f"postgresql+asyncpg://citadel@127.0.0.1:{free_port()}/citadel"
    return write_config(directory, {"models": [smollm2_model(free_port())], "database": {"url": url}})


def test_backup_of_postgres_without_pg_dump_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without pg_dump
    result = CliRunner().invoke(
        cli, ["backup", "--config", str(_postgres_config(tmp_path)), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "pg_dump is not installed (apt-get install postgresql-client)" in result.output


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump (postgresql-client) is not installed")
def test_backup_of_postgres_reports_pg_dump_failing(tmp_path: Path) -> None:
    """The real pg_dump runs against the configured URL; nothing listens there, so the backup fails loudly."""
    result = CliRunner().invoke(
        cli, ["backup", "--config", str(_postgres_config(tmp_path)), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "pg_dump failed:" in result.output
    assert not list(tmp_path.glob("citadel-backup-*.tar.gz"))


@pytest.mark.skipif(not postgres_available(), reason="needs root, a postgres user and PostgreSQL 15's initdb")
def test_backup_of_postgres_restores_with_pg_restore(tmp_path: Path) -> None:
    cluster = PostgresCluster()
    try:
        assert cluster.psql("postgres", "create database citadel").returncode == 0
        assert cluster.psql("citadel", "create table keys (id serial primary key, name text)").returncode == 0
        assert cluster.psql("citadel", "insert into keys (name) values ('a'), ('b')").returncode == 0
        config = write_config(
            tmp_path,
            {
                "models": [smollm2_model(free_port())],
                "database": {"url": f"{cluster.url.replace('postgresql', 'postgresql+asyncpg')}/citadel"},
            },
        )
        result = _run("backup", "--config", str(config), "--out", str(tmp_path / "backups"))
        assert result.exit_code == 0, result.output
        [archive] = (tmp_path / "backups").glob("citadel-backup-*.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(tmp_path / "restored", filter="data")

        # The documented restore, into an empty database.
        assert cluster.psql("postgres", "create database restored").returncode == 0
        dump = tmp_path / "restored" / "database" / "citadel.pgdump"
        restore = subprocess.run(
            ["pg_restore", "--no-owner", "--dbname", f"{cluster.url}/restored", str(dump)],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        assert cluster.psql("restored", "select name from keys order by id").stdout.split() == ["a", "b"]
    finally:
        cluster.stop()


def test_render_commands_write_every_asset(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models": [smollm2_model(free_port())]})
    expected = {
        "systemd": ["citadel-llm@.service", "citadel-llm.target", f"env/{SMOLLM2_NAME}.env"],
        "prometheus": ["prometheus.yml", "rules/citadel-alerts.yml", "alertmanager.yml"],
        "grafana": ["dashboards/citadel-operations.json", "provisioning/datasources/citadel.yaml"],
    }
    for kind, files in expected.items():
        out = tmp_path / kind
        result = _run("render", kind, "--config", str(config), "--out", str(out))
        assert result.exit_code == 0, result.output
        for name in files:
            assert (out / name).is_file(), name
            assert f"wrote {out / name}" in result.output
