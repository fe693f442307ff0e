"""Where a rolled model service runs now: the gateway's replicas follow it to its new address.

A changed model service is replaced on another port (the new one starts before the old one stops), so for a
while, or until the next rolling replacement moves it back, it runs somewhere else than its config says. The
supervisor names those moves (configured base URL -> actual one); each gateway worker rewrites its replicas
with them.

>>> with_moves(settings, {"http://127.0.0.1:11400": "http://127.0.0.1:40123"})  # doctest: +SKIP
"""

from __future__ import annotations

from citadel.config import CitadelSettings


def with_moves(settings: CitadelSettings, moved: dict[str, str]) -> CitadelSettings:
    """``settings`` whose replicas at a moved address point at the new one (nothing else changes)."""
    if not moved:
        return settings
    models = []
    for model in settings.models:
        upstreams = model.upstreams
        if not any(upstream.base_url in moved for upstream in upstreams):
            models.append(model)
            continue
        # Each moved replica becomes an explicit url (model_copy keeps its token, read when it loaded).
        replicas = [
            upstream.model_copy(update={"url": moved[upstream.base_url], "port": None})
            if upstream.base_url in moved
            else upstream
            for upstream in upstreams
        ]
        models.append(model.model_copy(update={"replicas": replicas}))
    return settings.model_copy(update={"models": models})
