"""Secrets in the config never reach a log line, a repr, a dump or a config error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from citadel.cli.main import cli
from citadel.config import ConfigError, load_settings
from citadel.config.secrets import SecretUrl, mask_password
from tests.helpers import write_config

SECRETS = ("db-pass-1234", "redis-pass-5678", "admin-key-9012", "qdrant-key-3456")
CONFIG = {
    "models": [{"name": "far-away", "backend": "remote", "url": "http://127.0.0.1:9/v1"}],
    "database": {"url": f"postgresql+asyncpg://citadel:{SECRETS[0]}@127.0.0.1:5432/citadel"},
    "redis": {"url": f"redis://:{SECRETS[1]}@127.0.0.1:6379/0"},
    "auth": {"enabled": True, "admin_key": SECRETS[2]},
    "vectors": {"url": "http://127.0.0.1:6333", "api_key": SECRETS[3]},
}


def _without_secrets(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


def test_passwords_in_urls_are_masked_the_rest_kept() -> None:
    url = SecretUrl(CONFIG["database"]["url"])  # type: ignore[index]
    assert str(url) == "postgresql+asyncpg://citadel:***@127.0.0.1:5432/citadel"
    assert repr(url) == "SecretUrl('postgresql+asyncpg://citadel:***@127.0.0.1:5432/citadel')"
    assert url.get_secret_value().endswith(f":{SECRETS[0]}@127.0.0.1:5432/citadel")
    assert mask_password("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_password("sqlite+aiosqlite:///var/citadel.db") == "sqlite+aiosqlite:///var/citadel.db"


def test_secrets_never_appear_in_reprs_dumps_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(write_config(tmp_path, dict(CONFIG)))
    assert settings.auth.admin_key is not None
    assert settings.auth.admin_key.get_secret_value() == SECRETS[2]  # the value is there for its one user
    assert _without_secrets(repr(settings))
    assert _without_secrets(str(settings))
    assert _without_secrets(str(settings.model_dump(mode="json")))
    assert _without_secrets(str(settings.model_dump()))
    logger = logging.getLogger("citadel.test")
    with caplog.at_level(logging.INFO):
        logger.info("database %s, redis %s", settings.database.url, settings.redis.url)
        logger.info("settings %r", settings)
        logger.info(f"auth {settings.auth} vectors {settings.vectors}")
    assert "citadel:***@127.0.0.1:5432" in caplog.text
    assert _without_secrets(caplog.text)


def test_config_show_and_validate_mask_every_secret(tmp_path: Path) -> None:
    config = write_config(tmp_path, dict(CONFIG))
    shown = CliRunner().invoke(cli, ["config", "show", "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "admin_key: '**********'" in shown.output
    assert _without_secrets(shown.output)
    valid = CliRunner().invoke(cli, ["config", "validate", "--config", str(config)])
    assert valid.exit_code == 0
    assert _without_secrets(valid.output)


def test_an_invalid_config_does_not_echo_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**CONFIG, "database": {**CONFIG["database"], "pool_max": 0}})  # type: ignore[dict-item]
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert caught.value.problems == ["database.pool_max: Input should be greater than or equal to 1"]
    assert _without_secrets(str(caught.value))
