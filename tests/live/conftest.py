from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.gateway_process import LiveGateway, start_gateway


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, model_url: str) -> Iterator[LiveGateway]:
    live = start_gateway(tmp_path_factory.mktemp("live-gateway"), model_url)
    yield live
    live.process.stop()
