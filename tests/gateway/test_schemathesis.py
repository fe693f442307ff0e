"""Schemathesis against the gateway's own OpenAPI document: a real gateway on 127.0.0.1 in front of a real
SmolLM2 model service and the embedding service. Valid and invalid requests to the proxied endpoints must
get no 5xx and answers that match the documented schemas (OpenAI's shapes, and its error JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.helpers import (
    MINILM_NAME,
    SMOLLM2_NAME,
    ServiceProcess,
    free_port,
    minilm_model,
    smollm2_model,
    write_config,
)

PROXIED = {
    "/v1/chat/completions": SMOLLM2_NAME,
    "/v1/completions": SMOLLM2_NAME,
    "/v1/embeddings": MINILM_NAME,
}
EXAMPLES_PER_MODE = 120
MAX_TOKENS = 4  # the fuzzing is about the requests, not long answers


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def gateway_url(
    tmp_path_factory: pytest.TempPathFactory, model_url: str, embedding_url: str
) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("schemathesis-gateway")
    port = free_port()
    models = [smollm2_model(_port(model_url)), minilm_model(_port(embedding_url))]
    config = write_config(directory, {"gateway": {"port": port, "health_interval_s": 3600}, "models": models})
    gateway = ServiceProcess(
        ["gateway", "--config", str(config)], f"http://127.0.0.1:{port}/health", log=directory / "gateway.log"
    )
    yield f"http://127.0.0.1:{port}"
    gateway.stop()


def _steer(case: Any, real_model: bool) -> None:
    """Mostly ask for the model that serves the endpoint (else nearly every case is a 404), and keep answers
    short; the rest of the body is schemathesis' own."""
    body = case.body
    if not isinstance(body, dict):
        return
    if real_model:
        body["model"] = PROXIED[case.path]
    for name in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(name), int) and not isinstance(body[name], bool):
            body[name] = min(body[name], MAX_TOKENS)
    if case.path != "/v1/embeddings" and "max_tokens" not in body:
        body["max_tokens"] = MAX_TOKENS


def test_the_proxied_endpoints_survive_schemathesis(
    gateway_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json").include(
        path_regex="^/v1/(chat/completions|completions|embeddings)$"
    )
    results = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results  # the document is valid
    documented = {result.ok().path for result in results if isinstance(result, Ok)}
    assert documented == set(PROXIED)
    seen: dict[str, int] = {"cases": 0, "5xx": 0}
    statuses: dict[int, int] = {}

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES_PER_MODE,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=schema.as_strategy(generation_mode=mode), real_model=st.booleans() | st.just(True))
        def fuzz(case: Any, real_model: bool) -> None:
            _steer(case, real_model)
            response = case.call(base_url=gateway_url, timeout=120)
            seen["cases"] += 1
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                seen["5xx"] += 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        fuzz()
    with capsys.disabled():
        counts = dict(sorted(statuses.items()))
        print(f"\nschemathesis: {seen['cases']} cases, {seen['5xx']} 5xx; statuses {counts}")
    assert seen["5xx"] == 0
    assert statuses.get(200, 0) > 0  # valid requests were answered, not only refused


FEEDBACK_EXAMPLES = 25  # per mode: each case is one small database lookup; bounded in time


@pytest.mark.timeout(300)
def test_the_feedback_endpoint_survives_schemathesis(gateway_url: str) -> None:
    """``POST /v1/feedback`` as documented: valid bodies for requests nobody made get 404, invalid ones 400,
    never a 5xx, always the documented shapes."""
    schema = schemathesis.openapi.from_url(f"{gateway_url}/openapi.json").include(path_regex="^/v1/feedback$")
    results = list(schema.get_all_operations())
    assert len(results) == 1
    assert isinstance(results[0], Ok), results
    statuses: dict[int, int] = {}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=FEEDBACK_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=schema.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            response = case.call(base_url=gateway_url, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        fuzz()
    assert not any(status >= 500 for status in statuses)
    assert statuses.get(404, 0) > 0, statuses  # well-formed, for requests nobody made
    assert statuses.get(400, 0) > 0, statuses  # malformed
