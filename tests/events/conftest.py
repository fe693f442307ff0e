from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.events.broker import TansuBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A fresh broker per test: memory-only, so tests cannot see each other's topics."""
    server = TansuBroker(tmp_path)
    try:
        yield server
    finally:
        server.stop()
