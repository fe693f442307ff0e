"""Waiting for Ray Serve to apply a config: every application running at its target, or the reason not.

Ray Serve applies a config in the background: a new application imports and starts its replicas (each
loads its model and passes its self-test); a changed one rolls its replicas a few at a time, new ones
started before old ones stop, so the proxy always has replicas to route to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from citadel.ray_serve.dashboard import RayDashboard
from citadel.ray_serve.status import ApplicationStatus, ServeStatus

POLL_INTERVAL_S = 1.0


class RolloutFailed(Exception):
    """An application failed to deploy, or was not running at its target in time."""


def proxy_conflict(status: ServeStatus, config: dict[str, Any]) -> str | None:
    """Why ``config`` cannot be applied as written: Ray Serve, once started on a cluster, keeps its proxy
    where it first listened and ignores new HTTP options, so a different ``serve_host``/``serve_port``
    would leave the gateway sending to a port nobody listens on."""
    running = status.http_options
    if not running:  # Serve not started on this cluster yet: the config decides
        return None
    wanted = config["http_options"]
    if (running.get("host"), running.get("port")) == (wanted["host"], wanted["port"]):
        return None
    return (
        f"Ray Serve on this cluster listens on {running.get('host')}:{running.get('port')}, not "
        f"{wanted['host']}:{wanted['port']} as placement.serve_host/serve_port say; it cannot move while it "
        "runs: set those to where it listens, or stop Serve on the cluster (serve shutdown) first"
    )


def describe(app: ApplicationStatus) -> str:
    """One line: ``name: STATUS, running/target replicas``, and Ray Serve's message if any."""
    targets = sum(d.target_replicas for d in app.deployments)
    line = f"{app.name}: {app.status}, {app.running_replicas}/{targets} replica(s) running"
    message = app.message or next((d.message for d in app.deployments if d.message), "")
    return f"{line} ({message.splitlines()[0]})" if message else line


def wait_until_settled(
    dashboard: RayDashboard,
    names: Iterable[str],
    timeout_s: float,
    on_change: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ApplicationStatus]:
    """Poll until every application in ``names`` has settled; ``on_change`` gets each new status line."""
    wanted = list(names)
    deadline = clock() + timeout_s
    last: dict[str, str] = {}
    while True:
        apps = dashboard.status().applications
        for name in wanted:
            line = describe(apps[name]) if name in apps else f"{name}: not yet known to Ray Serve"
            if last.get(name) != line:
                last[name] = line
                on_change(line)
        failed = [apps[n] for n in wanted if n in apps and apps[n].status == "DEPLOY_FAILED"]
        if failed:
            raise RolloutFailed("; ".join(describe(app) for app in failed))
        if all(n in apps and apps[n].settled for n in wanted):
            return [apps[n] for n in wanted]
        if clock() >= deadline:
            raise RolloutFailed(f"not settled after {timeout_s:.0f}s: " + "; ".join(last.values()))
        sleep(POLL_INTERVAL_S)


def wait_for_bounds(
    dashboard: RayDashboard,
    name: str,
    bounds: tuple[int, int],
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ApplicationStatus:
    """Poll until Ray Serve reports ``bounds`` (min, max) on ``name``'s deployment: the controller applies
    a config after the request that sent it has returned."""
    deadline = clock() + timeout_s
    while True:
        app = dashboard.status().applications.get(name)
        if app is not None and all((d.min_replicas, d.max_replicas) == bounds for d in app.deployments):
            return app
        if clock() >= deadline:
            raise RolloutFailed(f"{name}: Ray Serve did not take the bounds {bounds[0]}-{bounds[1]} in time")
        sleep(POLL_INTERVAL_S / 4)
