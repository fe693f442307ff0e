"""Governance: API keys, rate-limit tiers, budgets, the request log that never blocks and never loses, audit.

The gateway opens one :class:`Governance` in its lifespan, calls ``admit`` before forwarding a request and
``record`` after answering it, and includes :func:`admin_router` for ``/admin``. See docs/governance.md.
"""

from citadel.governance.admission import Admission, Principal
from citadel.governance.entry import RequestLogEntry
from citadel.governance.service import Governance

__all__ = ["Admission", "Governance", "Principal", "RequestLogEntry", "admin_router"]


def __getattr__(name: str) -> object:
    # FastAPI is only imported by processes that serve the admin API.
    if name == "admin_router":
        from citadel.governance.admin_routes import admin_router

        return admin_router
    raise AttributeError(name)
