"""Prefix-aware balancing: shared prefixes stick to one replica, conversations follow their turns, and a
replica that runs ahead loses the affinity to the least loaded one. Plus one request through a gateway."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from citadel.config.sections import CircuitBreakerSettings
from citadel.gateway.balancing import make_balancer
from citadel.gateway.breaker import CircuitBreaker
from citadel.gateway.metrics import GatewayMetrics
from citadel.gateway.prefix_affinity import PrefixAffinity, prefix_keys
from citadel.gateway.replicas import HealthThresholds, Replica
from tests.gateway.fake_upstream import Script, fake_upstream
from tests.gateway.harness import gateway_client, remote_model


def _replicas(count: int) -> list[Replica]:
    metrics = GatewayMetrics(CollectorRegistry())
    return [
        Replica(
            "m",
            f"http://127.0.0.1:{9000 + index}",
            weight=1,
            thresholds=HealthThresholds(failures=3, recoveries=2),
            breaker=CircuitBreaker(CircuitBreakerSettings()),
            metrics=metrics,
        )
        for index in range(count)
    ]


def _chat(system: str, *turns: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}]
    for index, turn in enumerate(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": turn})
    return {"model": "m", "messages": messages}


def test_prefix_keys_chain_messages_and_blocks() -> None:
    one = prefix_keys(_chat("You are terse.", "hi"))
    two = prefix_keys(_chat("You are terse.", "hello there"))
    other = prefix_keys(_chat("You are verbose.", "hi"))
    assert one[0] == two[0] != other[0]  # same system prompt, same first key
    assert one[1] != two[1]
    turn2 = prefix_keys(_chat("You are terse.", "hi", "Hello.", "more"))
    assert turn2[:2] == one  # the next turn extends the conversation's keys
    prompt = prefix_keys({"prompt": "x" * 600})
    assert len(prompt) == 3
    assert prompt[:2] == prefix_keys({"prompt": "x" * 512 + "y"})[:2]
    assert prefix_keys({"input": "embed me"}) == ()


def test_shared_system_prompts_stick_to_one_replica_each() -> None:
    replicas = _replicas(2)
    strategy = PrefixAffinity()
    owners: dict[str, set[str]] = {}
    for round_ in range(10):
        for system in ("alpha " * 50, "beta " * 50, "gamma " * 50, "delta " * 50):
            chosen = strategy.pick(replicas, prefix_keys(_chat(system, f"question {round_}")))
            owners.setdefault(system, set()).add(chosen.base_url)
    assert all(len(urls) == 1 for urls in owners.values())  # each prefix always went to the same replica
    # The first requests of each prefix went by least outstanding (turns rotate on ties): both got some.
    assert len(set().union(*owners.values())) == 2
    assert strategy.hits == 36


def test_a_conversation_follows_its_replica_by_the_longest_prefix() -> None:
    replicas = _replicas(3)
    strategy = PrefixAffinity()
    first = strategy.pick(replicas, prefix_keys(_chat("sys", "q1")))
    for later in (_chat("sys", "q1", "a1", "q2"), _chat("sys", "q1", "a1", "q2", "a2", "q3")):
        assert strategy.pick(replicas, prefix_keys(later)) is first


def test_a_replica_running_ahead_loses_the_prefix_to_the_least_loaded() -> None:
    replicas = _replicas(2)
    strategy = PrefixAffinity()
    keys = prefix_keys(_chat("shared", "q"))
    owner = strategy.pick(replicas, keys)
    other = replicas[1] if owner is replicas[0] else replicas[0]
    picks: Counter[str] = Counter()
    for _ in range(6):  # requests in flight pile up on the owner while the other is idle
        chosen = strategy.pick(replicas, keys)
        chosen.begin()
        picks[chosen.base_url] += 1
    # It may run ahead by two: the first three stay, then the least loaded takes them (and the prefix).
    assert picks[owner.base_url] == 3
    assert other.outstanding >= 1
    assert strategy.diverted >= 1
    for replica in replicas:
        while replica.outstanding:
            replica.end()
    assert strategy.pick(replicas, keys) is other  # the prefix now lives where it went last


def test_a_replica_not_offered_is_never_chosen() -> None:
    replicas = _replicas(2)
    strategy = make_balancer("prefix_affinity")
    keys = prefix_keys(_chat("s", "q"))
    owner = strategy.pick(replicas, keys)
    remaining = [replica for replica in replicas if replica is not owner]
    assert strategy.pick(remaining, keys) is remaining[0]  # the owner was tried already, or is down


async def test_gateway_routes_a_shared_prefix_to_one_replica(tmp_path: Path) -> None:
    first, second = Script(), Script()
    async with fake_upstream(first) as url_a, fake_upstream(second) as url_b:
        model = remote_model("m", url_a, url_b, balancing="prefix_affinity")
        async with gateway_client(tmp_path, [model]) as client:
            for round_ in range(4):
                for system in ("one " * 40, "two " * 40):
                    response = await client.post("/v1/chat/completions", json=_chat(system, f"q{round_}"))
                    assert response.status_code == 200, response.text
    # Each system prompt went to one replica; the first of each went by load, so both replicas served.
    assert sorted([first.calls, second.calls]) == [4, 4]
    assert len({body.split(b'"content":')[1][:6] for body in first.seen_bodies}) == 1
