"""Who a request is, as far as governance is concerned, and what the gateway adds to its response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an API key, the admin key, or anyone (auth off)."""

    kind: Literal["key", "admin", "anonymous"]
    key_id: int | None = None
    key_prefix: str | None = None
    name: str | None = None
    tier: str | None = None
    allowed_models: tuple[str, ...] | None = None  # None: every model

    def allows(self, model: str) -> bool:
        """Whether this caller may use ``model`` (e.g. to filter ``/v1/models``)."""
        return self.allowed_models is None or model in self.allowed_models


ANONYMOUS = Principal(kind="anonymous")
ADMIN = Principal(kind="admin", name="admin")


@dataclass(frozen=True, slots=True)
class Admission:
    """``Governance.admit``'s answer: the caller and the ``x-ratelimit-*`` headers for the response."""

    principal: Principal
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def key_id(self) -> int | None:
        return self.principal.key_id
