"""Models shaped by backend: each backend's keys and no others, with messages a person can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from citadel.cli.main import cli
from citadel.config import (
    CitadelSettings,
    ConfigError,
    EmbeddingModel,
    LlamaCppModel,
    RemoteModel,
    VllmModel,
    load_settings,
)
from citadel.gateway.directory import ModelDirectory
from citadel.gateway.metrics import GatewayMetrics
from tests.helpers import SMOLLM2_NAME, minilm_model, smollm2_model, write_config

REPO = Path(__file__).resolve().parents[2]
FAR = {"name": "far-away", "backend": "remote", "url": "http://127.0.0.1:9/v1"}


def _problems(tmp_path: Path, models: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, {"models": models}))
    return caught.value.problems


def test_each_entry_becomes_its_backends_model() -> None:
    embedded = load_settings(REPO / "config/citadel.yaml")
    assert [type(model) for model in embedded.models] == [LlamaCppModel, EmbeddingModel]
    enterprise = load_settings(REPO / "config/hxp-enterprise.yaml")
    assert {type(model) for model in enterprise.models} == {VllmModel, EmbeddingModel}  # its vectors' model
    assert enterprise.model("mixtral-8x7b", VllmModel).limits.tensor_parallel_size == 1


def test_an_entry_without_backend_is_a_llamacpp_model(tmp_path: Path) -> None:
    entry = smollm2_model(11500)
    del entry["backend"]
    settings = load_settings(write_config(tmp_path, {"models": [entry]}))
    assert isinstance(settings.models[0], LlamaCppModel)
    assert settings.models[0].backend == "llamacpp"


def test_a_remote_model_needs_a_url_and_no_source(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, {"models": [FAR]}))
    far = settings.model("far-away", RemoteModel)
    assert far.base_url == "http://127.0.0.1:9/v1"
    assert [replica.base_url for replica in far.upstreams] == ["http://127.0.0.1:9/v1"]
    # Older configs gave remote models a placeholder source; it is accepted and means nothing.
    placeholder = load_settings(write_config(tmp_path, {"models": [{**FAR, "source": "remote"}]}))
    assert "source" not in type(placeholder.models[0]).model_fields


def test_a_remote_model_without_url_says_so(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [{"name": "far-away", "backend": "remote"}])
    assert problems == ["models[far-away]: a model with backend 'remote' needs 'url'"]


def test_an_unknown_backend_names_the_known_ones(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [smollm2_model(11500, backend="tgi")])
    assert problems == [
        f"models[{SMOLLM2_NAME}].backend: Input should be 'llamacpp', 'vllm', 'remote' or "
        "'sentence-transformers', not 'tgi'"
    ]


def test_a_llamacpp_key_on_a_remote_model_names_its_owners(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [{**FAR, "threads": 2, "extra_buffer_types": True, "port": 11500}])
    assert sorted(problems) == [
        "models[far-away].extra_buffer_types: not a key of backend 'remote' (only of: llamacpp)",
        "models[far-away].port: not a key of backend 'remote' "
        "(only of: llamacpp, vllm, sentence-transformers)",
        "models[far-away].threads: not a key of backend 'remote' (only of: llamacpp, sentence-transformers)",
    ]


def test_keys_a_backend_would_ignore_are_refused(tmp_path: Path) -> None:
    vllm_limits = smollm2_model(11500, limits={"tensor_parallel_size": 2})
    assert _problems(tmp_path, [vllm_limits]) == [
        f"models[{SMOLLM2_NAME}].limits.tensor_parallel_size: not a key of backend 'llamacpp'"
    ]
    embedding = minilm_model(11501, extra_buffer_types=True)
    assert _problems(tmp_path, [embedding]) == [
        "models[all-minilm-l6-v2].extra_buffer_types: not a key of backend 'sentence-transformers' "
        "(only of: llamacpp)"
    ]


def test_validate_prints_the_problems_and_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"models": [{**FAR, "threads": 2}]})
    result = CliRunner().invoke(cli, ["config", "validate", "--config", str(config)])
    assert result.exit_code == 2
    assert "models[far-away].threads: not a key of backend 'remote'" in result.output


def test_models_from_the_environment_are_shaped_by_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, {"models": [smollm2_model(11500)]})
    monkeypatch.setenv("CITADEL_MODELS", json.dumps([FAR, smollm2_model(11600)]))
    settings = load_settings(config)
    assert [type(model) for model in settings.models] == [RemoteModel, LlamaCppModel]
    assert settings.model(SMOLLM2_NAME, LlamaCppModel).port == 11600


def test_asking_for_the_wrong_backend_says_which_it_has(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, {"models": [FAR]}))
    with pytest.raises(TypeError, match="model 'far-away' has backend 'remote', not 'llamacpp'"):
        settings.model("far-away", LlamaCppModel)


def _directory(settings: CitadelSettings) -> ModelDirectory:
    metrics = GatewayMetrics(CollectorRegistry())
    return ModelDirectory(settings.models, settings.gateway, metrics, clock=lambda: 0.0)


def test_an_upstream_token_is_read_when_the_settings_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    far = {**FAR, "replicas": [{"url": "http://127.0.0.1:9/v1", "api_key_env": "FAR_TOKEN"}]}
    config = write_config(tmp_path, {"models": [far]})
    monkeypatch.setenv("FAR_TOKEN", "token-value-123")
    settings = load_settings(config)
    monkeypatch.delenv("FAR_TOKEN")  # read once, at load: later changes do not matter
    replica = settings.models[0].replicas[0]
    assert replica.token is not None
    assert replica.token.get_secret_value() == "token-value-123"
    assert "token-value-123" not in repr(settings)
    pool = _directory(settings).resolve("far-away")
    assert pool.replicas[0].headers == {"authorization": "Bearer token-value-123"}


def test_a_missing_upstream_token_stops_the_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAR_TOKEN", raising=False)
    far = {**FAR, "replicas": [{"url": "http://127.0.0.1:9/v1", "api_key_env": "FAR_TOKEN"}]}
    settings = load_settings(write_config(tmp_path, {"models": [far]}))
    with pytest.raises(RuntimeError, match=r"wants a token in \$FAR_TOKEN, which is not set"):
        _directory(settings)
