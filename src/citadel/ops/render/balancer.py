"""Load-balancer configs for several gateways (seed C.3 ``horizontal_scaling.load_balancer``).

``citadel render haproxy`` writes ``haproxy.cfg``, ``citadel render nginx`` writes ``citadel.conf`` (an
``http {}`` include). Both: least connections over ``load_balancer.gateways`` (this config's gateway when
none are listed), another gateway tried when one fails before answering, the client's ``x-request-id`` kept
(or one set) so that a retried request is still one row in the request log, timeouts as long as the
gateway's own request timeout (streams), and a stats endpoint. HAProxy also checks each gateway's
``/health`` and serves Prometheus metrics on the stats port's ``/metrics``.
"""

from __future__ import annotations

import math

from citadel.config import CitadelSettings
from citadel.config.scaling import GatewayInstance
from citadel.config.sections import reachable_host
from citadel.http_body import gateway_body_limit
from citadel.ops.render.assets import RenderedFiles
from citadel.ops.render.template_env import template_environment

# Over the gateway's own request timeout, so that the gateway (which answers with a proper error) gives
# up before the balancer cuts the connection.
_STREAM_MARGIN_S = 30


def balanced_gateways(settings: CitadelSettings) -> list[GatewayInstance]:
    """The gateways behind the balancer, each with a name: the configured ones, else this config's."""
    configured = settings.load_balancer.gateways or [
        GatewayInstance(host=reachable_host(settings.gateway.host), port=settings.gateway.port)
    ]
    named = [
        gateway.model_copy(update={"name": gateway.name or f"gw{index}"})
        for index, gateway in enumerate(configured, start=1)
    ]
    names = [gateway.name for gateway in named]
    if len(set(names)) != len(names):
        raise ValueError(f"load_balancer.gateways: names must be unique, got {names}")
    return named


def _context(settings: CitadelSettings, config_name: str) -> dict[str, object]:
    lb = settings.load_balancer
    stream_s = math.ceil(settings.gateway.request_timeout_s) + _STREAM_MARGIN_S
    return {
        "config_name": config_name,
        "lb": lb,
        "gateways": balanced_gateways(settings),
        "connect_ms": round(lb.connect_timeout_s * 1000),
        "check_ms": round(lb.check_interval_s * 1000),
        "queue_ms": round(settings.gateway.pool_timeout_s * 1000),
        "stream_ms": stream_s * 1000,
        "stream_s": stream_s,
        "fail_timeout_s": max(1, math.ceil(lb.check_interval_s * lb.rise)),
        "max_body_bytes": gateway_body_limit(settings),
    }


def render_haproxy(settings: CitadelSettings, config_name: str = "citadel.yaml") -> RenderedFiles:
    """``haproxy.cfg``.

    >>> "balance leastconn" in render_haproxy(settings)["haproxy.cfg"]  # doctest: +SKIP
    True
    """
    template = template_environment().get_template("balancer/haproxy.cfg.j2")
    return {"haproxy.cfg": template.render(**_context(settings, config_name))}


def render_nginx(settings: CitadelSettings, config_name: str = "citadel.yaml") -> RenderedFiles:
    """``citadel.conf``, to include in nginx's ``http {}`` block."""
    template = template_environment().get_template("balancer/nginx.conf.j2")
    return {"citadel.conf": template.render(**_context(settings, config_name))}
