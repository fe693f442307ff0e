"""The ops tests' shared deployment, started once per session (it takes a few seconds to load the model)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.stack import OpsStack


@pytest.fixture(scope="session")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    running = OpsStack(tmp_path_factory.mktemp("ops-stack"))
    yield running
    running.stop()
