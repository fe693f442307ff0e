"""Which model services this machine runs: each local model at its own port plus its local replicas, named
``MODEL`` and ``MODEL:PORT``, and what serve-model, check, the supervisor and the renderers make of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from citadel.config import load_settings
from citadel.engines.local import find_service, local_services
from citadel.ops.prestart.checks import run_checks
from citadel.ops.render.scrape import scrape_config
from citadel.supervisor.plan import model_specs
from tests.helpers import SMOLLM2_NAME, free_port, smollm2_model, write_config


def _config(tmp_path: Path) -> tuple[Path, int, int]:
    own, second = free_port(), free_port()
    replicas = [
        {"port": own},
        {"port": second, "weight": 2},
        {"url": "http://127.0.0.1:12999"},  # an OpenAI-compatible server run by someone else
        {"host": "10.1.2.3", "port": 11400},  # a model service on another machine
    ]
    remote = {"name": "elsewhere", "backend": "remote", "url": "http://127.0.0.1:13999"}
    config = write_config(tmp_path, {"models": [smollm2_model(own, replicas=replicas), remote]})
    return config, own, second


def test_a_model_and_its_local_replicas_are_services_of_their_own(tmp_path: Path) -> None:
    config, own, second = _config(tmp_path)
    settings = load_settings(config)
    services = local_services(settings)
    assert [(s.name, s.port) for s in services] == [(SMOLLM2_NAME, own), (f"{SMOLLM2_NAME}:{second}", second)]
    assert services[1].settings.port == second
    assert services[1].base_url == f"http://127.0.0.1:{second}"
    assert find_service(settings, f"{SMOLLM2_NAME}:{second}") == services[1]
    with pytest.raises(KeyError, match="services: "):
        find_service(settings, f"{SMOLLM2_NAME}:1")
    with pytest.raises(KeyError):
        find_service(settings, "elsewhere")


def test_the_supervisor_and_prometheus_see_every_service(tmp_path: Path) -> None:
    config, own, second = _config(tmp_path)
    settings = load_settings(config)
    specs = model_specs(settings, config)
    assert [spec.name for spec in specs] == [SMOLLM2_NAME, f"{SMOLLM2_NAME}:{second}"]
    assert specs[1].argv[-3:] == [f"{SMOLLM2_NAME}:{second}", "--config", str(config.resolve())]
    assert specs[1].health_url == f"http://127.0.0.1:{second}/health"
    targets = scrape_config(settings, "127.0.0.1:9093")["scrape_configs"][1]["static_configs"]
    assert [target["targets"] for target in targets] == [[f"127.0.0.1:{own}"], [f"127.0.0.1:{second}"]]
    assert {target["labels"]["model"] for target in targets} == {SMOLLM2_NAME}


def test_checks_cover_each_service_port(tmp_path: Path) -> None:
    config, _own, second = _config(tmp_path)
    settings = load_settings(config)
    ports = [r.subject for r in run_checks(settings) if r.check == "port"]
    assert ports == [SMOLLM2_NAME, f"{SMOLLM2_NAME}:{second}", "gateway"]
    # One instance's pre-start check looks at its own port only (the others may be running already).
    assert [r.subject for r in run_checks(settings, SMOLLM2_NAME) if r.check == "port"] == [SMOLLM2_NAME]
    replica = [r.subject for r in run_checks(settings, f"{SMOLLM2_NAME}:{second}") if r.check == "port"]
    assert replica == [f"{SMOLLM2_NAME}:{second}"]
