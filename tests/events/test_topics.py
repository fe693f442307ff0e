"""``citadel events init`` on a real broker: the blueprint's topics created with their partitions and
retention, a second run only checks, a mismatch is reported and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from citadel.cli.main import cli
from citadel.events.topics import TopicState, ensure_topics, retention_ms
from tests.events.broker import TansuBroker
from tests.events.kafka import event_settings

pytestmark = pytest.mark.timeout(60)

BLUEPRINT = {
    "llm_requests": (6, 7 * 24 * 3600 * 1000),
    "user_feedback": (3, 30 * 24 * 3600 * 1000),
    "system_metrics": (12, 3 * 24 * 3600 * 1000),
    "business_events": (6, 365 * 24 * 3600 * 1000),
}


async def test_init_creates_the_blueprints_topics_then_only_checks_them(
    tmp_path: Path, broker: TansuBroker
) -> None:
    settings = event_settings(tmp_path, broker)
    first = await ensure_topics(settings.events)
    assert {report.spec.name: (report.partitions, report.retention_ms) for report in first} == BLUEPRINT
    assert {report.state for report in first} == {TopicState.CREATED}
    again = await ensure_topics(settings.events)
    assert {report.state for report in again} == {TopicState.OK}
    assert [retention_ms(report.spec) for report in again] == [
        retention for _, retention in BLUEPRINT.values()
    ]


def test_a_mismatch_is_reported_and_exits_1(tmp_path: Path, broker: TansuBroker) -> None:
    config = tmp_path / "citadel.yaml"
    events: dict[str, object] = {"sink": "kafka", "bootstrap_servers": broker.bootstrap}
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "var"), "events": events}))
    runner = CliRunner()
    created = runner.invoke(cli, ["events", "init", "--config", str(config)])
    assert created.exit_code == 0, created.output
    assert "llm_requests: created (6 partitions" in created.output
    events["topics"] = {"feedback": {"name": "user_feedback", "partitions": 5, "retention_hours": 24}}
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "var"), "events": events}))
    checked = runner.invoke(cli, ["events", "init", "--config", str(config)])
    assert checked.exit_code == 1, checked.output
    assert "user_feedback: mismatch (3 partitions" in checked.output
    assert "has 3 partitions, the config says 5" in checked.output
    assert "the config says 86400000" in checked.output
    assert "llm_requests: ok" in checked.output


def test_an_unreachable_broker_is_a_one_line_error(tmp_path: Path) -> None:
    from tests.helpers import free_port

    config = tmp_path / "citadel.yaml"
    events = {"sink": "kafka", "bootstrap_servers": f"127.0.0.1:{free_port()}"}
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "var"), "events": events}))
    result = CliRunner().invoke(cli, ["events", "init", "--config", str(config)])
    assert result.exit_code == 1
    assert "broker 127.0.0.1:" in result.output
