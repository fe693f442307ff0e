"""The Ray dashboard's Serve REST API, the one ``serve deploy`` and ``serve status`` use.

``PUT /api/serve/applications/`` hands Ray Serve a whole declarative config (the cluster's applications
become exactly these); ``GET`` reads back what runs. Errors become :class:`RayDashboardError` naming the
dashboard, so the CLI prints one line a person can act on.

>>> with RayDashboard("http://127.0.0.1:8265") as dashboard:  # doctest: +SKIP
...     dashboard.status().applications["smollm2-135m-instruct"].running_replicas
1
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

from citadel.ray_serve.status import ServeStatus, parse_status

_APPLICATIONS = "/api/serve/applications/"


class RayDashboardError(Exception):
    """The dashboard could not be reached, or refused the request (its reason is in the message)."""


class RayDashboard:
    """A client of one Ray cluster's dashboard."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)

    def __enter__(self) -> RayDashboard:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def deploy(self, config: dict[str, Any]) -> None:
        """Send ``config``; Ray Serve applies it in the background (see :meth:`status`)."""
        self._request("PUT", _APPLICATIONS, json=config)

    def status(self) -> ServeStatus:
        return parse_status(self._request("GET", _APPLICATIONS).json())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RayDashboardError(
                f"Ray dashboard {self.url}: {type(exc).__name__}: {exc} (is the Ray head up, with "
                "--include-dashboard true?)"
            ) from exc
        if response.status_code >= 400:
            reason = response.text.strip().splitlines()[-1:] or [response.reason_phrase]
            raise RayDashboardError(
                f"Ray dashboard {self.url}: {method} {path} answered {response.status_code}: {reason[0]}"
            )
        return response
