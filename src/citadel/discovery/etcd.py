"""A small typed client for etcd's v3 API through its JSON gateway (``/v3/...``, etcd 3.4 and later).

Only what discovery needs: leases (grant, keep alive, revoke), put, a prefix range and a prefix watch.
Keys and values travel base64-encoded; int64s arrive as strings. Every failure to reach etcd or to read
its answer becomes :class:`EtcdUnavailable`, tried on the next endpoint first.

>>> client = EtcdClient(["http://127.0.0.1:2379"], timeout_s=3)  # doctest: +SKIP
>>> lease = await client.grant(10)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

_WATCH_IDLE_S = 30.0


class EtcdUnavailable(Exception):
    """No endpoint answered, or one answered something that is not etcd's answer."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A key put (``value`` set) or deleted (``value`` None, also when its lease expired)."""

    key: str
    value: bytes | None
    revision: int


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def prefix_end(prefix: str) -> str:
    """etcd's ``range_end`` for every key starting with ``prefix``: the prefix with its last byte + 1."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode("latin-1")


def _kv(item: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(item["key"]).decode(),
        value=base64.b64decode(item.get("value", "")),
        mod_revision=int(item.get("mod_revision", 0)),
    )


class EtcdClient:
    """One HTTP client over etcd's endpoints; close with :meth:`aclose` (or ``async with``)."""

    def __init__(self, endpoints: list[str], *, timeout_s: float) -> None:
        self._endpoints = [endpoint.rstrip("/") for endpoint in endpoints]
        self._timeout = timeout_s
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for index, endpoint in enumerate(self._endpoints):
            try:
                response = await self._http.post(endpoint + path, json=body)
                response.raise_for_status()
                answer = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
                continue
            if index:  # the endpoint that answered goes first next time
                self._endpoints.insert(0, self._endpoints.pop(index))
            if not isinstance(answer, dict):
                raise EtcdUnavailable(f"etcd answered {path} with {answer!r}")
            return answer
        raise EtcdUnavailable(f"no etcd endpoint answered {path}: {last!r}") from last

    # -- leases -----------------------------------------------------------------------------------------
    async def grant(self, ttl_s: int) -> int:
        """A new lease of ``ttl_s`` seconds; its id."""
        answer = await self._call("/v3/lease/grant", {"TTL": ttl_s})
        return int(answer["ID"])

    async def keep_alive(self, lease: int) -> int:
        """Renew ``lease``; its TTL left (0 or less: it has expired and its keys are gone)."""
        answer = await self._call("/v3/lease/keepalive", {"ID": lease})
        result = answer.get("result", answer)
        return int(result.get("TTL", 0))

    async def revoke(self, lease: int) -> None:
        """End ``lease`` now: its keys are deleted at once (a clean stop, rather than waiting for the TTL)."""
        await self._call("/v3/lease/revoke", {"ID": lease})

    # -- keys -------------------------------------------------------------------------------------------
    async def put(self, key: str, value: bytes, *, lease: int | None = None) -> None:
        body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            body["lease"] = lease
        await self._call("/v3/kv/put", body)

    async def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store's revision they were read at."""
        answer = await self._call(
            "/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix).encode("latin-1"))}
        )
        revision = int(answer.get("header", {}).get("revision", 0))
        return [_kv(item) for item in answer.get("kvs", [])], revision

    async def watch_prefix(
        self, prefix: str, start_revision: int, *, idle_s: float = _WATCH_IDLE_S
    ) -> AsyncIterator[list[WatchEvent]]:
        """The changes under ``prefix`` from ``start_revision`` on, a batch per etcd message.

        It ends quietly after ``idle_s`` without a message (a connection cut without a reset would
        otherwise hang here for ever: the caller lists again and watches anew), and raises
        :class:`EtcdUnavailable` when the connection fails."""
        request = {
            "create_request": {
                "key": _b64(prefix),
                "range_end": _b64(prefix_end(prefix).encode("latin-1")),
                "start_revision": start_revision,
            }
        }
        endpoint = self._endpoints[0]
        timeout = httpx.Timeout(self._timeout, read=idle_s)
        try:
            async with self._http.stream(
                "POST", endpoint + "/v3/watch", json=request, timeout=timeout
            ) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    result = json.loads(line).get("result", {})
                    if result.get("canceled"):
                        raise EtcdUnavailable(f"etcd cancelled the watch: {result.get('cancel_reason')}")
                    events = [
                        WatchEvent(
                            key=base64.b64decode(event["kv"]["key"]).decode(),
                            value=None
                            if event.get("type") == "DELETE"
                            else base64.b64decode(event["kv"].get("value", "")),
                            revision=int(event["kv"].get("mod_revision", 0)),
                        )
                        for event in result.get("events", [])
                    ]
                    if events:
                        yield events
        except httpx.ReadTimeout:
            return
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise EtcdUnavailable(f"the watch on {endpoint} ended: {exc!r}") from exc
        raise EtcdUnavailable(f"the watch on {endpoint} ended")
