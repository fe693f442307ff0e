"""The core budget: how many engine threads each local service gets, and serve-model --threads reaching the
settings its engine is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from citadel.cli import serve
from citadel.cli.main import cli
from citadel.config import (
    CitadelSettings,
    EmbeddingModel,
    LlamaCppModel,
    ModelSettings,
    as_backend,
    load_settings,
)
from citadel.ops.prestart.checks import check_core_budget
from citadel.supervisor.cores import CoreBudgetError, CoreDemand, budget_threads, plan_threads
from citadel.supervisor.plan import model_specs
from tests.helpers import SMOLLM2_NAME, free_port, minilm_model, smollm2_model, write_config


def test_two_replicas_on_two_cores_get_one_thread_each() -> None:
    assert budget_threads([CoreDemand("a", 200), CoreDemand("a:2", 200)], cores=2) == {"a": 1, "a:2": 1}


def test_one_service_gets_every_core() -> None:
    assert budget_threads([CoreDemand("alone", 200)], cores=16) == {"alone": 16}


def test_shares_follow_cpu_quota() -> None:
    demands = [CoreDemand("chat", 600), CoreDemand("embed", 200)]
    assert budget_threads(demands, cores=8) == {"chat": 6, "embed": 2}
    # Every service gets one thread at least, however small its quota.
    uneven = [CoreDemand("big", 10_000), CoreDemand("tiny", 1)]
    assert budget_threads(uneven, cores=4) == {"big": 3, "tiny": 1}


def test_explicit_threads_come_first_and_the_rest_is_shared() -> None:
    demands = [CoreDemand("pinned", 200, threads=3), CoreDemand("b", 100), CoreDemand("c", 100)]
    assert budget_threads(demands, cores=8) == {"pinned": 3, "b": 3, "c": 2}


def test_services_that_all_pin_their_threads_leave_the_rest_unused() -> None:
    assert budget_threads([CoreDemand("pinned", 200, threads=1)], cores=4) == {"pinned": 1}


def test_oversubscription_is_an_error_unless_allowed() -> None:
    demands = [CoreDemand("a", 200, threads=2), CoreDemand("b", 200, threads=2)]
    with pytest.raises(CoreBudgetError, match=r"need 4 engine threads.*2 usable core.*oversubscribe_cores"):
        budget_threads(demands, cores=2)
    assert budget_threads(demands, cores=2, oversubscribe=True) == {"a": 2, "b": 2}
    # Too many services for one thread each is the same error.
    three = [CoreDemand(name, 200) for name in "xyz"]
    with pytest.raises(CoreBudgetError, match="at least 1 for each of x, y, z"):
        budget_threads(three, cores=2)
    assert budget_threads(three, cores=2, oversubscribe=True) == {"x": 1, "y": 1, "z": 1}


def _two_replicas(tmp_path: Path, **overrides: Any) -> tuple[Path, CitadelSettings]:
    own, second = free_port(), free_port()
    model = smollm2_model(own, threads=None, replicas=[{"port": own}, {"port": second}])
    data: dict[str, Any] = {"models": [model, minilm_model(free_port(), threads=None, cpu_quota=100)]}
    data.update(overrides)
    config = write_config(tmp_path, data)
    return config, load_settings(config)


def test_citadel_up_passes_each_service_its_budget(tmp_path: Path) -> None:
    config, settings = _two_replicas(tmp_path)
    threads = plan_threads(settings, cores=5)
    replica = f"{SMOLLM2_NAME}:{settings.models[0].replicas[1].port}"
    assert threads == {SMOLLM2_NAME: 2, replica: 2, "all-minilm-l6-v2": 1}
    specs = model_specs(settings, config, threads, cores=5)
    for spec in specs:
        assert spec.argv[-2:] == ["--threads", str(threads[spec.name])]
        assert "OMP_WAIT_POLICY" not in spec.env  # within the budget OpenMP's threads may spin
    with pytest.raises(CoreBudgetError):
        plan_threads(settings, cores=2)
    assert not check_core_budget(settings, cores=2).ok
    assert check_core_budget(settings, cores=5).ok


def test_oversubscribe_cores_setting_allows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    config, settings = _two_replicas(tmp_path, supervisor={"oversubscribe_cores": True})
    threads = plan_threads(settings, cores=2)
    assert sum(threads.values()) == 3
    # More threads than cores: idle OpenMP threads must sleep rather than spin on another service's core.
    for spec in model_specs(settings, config, threads, cores=2):
        assert spec.env["OMP_WAIT_POLICY"] == "PASSIVE"


def test_serve_model_threads_reach_the_settings_the_engine_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, settings = _two_replicas(tmp_path)
    replica = f"{SMOLLM2_NAME}:{settings.models[0].replicas[1].port}"
    served: list[tuple[CitadelSettings, LlamaCppModel]] = []

    class RecordingEngine:
        """Stands in for the engine only to see what serve-model hands it."""

        def serve(self, settings: CitadelSettings, model: ModelSettings) -> None:
            served.append((settings, as_backend(model, LlamaCppModel)))

    monkeypatch.setattr(serve, "get_engine", lambda _backend: RecordingEngine())
    for name in (SMOLLM2_NAME, replica):
        result = CliRunner().invoke(cli, ["serve-model", name, "--config", str(config), "--threads", "3"])
        assert result.exit_code == 0, result.output
    for given, model in served:
        assert model.threads == 3
        assert (
            given.model(SMOLLM2_NAME, LlamaCppModel).threads == 3
        )  # the app looks the model up in the settings
        assert given.model("all-minilm-l6-v2", EmbeddingModel).threads is None  # other models untouched
    assert served[1][1].port == settings.models[0].replicas[1].port
    result = CliRunner().invoke(cli, ["serve-model", SMOLLM2_NAME, "--config", str(config)])
    assert result.exit_code == 0
    assert served[-1][1].threads is None  # without the option, the config's value
    bad = CliRunner().invoke(cli, ["serve-model", SMOLLM2_NAME, "--config", str(config), "--threads", "0"])
    assert bad.exit_code == 2
