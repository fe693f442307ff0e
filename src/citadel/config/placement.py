"""Where a local backend's model services run: on this machine (``local``), or as a Ray Serve deployment.

``placement: ray`` (or a mapping with ``kind: ray``) hands the replicas to a Ray cluster: ``citadel ray
deploy`` sends Ray Serve a config through the dashboard's REST API, Ray Serve starts and autoscales the
replicas, and the gateway reaches them through the Serve HTTP proxy as one upstream.

The autoscaling defaults follow the blueprint's scale triggers (seed C.3 ``scaling_triggers``), read in
Ray Serve's terms, requests in flight per replica: scale up when a replica is busy above 70% of its
sequence slots for 5 minutes (``cpu_usage > 70% for 5 minutes``), scale down after 15 quiet minutes
(``cpu_usage < 30% for 15 minutes``).

>>> RayPlacement().serve_url("phi-3-mini")
'http://127.0.0.1:11450/phi-3-mini'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from citadel.config.base import Section, reachable_host

# The blueprint's triggers (seed C.3): busy above 70% "for 5 minutes" to grow, quiet "for 15 minutes" to
# shrink.
SCALE_UP_BUSY_SHARE = 0.7
SCALE_UP_DELAY_S = 300.0
SCALE_DOWN_DELAY_S = 900.0


class RayPlacement(Section):
    """``placement: ray``: the model's replicas are a Ray Serve deployment, autoscaled by Ray Serve."""

    kind: Literal["ray"] = "ray"
    dashboard_url: str = Field(
        default="http://127.0.0.1:8265",
        description="The Ray head's dashboard: `citadel ray` deploys and reads status through its REST API.",
    )
    serve_host: str = Field(default="127.0.0.1", description="Where Ray Serve's HTTP proxy listens (head).")
    serve_port: int = Field(
        default=11450, ge=1, le=65535, description="Ray Serve's HTTP port; not 8000, the gateway's."
    )
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=4, ge=1)
    target_ongoing_requests: float | None = Field(
        default=None,
        gt=0,
        description="Requests in flight per replica Ray Serve scales towards; default: 70% of "
        "limits.max_num_seqs.",
    )
    max_ongoing_requests: int | None = Field(
        default=None,
        ge=1,
        description="Requests one replica is sent at once (more wait in Ray Serve); default: "
        "limits.max_num_seqs + limits.max_waiting, what the service itself would admit.",
    )
    upscale_delay_s: float = Field(default=SCALE_UP_DELAY_S, ge=0, description="Busy this long, then grow.")
    downscale_delay_s: float = Field(
        default=SCALE_DOWN_DELAY_S, ge=0, description="Quiet this long, then shrink."
    )
    look_back_period_s: float = Field(
        default=30.0, gt=0, description="The window the load is averaged over (Ray Serve's default)."
    )
    max_surge_percent: int = Field(
        default=100,
        ge=0,
        le=100,
        description="Extra replicas a rolling update may start, percent of the target: with any, old "
        "replicas serve until their replacements are ready; 0 stops old ones first (no room to spare).",
    )

    @model_validator(mode="after")
    def _bounds_ordered(self) -> RayPlacement:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must not be below min_replicas")
        return self

    def serve_url(self, model: str) -> str:
        """The model's OpenAI-compatible API through the Serve proxy: its application's route prefix."""
        return f"http://{reachable_host(self.serve_host)}:{self.serve_port}/{model}"


def placement_kind(value: Any) -> str:
    """The discriminator: ``local``, or the mapping's ``kind`` (``ray`` when it names none)."""
    if isinstance(value, RayPlacement):
        return value.kind
    if isinstance(value, dict):
        kind = value.get("kind", "ray")
        return kind if isinstance(kind, str) else repr(kind)
    return str(value)


# ``local`` or a mapping with ``kind``; one error naming the kinds for anything else.
Placement = Annotated[
    Annotated[Literal["local"], Tag("local")] | Annotated[RayPlacement, Tag("ray")],
    Discriminator(placement_kind),
]


def placement_shorthand(value: Any) -> Any:
    """``placement: ray`` is ``placement: {kind: ray}`` with every default."""
    return {"kind": "ray"} if value == "ray" else value
