"""``/graphql`` on a real gateway process: queries from live state and the request log, the chat mutation
through the request path, admin-only fields, limits, and the metrics subscription (graphql-transport-ws)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.helpers import SMOLLM2_NAME
from tests.live.clients import graphql, logged
from tests.live.gateway_process import ADMIN_KEY, LiveGateway

pytestmark = pytest.mark.timeout(120)

PROTOCOL = [Subprotocol("graphql-transport-ws")]

CHAT = """
mutation Chat($model: String!) {
  chatCompletion(
    model: $model, messages: [{role: "user", content: "Name a colour."}], maxTokens: 8, temperature: 0
  ) {
    requestId model content finishReason promptTokens completionTokens
  }
}"""


def test_models_come_from_the_gateways_directory(gateway: LiveGateway) -> None:
    body = graphql(
        gateway,
        "{ models { id status backend replicas { url status breaker } inFlight }"
        " systemHealth { status healthyModels } }",
    ).json()
    assert "errors" not in body, body
    (model,) = body["data"]["models"]
    assert model["id"] == SMOLLM2_NAME
    assert model["status"] == "healthy"
    assert model["backend"] == "remote"
    assert model["replicas"][0]["breaker"] == "closed"
    assert body["data"]["systemHealth"] == {"status": "healthy", "healthyModels": [SMOLLM2_NAME]}


def test_chat_mutation_goes_through_the_request_path(gateway: LiveGateway) -> None:
    key = gateway.create_key("gql-chat")
    body = graphql(gateway, CHAT, {"model": SMOLLM2_NAME}, key=key["secret"]).json()
    assert "errors" not in body, body
    answer = body["data"]["chatCompletion"]
    assert answer["content"]
    assert answer["completionTokens"] > 0
    row = logged(gateway, answer["requestId"])
    assert (row["transport"], row["statusCode"]) == ("graphql", 200)
    # The model's request count (from the request log) includes it.
    models = graphql(gateway, f'{{ model(id: "{SMOLLM2_NAME}") {{ requestCount averageLatencyMs }} }}').json()
    assert models["data"]["model"]["requestCount"] >= 1
    # Feedback on it is the model's accuracy and satisfaction.
    rated = httpx.post(
        f"{gateway.base_url}/v1/feedback",
        json={"request_id": answer["requestId"], "rating": 4, "accuracy": 0.75},
        headers={"authorization": f"Bearer {key['secret']}"},
        timeout=10,
    )
    assert rated.status_code == 201, rated.text
    quality = graphql(gateway, f'{{ model(id: "{SMOLLM2_NAME}") {{ accuracy satisfaction }} }}').json()
    assert quality["data"]["model"] == {"accuracy": 0.75, "satisfaction": 4.0}


def test_a_key_not_allowed_the_model_gets_the_request_paths_403(gateway: LiveGateway) -> None:
    key = gateway.create_key("gql-other-model", models=["some-other-model"])
    body = graphql(gateway, CHAT, {"model": SMOLLM2_NAME}, key=key["secret"]).json()
    assert body["errors"][0]["extensions"]["code"] == "model_not_allowed"
    assert body["errors"][0]["extensions"]["status"] == 403


def test_admin_fields_need_the_admin_key_and_a_key_sees_only_its_requests(gateway: LiveGateway) -> None:
    mine = gateway.create_key("gql-mine")
    chat = graphql(gateway, CHAT, {"model": SMOLLM2_NAME}, key=mine["secret"]).json()
    logged(gateway, chat["data"]["chatCompletion"]["requestId"])  # the writer flushes in batches
    refused = graphql(gateway, "{ businessAnalytics { requests } }", key=mine["secret"]).json()
    assert refused["errors"][0]["extensions"]["code"] == "admin_required"
    own = graphql(
        gateway, "{ requestMetrics(limit: 100) { count requests { keyPrefix } } }", key=mine["secret"]
    ).json()
    prefixes = {row["keyPrefix"] for row in own["data"]["requestMetrics"]["requests"]}
    assert prefixes == {mine["prefix"]}
    everything = graphql(
        gateway,
        "{ businessAnalytics { requests lines { keyPrefix model requests } }"
        " activeRequests { model inFlight } }",
    ).json()
    assert "errors" not in everything, everything
    assert mine["prefix"] in {line["keyPrefix"] for line in everything["data"]["businessAnalytics"]["lines"]}


def test_no_key_is_a_401_with_a_graphql_error(gateway: LiveGateway) -> None:
    response = graphql(gateway, "{ systemHealth { status } }", key="ctd_wrong")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "query",
    [
        "{ models { replicas { url } } "
        + " ".join(f"a{i}: systemHealth {{ status }}" for i in range(40))
        + " }",
        "{ models { id " * 3,
    ],
    ids=["too many aliases", "syntax error"],
)
def test_a_hostile_document_is_a_400_with_graphql_errors(gateway: LiveGateway, query: str) -> None:
    response = graphql(gateway, query)
    assert response.status_code == 400
    assert response.json()["errors"]


def test_a_list_larger_than_max_rows_is_refused(gateway: LiveGateway) -> None:
    body = graphql(gateway, "{ requestMetrics(limit: 100000) { count } }").json()
    assert body["errors"][0]["extensions"]["code"] == "limit_too_large"


async def test_metrics_subscription_over_graphql_transport_ws(gateway: LiveGateway) -> None:
    url = f"{gateway.ws_url}/graphql"
    async with connect(url, subprotocols=PROTOCOL) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {ADMIN_KEY}"}})
        )
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        query = "subscription { metrics(interval: 0.2) { timestamp status models { name requestsTotal } } }"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        snapshots: list[dict[str, Any]] = []
        while len(snapshots) < 2:
            message = json.loads(await socket.recv())
            assert message["type"] == "next", message
            snapshots.append(message["payload"]["data"]["metrics"])
        await socket.send(json.dumps({"id": "1", "type": "complete"}))
    assert snapshots[0]["timestamp"] < snapshots[1]["timestamp"]
    assert snapshots[0]["models"][0]["name"] == SMOLLM2_NAME


async def test_subscription_with_a_bad_key_is_closed_4403(gateway: LiveGateway) -> None:
    async with connect(f"{gateway.ws_url}/graphql", subprotocols=PROTOCOL) as socket:
        await socket.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
