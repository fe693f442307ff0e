"""The ``live`` section: GraphQL, WebSocket and SSE streams, and the admin console (``citadel.live``)."""

from __future__ import annotations

from pydantic import Field

from citadel.config.base import Section


class GraphQLSettings(Section):
    """``/graphql``: its limits keep a hostile query a 400, never a stalled worker."""

    enabled: bool = True
    introspection: bool = Field(default=True, description="Whether __schema / __type queries are answered.")
    max_depth: int = Field(default=8, ge=1, le=64, description="Deepest selection nesting accepted.")
    max_tokens: int = Field(default=2000, ge=10, description="Most lexical tokens in one document.")
    max_aliases: int = Field(default=15, ge=1, description="Most aliases in one document.")
    max_rows: int = Field(default=500, ge=1, description="Largest `limit` a list field accepts.")


class ConsoleSettings(Section):
    """The admin web console at ``/ui`` (users: ``citadel console add-user``)."""

    enabled: bool = True
    session_ttl_s: float = Field(default=8 * 3600.0, gt=0, description="A session's life from sign-in.")
    cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (set it when the gateway is behind TLS)."
    )
    signin_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins per user name and client within the window..."
    )
    signin_window_s: float = Field(default=300.0, gt=0, description="...before further tries get a 429.")


class LiveSettings(Section):
    """Streams of chat and metrics over WebSocket and SSE, GraphQL and the console."""

    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    metrics_interval_s: float = Field(
        default=5.0, gt=0, description="Default seconds between metrics snapshots (`interval` overrides)."
    )
    min_interval_s: float = Field(default=0.05, gt=0, description="Smallest `interval` a client may ask for.")
    send_buffer: int = Field(
        default=64, ge=1, description="Messages queued for one slow reader before it is dropped."
    )
    stall_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A chat stream waits this long for its reader to make room in a full buffer, then "
        "drops it.",
    )
    max_connections_per_key: int = Field(
        default=16, ge=1, description="Open WebSocket/SSE streams per API key (or console user)."
    )
