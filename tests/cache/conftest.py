"""Fixtures: a real Redis for the cache tests (the governance tests' server class), settings pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citadel.config import CitadelSettings
from tests.governance.servers import RedisServer


@pytest.fixture(scope="session")
def cache_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.close()


def cache_settings(tmp_path: Path, redis_url: str | None = None, **cache: Any) -> CitadelSettings:
    """Settings with ``cache`` keys set; Redis when ``redis_url`` is given, else the in-process backend."""
    return CitadelSettings(data_dir=str(tmp_path / "var"), redis={"url": redis_url}, cache=cache)
