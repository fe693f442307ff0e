"""The pieces a reload and a backup rest on: the diff and what changes live, replicas following moved
services, backup retention, rotated log files, and the rendered units."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citadel.config import CitadelSettings
from citadel.config.ops_sections import LogFileSettings
from citadel.log_files import add_log_file
from citadel.ops.backup_retention import archive_time, archives_to_keep
from citadel.ops.render.systemd import SystemdLayout, render_systemd
from citadel.reload.addresses import with_moves
from citadel.reload.changes import diff_settings, merge_live, restart_needed
from citadel.reload.services import service_changes
from tests.gateway.harness import remote_model
from tests.helpers import smollm2_model


def _settings(**data: Any) -> CitadelSettings:
    data.setdefault("models", [smollm2_model(11400)])
    return CitadelSettings(**data)


def test_the_diff_names_models_and_keys_and_what_needs_a_restart() -> None:
    old = _settings(gateway={"port": 8000})
    model = smollm2_model(11400, limits={"max_model_len": 512, "max_num_seqs": 2})
    new = _settings(
        gateway={"port": 8001, "max_attempts": 3},
        models=[model, remote_model("far", "http://127.0.0.1:9")],
        prices={"far": {"prompt_per_1k": 0.1, "completion_per_1k": 0.2}},
    )
    diff = diff_settings(old, new)
    assert "models[far]: added" in diff
    assert not any(line.startswith("models[far].") for line in diff)
    assert "gateway.port: 8000 -> 8001" in diff
    assert any(line.startswith("models[smollm2-135m-instruct].limits.max_num_seqs: 4 -> 2") for line in diff)
    assert restart_needed(diff) == ["gateway.port"]
    merged = merge_live(old, new)
    assert merged.gateway.port == 8000
    assert merged.gateway.max_attempts == 3
    assert [m.name for m in merged.models] == ["smollm2-135m-instruct", "far"]
    assert "far" in merged.prices
    changes = service_changes(old, new)
    assert [s.name for _, s in changes.changed] == ["smollm2-135m-instruct"]
    assert not changes.added


def test_a_gateway_only_change_does_not_replace_the_service() -> None:
    old = _settings()
    new = _settings(models=[smollm2_model(11400, fallbacks=[], cost=3.0)])
    assert not service_changes(old, new)
    assert diff_settings(old, new) == ["models[smollm2-135m-instruct].cost: 1.0 -> 3.0"]


def test_replicas_follow_a_moved_service() -> None:
    settings = _settings()
    moved = with_moves(settings, {"http://127.0.0.1:11400": "http://127.0.0.1:40000"})
    assert [r.base_url for r in moved.models[0].upstreams] == ["http://127.0.0.1:40000"]
    assert with_moves(settings, {}) is settings


def test_retention_keeps_the_newest_per_day_week_and_month() -> None:
    start = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    times = [start + timedelta(hours=12 * step) for step in range(2 * 120)]  # two a day for 120 days
    keep = archives_to_keep(times, daily=7, weekly=4, monthly=6)
    newest = max(times)
    days = {t.date() for t in keep}
    assert newest in keep
    assert {(newest - timedelta(days=d)).date() for d in range(7)} <= days
    assert len({t.isocalendar()[:2] for t in keep}) >= 4
    assert len({(t.year, t.month) for t in keep}) == 4  # only four months of archives exist
    assert len(keep) < len(times) // 10
    assert archive_time(Path("citadel-backup-20261202T031500Z.tar.gz")) == datetime(
        2026, 12, 2, 3, 15, tzinfo=UTC
    )
    assert archive_time(Path("notes.txt")) is None


def test_log_files_rotate_at_their_size(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    path = add_log_file(LogFileSettings(dir=tmp_path, max_bytes=2048, keep=2), "model:x y")
    try:
        assert path == tmp_path / "model-x-y.log"
        logger = logging.getLogger("citadel.test.rotation")
        logger.setLevel(logging.INFO)
        for index in range(200):
            logger.info("line %d %s", index, "x" * 40)
    finally:
        for handler in set(root.handlers) - set(before):
            root.removeHandler(handler)
            handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["model-x-y.log", "model-x-y.log.1", "model-x-y.log.2"]
    assert all(p.stat().st_size <= 2048 + 200 for p in tmp_path.iterdir())


@pytest.mark.parametrize("schedule", ["daily", "*-*-* 03:15:00"])
def test_systemd_gets_a_backup_timer_and_a_reload(schedule: str) -> None:
    settings = _settings(backup={"schedule": schedule, "dir": "/srv/backups"})
    files = render_systemd(settings, SystemdLayout(Path("/etc/citadel/citadel.yaml")))
    assert f"OnCalendar={schedule}\n" in files["citadel-llm-backup.timer"]
    assert "backup --config ${CITADEL_CONFIG} --prune" in files["citadel-llm-backup.service"]
    assert "ReadWritePaths=-/srv/backups" in files["citadel-llm-backup.service"]
    assert "ExecReload=" in files["citadel-llm-gateway.service"]
    assert " reload --config ${CITADEL_CONFIG}" in files["citadel-llm-gateway.service"]
